"""The ``slow`` marker selects the long fault tests (``pytest -m slow``); it must never
keep them out of the default run, which ``.ci/run`` uses."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys

from tests.jobs.helpers import REPO
from tests.reliability import (
    test_operations,
    test_store_restarts,
    test_tator_faults,
    test_worker_kills,
)

FAULT_MODULES = (test_tator_faults, test_worker_kills, test_store_restarts, test_operations)


def _slow_tests() -> list[str]:
    """Node ids of the fault tests that carry the ``slow`` marker."""
    found = []
    for module in FAULT_MODULES:
        for name, function in inspect.getmembers(module, inspect.isfunction):
            marks = {mark.name for mark in getattr(function, "pytestmark", [])}
            if name.startswith("test_") and "slow" in marks:
                found.append(f"{module.__name__.replace('.', '/')}.py::{name}")
    return found


def test_the_default_run_and_ci_collect_the_slow_fault_tests() -> None:
    """The fault tests against the running service are marked ``slow``; neither pytest's
    configured options nor ``.ci/run`` deselect that marker, and a default collection
    (the command ``.ci/run`` runs) lists every one of them."""
    slow = _slow_tests()
    assert len(slow) >= 6, slow

    pyproject = (REPO / "pyproject.toml").read_text()
    ini = pyproject.split("[tool.pytest.ini_options]", 1)[1].split("\n[", 1)[0]
    assert re.search(r'^\s*"slow: ', ini, re.MULTILINE), ini
    addopts = re.findall(r"^addopts\s*=\s*(.*)$", ini, re.MULTILINE)
    options = [word.strip("\"'") for line in addopts for word in line.split()]
    assert options and "-m" not in options and "slow" not in " ".join(options), options
    runs = [line for line in (REPO / ".ci" / "run").read_text().splitlines()
            if "-m pytest" in line and not line.lstrip().startswith("#")]
    assert runs and not any("slow" in line or " -m " in line.split("-m pytest", 1)[1]
                            for line in runs), runs

    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests/reliability"], cwd=REPO, capture_output=True, text=True, timeout=120,
        check=False)
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]
    assert "deselected" not in collected.stdout
    listed = collected.stdout.splitlines()
    missing = [test for test in slow if not any(line.startswith(test) for line in listed)]
    assert missing == [], collected.stdout[-2000:]
