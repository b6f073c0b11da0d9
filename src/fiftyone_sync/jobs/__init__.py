"""Background jobs on RQ: queue, worker, locks, progress."""
