"""Fault injection and call counting per Tator operation, for reliability tests.

A :class:`Fault` applies to one operation id (``GetLocalizationList``) or to all (``*``) and
can add latency, answer an error status, drop the connection without an answer, or throttle
the way Tator does (HTTP 400 "Request was throttled...", no ``Retry-After``). ``after`` lets
that many matching calls through first ("fail after N calls") and ``times`` limits how often
the fault fires. Faults are set from Python (:class:`FaultInjector`) or over HTTP
(``POST /_emulator/faults``) by tests whose workers run in other processes.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Any

THROTTLED_BODY = {"message": "Request was throttled. Expected available in 1 second.",
                  "details": "None"}


class FaultSpecError(ValueError):
    """A fault description that names no effect or has bad values."""


@dataclasses.dataclass
class Fault:
    """One injected misbehaviour; see the module docstring."""

    operation: str = "*"
    latency: float = 0.0
    status: int | None = None
    body: dict[str, Any] | None = None
    drop: bool = False
    throttle: bool = False
    after: int = 0
    times: int | None = None
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if not (self.latency or self.status or self.drop or self.throttle):
            raise FaultSpecError("a fault needs latency, status, drop or throttle")
        if self.latency < 0 or self.after < 0 or (self.times is not None and self.times < 0):
            raise FaultSpecError("latency, after and times must not be negative")

    @property
    def fails(self) -> bool:
        """Whether this fault replaces the answer (rather than only delaying it)."""
        return bool(self.status or self.drop or self.throttle)

    def to_json(self) -> dict[str, Any]:
        """The fault as the admin route shows it."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class FaultAction:
    """What to do with one request: wait, then maybe fail."""

    latency: float = 0.0
    failure: Fault | None = None


class FaultInjector:
    """The active faults of one emulator (thread-safe)."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, operation: str = "*", **spec: Any) -> Fault:
        """Adds a fault, e.g. ``add("UpdateLocalization", status=500, after=2, times=1)``."""
        allowed = {f.name for f in dataclasses.fields(Fault)} - {"seen", "fired", "operation"}
        unknown = set(spec) - allowed
        if unknown:
            raise FaultSpecError(f"unknown fault fields: {sorted(unknown)}")
        fault = Fault(operation=operation, **spec)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Removes every fault."""
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        """The active faults."""
        with self._lock:
            return list(self._faults)

    def decide(self, operation: str) -> FaultAction:
        """Counts a call against the matching faults and says what to do with it."""
        action = FaultAction()
        with self._lock:
            for fault in self._faults:
                if fault.operation not in ("*", operation):
                    continue
                fault.seen += 1
                if fault.seen <= fault.after:
                    continue
                if fault.times is not None and fault.fired >= fault.times:
                    continue
                fault.fired += 1
                action.latency += fault.latency
                if fault.fails and action.failure is None:
                    action.failure = fault
        return action


class CallCounter:
    """How many requests each operation id received (thread-safe)."""

    def __init__(self) -> None:
        self._counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def record(self, operation: str) -> None:
        """Counts one call."""
        with self._lock:
            self._counts[operation] += 1

    def snapshot(self) -> dict[str, int]:
        """Operation id → calls so far."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        """Forgets every count."""
        with self._lock:
            self._counts.clear()
