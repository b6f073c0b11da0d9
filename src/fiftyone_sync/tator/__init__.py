"""The Tator client wrapper: one client per process, paging, batching, retries, downloads."""
