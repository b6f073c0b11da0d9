"""The Tator plugin's operators over HTTP, through the access proxy as the App calls them.

Every call goes to ``POST /apps/1/operators/execute`` with alice's access cookie (the proxy
adds her grant); the operators call our API, whose jobs run in a worker subprocess against
the Tator emulator. The tests share one module environment and run in file order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from bson import ObjectId

from fiftyone_sync.dataset.mapping import deep_link
from tests.plugin.conftest import (
    DATASET,
    PROJECT,
    VERSION,
    PluginEnv,
    fold_stream,
    open_app,
)


def _result(answer: dict[str, Any]) -> dict[str, Any]:
    """The operator's result, failing the test with the App's error message if it failed."""
    assert answer["error"] is None, answer["error_message"]
    return answer["result"]


def _refusal(answer: dict[str, Any]) -> str:
    """The App's error message of a refused operator call."""
    assert answer["error"], answer
    assert answer["result"] is None
    return answer["error_message"]


def _samples(env: PluginEnv) -> tuple[Any, list[dict[str, Any]]]:
    """(the dataset's document, its sample documents sorted by media id)."""
    client = env.mongo()
    try:
        db = client[env.database]
        dataset = db["datasets"].find_one({"name": DATASET})
        samples = list(db[dataset["sample_collection_name"]].find({}).sort("tator_media_id"))
        return dataset, samples
    finally:
        client.close()


def _sample(env: PluginEnv, media: int) -> dict[str, Any]:
    return next(s for s in _samples(env)[1] if s["tator_media_id"] == media)


def _tator_rows(env: PluginEnv) -> dict[str, dict[str, Any]]:
    """Tator's latest rows of version 1 by elemental id."""
    rows = env.tator.api("alice").get_localization_list(PROJECT, version=[VERSION])
    return {row["elemental_id"]: dict(row) for row in rows}


@pytest.fixture(scope="module", autouse=True)
def token_typed(plugin_env: PluginEnv) -> None:
    """Alice types her token once in this App session (the first operator call)."""
    _result(plugin_env.execute("review_tator_changes",
                               {"tator_token": plugin_env.tator.tokens["alice"]}))


def test_review_shows_an_app_edit_and_push_changes_tator(plugin_env: PluginEnv) -> None:
    dataset, _ = _samples(plugin_env)
    sample = _sample(plugin_env, 2)
    label = sample["boxes"]["detections"][0]
    new_label = "Diatom" if label["label"] != "Diatom" else "Salp"
    saved = plugin_env.app.patch(
        f"/apps/{PROJECT}/dataset/{dataset['_id']}/sample/{sample['_id']}",
        json=[{"op": "replace", "path": "/boxes/detections/0/label", "value": new_label}],
        headers={"Content-Type": "application/json-patch+json",
                 "If-Match": sample["last_modified_at"].isoformat()}, timeout=30)
    assert saved.status_code == 200, saved.text

    review = _result(plugin_env.execute("review_tator_changes"))
    eid = label["tator_elemental_id"]
    assert review["counts"] == {"update": 1}
    [item] = review["items"]
    assert (item["kind"], item["elemental_id"]) == ("update", eid)
    assert item["sample_id"] == str(sample["_id"])
    assert f"selected_entity={eid}" in item["tator_url"]
    sample_page = plugin_env.app.get(item["sample_url"], timeout=30)
    assert sample_page.status_code == 200 and "<html" in sample_page.text.lower()
    assert item["sample_url"].endswith(f"&id={sample['_id']}")
    assert eid in review["summary"]
    assert _tator_rows(plugin_env)[eid]["attributes"]["Label"] == label["label"]

    answer = plugin_env.execute("push_to_tator", {"plan_id": review["plan_id"]})
    pushed = _result(answer)
    assert pushed["outcome"] == "applied"
    assert answer["progress"] and answer["progress"][-1]["progress"] == 1.0
    assert pushed["counts"]["updated"] == 1
    assert pushed["conflicts"] == [] and pushed["invalid"] == []
    assert _tator_rows(plugin_env)[eid]["attributes"]["Label"] == new_label

    again = _result(plugin_env.execute("review_tator_changes"))
    assert again["total"] == 0


def test_push_lists_conflicts(plugin_env: PluginEnv) -> None:
    dataset, _ = _samples(plugin_env)
    sample = _sample(plugin_env, 3)
    label = sample["boxes"]["detections"][1]
    saved = plugin_env.app.patch(
        f"/apps/{PROJECT}/dataset/{dataset['_id']}/sample/{sample['_id']}",
        json=[{"op": "replace", "path": "/boxes/detections/1/Notes", "value": "mine"}],
        headers={"Content-Type": "application/json-patch+json",
                 "If-Match": sample["last_modified_at"].isoformat()}, timeout=30)
    assert saved.status_code == 200, saved.text
    review = _result(plugin_env.execute("review_tator_changes"))
    plugin_env.tator.api("bob").update_localization(
        label["tator_id"], {"attributes": {"Notes": "theirs"}})

    pushed = _result(plugin_env.execute("push_to_tator", {"plan_id": review["plan_id"]}))

    assert pushed["counts"]["conflicts"] == 1
    assert [row["elemental_id"] for row in pushed["conflicts"]] == [label["tator_elemental_id"]]
    assert pushed["conflicts"][0]["sample_url"] == (
        f"/apps/{PROJECT}/datasets/{DATASET}?proxy=%2Fapps%2F{PROJECT}&id={sample['_id']}")
    assert pushed["conflicts"][0]["sample_url"] in pushed["summary"]
    assert f"conflicts: [`{label['tator_elemental_id']}`]" in pushed["summary"]
    assert _tator_rows(plugin_env)[label["tator_elemental_id"]]["attributes"]["Notes"] == "theirs"


