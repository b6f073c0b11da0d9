"""The ``tator_emulator`` fixture serves the standard project over real HTTP."""

from __future__ import annotations

import httpx


def test_fixture_serves_the_standard_project(tator_emulator):
    api = tator_emulator.api("alice")

    media = api.get_media_list(tator_emulator.project_id)
    types = api.get_localization_type_list(tator_emulator.project_id)

    assert [m.name for m in media] == ["index_clip.mp4", "plankton_000.png",
                                       "plankton_001.png", "plankton_002.png"]
    assert [t.dtype for t in types] == ["box", "dot", "line", "poly"]
    assert tator_emulator.calls == {"Schema": 1, "GetMediaList": 1, "GetLocalizationTypeList": 1}


def test_each_test_gets_a_fresh_store(tator_emulator):
    api = tator_emulator.api("bob")
    first = api.get_localization_list(1, version=[1])[0]

    api.update_localization(first.id, localization_update={"x": 0.5})

    assert tator_emulator.store.get_localization(first.id).mark == 0
    assert len(api.get_localization_list(1, show_all_marks=1)) == 17


def test_fixture_store_changes_show_over_http(tator_emulator):
    tator_emulator.store.patch_localization(1, user="carol", x=0.25)

    answer = httpx.get(f"{tator_emulator.url}/rest/Localizations/1",
                       params={"media_id": "1", "type": "1"},
                       headers=tator_emulator.headers("carol"))

    assert answer.status_code == 200
    moved = [row for row in answer.json() if row["x"] == 0.25]
    assert len(moved) == 1 and moved[0]["mark"] == 1 and moved[0]["modified_by"] == 3
