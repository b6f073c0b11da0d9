"""Hosted templates and applets: Tator fetches the template and renders it with Jinja2."""

from __future__ import annotations

import http.server
import json
import threading

import pytest
from tator.exceptions import ApiException

TEMPLATE = "<p>{{ message }}</p><i>{{ missing }}</i>"


@pytest.fixture
def template_url():
    seen_headers = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            seen_headers.append(dict(self.headers))
            body = TEMPLATE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/render", seen_headers
    server.shutdown()
    server.server_close()
    thread.join()


def test_register_and_render_an_applet(tator_emulator, template_url):
    url, seen_headers = template_url
    api = tator_emulator.api("alice")

    template = api.create_hosted_template(1, hosted_template_spec={
        "name": "echo", "url": url, "headers": [{"name": "X-Secret", "value": "s"}],
        "tparams": [{"name": "message", "value": "from template"}]})
    applet = api.register_applet(1, applet_spec={
        "name": "Echo", "categories": ["annotator-menu"], "template": template.id,
        "tparams": [{"name": "message", "value": "hi & <b>"}],
        "headers": [{"name": "X-Applet", "value": "a"}]})
    listed = api.get_applet_list(1)
    shown = api.get_hosted_template(template.id)

    assert (template.message, applet.message) == ("Successfully created hosted template echo!",
                                                  "Successfully registered applet Echo!")
    assert listed[0].rendered == "<p>hi & <b></p><i></i>"
    assert listed[0].categories == ["annotator-menu"]
    assert "headers" not in shown.to_dict() and shown.url == url
    assert seen_headers[0]["X-Applet"] == "a" and seen_headers[0]["X-Secret"] == "s"
    assert "X-Applet" not in seen_headers[-1]


def test_applet_permissions(tator_emulator, template_url):
    url, _ = template_url
    bob = tator_emulator.api("bob")

    with pytest.raises(ApiException) as listing:
        bob.get_applet_list(1)
    with pytest.raises(ApiException) as templates:
        bob.get_hosted_template_list(1)

    assert listing.value.status == 403
    assert templates.value.status == 403
    assert json.loads(templates.value.body) == {
        "message": "User 2 does not have Admin permissions for organization 1"}


def test_applet_without_template_and_bad_template(tator_emulator):
    api = tator_emulator.api("alice")
    plain = api.register_applet(1, applet_spec={"name": "Plain", "html_file": "/x.html"})
    template = api.create_hosted_template(1, hosted_template_spec={
        "name": "dead", "url": "http://127.0.0.1:9/none"})

    with pytest.raises(ApiException) as caught:
        api.register_applet(1, applet_spec={"name": "Bad", "template": template.id})
    shown = api.get_applet(plain.id)
    updated = api.update_applet(plain.id, applet_spec={"name": "Renamed"})

    assert caught.value.status == 400
    assert "rendered" not in shown.to_dict() and shown.html_file == "/x.html"
    assert updated.message == f"Applet {plain.id} successfully updated!"
    assert api.get_applet(plain.id).name == "Renamed"
