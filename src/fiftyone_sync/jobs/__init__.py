"""Background jobs on RQ: queue, worker, locks, progress.

- :mod:`.state`: the job states and the record users see;
- :mod:`.store`: records in Redis (compare-and-set state moves, progress, project index);
- :mod:`.queue`: submit, cancel, read (with reconciliation of dead jobs) — the API's side;
- :mod:`.kinds`: job kind → body function; :mod:`.bodies`: adapters to the product's bodies;
- :mod:`.runner`: one job in the current process (the RQ work-horse, or the CLI);
- :mod:`.binding`: binds a process to one project database before FiftyOne loads;
- :mod:`.locks`: one lock per dataset with a heartbeat; :mod:`.progress`: throttled channels;
- :mod:`.worker`: the ``fiftyone-sync worker`` process; :mod:`.foreground`: ``pull`` here;
- :mod:`.context`: what a job body receives.
"""
