"""``fiftyone-sync emulate tator`` serves an emulator by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from fiftyone_sync.emulators.tator.demo import token_for
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
