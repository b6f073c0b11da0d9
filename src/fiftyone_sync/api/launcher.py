"""The Tator Hosted Templates: ``/message`` and ``/render``, both served unrendered.

Tator's backend fetches a Hosted Template's URL with no timeout and no status check, then
renders the body with plain ``jinja2.Template`` and the applet's tparams. So these routes
only read a packaged file: no Tator or MongoDB call, never an error page, always
``text/html; charset=utf-8`` (without a charset, Tator's client would decode as Latin-1).
The templates escape every tparam themselves (see ``templates/``).
"""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["tator templates"])


@functools.cache
def template_source(name: str) -> str:
    """The unrendered text of packaged template ``name`` (read once per process)."""
    return resources.files("fiftyone_sync").joinpath("templates", name).read_text("utf-8")


@router.get("/message", response_class=HTMLResponse)
def message_template() -> HTMLResponse:
    """The minimal template: one ``message`` tparam, escaped by the template itself."""
    return HTMLResponse(template_source("message.html"))


@router.get("/render", response_class=HTMLResponse)
def launcher_template() -> HTMLResponse:
    """The applet template, for Tator to render with the applet's tparams.

    The rendered page (tparams ``project``, ``sync_service_url``, ``version_id``,
    ``message``; ``iframe_host``/``base_port`` in direct mode) drives this API from the
    user's browser with their Tator token: verify, pull, open the App, review and push.
    """
    return HTMLResponse(template_source("launcher.html"))
