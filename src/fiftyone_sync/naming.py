"""How a Tator project maps to its App port and its MongoDB database.

These rules are the original contract's port and database isolation. Every endpoint that
takes a project id or a database name goes through them, and turns :class:`NamingError`
into an HTTP 422 that says what is wrong.
"""

from __future__ import annotations

import fnmatch

from fiftyone_sync.settings import Settings

MAX_PORT = 65535
MAX_TATOR_ID = 2**63 - 1
"""The largest id Tator's database can hold (a PostgreSQL bigint)."""
MAX_DATABASE_NAME_BYTES = 63
_FORBIDDEN_DATABASE_CHARS = set('/\\. "$*<>:|?')


class NamingError(ValueError):
    """A project id or database name that breaks the naming rules."""


def validate_project_id(project_id: object) -> int:
    """Returns ``project_id`` as a positive ``int`` or raises :class:`NamingError`."""
    if isinstance(project_id, bool) or not isinstance(project_id, (int, str)):
        raise NamingError(f"project id must be a positive integer, got {project_id!r}")

    try:
        value = int(project_id)
    except ValueError:
        raise NamingError(f"project id must be a positive integer, got {project_id!r}") from None

    if value < 1:
        raise NamingError(f"project id must be a positive integer, got {value}")
    if value > MAX_TATOR_ID:
        raise NamingError(f"project id {value} is larger than any Tator id")
    return value


def app_port(project_id: object, base_port: int) -> int:
    """The port of a project's App server: ``base_port + project_id``, at most 65535."""
    value = validate_project_id(project_id)
    port = base_port + value
    if port > MAX_PORT:
        raise NamingError(
            f"project {value} would need port {port} (base port {base_port} + project id), "
            f"past the last port {MAX_PORT}"
        )
    return port


def validate_database_name(name: object) -> str:
    """Returns ``name`` if MongoDB accepts it as a database name, else raises."""
    if not isinstance(name, str) or not name:
        raise NamingError("database name must be a non-empty string")

    bad = sorted(_FORBIDDEN_DATABASE_CHARS.intersection(name))
    if bad or "\x00" in name:
        shown = " ".join(repr(c) for c in bad) or "'\\x00'"
        raise NamingError(f"database name {name!r} contains forbidden characters: {shown}")

    size = len(name.encode("utf-8"))
    if size > MAX_DATABASE_NAME_BYTES:
        raise NamingError(
            f"database name is {size} bytes long; MongoDB allows at most "
            f"{MAX_DATABASE_NAME_BYTES}"
        )
    return name


def default_database_name(project_id: object, settings: Settings) -> str:
    """The project's own database: ``{FIFTYONE_DATABASE_DEFAULT}_{project_id}``."""
    value = validate_project_id(project_id)
    return validate_database_name(f"{settings.database_default}_{value}")


def is_override_allowed(name: str, project_id: int, settings: Settings) -> bool:
    """Whether an operator allowed ``name`` as a query override for this project.

    By default only the project's own database name, alone or followed by ``_`` or ``-`` and
    a suffix, is allowed, so a member of project 4 can open ``fiftyone_project_4_review`` but
    never ``fiftyone_project_45`` (project 45's). The ``allowed_database_names`` setting lists
    exact names or shell-style patterns instead.
    """
    if settings.allowed_database_names:
        return any(fnmatch.fnmatchcase(name, pattern)
                   for pattern in settings.allowed_database_names)

    own = default_database_name(project_id, settings)
    return name == own or name.startswith((own + "_", own + "-"))


def database_name(project_id: object, settings: Settings, requested: str | None = None) -> str:
    """The database a project's data lives in.

    Precedence: the query's ``database_name`` (if allowed) > ``FIFTYONE_DATABASE_NAME`` >
    ``{FIFTYONE_DATABASE_DEFAULT}_{project_id}``.
    """
    value = validate_project_id(project_id)

    if requested is not None:
        name = validate_database_name(requested)
        if not is_override_allowed(name, value, settings):
            raise NamingError(
                f"database name {name!r} is not allowed for project {value}; an operator "
                "must list it in FIFTYONE_SYNC_ALLOWED_DATABASE_NAMES"
            )
        return name

    if settings.database_name:
        return validate_database_name(settings.database_name)
    return default_database_name(value, settings)


def dataset_name(project_id: object, version_id: object) -> str:
    """The FiftyOne dataset of one Tator project version, named from ids only.

    Ids never change, so a rename in Tator breaks nothing; human names go in the
    dataset's ``info``.
    """
    project = validate_project_id(project_id)
    try:
        version = int(version_id)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise NamingError(f"version id must be a positive integer, got {version_id!r}") from None
    if isinstance(version_id, bool) or version < 1:
        raise NamingError(f"version id must be a positive integer, got {version_id!r}")
    return f"tator-p{project}-v{version}"
