"""The Tator emulator as an ASGI app: routing, Tator's request pipeline, files and admin.

Every REST path of the OpenAPI document (:mod:`.schema`) is one route accepting all methods,
so a wrong method gets Tator's 400 "Operation put not found ..." rather than a 405. A request
then goes through Tator's order: call counting and injected faults, authentication (400),
query/body validation (400), object existence (404), membership (403), the handler. Handlers
do blocking store work, so they run in Starlette's thread pool.

Besides the API: ``/schema`` (public YAML), ``/objects/{key}`` (presigned-style downloads with
``Content-Length``), ``/{project}/annotation/{media}`` (a minimal annotation page for deep
links) and ``/_emulator/*`` (call counters and fault injection; not in the OpenAPI document).
"""

from __future__ import annotations

import asyncio
import email.utils
import html
import json
import logging
import re
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import FileResponse, HTMLResponse, Response

from . import frames, handlers
from .applets import APPLET_HANDLERS
from .auth import Authenticator, require
from .errors import TatorError, bad_request
from .faults import THROTTLED_BODY, CallCounter, Fault, FaultInjector, FaultSpecError
from .schema import Schema, openapi_yaml, operations
from .store import Store
from .validation import parse_body, parse_query

logger = logging.getLogger(__name__)

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
STRING_PATH_PARAMS = {"elemental_id"}
NOT_FOUND_PAGE = ("<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n"
                  "</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not "
                  "found on this server.</p>\n</body>\n</html>\n")
SERVER_ERROR_PAGE = ("<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error"
                     "</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n"
                     "</body>\n</html>\n")
RAW_SEND = "tator_emulator.raw_send"


def json_response(status: int, body: Any) -> Response:
    """JSON exactly as Tator sends it: ``Content-Type: application/json``, no charset."""
    return Response(json.dumps(body), status_code=status, media_type="application/json")


class Emulator:
    """The mutable state behind one app: the store (replaceable), faults and call counts."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.faults = FaultInjector()
        self.calls = CallCounter()
        self._ops = operations()

    def replace_store(self, store: Store) -> None:
        """Serves another store from now on (tests reset the project this way)."""
        self.store = store

    async def dispatch(self, request: Request, template: str) -> Response:
        """Runs one REST request through Tator's pipeline."""
        operation = self._ops.get((request.method, template))
        if operation is None:
            return self._wrong_method(request, template)
        op_id = operation["operationId"]
        early = await self._before(request, op_id)
        if early is not None:
            return early
        raw_body = await request.body()
        if op_id == "GetFrame":
            return await run_in_threadpool(self._get_frame, request, operation)
        return await run_in_threadpool(self._run, request, operation, raw_body)

    async def _before(self, request: Request, op_id: str) -> Response | None:
        self.calls.record(op_id)
        action = self.faults.decide(op_id)
        if action.latency:
            await asyncio.sleep(action.latency)
        if action.failure is None:
            return None
        logger.info("injecting a fault into %s: %s", op_id, action.failure)
        return _fault_response(action.failure)

    def _wrong_method(self, request: Request, template: str) -> Response:
        if template.startswith("/rest/GetFrame"):
            picture, content_type = frames.error_picture("Method not allowed", None)
            return Response(picture, status_code=400, media_type=content_type)
        pattern = re.sub(r"\{(\w+)\}", lambda m: f"<{_converter(m.group(1))}:{m.group(1)}>",
                         template)
        base = f"{request.url.scheme}://{request.url.netloc}"
        return json_response(400, bad_request(
            f"Operation {request.method.lower()} not found for {base}{pattern}").body)

    def _call(self, request: Request, operation: Schema, raw_body: bytes) -> handlers.Call:
        user = Authenticator(self.store).user_for(request.headers.get("authorization"))
        query = parse_query(operation, list(request.query_params.multi_items()))
        body = parse_body(operation, raw_body, request.headers.get("content-type", ""))
        path = {k: v for k, v in request.path_params.items()}
        base = f"{request.url.scheme}://{request.url.netloc}"
        return handlers.Call(self.store, user, path, query, body, base)

    def _run(self, request: Request, operation: Schema, raw_body: bytes) -> Response:
        """Runs a handler in a worker thread and renders its JSON there too.

        Store handlers hold the store lock for their whole run (reads see one state);
        applet handlers do not, because rendering fetches a URL that may call back.
        """
        op_id = operation["operationId"]
        try:
            call = self._call(request, operation, raw_body)
            if op_id in APPLET_HANDLERS:
                answer = APPLET_HANDLERS[op_id](call)
            else:
                with call.store.lock:
                    answer = handlers.HANDLERS[op_id](call)
        except TatorError as exc:
            return json_response(exc.status, exc.body)
        return json_response(answer.status, answer.body)

    def _get_frame(self, request: Request, operation: Schema) -> Response:
        fmt = request.query_params.get("format")
        if "application/json" in request.headers.get("accept", ""):
            return HTMLResponse(SERVER_ERROR_PAGE, status_code=500)
        try:
            call = self._call(request, operation, b"")
            media = self.store.get_media(call.path["id"])
            require(self.store.get_project(media.project), call.user, 0)
            modified = email.utils.format_datetime(
                media.modified_datetime.replace(microsecond=0), usegmt=True)
            if request.headers.get("if-modified-since") == modified:
                return Response(status_code=304)
            source = _original_file(self.store, media)
            picture, content_type = frames.render(media, source, call.query, fmt)
        except (TatorError, frames.FrameError) as exc:
            status = 404 if getattr(exc, "status", 400) == 404 else 400
            picture, content_type = frames.error_picture(str(exc), fmt)
            return Response(picture, status_code=status, media_type=content_type)
        headers = {"Last-Modified": modified, "Vary": "Accept, Cookie", "Allow": "GET"}
        return Response(picture, media_type=content_type, headers=headers)


