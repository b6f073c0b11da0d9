"""``POST /embed`` and ``GET /embed/{uuid}`` against the Fast-VSS emulator over real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import redis

from fiftyone_sync.embeddings.proxy import KEY_PREFIX, EmbedStore
from fiftyone_sync.emulators.fastvss import image_vector
from tests.embeddings.conftest import png, upload, wait_for_result
from tests.fixtures.net import free_port, port_open, wait_until


def _images(count: int, start: int = 0) -> list[tuple[str, bytes]]:
    return [(f"crop{index}.png", png(index)) for index in range(start, start + count)]


def test_round_trip_on_current_path(api, fastvss_emulator):
    images = _images(3)

    response = upload(api.url, fastvss_emulator.project, images)
    assert response.status_code == 200, response.text
    result = wait_for_result(api.url, response.json()["uuid"])

    assert result["status"] == "completed", result
    assert result["error"] is None
    assert result["filenames"] == [name for name, _ in images]
    assert result["embeddings"] == [image_vector(data) for _, data in images]
    assert fastvss_emulator.state.calls["embed"] == 1
    assert fastvss_emulator.state.calls["embeddings"] == 0


def test_round_trip_on_older_path(api, fastvss_emulator):
    fastvss_emulator.set(old_paths_only=True)
    images = _images(2)

    response = upload(api.url, fastvss_emulator.project, images)
    assert response.status_code == 200, response.text
    result = wait_for_result(api.url, response.json()["uuid"])

    assert result["status"] == "completed", result
    assert result["embeddings"] == [image_vector(data) for _, data in images]
    assert fastvss_emulator.state.calls["embeddings"] == 1


def test_seventy_files_split_into_three_jobs_in_upload_order(api, fastvss_emulator):
    fastvss_emulator.set(shuffle=True, job_delay=0.3)
    images = _images(70)

    response = upload(api.url, fastvss_emulator.project, images)
    assert response.status_code == 200, response.text
    result = wait_for_result(api.url, response.json()["uuid"])

    assert result["status"] == "completed", result
    assert fastvss_emulator.state.submissions == 3
    assert result["filenames"] == [name for name, _ in images]
    assert len(result["embeddings"]) == 70
    assert result["embeddings"] == [image_vector(data) for _, data in images]


def test_result_record_lives_to_its_deadline_then_for_embed_result_ttl(
    api_settings, start_api, fastvss_emulator, redis_url
):
    """A pending record must outlive its Fast-VSS deadline; a settled one lives only for
    ``embed_result_ttl``, then polls answer 404 (Redis does not fill up with old results)."""
    server = start_api(api_settings.model_copy(update={"embed_result_ttl": 2}))
    fastvss_emulator.set(job_delay=0.5)
    store = redis.Redis.from_url(redis_url)

    response = upload(server.url, fastvss_emulator.project, _images(1))
    key = response.json()["uuid"]
    pending_ttl = store.ttl(f"{KEY_PREFIX}{key}")
    assert 2 < pending_ttl <= 60 + 2

    assert wait_for_result(server.url, key)["status"] == "completed"
    assert 0 < store.ttl(f"{KEY_PREFIX}{key}") <= 2
    wait_until(lambda: not store.exists(f"{KEY_PREFIX}{key}"), timeout=10,
               what="the settled record to expire")
    assert httpx.get(f"{server.url}/embed/{key}").status_code == 404


def test_results_are_collected_before_fastvss_forgets_them(api, fastvss_emulator, redis_url):
    """Fast-VSS drops results soon after a job ends (about 500 s; 1 s here): a client that
    polls only later must still get them, so the API collects them without being asked."""
    knobs = httpx.post(f"{fastvss_emulator.url}/_emulator/faults",
                       json={"job_delay": 0.3, "result_ttl": 1.0})
    assert knobs.status_code == 200, knobs.text
    images = _images(2)
    project = fastvss_emulator.project

    response = upload(api.url, project, images)
    assert response.status_code == 200, response.text
    key = response.json()["uuid"]
    record = EmbedStore(redis.Redis.from_url(redis_url)).load(key)
    job = f"{fastvss_emulator.url}/predict/job/{record.batches[0].job_id}/{project}"
    wait_until(lambda: "does not exist" in httpx.get(job).json().get("error", ""),
               timeout=15, what="Fast-VSS to forget the job")

    result = httpx.get(f"{api.url}/embed/{key}").json()

    assert result["status"] == "completed", result
    assert result["embeddings"] == [image_vector(data) for _, data in images]


def test_fastvss_error_answer_on_submit_is_502(api, fastvss_emulator):
    fastvss_emulator.set(submit_error="model not loaded")

    response = upload(api.url, fastvss_emulator.project, _images(1))

    assert response.status_code == 502
    assert "model not loaded" in response.json()["detail"]


def test_unknown_fastvss_project_is_502_with_fastvss_reason(api):
    response = upload(api.url, "nosuchproject", _images(1))

    assert response.status_code == 502
    assert "Invalid project name nosuchproject" in response.json()["detail"]


def test_fastvss_error_answer_while_collecting_fails_the_record(api, fastvss_emulator):
    fastvss_emulator.set(poll_error="redis connection lost")

    response = upload(api.url, fastvss_emulator.project, _images(2))
    result = wait_for_result(api.url, response.json()["uuid"])

    assert result["status"] == "failed"
    assert "redis connection lost" in result["error"]
    assert result["embeddings"] is None


def test_fastvss_silent_while_collecting_fails_after_idle_timeout(api, fastvss_emulator):
    fastvss_emulator.set(poll_hang=30)
    started = time.monotonic()

    response = upload(api.url, fastvss_emulator.project, _images(2))
    result = wait_for_result(api.url, response.json()["uuid"])

    assert result["status"] == "failed"
    assert "no answer from Fast-VSS" in result["error"]
    assert "idle timeout 2 s" in result["error"]
    assert time.monotonic() - started < 15


def test_fastvss_silent_on_submit_is_504(api, fastvss_emulator):
    fastvss_emulator.set(submit_hang=30)

    response = upload(api.url, fastvss_emulator.project, _images(1))

    assert response.status_code == 504
    assert "did not answer" in response.json()["detail"]


def test_dead_fastvss_on_submit_is_503(api, fastvss_emulator):
    fastvss_emulator.stop()

    response = upload(api.url, fastvss_emulator.project, _images(1))

    assert response.status_code == 503
    assert "unavailable" in response.json()["detail"]


def test_fastvss_dying_while_collecting_fails_the_record(api, fastvss_emulator):
    fastvss_emulator.set(job_delay=30)
    response = upload(api.url, fastvss_emulator.project, _images(1))
    assert response.status_code == 200
    fastvss_emulator.stop()

    result = wait_for_result(api.url, response.json()["uuid"])

    assert result["status"] == "failed"
    assert "unreachable" in result["error"]


def test_string_result_fails_the_record(api, fastvss_emulator):
    fastvss_emulator.set(string_result="CUDA out of memory")

    response = upload(api.url, fastvss_emulator.project, _images(2))
    result = wait_for_result(api.url, response.json()["uuid"])

    assert result["status"] == "failed"
    assert "CUDA out of memory" in result["error"]


def test_failed_job_fails_the_record_naming_the_job(api, fastvss_emulator):
    fastvss_emulator.set(fail_batch=2)

    response = upload(api.url, fastvss_emulator.project, _images(40))
    result = wait_for_result(api.url, response.json()["uuid"])

    assert result["status"] == "failed"
    assert "job 2 of 2 failed" in result["error"]


def test_nan_and_missing_vectors_fail_the_record_naming_the_files(api, fastvss_emulator):
    fastvss_emulator.set(nan_vectors=1, missing_vectors=1)

    response = upload(api.url, fastvss_emulator.project, _images(3))
    result = wait_for_result(api.url, response.json()["uuid"])

    assert result["status"] == "failed"
    assert "crop0.png: the vector contains NaN" in result["error"]
    assert "crop2.png: missing from Fast-VSS's result" in result["error"]


def test_empty_upload_is_422(api, fastvss_emulator):
    response = httpx.post(f"{api.url}/embed", data={"project": fastvss_emulator.project})

    assert response.status_code == 422
    assert "no files uploaded" in response.json()["detail"]


def test_zero_byte_file_is_422_naming_it(api, fastvss_emulator):
    response = upload(api.url, fastvss_emulator.project, [("blank.png", b"")])

    assert response.status_code == 422
    assert "blank.png is empty" in response.json()["detail"]


def test_non_image_is_415_naming_it(api, fastvss_emulator):
    images = [("ok.png", png(1)), ("notes.png", b"these are not pixels")]

    response = upload(api.url, fastvss_emulator.project, images)

    assert response.status_code == 415
    assert "notes.png" in response.json()["detail"]
    assert fastvss_emulator.state.submissions == 0


def test_too_many_files_is_413(api, fastvss_emulator):
    response = upload(api.url, fastvss_emulator.project, _images(101))

    assert response.status_code == 413
    assert "at most 100" in response.json()["detail"]


def test_too_large_file_is_413(api, fastvss_emulator):
    big = png(5, size=(400, 400))
    assert len(big) > 200_000

    response = upload(api.url, fastvss_emulator.project, [("big.png", big)])

    assert response.status_code == 413
    assert "big.png is larger than 200000 bytes" in response.json()["detail"]


def test_invalid_project_name_is_422(api):
    response = upload(api.url, "../admin", _images(1))

    assert response.status_code == 422


def test_unknown_uuid_is_404(api):
    assert httpx.get(f"{api.url}/embed/{uuid.uuid4()}").status_code == 404
    assert httpx.get(f"{api.url}/embed/not-a-uuid").status_code == 404


def test_token_required_when_configured(api_settings, start_api, fastvss_emulator):
    settings = api_settings.model_copy(update={"embed_require_token": True})
    server = start_api(settings)

    response = upload(server.url, fastvss_emulator.project, _images(1))

    assert response.status_code == 401
    assert fastvss_emulator.state.submissions == 0


def test_second_api_process_answers_the_poll(api, api_settings, start_api, fastvss_emulator):
    second = start_api(api_settings)
    fastvss_emulator.set(job_delay=0.5)
    images = _images(5)

    response = upload(api.url, fastvss_emulator.project, images)
    result = wait_for_result(second.url, response.json()["uuid"])

    assert result["status"] == "completed", result
    assert result["embeddings"] == [image_vector(data) for _, data in images]
    assert wait_for_result(api.url, response.json()["uuid"]) == result


def _api_process(api_settings, port: int) -> subprocess.Popen:
    """A real API process (``uvicorn --factory``) sharing the test's Redis and emulator."""
    env = dict(os.environ,
               REDIS_URL=api_settings.redis_url,
               FASTVSS_API_URL=api_settings.fastvss_api_url,
               FIFTYONE_SYNC_DATA_DIR=str(api_settings.data_dir),
               FIFTYONE_SYNC_EMBED_COLLECTOR_LEASE="1.0",
               FIFTYONE_SYNC_FASTVSS_TIMEOUT="1.0",
               FIFTYONE_SYNC_FASTVSS_POLL_INTERVAL="0.05")
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "fiftyone_sync.api.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def test_restart_loses_nothing(api_settings, start_api, fastvss_emulator):
    fastvss_emulator.set(job_delay=4.0)
    images = _images(35)
    port = free_port()
    first = _api_process(api_settings, port)
    try:
        wait_until(lambda: port_open(port), what="the first API process")
        response = upload(f"http://127.0.0.1:{port}", fastvss_emulator.project, images)
        assert response.status_code == 200, response.text
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    second = start_api(api_settings)
    key = response.json()["uuid"]
    assert httpx.get(f"{second.url}/embed/{key}").json()["status"] == "pending"
    result = wait_for_result(second.url, key)

    assert result["status"] == "completed", result
    assert result["embeddings"] == [image_vector(data) for _, data in images]
    assert fastvss_emulator.state.submissions == 2
