"""``fiftyone-sync emulate tator`` serves an emulator by hand."""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

import httpx
import tator
import yaml

from fiftyone_sync.emulators.tator.demo import plankton_fixture, token_for
from tests.fixtures.net import free_port, port_open, wait_until

FASTVSS_IMAGES = Path("/work/shared/data/fastvss-test-images")


def _serve(*args: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    command = [str(Path(sys.executable).parent / "fiftyone-sync"), "emulate", "tator", "--port",
               str(port), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return process, port


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_emulate_tator_serves_a_folder_of_images():
    process, port = _serve("--data", str(FASTVSS_IMAGES))
    try:
        wait_until(lambda: port_open(port), timeout=60, what="the emulator CLI")
        answer = httpx.get(f"http://127.0.0.1:{port}/rest/MediaCount/1",
                           headers={"Authorization": f"Token {token_for('alice')}"})
    finally:
        _stop(process)

    assert answer.status_code == 200 and answer.json() == 9
    assert f"Token {token_for('bob')}" in process.stdout.read().decode()


def test_emulate_tator_demo_fixture_serves_the_schema_and_the_tator_client_lists_it(tmp_path):
    """``--fixture demo`` is what a developer points the unmodified tator client at: /schema
    must build the client, and the listing must be the demo project's labels, all of them."""
    process, port = _serve("--fixture", "demo")
    try:
        expected = plankton_fixture(tmp_path, images=12)["projects"][0]
        wait_until(lambda: process.poll() is not None or port_open(port), timeout=60,
                   what="the emulator CLI")
        assert process.poll() is None, process.stdout.read().decode()
        url = f"http://127.0.0.1:{port}"

        schema = httpx.get(f"{url}/schema", timeout=30)
        api = tator.get_api(url, token_for("alice"))
        types = {kind.id: kind.name for kind in api.get_localization_type_list(expected["id"])}
        listed = api.get_localization_list(expected["id"])
    finally:
        _stop(process)

    assert schema.status_code == 200
    paths = yaml.safe_load(schema.text)["paths"].values()
    operations = {operation.get("operationId") for path in paths for operation in path.values()
                  if isinstance(operation, dict)}
    assert {"GetLocalizationList", "GetMediaList", "UpdateLocalizationList"} <= operations
    assert collections.Counter(types[loc.type] for loc in listed) == collections.Counter(
        loc["type"] for loc in expected["localizations"])
    assert {"Boxes", "Dots", "Lines", "Polys"} <= set(types.values())
