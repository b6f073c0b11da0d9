"""What a push apply did: counts per outcome, with reasons, as the job's result."""

from __future__ import annotations

import dataclasses
from typing import Any

from fiftyone_sync.push.plan import PlanItem

MAX_LISTED = 100
OUTCOMES = ("updated", "created", "deleted", "conflicts", "invalid", "failed")


@dataclasses.dataclass
class PushResult:
    """Counts and (up to :data:`MAX_LISTED` per outcome) the items with their reasons."""

    plan_id: str
    dataset: str
    counts: dict[str, int] = dataclasses.field(
        default_factory=lambda: {name: 0 for name in OUTCOMES})
    items: dict[str, list[dict[str, Any]]] = dataclasses.field(
        default_factory=lambda: {name: [] for name in OUTCOMES})
    calls: dict[str, int] = dataclasses.field(default_factory=dict)
    duration: float = 0.0
    sent: bool = False

    def add(self, outcome: str, item: PlanItem, reason: str | None = None) -> None:
        """Counts one item under ``outcome``."""
        self.counts[outcome] += 1
        if len(self.items[outcome]) < MAX_LISTED:
            self.items[outcome].append({
                "elemental_id": item.elemental_id, "label_id": item.label_id,
                "sample_id": item.sample_id, "media_id": item.media_id, "frame": item.frame,
                "reason": reason if reason is not None else item.reason})

    def count_call(self, operation: str, n: int = 1) -> None:
        """Counts Tator calls by operation (reported, and checked by the benchmark)."""
        self.calls[operation] = self.calls.get(operation, 0) + n

    @property
    def written(self) -> int:
        """How many elements changed in Tator."""
        return sum(self.counts[k] for k in ("updated", "created", "deleted"))

    @property
    def outcome(self) -> str:
        """``applied``, ``partial`` (some failed), ``failed`` or ``nothing_to_do``."""
        if self.counts["failed"]:
            return "partial" if self.written or self.sent else "failed"
        return "applied" if self.written else "nothing_to_do"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the job's result)."""
        return {"plan_id": self.plan_id, "dataset": self.dataset, "outcome": self.outcome,
                **self.counts, "items": self.items, "calls": self.calls,
                "duration": round(self.duration, 3)}
