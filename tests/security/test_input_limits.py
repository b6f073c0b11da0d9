"""Out-of-range ids, oversized and malformed input: a 4xx with a reason, never a 5xx."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from fiftyone_sync.api.app import create_app
from fiftyone_sync.settings import Settings
from tests.fixtures.server import serving
from tests.security.conftest import FASTVSS_PROJECT

BAD_IDS = ["99999999999999999999", "-1", "0", "abc", "1.5", "", "1e3", "0x10", "1 2",
           "1" * 5000]
MAX_FILES = 2
MAX_FILE_BYTES = 4000


def _png(size: int = 8) -> bytes:
    """A PNG of random pixels (so it does not compress below its size)."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(buffer, "PNG")
    return buffer.getvalue()


def _refused(answer: httpx.Response, *statuses: int) -> bool:
    """A 4xx among ``statuses`` with a non-empty ``detail``."""
    return answer.status_code in statuses and bool(answer.json().get("detail"))


@pytest.mark.parametrize("route", ["GET /versions", "GET /jobs", "POST /sync",
                                   "POST /embeddings", "GET /launch"])
def test_bad_project_ids_are_refused(route: str, api: httpx.Client, tator_emulator) -> None:
    method, path = route.split()
    bob = tator_emulator.headers("bob")
    wrong = []
    for project_id in BAD_IDS:
        answer = api.request(method, path, headers=bob,
                             params={"project_id": project_id, "version_id": 1})
        if not _refused(answer, 422):
            wrong.append((project_id[:30], answer.status_code, answer.text[:200]))
    assert wrong == []


@pytest.mark.parametrize("route", ["POST /sync", "POST /embeddings"])
def test_bad_version_ids_are_refused(route: str, api: httpx.Client, tator_emulator) -> None:
    method, path = route.split()
    bob = tator_emulator.headers("bob")
    for version_id in [*BAD_IDS, "3"]:
        answer = api.request(method, path, headers=bob,
                             params={"project_id": 1, "version_id": version_id})
        assert _refused(answer, 422), (version_id[:30], answer.text[:200])


def test_page_sizes_job_ids_and_long_strings_are_refused(api: httpx.Client,
                                                         tator_emulator) -> None:
    bob = tator_emulator.headers("bob")
    for limit in ["0", "-5", "101", "10" * 30, "many"]:
        answer = api.get("/jobs", headers=bob, params={"project_id": 1, "limit": limit})
        assert _refused(answer, 422), (limit, answer.text)
    for job_id in ["x" * 32, "A" * 32, "0" * 31, "0" * 33, "..%2f..%2fetc"]:
        assert _refused(api.get(f"/jobs/{job_id}", headers=bob), 404, 422), job_id

    long_name = "d" * 10_000
    answer = api.post("/sync", headers=bob, params={
        "project_id": 1, "version_id": 1, "database_name": long_name})
    assert _refused(answer, 422) and long_name not in answer.text


def test_an_oversized_header_or_query_is_refused_without_a_5xx(api: httpx.Client,
                                                               tator_emulator) -> None:
    huge = api.get("/versions", params={"project_id": "1" * 60_000},
                   headers=tator_emulator.headers("bob"))
    assert 400 <= huge.status_code < 500

    token = api.get("/versions", params={"project_id": 1},
                    headers={"Authorization": "Token " + "a" * 100_000})
    assert 400 <= token.status_code < 500


@pytest.fixture()
def small_api(sec_settings: Settings) -> Iterator[httpx.Client]:
    """The API with tight upload limits."""
    settings = sec_settings.model_copy(update={
        "embed_max_files": MAX_FILES, "embed_max_file_bytes": MAX_FILE_BYTES})
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def test_uploads_are_checked_for_count_size_and_content(small_api: httpx.Client,
                                                        tator_emulator) -> None:
    bob = tator_emulator.headers("bob")
    form = {"project": FASTVSS_PROJECT}
    cases = [
        ([], 422, "no files uploaded"),
        ([_png()] * (MAX_FILES + 1), 413, f"at most {MAX_FILES}"),
        ([_png(400)], 413, f"larger than {MAX_FILE_BYTES} bytes"),
        ([b""], 422, "is empty"),
        ([b"%PDF-1.4 not an image"], 415, "not an image"),
    ]
    for contents, status, reason in cases:
        files = [("files", (f"f{i}.png", data, "image/png")) for i, data in enumerate(contents)]
        answer = small_api.post("/embed", headers=bob, data=form, files=files or None)
        assert answer.status_code == status, (reason, answer.text)
        assert reason in answer.json()["detail"]

    name = small_api.post("/embed", headers=bob, data={"project": "x" * 5000},
                          files=[("files", ("a.png", _png(), "image/png"))])
    assert _refused(name, 422) and "x" * 5000 not in name.text


def test_malformed_bodies_are_refused(small_api: httpx.Client, tator_emulator) -> None:
    bob = tator_emulator.headers("bob")
    broken = small_api.post("/embed", headers={
        **bob, "Content-Type": "multipart/form-data; boundary=XyZ"},
        content=b"--XyZ\r\nContent-Disposition: form-data; name=\"files\"\r\n\r\nno end")
    assert 400 <= broken.status_code < 500, broken.text

    no_boundary = small_api.post("/embed", headers={**bob, "Content-Type": "multipart/form-data"},
                                 content=b"garbage")
    assert 400 <= no_boundary.status_code < 500, no_boundary.text

    as_json = small_api.post("/embed", headers={**bob, "Content-Type": "application/json"},
                             content=b"{not json")
    assert _refused(as_json, 422), as_json.text