def test_pull_after_a_tator_change_shows_it(plugin_env: PluginEnv) -> None:
    label = _sample(plugin_env, 1)["boxes"]["detections"][2]
    row = _tator_rows(plugin_env)[label["tator_elemental_id"]]
    plugin_env.tator.api("bob").update_localization(
        row["id"], {"attributes": {"Notes": "changed in Tator"}})

    answer = plugin_env.execute("pull_from_tator")
    pulled = _result(answer)

    assert pulled["state"] == "succeeded", pulled
    assert answer["progress"][-1] == {"label": "succeeded", "progress": 1.0}
    assert answer["messages"][-2:] == ["reload_dataset", "show_output"]
    assert "labels created: 0, updated: 1" in pulled["summary"]
    record = httpx.get(f"{plugin_env.api_url}/jobs/{pulled['job_id']}",
                       headers=plugin_env.headers(), timeout=30).json()
    assert (record["kind"], record["requested_by"]) == ("pull", "alice")
    labels = {lb["tator_elemental_id"]: lb
              for lb in _sample(plugin_env, 1)["boxes"]["detections"]}
    assert labels[label["tator_elemental_id"]]["Notes"] == "changed in Tator"


def test_open_in_tator_links_to_the_selected_element(plugin_env: PluginEnv) -> None:
    sample = _sample(plugin_env, 2)
    label = sample["boxes"]["detections"][1]
    eid = label["tator_elemental_id"]
    chosen = {"label_id": str(label["_id"]), "sample_id": str(sample["_id"]),
              "field": "boxes", "frame_number": None}

    opened = _result(plugin_env.execute("open_in_tator", {"tator_access": "forged"},
                                        selected_labels=[chosen]))

    assert opened["url"] == deep_link(plugin_env.tator.url, PROJECT, 2, 0,
                                      label["tator_version"], eid, 1)
    page = httpx.get(opened["url"], timeout=30)
    assert page.status_code == 200
    assert f'<td id="selected_entity">{eid}</td>' in page.text
    whole = _result(plugin_env.execute("open_in_tator", current_sample=str(sample["_id"])))
    assert whole["url"] == deep_link(plugin_env.tator.url, PROJECT, 2, 0, VERSION)


def test_a_call_straight_to_the_app_is_refused(plugin_env: PluginEnv) -> None:
    before = httpx.get(f"{plugin_env.api_url}/jobs", params={"project_id": str(PROJECT)},
                       headers=plugin_env.headers(), timeout=30).json()["jobs"]
    direct = httpx.Client(base_url=f"http://127.0.0.1:{plugin_env.app_port}")
    body = {"dataset_name": DATASET, "operator_uri": "@tator/fiftyone-sync/pull_from_tator",
            "params": {"tator_token": plugin_env.tator.tokens["alice"],
                       "tator_access": "forged.value"},
            "view": [], "selected": [], "selected_labels": []}

    with direct:
        answer = fold_stream(direct.post("/operators/execute/generator", json=body,
                                         timeout=60).text)

    assert "does not carry your Tator identity" in _refusal(answer)
    after = httpx.get(f"{plugin_env.api_url}/jobs", params={"project_id": str(PROJECT)},
                      headers=plugin_env.headers(), timeout=30).json()["jobs"]
    assert len(after) == len(before)


def test_a_new_session_needs_the_token_that_opened_it(plugin_env: PluginEnv) -> None:
    with open_app(plugin_env.api_url, plugin_env.headers()) as session:
        missing = plugin_env.execute("review_tator_changes", client=session)
        assert "enter your Tator token" in _refusal(missing)

        someone_else = plugin_env.execute(
            "review_tator_changes", {"tator_token": plugin_env.tator.tokens["bob"]},
            client=session)
        assert "not the one that opened this App" in _refusal(someone_else)

        typed = plugin_env.execute("open_in_tator",
                                   {"tator_token": plugin_env.tator.tokens["alice"]},
                                   client=session, current_sample=str(_sample(plugin_env,
                                                                              1)["_id"]))
        assert _result(typed)["url"].startswith(plugin_env.tator.url)


def test_a_dataset_of_another_project_is_refused(plugin_env: PluginEnv) -> None:
    client = plugin_env.mongo()
    datasets = client[plugin_env.database]["datasets"]
    copy = datasets.find_one({"name": DATASET})
    new_id = ObjectId()
    copy.update(_id=new_id, name="tator-p2-v3", slug="tator-p2-v3",
                sample_collection_name=f"samples.{new_id}",
                created_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    copy["info"]["tator"].update(project=2, version=3)
    datasets.insert_one(copy)
    try:
        for operator in ("review_tator_changes", "pull_from_tator", "open_in_tator"):
            answer = plugin_env.execute(operator, dataset="tator-p2-v3")
            assert "belongs to Tator project 2" in _refusal(answer)
    finally:
        datasets.delete_one({"_id": copy["_id"]})
        client.close()
