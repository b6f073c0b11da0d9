"""Prometheus metrics of the job system, as the API process sees it (served at ``/metrics``).

Job bodies run in work-horse processes that nobody scrapes, so these count what the API
does (jobs queued, cancel requests) and read the queue's length from Redis on each scrape.
Per-job durations and outcomes are in the job records and the worker logs.
"""

from __future__ import annotations

import logging
import math

import redis
from prometheus_client import Counter, Gauge
from rq import Queue

logger = logging.getLogger(__name__)

SUBMITTED = Counter("fiftyone_sync_jobs_submitted_total", "Jobs queued, by kind.", ["kind"])
CANCEL_REQUESTS = Counter("fiftyone_sync_job_cancel_requests_total",
                          "Requests to cancel a job that had not ended.")
QUEUE_LENGTH = Gauge("fiftyone_sync_job_queue_length",
                     "Jobs waiting in the queue for a worker (NaN when Redis does not answer).")


def watch_queue(queue: Queue) -> None:
    """Makes ``QUEUE_LENGTH`` read ``queue``'s length at each scrape."""
    QUEUE_LENGTH.set_function(lambda: _length(queue))


def _length(queue: Queue) -> float:
    try:
        return float(len(queue))
    except redis.RedisError as exc:
        logger.warning("Could not read the job queue's length: %s", exc)
        return math.nan
