"""The process's one Tator client (DESIGN.md section 11) against the Tator emulator.

tator-py's own ``get_api`` downloads the whole OpenAPI document on every call and sets no
timeout; these tests count the emulator's ``/schema`` downloads and slow the emulator down
to check that our client downloads it once per process, serves every token from it, and
gives up on a silent Tator after its timeout. Pulls reusing the process's client:
``tests/dataset/test_pull_media.py``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from fiftyone_sync.auth.tator_auth import AccessChecker, AuthError
from fiftyone_sync.emulators.tator import app as emulator_app
from fiftyone_sync.tator.client import Credential, TatorClient

SHORT = (2.0, 0.5)
"""A ``(connect, read)`` timeout well under the injected latencies."""


def _token(tator_emulator: Any, user: str) -> Credential:
    return Credential("Token", tator_emulator.tokens[user])


def test_one_client_downloads_the_schema_once_and_serves_two_tokens(tator_emulator):
    tator_emulator.reset_calls()
    built = TatorClient.constructions
    client = TatorClient(tator_emulator.url)

    for _ in range(2):
        alice = client.api(_token(tator_emulator, "alice"))
        bob = client.api(_token(tator_emulator, "bob"))
        assert alice.whoami()["username"] == "alice"
        assert bob.whoami()["username"] == "bob"

    assert tator_emulator.calls["Schema"] == 1
    assert TatorClient.constructions - built == 1
    assert tator_emulator.calls["Whoami"] == 4


def test_token_checks_build_no_new_client(tator_emulator):
    client = TatorClient(tator_emulator.url)
    checker = AccessChecker(client, ttl=0.0)
    tator_emulator.reset_calls()

    assert checker.check(_token(tator_emulator, "alice"), 1).role == "Creator"
    assert checker.check(_token(tator_emulator, "bob"), 1).role == "Can Edit"
    with pytest.raises(AuthError) as refused:
        checker.check(Credential("Token", "0" * 40), 1)

    assert refused.value.status == 401
    assert tator_emulator.calls["Schema"] == 1
    assert tator_emulator.calls["GetProject"] == 3


def test_a_request_slower_than_the_timeout_fails_quickly_with_a_timeout(tator_emulator):
    api = TatorClient(tator_emulator.url, timeout=SHORT).api(_token(tator_emulator, "alice"))
    api.whoami()
    tator_emulator.faults.add("GetProject", latency=2.0)

    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        api.get_project(1)

    assert time.monotonic() - started < 1.5


def test_a_slow_tator_makes_a_token_check_answer_503_quickly(tator_emulator):
    checker = AccessChecker(TatorClient(tator_emulator.url, timeout=SHORT), ttl=60.0)
    checker.check(_token(tator_emulator, "alice"), 1)
    tator_emulator.faults.add("GetProject", latency=2.0)

    started = time.monotonic()
    with pytest.raises(AuthError) as unavailable:
        checker.check(_token(tator_emulator, "bob"), 1)

    assert unavailable.value.status == 503
    assert time.monotonic() - started < 1.5


def test_the_schema_download_has_a_timeout_too(tator_emulator, monkeypatch):
    def slow_schema() -> str:
        time.sleep(2.0)
        return real_schema()

    real_schema = emulator_app.openapi_yaml
    monkeypatch.setattr(emulator_app, "openapi_yaml", slow_schema)
    client = TatorClient(tator_emulator.url, timeout=SHORT)

    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        client.api(_token(tator_emulator, "alice"))

    assert time.monotonic() - started < 1.5
    monkeypatch.undo()
    assert client.api(_token(tator_emulator, "alice")).whoami()["username"] == "alice"
