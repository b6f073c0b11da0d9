"""Complete-or-fail listings of a Tator project's media and localizations.

A pull removes what Tator no longer holds, so a partial listing would delete good data. Every
function here either returns the whole listing or raises :class:`ListingError`; none makes
one unpaginated "everything" call (Tator has no page cap, reference tator-api.md 5.2, F26).

- Localizations: keyset pagination ``after=<last id>&stop=N`` (Tator orders them by id), with
  ``show_deleted=1`` so soft deletes are seen. Ids must grow strictly across pages.
- Media: ``start/stop`` pages ordered by ``sort_by=$id`` are not declared by every
  server, so media are listed in ``start/stop`` slices of Tator's own order (name, id),
  de-duplicated by id, and the total is checked against ``get_media_count`` before and after.
  Lists of known ids are fetched in batches with ``get_media_list_by_id`` (ids in the body,
  so URLs stay short).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import requests
from tator.exceptions import ApiException

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]


class ListingError(RuntimeError):
    """A listing that could not be completed; nothing may be deleted on its strength.

    Attributes:
        what: what was being listed.
        status: the HTTP status Tator answered with, when there was one.
    """

    def __init__(self, what: str, cause: str, status: int | None = None) -> None:
        super().__init__(f"listing {what} failed: {cause}")
        self.what = what
        self.status = status


def _rows(what: str, api: Any, method: str, path: str, query: dict[str, Any],
          body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One listing request through the API object's session, decoded as plain dicts.

    The hot listing calls skip tator-py's per-item model wrapping (a third of the time of a
    5,000-row page) but keep its session: the user's token and the client's timeouts.
    """
    params = {k: ",".join(map(str, v)) if isinstance(v, (list, tuple)) else v
              for k, v in query.items() if v is not None}
    try:
        response = api.session.request(method, f"{api.base_url}{path}", params=params,
                                       json=body)
    except requests.RequestException as exc:
        logger.warning("Listing %s failed: %s", what, exc)
        raise ListingError(what, f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 400:
        text = response.text[:200]
        logger.warning("Tator answered %s while listing %s: %s", response.status_code, what,
                       text)
        raise ListingError(what, f"Tator answered {response.status_code}: {text}",
                           response.status_code)
    try:
        rows = response.json()
    except ValueError as exc:
        raise ListingError(what, f"not JSON: {exc}") from exc
    if not isinstance(rows, list):
        raise ListingError(what, f"expected a list, got {type(rows).__name__}")
    return rows


def _plain(items: Any) -> list[dict[str, Any]]:
    """tator-py's objects as plain dicts (they are dict subclasses over raw JSON)."""
    return [dict(item) for item in items]


def _call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Calls tator-py and turns any failure into :class:`ListingError`."""
    try:
        return fn(*args, **kwargs)
    except ApiException as exc:
        body = (exc.body or "")[:200] if isinstance(exc.body, str) else exc.body
        logger.warning("Tator answered %s while listing %s: %s", exc.status, what, body)
        raise ListingError(what, f"Tator answered {exc.status}: {body}", exc.status) from exc
    except (OSError, ValueError) as exc:
        logger.warning("Listing %s failed: %s", what, exc)
        raise ListingError(what, f"{type(exc).__name__}: {exc}") from exc


def iter_localization_pages(api: Any, project: int, version: int, page_size: int,
                            media_ids: Sequence[int] | None = None,
                            progress: Progress | None = None) -> Iterator[list[dict[str, Any]]]:
    """Yields every localization of a version (soft-deleted ones included), page by page.

    Args:
        api: a tator-py API object.
        project: the project id.
        version: the version id.
        page_size: localizations per request.
        media_ids: restrict to these media (sent in the body of a PUT listing).
        progress: called with the running count after each page.

    Raises:
        ListingError: on any failed call or inconsistent page.
    """
    after: int | None = None
    count = 0
    started = time.monotonic()
    while True:
        query = dict(version=[version], show_deleted=1, stop=page_size, after=after)
        body = {"media_ids": list(media_ids)} if media_ids else None
        page = _rows("localizations", api, "PUT" if body else "GET",
                     f"/rest/Localizations/{project}", query, body)

        _check_ascending(page, after)
        count += len(page)
        if progress is not None:
            progress(count)
        if page:
            yield page
        if len(page) < page_size:
            break
        after = int(page[-1]["id"])

    logger.info("Listed %d localizations of version %d in %.2f s", count, version,
                time.monotonic() - started)


class Prefetch:
    """Runs a page iterator in a thread, at most ``depth`` pages ahead of its reader.

    A pull starts listing localizations while it still lists media and reads its sync state;
    the bounded queue keeps memory to a few pages. Iterating re-raises the listing's error.
    """

    def __init__(self, pages: Iterator[list[dict[str, Any]]], depth: int = 4) -> None:
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(pages,), daemon=True,
                                        name="pull-listing")
        self._thread.start()

    def _run(self, pages: Iterator[list[dict[str, Any]]]) -> None:
        try:
            for page in pages:
                if not self._put(("page", page)):
                    return
            self._put(("end", None))
        except BaseException as exc:  # handed to the reader, which re-raises it
            self._put(("error", exc))

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        while True:
            kind, value = self._queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    def close(self) -> None:
        """Stops the listing (if still running) and waits for its thread."""
        self._stop.set()
        self._thread.join(timeout=60)


def _check_ascending(page: list[dict[str, Any]], after: int | None) -> None:
    last = after if after is not None else -1
    for item in page:
        if int(item["id"]) <= last:
            raise ListingError("localizations", f"ids out of order after {last}: {item['id']}")
        last = int(item["id"])


def list_media(api: Any, project: int, page_size: int, section: int | None = None,
               progress: Progress | None = None) -> list[dict[str, Any]]:
    """Every media of a project (or one section), complete or :class:`ListingError`.

    The count is read before and after; if media were added or removed meanwhile the slices
    may have shifted, so the listing fails rather than guess.
    """
    filters: dict[str, Any] = {} if section is None else {"section": section}
    expected = _call("media count", api.get_media_count, project, **filters)

    seen: dict[int, dict[str, Any]] = {}
    start = 0
    while True:
        page = _rows("media", api, "GET", f"/rest/Medias/{project}",
                     {"start": start, "stop": start + page_size, **filters})
        for media in page:
            seen.setdefault(int(media["id"]), media)
        start += page_size
        if progress is not None:
            progress(len(seen))
        if len(page) < page_size:
            break

    after = _call("media count", api.get_media_count, project, **filters)
    if not (int(expected) == int(after) == len(seen)):
        raise ListingError("media", f"media changed while listing ({expected} before, "
                                    f"{after} after, {len(seen)} listed); try again")
    logger.info("Listed %d media of project %d", len(seen), project)
    return list(seen.values())


def list_media_by_id(api: Any, project: int, media_ids: Sequence[int],
                     batch_size: int) -> list[dict[str, Any]]:
    """The media with these ids, fetched in batches with the ids in the request body.

    Ids Tator does not return (deleted, or never existed) are simply absent.
    """
    found: list[dict[str, Any]] = []
    ids = sorted(set(int(i) for i in media_ids))
    for offset in range(0, len(ids), batch_size):
        chunk = ids[offset:offset + batch_size]
        found.extend(_plain(_call("media by id", api.get_media_list_by_id, project,
                                  {"ids": chunk})))
    return found


def list_types(api: Any, project: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The project's media types and localization types."""
    media_types = _plain(_call("media types", api.get_media_type_list, project))
    loc_types = _plain(_call("localization types", api.get_localization_type_list, project))
    return media_types, loc_types


def count_states(api: Any, project: int, version: int) -> int | None:
    """How many States (tracks) the version holds, or None where the server cannot count.

    States are not mapped yet (DESIGN.md section 6); the pull only reports their number.
    """
    counter = getattr(api, "get_state_count", None)
    if counter is None:
        return None
    try:
        return int(counter(project, version=[version]))
    except ApiException as exc:
        logger.warning("Could not count states of version %d: %s", version, exc.status)
        return None
