"""Load benchmark of the API: many clients polling job status, concurrent ``/launch`` calls.

It starts, all on loopback and all stopped at the end: a private ``mongod`` and Redis (the
product's embedded stores, in a temporary data dir), the Tator emulator with the standard
test project plus projects 3 to 5 (``alice`` has Full Control on projects 1 to 5), and the
API as a ``uvicorn`` child process. Then:

1. **poll**: ``--clients`` concurrent clients (default 200) each read the status of one of
   ``--projects`` queued jobs ``--rounds`` times (default 10) with ``GET /jobs/{job_id}``;
   an answer is correct when it is 200 and names the job it was asked for.
2. **launch**: ``--launches`` concurrent ``GET /launch`` calls (default 20) spread over the
   projects; an answer is correct when it is 200, for the right project and port, with an
   access link. The first calls start one FiftyOne App server per project (several seconds
   each on a busy machine); the others wait for or reuse it.

It measures latency (p50, p95, max), throughput and errors; it asserts correctness of each
answer but no time. Usage: ``.venv/bin/python bench/bench_load.py [--clients 200]
[--rounds 10] [--launches 20] [--projects 5]``. Writes a markdown table to stdout and to
``bench/results/load.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from fiftyone_sync import naming
from fiftyone_sync.apps.manager import stop_all as stop_all_apps
from fiftyone_sync.emulators.tator import demo
from fiftyone_sync.emulators.tator.fixtures import load_fixture
from fiftyone_sync.emulators.tator.server import EmulatorServer
from fiftyone_sync.jobs.kinds import PULL
from fiftyone_sync.jobs.queue import JobQueue, new_record
from fiftyone_sync.settings import Settings
from fiftyone_sync.stores import embedded
from fiftyone_sync.tator.client import Credential

RESULTS = Path(__file__).resolve().parent / "results" / "load.md"
SECRET = "bench-load-secret"
REQUEST_TIMEOUT = 300.0


@dataclass
class Phase:
    """The outcome of one load phase."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0

    def row(self) -> str:
        """The phase as a markdown table row."""
        lat = sorted(self.latencies) or [0.0]
        p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
        rate = len(self.latencies) / self.wall if self.wall else 0.0
        return (f"| {self.name} | {len(self.latencies)} | {len(self.errors)} | "
                f"{statistics.median(lat) * 1000:.0f} | {p95 * 1000:.0f} | "
                f"{lat[-1] * 1000:.0f} | {self.wall:.1f} | {rate:.0f} |")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _app_base_port(projects: int) -> int:
    """A base port whose project ports 1..``projects`` are all free now."""
    for _ in range(50):
        base = _free_port() - 1
        if all(_bindable(base + project) for project in range(1, projects + 1)):
            return base
    raise RuntimeError("no run of free ports for the App servers")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _emulator(media_dir: Path, projects: int) -> EmulatorServer:
    """The Tator emulator with ``projects`` projects, alice holding Full Control in each."""
    store = load_fixture(demo.plankton_fixture(media_dir))
    store.add_membership(2, "alice", "Full Control")
    for number in range(3, projects + 1):
        store.add_project(f"Bench Project {number}", creator="alice")
    return EmulatorServer(store).start()


def _api_process(settings: Settings, port: int, log_path: Path) -> subprocess.Popen:
    """The API as ``uvicorn`` in a child process, configured through the environment."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("FIFTYONE_", "REDIS_URL"))}
    env.update({
        "FIFTYONE_DATABASE_URI": settings.database_uri or "",
        "REDIS_URL": settings.redis_url or "",
        "FIFTYONE_SYNC_DATA_DIR": str(settings.data_dir),
        "FIFTYONE_SYNC_SECRET_KEY": SECRET, "FIFTYONE_SYNC_TATOR_URL": settings.tator_url,
        "FIFTYONE_SYNC_JOB_QUEUE": settings.job_queue,
        "FIFTYONE_SYNC_APP_BASE_PORT": str(settings.app_base_port),
        "FIFTYONE_SYNC_APP_IDLE_TIMEOUT": "0", "FIFTYONE_SYNC_APP_START_TIMEOUT": "240",
        "FIFTYONE_SYNC_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "FIFTYONE_DO_NOT_TRACK": "true",
    })
    command = [sys.executable, "-m", "uvicorn", "--factory", "fiftyone_sync.api.app:create_app",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with status {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the API did not answer /health in time")


async def _timed(phase: Phase, call: Callable[[], Awaitable[str | None]]) -> None:
    """Runs one request; records its latency, and its error if the answer is wrong."""
    started = time.perf_counter()
    try:
        error = await call()
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    phase.latencies.append(time.perf_counter() - started)
    if error:
        phase.errors.append(error)


async def _poll(url: str, headers: dict[str, str], jobs: list[str], clients: int,
                rounds: int) -> Phase:
    """``clients`` concurrent clients each reading one job's status ``rounds`` times."""
    phase = Phase(f"poll GET /jobs/{{id}} ({clients} clients x {rounds})")
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits,
                                 timeout=REQUEST_TIMEOUT) as client:

        async def read(job_id: str) -> str | None:
            answer = await client.get(f"/jobs/{job_id}")
            if answer.status_code != 200 or answer.json().get("id") != job_id:
                return f"{answer.status_code}: {answer.text[:120]}"
            return None

        async def one_client(index: int) -> None:
            job_id = jobs[index % len(jobs)]
            for _ in range(rounds):
                await _timed(phase, lambda: read(job_id))

        started = time.perf_counter()
        await asyncio.gather(*(one_client(index) for index in range(clients)))
        phase.wall = time.perf_counter() - started
    return phase


