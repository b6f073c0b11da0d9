"""Schema, whoami, authentication and roles, checked against tator-real-responses.md 1-4, 12."""

from __future__ import annotations

import httpx
import pytest
import tator
import yaml
from tator.exceptions import ApiException

from fiftyone_sync.emulators.tator import demo
from fiftyone_sync.emulators.tator.fixtures import load_fixture

FORBIDDEN = {"message": "You do not have permission to perform this action."}


def _get(emulator, path, header=None, **kwargs):
    headers = {} if header is None else {"Authorization": header}
    return httpx.get(emulator.url + path, headers=headers, **kwargs)


@pytest.mark.parametrize("path", ["/schema", "/schema/"])
def test_schema_is_public_yaml_without_etag(tator_emulator, path):
    answer = _get(tator_emulator, path)

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/vnd.oai.openapi"
    assert "etag" not in answer.headers
    document = yaml.safe_load(answer.text)
    for item in document["paths"].values():
        assert "parameters" not in item
    assert document["paths"]["/rest/Localizations/{project}"]["post"]["responses"]["201"]


def test_client_builds_every_method_the_product_uses(tator_emulator):
    api = tator_emulator.api()

    for name in ("whoami", "get_project", "get_version_list", "get_media_type_list",
                 "get_localization_type_list", "get_media_list", "get_media_list_by_id",
                 "get_media_count", "get_download_info", "get_frame", "get_localization_list",
                 "get_localization_list_by_id", "create_localization_list",
                 "update_localization_list", "delete_localization_list",
                 "get_localization_count", "get_localization", "update_localization",
                 "delete_localization", "get_localization_by_elemental_id",
                 "update_localization_by_elemental_id", "delete_localization_by_elemental_id",
                 "get_applet_list", "register_applet", "update_applet",
                 "create_hosted_template", "create_obtain_auth_token"):
        assert callable(getattr(api, name))
    assert type(api.whoami()).__name__ == "User"


def test_whoami_shape(tator_emulator):
    me = tator_emulator.api("bob").whoami()

    assert set(me.to_dict()) == {"id", "username", "first_name", "last_name", "email",
                                 "is_staff", "elemental_id", "profile"}
    assert (me.id, me.username, me.is_staff, me.profile) == (2, "bob", False, {})


@pytest.mark.parametrize("header, message", [
    ("Token 0123456789abcdef0123456789abcdef01234567", "Invalid token."),
    (None, "Authentication credentials were not provided."),
    ("Token", "Invalid token header. No credentials provided."),
    ("Bearer {alice}", "Authentication credentials were not provided."),
])
def test_authentication_failures_are_400(tator_emulator, header, message):
    if header is not None:
        header = header.format(alice=tator_emulator.tokens["alice"])

    answer = _get(tator_emulator, "/rest/Localizations/1", header)

    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"message": message, "details": "None"}


def test_token_keyword_is_case_insensitive(tator_emulator):
    answer = _get(tator_emulator, "/rest/Localizations/1?stop=1",
                  f"token {tator_emulator.tokens['alice']}")

    assert answer.status_code == 200 and len(answer.json()) == 1


def test_short_bad_token_on_project(tator_emulator):
    answer = _get(tator_emulator, "/rest/Project/1", "Token bad")

    assert (answer.status_code, answer.json()["message"]) == (400, "Invalid token.")


def test_tator_py_with_bad_token_raises_400(tator_emulator):
    api = tator.get_api(tator_emulator.url, "0123456789abcdef0123456789abcdef01234567")

    with pytest.raises(ApiException) as caught:
        api.get_localization_list(1)

    assert caught.value.status == 400
    assert "Invalid token." in caught.value.body


def test_whoami_without_and_with_bad_token(tator_emulator):
    anonymous = _get(tator_emulator, "/rest/User/GetCurrent")
    bad = _get(tator_emulator, "/rest/User/GetCurrent", "Token " + "0" * 40)

    assert (anonymous.status_code, anonymous.json()) == (
        404, {"message": "User matching query does not exist."})
    assert (bad.status_code, bad.json()["message"]) == (400, "Invalid token.")


@pytest.mark.parametrize("with_token", [True, False])
def test_unknown_project_is_404_before_auth(tator_emulator, with_token):
    header = f"Token {tator_emulator.tokens['alice']}" if with_token else None

    answer = _get(tator_emulator, "/rest/Localizations/999999", header)

    assert (answer.status_code, answer.json()) == (
        404, {"message": "No Project matches the given query."})


def test_non_member_gets_generic_403_everywhere(tator_emulator):
    api = tator_emulator.api("dave")
    calls = [
        lambda: api.get_project(1), lambda: api.get_localization_list(1),
        lambda: api.get_version_list(1), lambda: api.get_media_list(1),
        lambda: api.get_localization_type(1), lambda: api.get_media(1),
        lambda: api.get_download_info(1, download_info_spec={"keys": ["1/1/1/image.png"]}),
        lambda: api.update_localization(1, localization_update={"x": 0.2}),
        lambda: api.create_localization_list(1, body=[{"media_id": 1, "type": 1, "frame": 0}]),
        lambda: api.delete_localization(1),
    ]

    for call in calls:
        with pytest.raises(ApiException) as caught:
            call()
        assert caught.value.status == 403
        assert yaml.safe_load(caught.value.body) == FORBIDDEN