def test_sync_takes_its_input_from_the_query_and_never_reads_a_body(
        api: httpx.Client, tator_emulator) -> None:
    """``/sync`` declares no body: neither malformed JSON nor JSON naming another project
    or database changes what is queued; the job is exactly what the query asked for."""
    bob = tator_emulator.headers("bob")
    query = {"project_id": 1, "version_id": 1}
    malformed = b'{"project_id": 2, "database_name": "fiftyone_project_2"'
    overriding = b'{"project_id": 2, "version_id": 3, "database_name": "other", "force": true}'
    for body in (malformed, overriding):
        answer = api.post("/sync", params=query, content=body,
                          headers={**bob, "Content-Type": "application/json"})
        assert answer.status_code == 202, answer.text
        job = api.get(f"/jobs/{answer.json()['job_id']}", headers=bob).json()
        assert (job["project_id"], job["version_id"], job["params"]) == (1, 1, {"force": False})
        assert job["database_name"].endswith("_1") and "other" not in job["database_name"]


RESOLVE_JSON = {"Content-Type": "application/json"}
BAD_RESOLVE_BODIES = {
    "malformed JSON": (b'{"elemental_ids": "all", "choice": "mine"', RESOLVE_JSON, 422),
    "empty body": (b"", RESOLVE_JSON, 422),
    "a list, not an object": (b'["all", "mine"]', RESOLVE_JSON, 422),
    "a string, not an object": (b'"all"', RESOLVE_JSON, 422),
    "no choice": (b'{"elemental_ids": "all"}', RESOLVE_JSON, 422),
    "no elemental ids": (b'{"choice": "mine"}', RESOLVE_JSON, 422),
    "an unknown choice": (b'{"elemental_ids": "all", "choice": "both"}', RESOLVE_JSON, 422),
    "ids neither a list nor all": (b'{"elemental_ids": "some", "choice": "mine"}',
                                   RESOLVE_JSON, 422),
    "ids that are not strings": (b'{"elemental_ids": [1, {"a": 2}], "choice": "mine"}',
                                 RESOLVE_JSON, 422),
    "an empty id list": (b'{"elemental_ids": [], "choice": "theirs"}', RESOLVE_JSON, 422),
    "an id of 1,000 characters": (b'{"elemental_ids": ["' + b"e" * 1000 + b'"], "choice": "mine"}',
                                  RESOLVE_JSON, 422),
    "an empty id": (b'{"elemental_ids": [""], "choice": "mine"}', RESOLVE_JSON, 422),
    "10,001 ids": (b'{"elemental_ids": [' + b",".join([b'"e"'] * 10_001) + b'], "choice": "mine"}',
                   RESOLVE_JSON, 422),
    "JSON nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, RESOLVE_JSON, 400),
    "bytes that are not UTF-8": (b'{"elemental_ids": "all", "choice": "mine\xff"}',
                                 RESOLVE_JSON, 400),
    "a form instead of JSON": (b"elemental_ids=all&choice=mine",
                               {"Content-Type": "application/x-www-form-urlencoded"}, 422),
    "JSON sent as text": (b'{"elemental_ids": "all", "choice": "mine"}',
                          {"Content-Type": "text/plain"}, 422),
}


@pytest.mark.parametrize("case", list(BAD_RESOLVE_BODIES))
def test_a_bad_conflict_resolution_body_is_refused_with_a_reason_and_queues_nothing(
        case: str, api: httpx.Client, tator_emulator) -> None:
    """``POST /push/conflicts/resolve`` reads a JSON body: each malformed or ill-typed one
    is a 4xx whose ``detail`` says what is wrong (never a 5xx), and no job is queued."""
    bob = tator_emulator.headers("bob")
    body, headers, status = BAD_RESOLVE_BODIES[case]
    newest = _newest_job(api, bob)
    answer = api.post("/push/conflicts/resolve", params={"project_id": 1, "version_id": 1},
                      content=body, headers={**bob, **headers})
    assert _refused(answer, status), (case, answer.status_code, answer.text[:300])
    assert _newest_job(api, bob) == newest


def _newest_job(api: httpx.Client, headers: dict[str, str]) -> str | None:
    """The id of project 1's most recent job, or None."""
    jobs = api.get("/jobs", params={"project_id": 1, "limit": 1}, headers=headers).json()
    return jobs["jobs"][0]["id"] if jobs["jobs"] else None


def test_a_body_over_the_limit_is_refused_before_it_is_stored(
        sec_settings: Settings, tator_emulator) -> None:
    limit = 100_000
    settings = sec_settings.model_copy(update={"max_request_bytes": limit})
    bob = tator_emulator.headers("bob")
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as api:
        declared = api.post("/embed", headers=bob, data={"project": FASTVSS_PROJECT},
                            files=[("files", ("big.png", os.urandom(limit * 3), "image/png"))])
        assert declared.status_code == 413, declared.text
        assert "FIFTYONE_SYNC_MAX_REQUEST_BYTES" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:
            yield (b'--XyZ\r\nContent-Disposition: form-data; name="files"; '
                   b'filename="a.png"\r\nContent-Type: image/png\r\n\r\n')
            for _ in range(30):
                yield os.urandom(10_000)

        chunked = api.post("/embed", headers={
            **bob, "Content-Type": "multipart/form-data; boundary=XyZ"}, content=chunks())
        assert chunked.status_code == 413, chunked.text

        small = api.post("/embed", headers=bob, data={"project": FASTVSS_PROJECT},
                         files=[("files", ("a.png", _png(), "image/png"))])
        assert small.status_code == 503 and "Fast-VSS" in small.json()["detail"]
