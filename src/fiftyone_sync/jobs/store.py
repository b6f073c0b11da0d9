"""Job records in Redis: create, read, move between states, report progress, list.

One hash per job (``fiftyone_sync:job:{id}``, each field a JSON value) and one sorted set
per project (``fiftyone_sync:jobs:project:{id}``, scored by creation time) for "the
project's recent jobs". State moves are compare-and-set in a Lua script, so two writers
(a job finishing, a user cancelling, the worker noticing a dead work-horse) never both win.
The sealed Tator credential sits in its own field, is never part of :class:`JobRecord`,
and is deleted when the job ends.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

import redis

from fiftyone_sync.jobs.state import RECORD_FIELDS, JobRecord, JobState, sources_of

logger = logging.getLogger(__name__)

KEY_PREFIX = "fiftyone_sync:"
PROJECT_INDEX_SIZE = 500
"""How many job ids a project's index keeps (older ones fall off)."""

_CREDENTIAL_FIELD = "credential"

# KEYS[1] = record; ARGV[1] = JSON-encoded allowed states joined by "\n";
# ARGV[2..] = field, value pairs to set if the record's state is one of them.
_MOVE_SCRIPT = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 0 end
for allowed in string.gmatch(ARGV[1], '[^\\n]+') do
  if allowed == state then
    redis.call('HSET', KEYS[1], unpack(ARGV, 2))
    return 1
  end
end
return 0
"""


def utc_now() -> str:
    """The current time as an ISO 8601 UTC timestamp (what records store)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")


def record_key(job_id: str) -> str:
    """The Redis key of a job's record."""
    return f"{KEY_PREFIX}job:{job_id}"


def project_index_key(project_id: int) -> str:
    """The Redis key of a project's job index."""
    return f"{KEY_PREFIX}jobs:project:{project_id}"


class JobStore:
    """Reads and writes job records.

    Args:
        client: a Redis client created with ``decode_responses=True``.
        record_ttl: seconds a record lives after it was created or ended.
    """

    def __init__(self, client: redis.Redis, record_ttl: int) -> None:
        self._redis = client
        self._ttl = record_ttl
        self._move = client.register_script(_MOVE_SCRIPT)

    @classmethod
    def from_url(cls, url: str, record_ttl: int) -> JobStore:
        """A store on the Redis at ``url``."""
        return cls(redis.Redis.from_url(url, decode_responses=True), record_ttl)

    def create(self, record: JobRecord, sealed_credential: str | None,
               pipeline: redis.client.Pipeline | None = None) -> None:
        """Saves a new record, with the sealed credential the worker will need.

        Args:
            record: the new job's record.
            sealed_credential: from :class:`~fiftyone_sync.auth.secrets.CredentialCipher`.
            pipeline: a transaction to add the writes to (the caller executes it), so
                the record and RQ's job appear together; None writes at once.
        """
        fields = _encode(_record_fields(record))
        if sealed_credential is not None:
            fields[_CREDENTIAL_FIELD] = sealed_credential

        index = project_index_key(record.project_id)
        pipe = pipeline if pipeline is not None else self._redis.pipeline()
        pipe.hset(record_key(record.id), mapping=fields)
        pipe.expire(record_key(record.id), self._ttl)
        pipe.zadd(index, {record.id: _score(record.created_at)})
        pipe.zremrangebyrank(index, 0, -PROJECT_INDEX_SIZE - 1)
        pipe.expire(index, self._ttl)
        if pipeline is None:
            pipe.execute()

    def get(self, job_id: str) -> JobRecord | None:
        """The record, or None if there is none (unknown id, or expired)."""
        raw = self._redis.hgetall(record_key(job_id))
        if not raw:
            return None
        return _decode(raw)

    def sealed_credential(self, job_id: str) -> str | None:
        """The job's sealed Tator credential, while the job has not ended."""
        return self._redis.hget(record_key(job_id), _CREDENTIAL_FIELD)

    def move(self, job_id: str, target: JobState, only_from: tuple[JobState, ...] = (),
             **fields: Any) -> bool:
        """Moves the job to ``target`` if its current state allows it, setting ``fields``.

        Args:
            job_id: the job.
            target: the new state.
            only_from: narrows the states the move starts from (default: all allowed).
            **fields: record fields to set with the move.

        Returns:
            Whether the move happened (False if the job had already moved on).
        """
        sources = [s for s in sources_of(target) if not only_from or s in only_from]
        allowed = "\n".join(json.dumps(state.value) for state in sources)
        changes = _encode({**fields, "state": target.value})
        if target.is_final:
            changes.setdefault("ended_at", json.dumps(utc_now()))

        pairs = [item for pair in changes.items() for item in pair]
        moved = bool(self._move(keys=[record_key(job_id)], args=[allowed, *pairs]))
        if moved and target.is_final:
            with self._redis.pipeline() as pipe:
                pipe.hdel(record_key(job_id), _CREDENTIAL_FIELD)
                pipe.expire(record_key(job_id), self._ttl)
                pipe.execute()
        return moved

    def update(self, job_id: str, **fields: Any) -> None:
        """Sets fields that carry no state (progress, worker, pid) on an existing record."""
        if self._redis.exists(record_key(job_id)):
            self._redis.hset(record_key(job_id), mapping=_encode(fields))

    def request_cancel(self, job_id: str) -> None:
        """Raises the job's cancel flag, which its body reads through ``is_cancelled``."""
        self.update(job_id, cancel_requested=True)

    def cancel_requested(self, job_id: str) -> bool:
        """Whether a user asked to cancel the job."""
        return self._redis.hget(record_key(job_id), "cancel_requested") == "true"

    def recent(self, project_id: int, limit: int) -> list[JobRecord]:
        """The project's most recent jobs, newest first (expired ones left out)."""
        ids = self._redis.zrevrange(project_index_key(project_id), 0, limit - 1)
        records = []
        for job_id in ids:
            record = self.get(job_id)
            if record is not None:
                records.append(record)
        return records


def _record_fields(record: JobRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in RECORD_FIELDS}


def _encode(fields: dict[str, Any]) -> dict[str, str]:
    return {name: json.dumps(_plain(value)) for name, value in fields.items()}


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, JobState) else value


def _decode(raw: dict[str, str]) -> JobRecord:
    values = {name: json.loads(raw[name]) for name in RECORD_FIELDS if name in raw}
    values["state"] = JobState(values["state"])
    return JobRecord(**values)


def _score(created_at: str) -> float:
    return datetime.datetime.fromisoformat(created_at).timestamp()
