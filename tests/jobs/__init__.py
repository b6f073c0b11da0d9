"""Tests of the job system: queue, worker, locks, progress, and the jobs HTTP API."""