def _converter(name: str) -> str:
    return "str" if name in STRING_PATH_PARAMS else "int"


def _original_file(store: Store, media: Any) -> Any:
    files = media.media_files
    for role in ("archival", "streaming", "image"):
        if files.get(role):
            stored = store.objects.get(files[role][0]["path"])
            if stored is not None:
                return stored.path
    raise frames.FrameError(400, f"Media {media.id} has no file")


def _fault_response(fault: Fault) -> Response:
    if fault.drop:
        return _DropConnection()
    if fault.throttle:
        return json_response(400, THROTTLED_BODY)
    body = fault.body or {"message": f"Injected fault ({fault.status})", "details": "None"}
    return json_response(fault.status, body)


class _DropConnection(Response):
    """Closes the client's connection without answering (an injected network failure)."""

    def __init__(self) -> None:
        super().__init__(status_code=599)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        cycle = getattr(scope.get(RAW_SEND), "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is None:
            raise ConnectionAbortedError("the server gives no transport to drop")
        cycle.disconnected = True
        transport.close()


class _KeepRawSend:
    """Outermost ASGI layer: remembers the server's own ``send`` (for dropped connections)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope[RAW_SEND] = send
        await self.app(scope, receive, send)


def _rest_path(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: f"{{{m.group(1)}:{_converter(m.group(1))}}}",
                  template)


def _add_rest_routes(app: FastAPI, emulator: Emulator) -> None:
    templates = sorted({template for _, template in operations()})
    for template in templates:
        app.add_route(_rest_path(template), _endpoint(emulator, template), methods=METHODS,
                      include_in_schema=False)


def _endpoint(emulator: Emulator, template: str) -> Any:
    async def endpoint(request: Request) -> Response:
        return await emulator.dispatch(request, template)

    return endpoint


def _add_service_routes(app: FastAPI, emulator: Emulator) -> None:
    @app.get("/schema", include_in_schema=False)
    @app.get("/schema/", include_in_schema=False)
    def schema() -> Response:
        """The OpenAPI document, public, as YAML (``/schema`` and ``/schema/``)."""
        emulator.calls.record("Schema")
        return Response(openapi_yaml(), media_type="application/vnd.oai.openapi")

    @app.get("/objects/{key:path}", include_in_schema=False)
    async def download(request: Request, key: str) -> Response:
        """A presigned-style object download (no auth; the signature is checked)."""
        early = await emulator._before(request, "DownloadObject")
        if early is not None:
            return early
        key = unquote(key)
        params = request.query_params
        if not emulator.store.objects.verify(key, params.get("expires"), params.get("sig")):
            return Response("<Error><Code>AccessDenied</Code></Error>", status_code=403,
                            media_type="application/xml")
        stored = emulator.store.objects.get(key)
        if stored is None:
            return Response("<Error><Code>NoSuchKey</Code></Error>", status_code=404,
                            media_type="application/xml")
        return FileResponse(stored.path, media_type="binary/octet-stream")

    @app.get("/{project:int}/annotation/{media:int}", include_in_schema=False)
    def annotation(request: Request, project: int, media: int) -> HTMLResponse:
        """The annotation-view stand-in that deep links open."""
        emulator.calls.record("AnnotationPage")
        return HTMLResponse(_annotation_page(project, media, dict(request.query_params)))


def _annotation_page(project: int, media: int, params: dict[str, str]) -> str:
    fields = {"project": str(project), "media": str(media)}
    for name in ("selected_entity", "selected_type", "version", "frame"):
        fields[name] = params.get(name, "")
    rows = "\n".join(f'<tr><th>{name}</th><td id="{name}">{html.escape(value)}</td></tr>'
                     for name, value in fields.items())
    attrs = " ".join(f'data-{name.replace("_", "-")}="{html.escape(value)}"'
                     for name, value in fields.items())
    return (f"<!doctype html>\n<html><head><title>Annotation {media}</title></head>\n"
            f'<body><main id="annotation" {attrs}>\n<h1>Tator emulator annotation view</h1>\n'
            f"<table>\n{rows}\n</table></main></body></html>\n")


def _add_admin_routes(app: FastAPI, emulator: Emulator) -> None:
    @app.get("/_emulator/calls", include_in_schema=False)
    def calls() -> Response:
        """Operation id → request count."""
        return json_response(200, {"calls": emulator.calls.snapshot()})

    @app.delete("/_emulator/calls", include_in_schema=False)
    def reset_calls() -> Response:
        """Zeroes the call counters."""
        emulator.calls.reset()
        return json_response(200, {"calls": {}})

    @app.get("/_emulator/faults", include_in_schema=False)
    def faults() -> Response:
        """The active faults."""
        return json_response(200, {"faults": [f.to_json() for f in emulator.faults.list()]})

    @app.post("/_emulator/faults", include_in_schema=False)
    async def add_fault(request: Request) -> Response:
        """Adds a fault from a JSON body: ``{"operation": ..., "status"|"drop"|...}``."""
        try:
            spec = json.loads(await request.body() or b"{}")
            fault = emulator.faults.add(**spec)
        except (json.JSONDecodeError, TypeError, FaultSpecError) as exc:
            return json_response(400, {"message": str(exc)})
        return json_response(201, {"fault": fault.to_json()})

    @app.delete("/_emulator/faults", include_in_schema=False)
    def clear_faults() -> Response:
        """Removes every fault."""
        emulator.faults.clear()
        return json_response(200, {"faults": []})


def create_app(store: Store) -> Any:
    """The emulator app serving ``store``; ``app.state.emulator`` is its :class:`Emulator`."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.router.redirect_slashes = False
    emulator = Emulator(store)
    app.state.emulator = emulator

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Unrouted URLs get Django's HTML 404 page, as on a real Tator."""
        if exc.status_code == 404:
            return HTMLResponse(NOT_FOUND_PAGE, status_code=404)
        return Response(str(exc.detail), status_code=exc.status_code)

    _add_service_routes(app, emulator)
    _add_admin_routes(app, emulator)
    _add_rest_routes(app, emulator)
    wrapped = _KeepRawSend(app)
    wrapped.state = app.state
    return wrapped

