"""The Fast-VSS emulator's own contract: answers shaped like Fast-VSS, knobs over HTTP."""

from __future__ import annotations

import io
import time

import httpx
from PIL import Image

from fiftyone_sync.emulators.fastvss import DIMENSION, image_vector
from tests.embeddings.conftest import png


def test_answers_are_shaped_like_fastvss(fastvss_emulator):
    url = fastvss_emulator.url

    assert "Welcome to Fast-VSS" in httpx.get(f"{url}/").json()["message"]
    assert httpx.get(f"{url}/projects").json() == {"projects": fastvss_emulator.projects}

    unknown = httpx.post(f"{url}/embed/nope", files=[("files", ("a", png(1), "image/png"))])
    assert unknown.status_code == 200
    assert unknown.json() == {"error": "Invalid project name nope"}

    missing = httpx.get(f"{url}/predict/job/xyz/{fastvss_emulator.project}")
    assert missing.status_code == 200
    assert "does not exist" in missing.json()["error"]


def test_results_are_forgotten_after_their_ttl(fastvss_emulator):
    fastvss_emulator.set(result_ttl=0.2)
    project = fastvss_emulator.project
    job = httpx.post(f"{fastvss_emulator.url}/embed/{project}",
                     files=[("files", ("a", png(1), "image/png"))]).json()["job_id"]

    first = httpx.get(f"{fastvss_emulator.url}/predict/job/{job}/{project}").json()
    assert first["status"] == "done"
    assert first["result"]["embeddings"] == [image_vector(png(1))]

    time.sleep(0.3)
    later = httpx.get(f"{fastvss_emulator.url}/predict/job/{job}/{project}").json()
    assert "does not exist" in later["error"]


def test_knobs_over_the_admin_route(fastvss_emulator):
    url = fastvss_emulator.url

    changed = httpx.post(f"{url}/_emulator/faults", json={"job_delay": 5, "shuffle": True})
    assert changed.status_code == 200
    assert fastvss_emulator.knobs.job_delay == 5 and fastvss_emulator.knobs.shuffle

    refused = httpx.post(f"{url}/_emulator/faults", json={"no_such_knob": 1})
    assert refused.status_code == 422

    assert httpx.post(f"{url}/_emulator/reset").status_code == 200
    assert httpx.get(f"{url}/_emulator/faults").json()["job_delay"] == 0


def test_image_vector_is_unit_length_and_never_zero():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")

    black = image_vector(buffer.getvalue())

    assert len(black) == DIMENSION
    assert abs(sum(value * value for value in black) - 1.0) < 1e-9
    assert image_vector(png(1)) != image_vector(png(2))
