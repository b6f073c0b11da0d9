"""Security tests: attacks on the running service."""
