"""What a plugin operator acts on: the dataset's Tator version, a sample's or label's link.

A dataset made by a pull records its project and version in ``info["tator"]``; operators
refuse any dataset of another project than the App's (or one not made by a pull), so a
reviewer's identity in project A is never used on project B's data.
"""

from __future__ import annotations

from typing import Any

from fiftyone_sync.dataset.mapping import deep_link


class TargetError(Exception):
    """The operator has nothing it may act on; the message says why."""


def dataset_version(info: dict[str, Any], project_id: int) -> int:
    """The Tator version of a pulled dataset of ``project_id``.

    Args:
        info: the dataset's ``info`` dict.
        project_id: the App's project.

    Raises:
        TargetError: the dataset was not pulled from Tator, or belongs to another project.
    """
    tator = info.get("tator") or {}
    if "project" not in tator or "version" not in tator:
        raise TargetError("this dataset was not pulled from Tator by FiftyOne Sync")
    if int(tator["project"]) != project_id:
        raise TargetError(f"this dataset belongs to Tator project {tator['project']}, not to "
                          f"this App's project {project_id}; open it from its own project")
    return int(tator["version"])


def label_link(info: dict[str, Any], sample: Any, label_id: str, field: str) -> str:
    """Tator's annotation view of one label's element, at its media and frame.

    Raises:
        TargetError: the label is not in the sample, or did not come from Tator.
    """
    label = _find_label(sample[field] if sample.has_field(field) else None, label_id)
    if label is None:
        raise TargetError(f"label {label_id} is not in field {field!r} of this sample")

    elemental_id = label["tator_elemental_id"] if label.has_field("tator_elemental_id") else None
    if not elemental_id:
        raise TargetError("this label is new (not pushed to Tator yet); push it first")
    tator = info["tator"]
    return deep_link(tator["tator_url"], int(tator["project"]), int(sample["tator_media_id"]),
                     int(sample["frame"] or 0), int(label["tator_version"]), elemental_id,
                     int(label["tator_type"]))


def sample_link(info: dict[str, Any], sample: Any) -> str:
    """Tator's annotation view of a sample's media frame."""
    tator = info["tator"]
    if not sample.has_field("tator_media_id") or sample["tator_media_id"] is None:
        raise TargetError("this sample did not come from Tator")
    return deep_link(tator["tator_url"], int(tator["project"]), int(sample["tator_media_id"]),
                     int(sample["frame"] or 0), int(tator["version"]))


def _find_label(value: Any, label_id: str) -> Any:
    """The label with ``label_id`` in a label or a list-of-labels value, else ``None``."""
    if value is None:
        return None
    list_field = getattr(value, "_LABEL_LIST_FIELD", None)
    labels = (value[list_field] or []) if list_field else [value]
    return next((label for label in labels if str(label.id) == label_id), None)


_LAST_PLANS: dict[str, str] = {}


def remember_plan(dataset_name: str, plan_id: str) -> None:
    """Remembers the plan last reviewed for a dataset in this App server (Push's default).

    Kept here, in a regular module, because FiftyOne may re-import the plugin's own module
    on every call.
    """
    _LAST_PLANS[dataset_name] = plan_id


def last_plan(dataset_name: str) -> str | None:
    """The plan last reviewed for ``dataset_name`` in this App server, if any."""
    return _LAST_PLANS.get(dataset_name)
