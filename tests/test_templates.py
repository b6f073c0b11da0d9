"""/message and /render rendered the way Tator renders them: plain ``jinja2.Template`` (no
autoescape) with the applet's tparams as strings (reference/tator-api.md section 6.2)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fiftyone_sync.api.app import create_app
from fiftyone_sync.settings import Settings
from tests.fixtures.net import free_port
from tests.fixtures.server import serving

HOSTILE = [
    '"><script>alert(1)</script>',
    "';alert(1)//",
    "</script><script>alert(1)</script>",
    "{{7*7}}",
    "{% for x in range(3) %}boom{% endfor %}",
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API with stores that do not answer: templates must not need them."""
    dead = free_port()
    app = create_app(Settings(
        data_dir=tmp_path_factory.mktemp("templates"),
        database_uri=f"mongodb://127.0.0.1:{dead}", redis_url=f"redis://127.0.0.1:{dead}/0",
    ))
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def launcher(service: str) -> str:
    return httpx.get(f"{service}/render").text


def _tator_render(template: str, **tparams: str) -> str:
    """What Tator's backend does with the body it fetched."""
    return jinja2.Template(template).render(**tparams)


@pytest.mark.parametrize("path", ["/message", "/render"])
def test_templates_are_served_unrendered_fast_as_utf8_html(service: str, path: str) -> None:
    started = time.monotonic()
    response = httpx.get(f"{service}{path}", timeout=5)

    assert time.monotonic() - started < 2
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "{{" in response.text


def test_message_escapes_its_parameter(service: str) -> None:
    template = httpx.get(f"{service}/message").text

    assert "{{ message | e }}" in template
    page = _tator_render(template, message="<script>alert(1)</script>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page


SERVICE = "https://sync.lab.example/fiftyone"


def _config(page: str) -> dict:
    """The JSON data block the page's script reads."""
    start = page.index('id="applet-config">') + len('id="applet-config">')
    return json.loads(page[start:page.index("</script>", start)])


def test_launcher_hands_its_tparams_to_the_page_script(launcher: str) -> None:
    page = _tator_render(launcher, project="7", sync_service_url=SERVICE + "/",
                         version_id="2", message="Review the new dives")

    assert _config(page) == {"project": 7, "service_url": SERVICE, "version_id": 2,
                             "direct_url": ""}
    assert "Review the new dives" in page
    assert 'class="problem"' not in page and "direct-link" not in page
    assert "{{" not in page and "{%" not in page
    assert "localStorage" not in page and "document.cookie" not in page


def test_launcher_adds_a_direct_app_link_in_direct_mode(launcher: str) -> None:
    page = _tator_render(launcher, project="7", sync_service_url=SERVICE,
                         iframe_host="fiftyone.lab.example", base_port="6000")

    assert 'href="http://fiftyone.lab.example:6007/"' in page
    assert _config(page)["direct_url"] == "http://fiftyone.lab.example:6007/"


def test_host_is_an_alias_of_iframe_host_and_base_port_defaults(launcher: str) -> None:
    page = _tator_render(launcher, project="3", sync_service_url=SERVICE, host="10.0.0.5")

    assert 'href="http://10.0.0.5:5154/"' in page


def test_missing_project_shows_a_message(launcher: str) -> None:
    page = _tator_render(launcher, sync_service_url=SERVICE)

    assert "no project parameter" in page
    assert _config(page)["service_url"] == ""
    assert "{{" not in page and "{%" not in page


@pytest.mark.parametrize("tparams, problem", [
    ({"project": "abc", "sync_service_url": SERVICE}, "positive whole number"),
    ({"project": "3"}, "no sync_service_url parameter"),
    ({"project": "3", "sync_service_url": "javascript:alert(1)"}, "plain http"),
    ({"project": "3", "sync_service_url": "http://a b/"}, "plain http"),
    ({"project": "3", "sync_service_url": "http://user@evil.example/"}, "plain http"),
])
def test_bad_tparams_show_a_visible_problem(launcher: str, tparams: dict, problem: str) -> None:
    page = _tator_render(launcher, **tparams)

    assert problem in page
    assert 'class="problem"' in page
    assert _config(page)["service_url"] == ""


@pytest.mark.parametrize("tparams, note", [
    ({"iframe_host": "h", "base_port": "x"}, "port number"),
    ({"project": "65000", "iframe_host": "h"}, "past 65535"),
    ({"iframe_host": "evil.example/steal?"}, "plain host name"),
    ({"version_id": "latest"}, "not a version id"),
])
def test_bad_optional_tparams_are_noted_and_left_out(launcher: str, tparams: dict,
                                                       note: str) -> None:
    page = _tator_render(launcher, **{"project": "3", "sync_service_url": SERVICE, **tparams})

    assert note in page
    assert "direct-link" not in page
    assert _config(page)["service_url"] == SERVICE


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("name", ["project", "sync_service_url", "version_id", "iframe_host",
                                  "host", "base_port", "message"])
def test_hostile_tparams_come_out_as_text(launcher: str, name: str, value: str) -> None:
    tparams = {"project": "3", "sync_service_url": SERVICE, "iframe_host": "h", name: value}
    page = _tator_render(launcher, **tparams)

    assert "<script>alert" not in page
    assert "'alert(1)" not in page.replace("&#39;", "")
    assert "49" not in page and "boomboom" not in page
    assert page.count("</script>") == 2
    _config(page)


def test_very_long_tparams_render_quickly_as_text(launcher: str) -> None:
    long_text = "<b>" + "x" * 200_000

    started = time.monotonic()
    page = _tator_render(launcher, project="3" * 5000, sync_service_url=long_text,
                         iframe_host=long_text, message=long_text)

    assert time.monotonic() - started < 2
    assert "<b>x" not in page and "&lt;b&gt;x" in page
    assert 'class="problem"' in page and "direct-link" not in page


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(), name=st.sampled_from(["project", "sync_service_url", "version_id",
                                              "iframe_host", "base_port", "message"]))
def test_any_text_tparam_renders_without_markup_injection(launcher: str, name: str,
                                                          value: str) -> None:
    page = _tator_render(launcher, **{"project": "3", "sync_service_url": SERVICE,
                                      "iframe_host": "h", name: value + "<x-evil>"})

    assert "<x-evil>" not in page
    assert page.rstrip().endswith("</html>")
    assert page.count("</script>") == 2
    _config(page)
