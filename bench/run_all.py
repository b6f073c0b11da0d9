"""Runs every benchmark in ``bench/`` and writes one summary table.

Usage (from the repository root)::

    .venv/bin/python -m bench            # full sizes
    .venv/bin/python -m bench --quick    # small sizes (a few minutes)
    .venv/bin/python -m bench --only pull --only embed   # printed, README.md kept

Each benchmark (``bench/bench_<name>.py``: pull, push, embed, load, emulator_generator;
those present) runs in its own subprocess with the size arguments below. It runs from a temporary
copy of ``bench/``, so its own table lands in the run's folder (``results/<name>.md``, or
``results/quick/<name>.md``: a quick run never overwrites full-size tables). The summary,
``results/README.md`` (the latest run, quick or full), holds, per benchmark and
size, the main wall times and, where the benchmark measures one, the floor (the same work
done alone, e.g. only the downloads and inserts of a pull) and the ratio to it; then the
date, the machine (cores, memory, load when it started: the machine may be shared) and each
benchmark's own table. Logs of each run: ``results[/quick]/logs/<name>.log``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SIZES = {
    "pull": {"quick": ["--media", "200"], "full": ["--media", "1000", "--media", "10000"]},
    "push": {"quick": ["--sizes", "100"], "full": ["--sizes", "100", "10000"]},
    "embed": {"quick": ["--labels", "200"], "full": ["--labels", "1000", "--labels", "10000"]},
    "load": {"quick": ["--clients", "50", "--rounds", "5", "--launches", "5",
                       "--projects", "2"], "full": []},
    "emulator_generator": {"quick": ["--media", "1000", "--per-media", "10"],
                           "full": ["--media", "10000", "--per-media", "10"]},
}
"""Arguments of each benchmark at each size; a benchmark not listed runs without any."""
TIMEOUT = {"quick": 1200.0, "full": 7200.0}
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
"""The benchmarks need the package: the repository's venv when there is one."""


@dataclasses.dataclass
class Figure:
    """One line of the summary: a measured time and, when known, its floor."""

    bench: str
    size: str
    measure: str
    seconds: float | None
    floor: float | None = None

    def row(self) -> str:
        """The markdown table row."""
        seconds = "" if self.seconds is None else f"{self.seconds:.2f}"
        floor = "" if self.floor is None else f"{self.floor:.2f}"
        ratio = f"{self.seconds / self.floor:.2f}x" if self.floor and self.seconds else ""
        return f"| {self.bench} | {self.size} | {self.measure} | {seconds} | {floor} | {ratio} |"


@dataclasses.dataclass
class Run:
    """One benchmark's subprocess: how it ended, its output and its table."""

    name: str
    arguments: list[str]
    returncode: int
    seconds: float
    stdout: str
    table: str


def markdown_rows(text: str) -> list[dict[str, str]]:
    """Every row of every markdown table in ``text``, as header -> cell."""
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not all(set(cell) <= set("-: ") for cell in cells):
            rows.append(dict(zip(header, cells)))
    return rows


def number(text: str | None) -> float | None:
    """The first number in ``text`` (``"pca 1.65"`` -> 1.65), or None."""
    found = re.search(r"-?\d+(?:\.\d+)?", (text or "").replace(",", ""))
    return float(found.group()) if found else None


def pull_figures(run: Run) -> list[Figure]:
    """Cold pull (with its floor), no-op re-pull and re-pull after edits, per size."""
    figures: list[Figure] = []
    floors = {row["size"]: number(row["seconds"]) for row in markdown_rows(run.table)
              if row.get("run", "").startswith("floor")}
    for row in markdown_rows(run.table):
        measure = row.get("run", "")
        if measure.startswith("floor") or "/" in measure:
            continue
        floor = floors.get(row["size"]) if measure == "cold" else None
        figures.append(Figure("pull", row["size"], measure, number(row["seconds"]), floor))
    return figures


def embed_figures(run: Run) -> list[Figure]:
    """The embedding job cold (floor: cutting the crops alone), no-op, and the UMAP map."""
    figures: list[Figure] = []
    for row in markdown_rows(run.table):
        size = f"{row.get('labels')} labels"
        figures += [
            Figure("embed", size, "job cold", number(row.get("job cold (s)")),
                   number(row.get("crops alone (s)"))),
            Figure("embed", size, "no-op re-run", number(row.get("no-op re-run (s)"))),
            Figure("embed", size, "map+index UMAP", number(row.get("map+index UMAP (s)"))),
        ]
    return figures


def push_figures(run: Run) -> list[Figure]:
    """Push plan and apply times per number of edits."""
    figures: list[Figure] = []
    for row in markdown_rows(run.table):
        size = f"{row.get('edits')} edits"
        figures += [Figure("push", size, "plan", number(row.get("plan s"))),
                    Figure("push", size, "apply", number(row.get("apply s")))]
    return figures


def generator_figures(run: Run) -> list[Figure]:
    """Generating the synthetic project, and listing it through tator-py (from stdout)."""
    figures: list[Figure] = []
    generated = re.search(r"generated (\d+) media, (\d+) localizations in ([\d.]+) s", run.stdout)
    listed = re.search(r"listed (\d+) localizations in pages of (\d+) in ([\d.]+) s", run.stdout)
    if generated:
        size = f"{generated.group(1)} media"
        figures.append(Figure("emulator generator", size, "generate",
                              float(generated.group(3))))
    if listed:
        size = f"{listed.group(1)} localizations"
        figures.append(Figure("emulator generator", size,
                              f"list via tator-py, pages of {listed.group(2)}",
                              float(listed.group(3))))
    return figures


