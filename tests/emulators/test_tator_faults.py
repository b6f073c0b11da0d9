"""Fault injection and call counters, from Python and over the admin HTTP routes."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import requests
from tator.exceptions import ApiException

from fiftyone_sync.emulators.tator.faults import FaultSpecError


def test_throttling_is_a_400_without_retry_after(tator_emulator):
    tator_emulator.faults.add("GetLocalizationList", throttle=True, times=1)

    throttled = httpx.get(f"{tator_emulator.url}/rest/Localizations/1",
                          headers=tator_emulator.headers())
    normal = httpx.get(f"{tator_emulator.url}/rest/Localizations/1",
                       headers=tator_emulator.headers())

    assert throttled.status_code == 400
    assert throttled.json() == {"message": "Request was throttled. Expected available in "
                                "1 second.", "details": "None"}
    assert "retry-after" not in throttled.headers
    assert normal.status_code == 200


def test_status_fault_after_n_calls(tator_emulator):
    api = tator_emulator.api()
    tator_emulator.faults.add("GetLocalization", status=503, after=2, times=1)

    first, second = api.get_localization(1), api.get_localization(1)
    with pytest.raises(ApiException) as caught:
        api.get_localization(1)
    fourth = api.get_localization(1)

    assert first.id == second.id == fourth.id == 1
    assert caught.value.status == 503
    assert tator_emulator.calls["GetLocalization"] == 4


def test_dropped_connection(tator_emulator):
    api = tator_emulator.api()
    tator_emulator.faults.add("UpdateLocalization", drop=True, times=1)

    with pytest.raises(requests.ConnectionError):
        api.update_localization(1, localization_update={"x": 0.3})
    answer = api.update_localization(1, localization_update={"x": 0.3})

    assert answer.object.mark == 1


def test_latency(tator_emulator):
    api = tator_emulator.api()
    tator_emulator.faults.add("GetProject", latency=0.3)

    started = time.monotonic()
    api.get_project(1)

    assert time.monotonic() - started >= 0.3


def test_faults_and_calls_over_http(tator_emulator):
    admin = f"{tator_emulator.url}/_emulator"

    added = httpx.post(f"{admin}/faults", json={"operation": "GetMediaList", "status": 500,
                                                "times": 1})
    listed = httpx.get(f"{admin}/faults").json()
    failed = httpx.get(f"{tator_emulator.url}/rest/Medias/1", headers=tator_emulator.headers())
    calls = httpx.get(f"{admin}/calls").json()
    reset = httpx.delete(f"{admin}/calls")
    cleared = httpx.delete(f"{admin}/faults")
    bad = httpx.post(f"{admin}/faults", json={"operation": "GetMediaList"})

    assert added.status_code == 201
    assert listed["faults"][0]["operation"] == "GetMediaList"
    assert failed.status_code == 500
    assert calls == {"calls": {"GetMediaList": 1}}
    assert reset.status_code == 200 and tator_emulator.calls == {}
    assert cleared.json() == {"faults": []} and tator_emulator.faults.list() == []
    assert bad.status_code == 400


def test_fault_spec_errors(tator_emulator):
    with pytest.raises(FaultSpecError):
        tator_emulator.faults.add("GetMedia")
    with pytest.raises(FaultSpecError):
        tator_emulator.faults.add("GetMedia", status=500, colour="red")


def test_wildcard_fault_and_body(tator_emulator):
    tator_emulator.faults.add("*", status=502, body={"message": "bad gateway"}, times=2)
    url = f"{tator_emulator.url}/rest/Project/1"

    first = httpx.get(url, headers=tator_emulator.headers())
    second = httpx.get(f"{tator_emulator.url}/rest/Versions/1", headers=tator_emulator.headers())
    third = httpx.get(url, headers=tator_emulator.headers())

    assert (first.status_code, first.json()) == (502, {"message": "bad gateway"})
    assert second.status_code == 502 and third.status_code == 200
    assert json.loads(third.text)["id"] == 1
