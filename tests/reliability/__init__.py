"""Reliability tests: faults injected into the running service and its stores."""
