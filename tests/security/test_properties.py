"""Property tests of the rules that guard the service's inputs and secrets."""

from __future__ import annotations

import re
import string
import time
from urllib.parse import quote

import pytest
from fastapi import HTTPException
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fiftyone_sync import naming
from fiftyone_sync.api.deps import project_database
from fiftyone_sync.auth.access import AccessDenied, AccessGrant, read_cookie, sign_cookie
from fiftyone_sync.auth.secrets import CredentialCipher, SecretError
from fiftyone_sync.logging_setup import redact_text
from fiftyone_sync.naming import MAX_TATOR_ID
from fiftyone_sync.settings import Settings
from fiftyone_sync.tator.client import AUTH_SCHEMES, Credential, CredentialError

SETTINGS = Settings(data_dir="/nonexistent-fiftyone-sync", secret_key="properties")
ids = st.integers(min_value=1, max_value=MAX_TATOR_ID)
tokens = st.text(string.ascii_letters + string.digits + "._-", min_size=8, max_size=80)


@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.booleans(), st.none()))
def test_a_project_id_is_a_positive_int_or_a_naming_error(value: object) -> None:
    try:
        project = naming.validate_project_id(value)
    except naming.NamingError:
        return
    assert isinstance(project, int) and not isinstance(project, bool) and project >= 1


@given(ids, st.integers(min_value=1, max_value=65535))
def test_app_ports_stay_in_range(project: int, base: int) -> None:
    try:
        port = naming.app_port(project, base)
    except naming.NamingError:
        assert base + project > naming.MAX_PORT
        return
    assert base < port <= naming.MAX_PORT


@given(st.text(max_size=80))
def test_an_accepted_database_name_is_one_mongodb_accepts(name: str) -> None:
    try:
        accepted = naming.validate_database_name(name)
    except naming.NamingError:
        return
    assert accepted == name and 0 < len(name.encode()) <= 63
    assert not set('/\\. "$*<>:|?\x00') & set(name)


@given(ids.filter(lambda p: p < 10**6), st.one_of(
    ids.filter(lambda p: p < 10**6).map(str), st.text(string.digits, min_size=1, max_size=3)),
    st.booleans(), st.text(max_size=8))
def test_no_project_may_open_another_projects_database(own: int, other_text: str,
                                                       extends_own: bool, suffix: str) -> None:
    other = int(f"{own}{other_text}" if extends_own else other_text) or own
    try:
        chosen = project_database(own, SETTINGS,
                                  naming.default_database_name(other, SETTINGS) + suffix)
    except HTTPException as exc:
        assert exc.status_code == 422
        return
    owner = re.fullmatch(rf"{SETTINGS.database_default}_(\d+)", chosen)
    assert owner is None or int(owner.group(1)) == own


def test_a_digit_after_the_project_id_is_refused() -> None:
    with pytest.raises(HTTPException) as refused:
        project_database(4, SETTINGS, "fiftyone_project_45")
    assert refused.value.status_code == 422 and "not allowed" in refused.value.detail
    assert project_database(4, SETTINGS, "fiftyone_project_4_review") == (
        "fiftyone_project_4_review")


@given(st.text(max_size=200))
def test_an_authorization_header_parses_or_is_refused(header: str) -> None:
    try:
        credential = Credential.from_header(header)
    except CredentialError:
        return
    assert credential.scheme in AUTH_SCHEMES and credential.token
    assert not any(c.isspace() for c in credential.token)
    assert Credential.from_header(credential.header) == credential
    assert credential.token not in repr(credential)


@given(st.sampled_from(AUTH_SCHEMES), tokens, st.text(max_size=30))
def test_tokens_are_redacted_from_log_text(scheme: str, token: str, prefix: str) -> None:
    assume(token not in prefix)
    for line in [f"{prefix} {scheme} {token}", f"Authorization: {scheme} {token}",
                 f"{{'Authorization': '{scheme} {token}'}}", f"GET /x?token={token}&a=1"]:
        assert token not in redact_text(line), line


@given(st.text(string.printable.strip(), min_size=1, max_size=40),
       st.text(string.ascii_lowercase, min_size=1, max_size=10))
def test_uri_passwords_are_redacted(password: str, user: str) -> None:
    escaped = quote(password, safe="")
    for scheme in ("mongodb", "mongodb+srv", "redis"):
        uri = f"{scheme}://{user}:{escaped}@db.example:27017/x?authSource=admin"
        redacted = redact_text(f"could not connect to {uri}")
        assert f":{escaped}@" not in redacted and f"{user}:***@db.example" in redacted


@given(st.text(max_size=300))
def test_a_cookie_value_grants_nothing_unless_we_signed_it(value: str) -> None:
    with pytest.raises(AccessDenied):
        read_cookie(value, 1, "properties")


@given(st.integers(min_value=0, max_value=200), st.characters(codec="ascii"))
@settings(max_examples=60)
def test_a_tampered_cookie_is_refused(position: int, replacement: str) -> None:
    cookie = sign_cookie(AccessGrant("alice", 1, time.time() + 600), "properties")
    index = position % len(cookie)
    tampered = cookie[:index] + replacement + cookie[index + 1:]
    if tampered == cookie:
        return
    try:
        grant = read_cookie(tampered, 1, "properties")
    except AccessDenied:
        return
    assert grant == read_cookie(cookie, 1, "properties")  # base64 padding bits only


@given(st.text(max_size=200))
@settings(max_examples=50)
def test_a_sealed_credential_opens_only_with_our_key(sealed: str) -> None:
    cipher = CredentialCipher("properties", 60)
    with pytest.raises(SecretError):
        cipher.decrypt(sealed)
    real = cipher.encrypt(Credential("Token", "a" * 40))
    assert "a" * 40 not in real
    with pytest.raises(SecretError):
        CredentialCipher("another deployment", 60).decrypt(real)
