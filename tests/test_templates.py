"""/message and /render rendered the way Tator renders them: plain ``jinja2.Template`` (no
autoescape) with the applet's tparams as strings (reference/tator-api.md section 6.2)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jinja2
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

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


def test_launcher_links_the_project_app_in_direct_mode(launcher: str) -> None:
    page = _tator_render(launcher, project="7", iframe_host="fiftyone.lab.example",
                         base_port="6000", message="Review the new dives")

    assert 'src="http://fiftyone.lab.example:6007/"' in page
    assert "Review the new dives" in page
    assert 'class="problem"' not in page
    assert "{{" not in page and "{%" not in page


def test_host_is_an_alias_of_iframe_host_and_base_port_defaults(launcher: str) -> None:
    page = _tator_render(launcher, project="3", host="10.0.0.5")

    assert 'src="http://10.0.0.5:5154/"' in page


def test_missing_project_shows_a_message(launcher: str) -> None:
    page = _tator_render(launcher, iframe_host="h")

    assert "no project parameter" in page
    assert "<iframe" not in page
    assert "{{" not in page and "{%" not in page


@pytest.mark.parametrize("tparams, problem", [
    ({"project": "abc", "iframe_host": "h"}, "positive whole number"),
    ({"project": "3"}, "no iframe_host parameter"),
    ({"project": "3", "iframe_host": "h", "base_port": "x"}, "port number"),
    ({"project": "65000", "iframe_host": "h"}, "past 65535"),
    ({"project": "3", "iframe_host": "evil.example/steal?"}, "plain host name"),
])
def test_bad_tparams_show_a_visible_problem(launcher: str, tparams: dict, problem: str) -> None:
    page = _tator_render(launcher, **tparams)

    assert problem in page
    assert "<iframe" not in page


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("name", ["project", "iframe_host", "host", "base_port", "message"])
def test_hostile_tparams_come_out_as_text(launcher: str, name: str, value: str) -> None:
    tparams = {"project": "3", "iframe_host": "h", name: value}
    page = _tator_render(launcher, **tparams)

    assert "<script>alert" not in page
    assert "'alert(1)" not in page.replace("&#39;", "")
    assert "49" not in page and "boomboom" not in page


def test_very_long_tparams_render_quickly_as_text(launcher: str) -> None:
    long_text = "<b>" + "x" * 200_000

    started = time.monotonic()
    page = _tator_render(launcher, project="3" * 5000, iframe_host=long_text, message=long_text)

    assert time.monotonic() - started < 2
    assert "<b>x" not in page and "&lt;b&gt;x" in page
    assert 'class="problem"' in page and "<iframe" not in page


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(), name=st.sampled_from(["project", "iframe_host", "base_port", "message"]))
def test_any_text_tparam_renders_without_markup_injection(launcher: str, name: str,
                                                          value: str) -> None:
    page = _tator_render(launcher, **{"project": "3", "iframe_host": "h",
                                      name: value + "<x-evil>"})

    assert "<x-evil>" not in page
    assert page.rstrip().endswith("</html>")
