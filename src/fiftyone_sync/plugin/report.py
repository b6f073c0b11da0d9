"""Turns the API's answers into what the plugin's result dialogs show (Markdown and data).

Each function returns a JSON-friendly dict: the structured values (for HTTP callers and
tests) plus a ``summary`` in Markdown for the App's dialog, with Tator links per item.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fiftyone_sync.dataset.mapping import deep_link

LISTED_ITEMS = 10
"""Items shown in a dialog; the API pages through the rest."""
LISTED_OUTCOMES = ("conflicts", "invalid", "failed")


def plan_report(plan: dict[str, Any], tator: dict[str, Any], dataset: str) -> dict[str, Any]:
    """The review dialog: the plan's counts and its first items with their links.

    Args:
        plan: ``GET /push/plans/{id}`` (page 0).
        tator: the dataset's ``info["tator"]`` (for links into Tator).
        dataset: the dataset's name (for links to its samples in the App).
    """
    counts = {kind: n for kind, n in (plan.get("counts") or {}).items() if n}
    items = [_item_row(item, tator, dataset) for item in plan.get("items", [])[:LISTED_ITEMS]]
    lines = [f"**Plan {plan['plan_id']}**: {plan.get('total', 0)} change(s) for Tator",
             "", _counts_line(counts), ""]
    lines += [f"- {row['kind']} `{row['elemental_id'] or 'new'}` on "
              f"[sample `{row['sample_id']}`]({row['sample_url']}){_reason(row)} "
              f"([open in Tator]({row['tator_url']}))" for row in items]
    if plan.get("total", 0) > len(items):
        lines.append(f"- ... and {plan['total'] - len(items)} more")
    return {"plan_id": plan["plan_id"], "total": plan.get("total", 0), "counts": counts,
            "items": items, "summary": "\n".join(lines)}


def push_report(job: dict[str, Any], project: int, dataset: str) -> dict[str, Any]:
    """The push dialog: outcome, counts, and the conflicts and invalid items with reasons.

    Each listed item links to its sample in the App (``project``'s access path).
    """
    result = job.get("result") or {}
    listed = {name: [{**row, "sample_url": sample_link(project, dataset, row.get("sample_id"))}
                     for row in (result.get("items") or {}).get(name, [])]
              for name in LISTED_OUTCOMES}
    counts = {name: result.get(name, 0) for name in
              ("updated", "created", "deleted", *LISTED_OUTCOMES)}
    lines = [f"**Push {result.get('outcome', job.get('state'))}** (job {job['id']})", "",
             _counts_line({k: n for k, n in counts.items() if n})]
    for name, rows in listed.items():
        lines += [f"- {name}: [`{row.get('elemental_id') or row.get('label_id')}`]"
                  f"({row['sample_url']}) {row.get('reason') or ''}"
                  for row in rows[:LISTED_ITEMS]]
    return {"job_id": job["id"], "outcome": result.get("outcome"), "counts": counts,
            "conflicts": listed["conflicts"], "invalid": listed["invalid"],
            "failed": listed["failed"], "summary": "\n".join(lines)}


def pull_report(job: dict[str, Any]) -> dict[str, Any]:
    """The pull dialog: the job id and where it is (its result once it succeeded)."""
    state = job.get("state")
    lines = [f"**Pull job {job['id']}**: {state}"]
    if state in ("queued", "running"):
        lines.append(f"\n{job.get('phase')}: {job.get('done')} / {job.get('total') or '?'} "
                     "(follow it in the Tator applet; reload the App when it is done)")
    if state == "succeeded":
        lines.append("\n" + _pull_counts(job.get("result") or {}))
    if job.get("error"):
        lines.append(f"\n{job['error']}")
    return {"job_id": job["id"], "state": state, "phase": job.get("phase"),
            "error": job.get("error"), "result": job.get("result"),
            "summary": "\n".join(lines)}


def progress(job: dict[str, Any]) -> tuple[str, float | None]:
    """The App's progress indicator for a job record: a label and a fraction (or None)."""
    state, phase = job.get("state"), job.get("phase")
    done, total = job.get("done") or 0, job.get("total") or 0
    if state != "running":
        return f"{state}", 1.0 if state in ("succeeded", "failed", "cancelled") else None
    if total:
        return f"{phase}: {done} / {total}", min(done / total, 1.0)
    return f"{phase or 'running'}", None


def refusal_report(action: str, error: Exception) -> dict[str, Any]:
    """The dialog of an operator that could not act: what was refused and why."""
    return {"error": str(error), "summary": f"**{action}: not done.** {error}"}


def sample_link(project: int, dataset: str, sample_id: str | None) -> str:
    """The App's view of one sample through the project's access path (a path on our host).

    Operators run only in Apps opened through the access path, where this path opens the
    sample in the same App session.
    """
    prefix = f"/apps/{int(project)}"
    query = urlencode({"proxy": prefix, "id": sample_id or ""})
    return f"{prefix}/datasets/{quote(dataset, safe='')}?{query}"


def _item_row(item: dict[str, Any], tator: dict[str, Any], dataset: str) -> dict[str, Any]:
    """One plan item as listed: what, where, its sample in the App and its link into Tator."""
    eid = item.get("elemental_id")
    url = deep_link(tator["tator_url"], int(tator["project"]), int(item.get("media_id") or 0),
                    int(item.get("frame") or 0), int(tator["version"]), eid,
                    item.get("type_id"))
    return {"kind": item.get("kind"), "elemental_id": eid, "sample_id": item.get("sample_id"),
            "label_id": item.get("label_id"), "reason": item.get("reason"), "tator_url": url,
            "sample_url": sample_link(int(tator["project"]), dataset, item.get("sample_id"))}


def _pull_counts(result: dict[str, Any]) -> str:
    """A pull's changes in one line: labels created, updated, removed; conflicts."""
    labels = result.get("labels") or {}
    conflicts = (result.get("conflicts") or {}).get("count", 0)
    return (f"labels created: {labels.get('created', 0)}, updated: {labels.get('updated', 0)}"
            f", removed: {labels.get('removed', 0)}; conflicts: {conflicts}")


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind}: {n}" for kind, n in counts.items()) or "nothing to push"


def _reason(row: dict[str, Any]) -> str:
    return f" ({row['reason']})" if row.get("reason") else ""
