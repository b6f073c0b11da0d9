"""The naming rules: App ports and database names per project."""

import pytest

from fiftyone_sync import naming
from fiftyone_sync.settings import Settings


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path)


def test_port_is_base_plus_project_id():
    assert naming.app_port(3, 5151) == 5154
    assert naming.app_port("7", 5151) == 5158


@pytest.mark.parametrize("bad", [0, -1, "x", "1.5", 2.0, None, True, ""])
def test_invalid_project_ids_are_refused(bad):
    with pytest.raises(naming.NamingError, match="project id"):
        naming.app_port(bad, 5151)


def test_port_past_65535_is_refused():
    assert naming.app_port(65535 - 5151, 5151) == 65535
    with pytest.raises(naming.NamingError, match="65536"):
        naming.app_port(65535 - 5150, 5151)


def test_database_name_precedence(settings):
    assert naming.database_name(4, settings) == "fiftyone_project_4"
    assert naming.database_name(4, settings, "fiftyone_project_4_review") == (
        "fiftyone_project_4_review")

    shared = Settings(data_dir=settings.data_dir, database_name="shared_db")
    assert naming.database_name(4, shared) == "shared_db"
    assert naming.database_name(4, shared, "fiftyone_project_4") == "fiftyone_project_4"

    prefixed = Settings(data_dir=settings.data_dir, database_default="tator")
    assert naming.database_name(4, prefixed) == "tator_4"


@pytest.mark.parametrize("bad", ["", "a/b", "a\\b", "a.b", "a b", 'a"b', "a$b", "a*b",
                                 "a<b", "a>b", "a:b", "a|b", "a?b", "x" * 64, "é" * 32])
def test_invalid_database_names_are_refused(bad):
    with pytest.raises(naming.NamingError):
        naming.validate_database_name(bad)


def test_longest_database_name_is_accepted():
    assert naming.validate_database_name("x" * 63) == "x" * 63


def test_another_projects_database_is_refused(settings):
    with pytest.raises(naming.NamingError, match="not allowed"):
        naming.database_name(4, settings, "fiftyone_project_5")


def test_allowlist_replaces_the_default_rule(settings):
    allowing = Settings(data_dir=settings.data_dir, allowed_database_names=["review_*"])
    assert naming.database_name(4, allowing, "review_x") == "review_x"
    with pytest.raises(naming.NamingError, match="not allowed"):
        naming.database_name(4, allowing, "fiftyone_project_4")


def test_allowlist_reads_comma_separated_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FIFTYONE_SYNC_ALLOWED_DATABASE_NAMES", "a_db, b_*")
    assert Settings(data_dir=tmp_path).allowed_database_names == ["a_db", "b_*"]


@pytest.mark.parametrize("other", ["fiftyone_project_45", "fiftyone_project_40_review",
                                   "fiftyone_project_4x", "fiftyone_project_"])
def test_a_name_that_only_starts_like_the_projects_own_is_refused(settings, other):
    with pytest.raises(naming.NamingError, match="not allowed"):
        naming.database_name(4, settings, other)


def test_the_projects_own_name_with_a_suffix_is_allowed(settings):
    assert naming.database_name(4, settings, "fiftyone_project_4") == "fiftyone_project_4"
    assert naming.database_name(4, settings, "fiftyone_project_4-b") == "fiftyone_project_4-b"


def test_ids_past_tators_largest_are_refused():
    assert naming.validate_project_id(naming.MAX_TATOR_ID) == naming.MAX_TATOR_ID
    with pytest.raises(naming.NamingError, match="larger than any Tator id"):
        naming.validate_project_id(naming.MAX_TATOR_ID + 1)
