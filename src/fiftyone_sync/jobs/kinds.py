"""Which function runs each kind of job.

A job body is ``body(ctx: JobContext, params: dict) -> dict``: it gets the job's context
and its JSON parameters, and returns a JSON-able result. The registry maps a kind to the
body's ``module:function`` path; the path is resolved when the job is submitted and kept
in the job's record, and the work-horse imports it only after binding its database (a
body may import ``fiftyone`` at will).

The push and embedding kinds are named here so that records and the API agree on their
spelling; their owners register bodies for them with :func:`register_body` (or by adding
a line to ``_BODIES``) when they exist. Until then, submitting one is refused.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from fiftyone_sync.jobs.context import JobContext

PULL = "pull"
PUSH_PLAN = "push_plan"
PUSH_APPLY = "push_apply"
EMBED = "embed"
PUSH_RESOLVE = "push_resolve"
DELETE_DATASET = "delete_dataset"

JobBody = Callable[[JobContext, dict[str, Any]], dict[str, Any]]

_BODIES: dict[str, str] = {
    PULL: "fiftyone_sync.jobs.bodies:pull_body",
    EMBED: "fiftyone_sync.embeddings.job:embed_body",
    PUSH_PLAN: "fiftyone_sync.push.jobs:plan_body",
    PUSH_APPLY: "fiftyone_sync.push.jobs:apply_body",
    PUSH_RESOLVE: "fiftyone_sync.push.jobs:resolve_body",
    DELETE_DATASET: "fiftyone_sync.jobs.bodies:delete_dataset_body",
}


class UnknownJobKind(LookupError):
    """A job kind with no registered body."""


class JobBodyImportError(ImportError):
    """A registered body path that does not import in this process."""


def register_body(kind: str, path: str) -> None:
    """Registers (or replaces) the body of ``kind`` as ``module:function``."""
    if ":" not in path:
        raise ValueError(f"a job body path is 'module:function', got {path!r}")
    _BODIES[kind] = path


def body_path(kind: str) -> str:
    """The ``module:function`` path of the body of ``kind``.

    Raises:
        UnknownJobKind: nothing is registered for ``kind``.
    """
    try:
        return _BODIES[kind]
    except KeyError:
        known = ", ".join(sorted(_BODIES)) or "none"
        raise UnknownJobKind(
            f"no job body is registered for kind {kind!r} (registered: {known})") from None


def load_body(path: str) -> JobBody:
    """Imports the body at ``module:function`` (in the process that will run it).

    Raises:
        JobBodyImportError: the module or function is missing.
    """
    module_name, _, function_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise JobBodyImportError(f"cannot import job body module {module_name!r}: {exc}") from exc

    body = getattr(module, function_name, None)
    if not callable(body):
        raise JobBodyImportError(f"job body module {module_name!r} has no {function_name!r}")
    return body
