"""Each job binds its own project's database; the worker parent never loads FiftyOne; the
Tator token never shows in Redis or in the logs."""

from __future__ import annotations

import subprocess
import sys

import pymongo
import redis

from fiftyone_sync.jobs.queue import JobQueue
from fiftyone_sync.jobs.state import JobState
from fiftyone_sync.settings import Settings
from fiftyone_sync.tator.client import Credential
from tests.jobs.helpers import FIFTYONE_KIND, REPO, TOKEN, submit, wait_final, worker_env

PARENT_PROBE = (
    "import sys\n"
    "from fiftyone_sync.cli import app\n"
    "app(['worker', '--burst'], standalone_mode=False)\n"
    "print('FIFTYONE_IN_PARENT=' + str('fiftyone' in sys.modules))\n"
)


def test_jobs_of_two_projects_land_in_their_own_databases_and_the_parent_stays_clean(
        job_queue: JobQueue, job_settings: Settings, credential: Credential,
        mongo: pymongo.MongoClient) -> None:
    first = submit(job_queue, credential, kind=FIFTYONE_KIND, project=11, version=1)
    second = submit(job_queue, credential, kind=FIFTYONE_KIND, project=12, version=1)

    done = subprocess.run([sys.executable, "-c", PARENT_PROBE], env=worker_env(job_settings),
                          cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert "FIFTYONE_IN_PARENT=False" in done.stdout, done.stdout + done.stderr

    for record, other in ((first, second), (second, first)):
        final = wait_final(job_queue, record.id, timeout=5)
        assert final.state is JobState.SUCCEEDED, final.error
        assert final.result == {"database": record.database_name, "samples": 1}
        names = mongo[record.database_name]["datasets"].distinct("name")
        assert record.dataset in names
        assert record.dataset not in mongo[other.database_name]["datasets"].distinct("name")
    assert first.database_name != second.database_name


def _every_value(client: redis.Redis) -> list[bytes]:
    """Every key and every stored value in Redis, whatever its type."""
    found: list[bytes] = []
    for key in client.scan_iter(count=500):
        found.append(key)
        kind = client.type(key)
        if kind == b"string":
            found.append(client.get(key) or b"")
        elif kind == b"hash":
            found.extend(item for pair in client.hgetall(key).items() for item in pair)
        elif kind == b"list":
            found.extend(client.lrange(key, 0, -1))
        elif kind == b"set":
            found.extend(client.smembers(key))
        elif kind == b"zset":
            found.extend(client.zrange(key, 0, -1))
        elif kind == b"stream":
            for _, fields in client.xrange(key):
                found.extend(item for pair in fields.items() for item in pair)
        else:
            raise AssertionError(f"unexpected Redis type {kind!r} for {key!r}")
    return found


def test_the_token_is_never_in_redis_nor_in_the_logs(
        job_queue: JobQueue, credential: Credential, redis_url: str, start_worker) -> None:
    record = submit(job_queue, credential, steps=2, delay=0.05)
    client = redis.Redis.from_url(redis_url)
    values = _every_value(client)
    assert any(record.id.encode() in value for value in values), "the scan must see the job"
    assert not [value for value in values if TOKEN.encode() in value]

    worker = start_worker(burst=True)
    assert worker.wait(timeout=120) == 0
    assert job_queue.get(record.id).state is JobState.SUCCEEDED
    assert record.id in worker.log()
    assert TOKEN not in worker.log()
    assert not [value for value in _every_value(client) if TOKEN.encode() in value]