def load_figures(run: Run) -> list[Figure]:
    """Per phase of the API load test: its wall time and its p95 latency."""
    figures: list[Figure] = []
    for row in markdown_rows(run.table):
        phase = row.get("phase", "")
        size = f"{row.get('requests')} requests"
        p95 = number(row.get("p95 ms"))
        figures += [Figure("load", size, f"{phase}: wall", number(row.get("wall s"))),
                    Figure("load", size, f"{phase}: p95 latency",
                           None if p95 is None else p95 / 1000)]
    return figures


EXTRACTORS: dict[str, Callable[[Run], list[Figure]]] = {
    "pull": pull_figures, "push": push_figures, "embed": embed_figures,
    "emulator_generator": generator_figures, "load": load_figures,
}


def available(only: list[str] | None) -> list[str]:
    """The benchmarks present in ``bench/`` (``bench_<name>.py``), optionally filtered."""
    names = sorted(path.stem.removeprefix("bench_") for path in BENCH_DIR.glob("bench_*.py"))
    return [name for name in names if not only or name in only]


def run_bench(name: str, size: str, copy: Path, results: Path) -> Run:
    """Runs one benchmark from the temporary copy; keeps its log and table in ``results``."""
    arguments = SIZES.get(name, {}).get(size, [])
    logs = results / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    print(f"== {name} {' '.join(arguments)}", flush=True)
    began = time.monotonic()
    try:
        done = subprocess.run([PYTHON, str(copy / f"bench_{name}.py"), *arguments],
                              cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT[size],
                              check=False)
        returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as expired:
        returncode, stdout = -1, str(expired.stdout or "")
        stderr = f"timed out after {TIMEOUT[size]:.0f} s\n{expired.stderr or ''}"
    seconds = time.monotonic() - began
    (logs / f"{name}.log").write_text(f"$ bench_{name}.py {' '.join(arguments)}\n"
                                      f"--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}")

    table_file = copy / "results" / f"{name}.md"
    table = table_file.read_text() if table_file.exists() else ""
    if table:
        shutil.copyfile(table_file, results / f"{name}.md")
    print(f"   exit {returncode} in {seconds:.0f} s", flush=True)
    return Run(name, arguments, returncode, seconds, stdout, table)


def machine() -> str:
    """Cores, memory, load average and Python of this machine."""
    memory = "unknown memory"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total = re.search(r"MemTotal:\s+(\d+) kB", meminfo.read_text())
        if total:
            memory = f"{int(total.group(1)) / 1024**2:.1f} GiB memory"
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"{os.cpu_count()} cores, {memory}, load average {load} at start "
            f"({platform.platform()}, Python {platform.python_version()})")


def summary(runs: list[Run], size: str, began: dt.datetime, host: str, logs: str) -> str:
    """The results README: the figures table, then each benchmark's own table."""
    lines = [f"# Benchmarks ({size} sizes)", "",
             f"Run {began:%Y-%m-%d %H:%M} UTC on {host}.", "",
             ("Floor: the same work done alone in the same run (e.g. a pull's downloads and "
              "inserts without the pull; the embedding job's crops without the job). "
              "Ratio: seconds / floor."), "",
             "| benchmark | size | measure | seconds | floor (s) | ratio to floor |",
             "|---|---|---|---|---|---|"]
    for run in runs:
        figures = EXTRACTORS.get(run.name, lambda _: [])(run) if run.returncode == 0 else []
        if not figures:
            state = "failed" if run.returncode else "no figures found"
            lines.append(f"| {run.name} | {' '.join(run.arguments)} | {state} (exit "
                         f"{run.returncode}; see {logs}/{run.name}.log) | | | |")
        lines += [figure.row() for figure in figures]

    lines += ["", "Wall time of each benchmark process: " + ", ".join(
        f"{run.name} {run.seconds:.0f} s" for run in runs) + ".", ""]
    for run in runs:
        if run.table:
            command = f"`bench/bench_{run.name}.py {' '.join(run.arguments)}`"
            table = re.sub(r"^#", "###", run.table.strip(), flags=re.MULTILINE)
            lines += [f"## {run.name}", "", command, "", table, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Runs the suite; returns 1 when a benchmark failed."""
    parser = argparse.ArgumentParser(description="Run every benchmark and summarise them.")
    parser.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    parser.add_argument("--only", action="append",
                        help="run only this benchmark (repeat); the summary is only printed")
    args = parser.parse_args(argv)
    size = "quick" if args.quick else "full"
    results = BENCH_DIR / "results" / ("quick" if args.quick else "")
    results.mkdir(parents=True, exist_ok=True)
    began = dt.datetime.now(dt.timezone.utc)
    host = machine()

    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        copy = Path(tmp) / "bench"
        shutil.copytree(BENCH_DIR, copy, ignore=shutil.ignore_patterns("results", "__pycache__"))
        runs = [run_bench(name, size, copy, results) for name in available(args.only)]

    text = summary(runs, size, began, host, "quick/logs" if args.quick else "logs")
    if not args.only:
        (BENCH_DIR / "results" / "README.md").write_text(text + "\n")
    print(text)
    return 1 if any(run.returncode for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
