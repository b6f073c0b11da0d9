"""Prometheus metrics of the API: request counts and latencies, served at ``/metrics``.

Requests are labelled by route template (``/jobs/{job_id}``), never by raw path, so the
number of series stays bounded. Other parts (jobs) register their metrics in the same default
registry, which ``/metrics`` serves whole.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED_ROUTE = "<unmatched>"

REQUESTS = Counter(
    "fiftyone_sync_http_requests_total", "HTTP requests answered by the API.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "fiftyone_sync_http_request_duration_seconds",
    "Time from request to the start of the response, by route template.",
    ["method", "route", "status"],
)

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Every metric of this process in Prometheus' text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Passes the request on and records it once the response has started."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            labels = (scope["method"], getattr(route, "path", UNMATCHED_ROUTE), str(status))
            REQUESTS.labels(*labels).inc()
            LATENCY.labels(*labels).observe(time.perf_counter() - started)
