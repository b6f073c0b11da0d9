"""``fiftyone-sync pull``: the pull job body run in a terminal, against the Tator emulator."""

from __future__ import annotations

import subprocess

import pymongo

from fiftyone_sync.jobs.queue import JobQueue
from fiftyone_sync.jobs.state import JobState
from fiftyone_sync.settings import Settings
from tests.jobs.helpers import CLI, REPO, worker_env


def _run_pull(settings: Settings, token: str | None, *args: str) -> subprocess.CompletedProcess:
    env = worker_env(settings)
    if token is not None:
        env["TATOR_TOKEN"] = token
    return subprocess.run([str(CLI), "pull", "--project", "1", "--version", "1", *args],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
                          check=False)


def test_pull_without_a_token_says_so(job_settings: Settings) -> None:
    done = _run_pull(job_settings, None, "--token-env", "NO_SUCH_TOKEN_VARIABLE")
    assert done.returncode == 2
    assert "NO_SUCH_TOKEN_VARIABLE holds no Tator token" in done.stderr


def test_pull_runs_the_job_in_the_foreground(
        job_settings: Settings, tator_emulator, mongo: pymongo.MongoClient) -> None:
    settings = job_settings.model_copy(update={"tator_url": tator_emulator.url})
    token = tator_emulator.tokens["alice"]

    done = _run_pull(settings, token, "--force")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert token not in done.stdout + done.stderr

    record = JobQueue(settings).recent(1, 5)[0]
    assert record.state is JobState.SUCCEEDED and record.runner == "cli"
    assert f"job {record.id}: succeeded" in done.stdout
    assert record.params == {"force": True} and record.result["samples"]["created"] > 0
    assert record.dataset in mongo[record.database_name]["datasets"].distinct("name")