def test_non_member_sees_only_own_projects(tator_emulator):
    projects = tator_emulator.api("dave").get_project_list()

    assert [(p.id, p.permission) for p in projects] == [(2, "Full Control")]


def test_non_member_get_frame_is_a_400_picture(tator_emulator):
    answer = _get(tator_emulator, "/rest/GetFrame/1", f"Token {tator_emulator.tokens['dave']}")

    assert answer.status_code == 400
    assert answer.headers["content-type"] == "image/png"


def test_view_only_member_reads_but_cannot_write(tator_emulator):
    api = tator_emulator.api("carol")

    assert len(api.get_localization_list(1, stop=1)) == 1
    assert api.get_project(1).permission == "View Only"
    assert api.get_frame(1).endswith(".png")
    writes = [
        lambda: api.update_localization(1, localization_update={"x": 0.2}),
        lambda: api.create_localization_list(1, body=[{"media_id": 1, "type": 1, "frame": 0}]),
        lambda: api.delete_localization_list(1, localization_bulk_delete={"ids": [1]}),
        lambda: api.get_download_info(1, download_info_spec={"keys": ["1/1/1/image.png"]}),
    ]
    for call in writes:
        with pytest.raises(ApiException) as caught:
            call()
        assert caught.value.status == 403


def test_project_permission_labels(tator_emulator):
    labels = {user: tator_emulator.api(user).get_project(1).permission
              for user in ("alice", "bob", "carol")}

    assert labels == {"alice": "Creator", "bob": "Can Edit", "carol": "View Only"}


def test_project_shape(tator_emulator):
    project = tator_emulator.api("bob").get_project(1).to_dict()

    assert list(project) == [
        "id", "name", "summary", "organization", "enable_downloads", "bucket",
        "upload_bucket", "backup_bucket", "elemental_id", "thumb", "created", "num_files",
        "size", "duration", "usernames", "attribute_types", "extended_info",
        "effective_permission", "permission"]
    assert project["thumb"] is None and project["created"].endswith("Z")


def test_obtain_auth_token(tator_emulator):
    answer = httpx.post(f"{tator_emulator.url}/rest/Token",
                        json={"username": "bob", "password": "bob-pw", "refresh": False})
    wrong = httpx.post(f"{tator_emulator.url}/rest/Token",
                       json={"username": "bob", "password": "wrong"})
    mismatch = httpx.post(f"{tator_emulator.url}/rest/Token", headers=tator_emulator.headers(),
                          json={"username": "bob", "password": "bob-pw"})

    assert (answer.status_code, answer.json()) == (201, {"token": tator_emulator.tokens["bob"]})
    assert wrong.json()["message"] == "Could not authenticate with provided credentials!"
    assert mismatch.json()["message"] == ("Credentials do not match currently authenticated "
                                          "user!")


def test_sso_bearer_tokens(tator_emulator, tator_media_dir):
    tator_emulator.load(demo.plankton_fixture(tator_media_dir, sso=True))

    good = _get(tator_emulator, "/rest/User/GetCurrent", "Bearer bearer-bob")
    bad = _get(tator_emulator, "/rest/Localizations/1", "Bearer nope")

    assert (good.status_code, good.json()["username"]) == (200, "bob")
    assert (bad.status_code, bad.json()) == (401, {
        "error": "Authentication failed", "detail": "Please provide or refresh your token."})


def test_fixture_load_replaces_the_project(tator_emulator, tator_media_dir):
    fixture = demo.plankton_fixture(tator_media_dir, images=1)

    store = tator_emulator.load(fixture)

    assert store is tator_emulator.store
    assert tator_emulator.api().get_media_count(1) == 2
    assert load_fixture(fixture).localizations.keys() == store.localizations.keys()


def test_downloads_need_can_transfer(tator_emulator):
    spec = {"keys": ["1/1/1/image.png"]}

    allowed = tator_emulator.api("erin").get_download_info(1, download_info_spec=spec)
    with pytest.raises(ApiException) as caught:
        tator_emulator.api("bob").get_download_info(1, download_info_spec=spec)

    assert allowed[0].key == "1/1/1/image.png"
    assert caught.value.status == 403


def test_inactive_user_and_token_refresh(tator_emulator):
    tator_emulator.store.user_named("carol").is_active = False
    old = tator_emulator.tokens["bob"]

    inactive = _get(tator_emulator, "/rest/Project/1", f"Token {tator_emulator.tokens['carol']}")
    refreshed = httpx.post(f"{tator_emulator.url}/rest/Token",
                           json={"username": "bob", "password": "bob-pw", "refresh": True})
    stale = _get(tator_emulator, "/rest/Project/1", f"Token {old}")
    fresh = _get(tator_emulator, "/rest/Project/1", f"Token {refreshed.json()['token']}")

    assert inactive.json() == {"message": "User inactive or deleted.", "details": "None"}
    assert refreshed.status_code == 201 and refreshed.json()["token"] != old
    assert len(refreshed.json()["token"]) == 40
    assert stale.json()["message"] == "Invalid token." and fresh.status_code == 200


def test_token_through_tator_py_is_untyped_like_tator(tator_emulator):
    api = tator.get_api(tator_emulator.url)

    answer = api.create_obtain_auth_token(credentials={"username": "erin", "password": "erin-pw"})

    assert answer["token"] == tator_emulator.tokens["erin"]
    assert type(answer).__name__ == "APIObject"
