"""No request can choose where the service connects: Tator and Fast-VSS come from settings.

The OpenAPI document is searched for any parameter or body field named like a host or URL,
and requests carrying such parameters anyway (``/render?iframe_host=``, ``tator_url=`` on a
project route) are shown to cause no connection to the address they name.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

SUSPICIOUS = re.compile(r"host|url|uri|server|endpoint|address|callback|webhook|domain",
                        re.IGNORECASE)


class Canary:
    """A listener that counts every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        """Stops listening."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture()
def canary() -> Iterator[Canary]:
    """A loopback listener that should never be contacted."""
    listener = Canary()
    yield listener
    listener.close()


def _names(node: object) -> Iterator[str]:
    """Every parameter name and schema property name in an OpenAPI document."""
    if isinstance(node, dict):
        if "in" in node and "name" in node:
            yield node["name"]
        for name, value in (node.get("properties") or {}).items():
            yield name
        for value in node.values():
            yield from _names(value)
    elif isinstance(node, list):
        for value in node:
            yield from _names(value)


def test_no_operation_takes_a_host_or_url(api: httpx.Client) -> None:
    document = api.get("/openapi.json").json()
    names = set(_names(document["paths"])) | set(_names(document.get("components", {})))

    assert "project_id" in names
    assert [name for name in names if SUSPICIOUS.search(name)] == []


def test_render_iframe_host_never_makes_the_server_connect(api: httpx.Client,
                                                           canary: Canary) -> None:
    plain = api.get("/render")
    target = f"http://127.0.0.1:{canary.port}"
    hostile = api.get("/render", params={"iframe_host": target, "base_port": canary.port,
                                         "sync_service_url": target})

    assert hostile.status_code == 200 and hostile.text == plain.text
    assert canary.connections == 0


def test_url_parameters_on_project_routes_are_ignored(api: httpx.Client, tator_emulator,
                                                      canary: Canary) -> None:
    target = f"http://127.0.0.1:{canary.port}"
    tator_emulator.reset_calls()
    answer = api.get("/versions", headers=tator_emulator.headers("bob"), params={
        "project_id": 1, "tator_url": target, "host": target, "url": target,
        "fastvss_api_url": target})

    assert answer.status_code == 200 and answer.json()[0]["name"] == "Baseline"
    assert tator_emulator.calls.get("GetVersionList", 0) == 1
    assert canary.connections == 0