async def _launch(url: str, headers: dict[str, str], launches: int, projects: int,
                  base_port: int) -> Phase:
    """``launches`` concurrent ``/launch`` calls spread over the projects."""
    phase = Phase(f"GET /launch ({launches} concurrent, {projects} projects)")
    async with httpx.AsyncClient(base_url=url, headers=headers,
                                 timeout=REQUEST_TIMEOUT) as client:

        async def launch(project: int) -> str | None:
            answer = await client.get("/launch", params={"project_id": project})
            if answer.status_code != 200:
                return f"project {project}: {answer.status_code}: {answer.text[:160]}"
            body = answer.json()
            if (body["project_id"], body["port"]) != (project, base_port + project) or (
                    f"/apps/{project}/?code=" not in body["url"]):
                return f"project {project}: wrong answer {body}"
            return None

        started = time.perf_counter()
        await asyncio.gather(*(_timed(phase, lambda p=index % projects + 1: launch(p))
                               for index in range(launches)))
        phase.wall = time.perf_counter() - started
    return phase


def _queue_jobs(settings: Settings, token: str, projects: int) -> list[str]:
    """One queued (never run: no worker) pull job per project, to read the status of."""
    queue = JobQueue(settings)
    ids = []
    for project in range(1, projects + 1):
        record = new_record(PULL, project, 1, naming.database_name(project, settings), "alice")
        ids.append(queue.submit(record, Credential("Token", token)).id)
    return ids


def _report(phases: list[Phase], args: argparse.Namespace) -> str:
    context = (f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} "
               f"cores, load average {os.getloadavg()[0]:.1f} at the end. API: one uvicorn "
               "process; Tator: the emulator; token checks cached (`token_cache_ttl` 60 s).")
    lines = [
        "# Load: the API under concurrent clients",
        "",
        context,
        "",
        "| phase | requests | wrong answers | p50 ms | p95 ms | max ms | wall s | req/s |",
        "|---|---|---|---|---|---|---|---|",
        *(phase.row() for phase in phases),
    ]
    errors = [error for phase in phases for error in phase.errors[:5]]
    if errors:
        lines += ["", "First wrong answers:", "", *(f"- {error}" for error in errors)]
    arguments = (f"Arguments: clients {args.clients}, rounds {args.rounds}, launches "
                 f"{args.launches}, projects {args.projects}.")
    lines += ["", arguments]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Runs the benchmark; exits non-zero when any answer was wrong."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--launches", type=int, default=20)
    parser.add_argument("--projects", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        root = Path(tmp)
        stores = Settings(data_dir=root / "stores")
        emulator = _emulator(root / "media", args.projects)
        api = None
        port = _free_port()
        settings = Settings(
            data_dir=root / "data", database_uri=embedded.ensure_mongod(stores),
            redis_url=embedded.ensure_redis(stores), tator_url=emulator.url,
            secret_key=SECRET, job_queue="bench-load", app_base_port=_app_base_port(
                args.projects))
        try:
            api = _api_process(settings, port, root / "api.log")
            url = f"http://127.0.0.1:{port}"
            _wait_for(url, api)
            token = demo.token_for("alice")
            headers = {"Authorization": f"Token {token}"}
            jobs = _queue_jobs(settings, token, args.projects)
            phases = [asyncio.run(_poll(url, headers, jobs, args.clients, args.rounds)),
                      asyncio.run(_launch(url, headers, args.launches, args.projects,
                                          settings.app_base_port))]
        finally:
            if api is not None:
                api.terminate()
                api.wait(timeout=30)
            stop_all_apps(settings)
            emulator.stop()
            embedded.stop_all(stores)

    report = _report(phases, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    sys.stdout.write(report)
    return 1 if any(phase.errors for phase in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
