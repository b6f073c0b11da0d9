"""A temporary on-disk spool of the labels a pull must write, grouped by media frame.

Tator lists localizations by id, not by media, and the pull may only write once the whole
listing succeeded (a partial listing must change nothing). Holding every changed label in
memory would make the pull's memory grow with the project; the spool keeps them in a
temporary SQLite file instead and hands them back per ``(media, frame)`` in bounded batches.
Entries are stored as BSON: label documents hold ObjectIds and datetimes, and BSON encodes
and decodes them several times faster than JSON does plain dicts.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bson


class Spool:
    """Entries (dicts) keyed by elemental id, read back grouped by (media, frame).

    Use as a context manager; the file is deleted on exit.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="pull-spool-", dir=directory)
        self._db = sqlite3.connect(Path(self._dir.name) / "spool.sqlite")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE locs (eid TEXT PRIMARY KEY, media INTEGER, "
                         "frame INTEGER, body BLOB)")

    def __enter__(self) -> "Spool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Deletes the spool."""
        self._db.close()
        self._dir.cleanup()

    def add_many(self, rows: list[tuple[str, int, int, dict[str, Any]]]) -> None:
        """Adds ``(elemental_id, media, frame, entry)`` rows (last one wins)."""
        self._db.executemany(
            "INSERT OR REPLACE INTO locs VALUES (?, ?, ?, ?)",
            [(eid, media, frame, bson.encode(entry)) for eid, media, frame, entry in rows])

    def get(self, eid: str) -> dict[str, Any] | None:
        """One spooled entry."""
        row = self._db.execute("SELECT body FROM locs WHERE eid = ?", (eid,)).fetchone()
        return None if row is None else bson.decode(row[0])

    def groups(self) -> Iterator[tuple[tuple[int, int], list[dict[str, Any]]]]:
        """Yields ``((media, frame), [entry, ...])`` in media, frame order."""
        key: tuple[int, int] | None = None
        group: list[dict[str, Any]] = []
        cursor = self._db.execute("SELECT media, frame, body FROM locs ORDER BY media, frame")
        for media, frame, body in cursor:
            if key is not None and (media, frame) != key:
                yield key, group
                group = []
            key = (media, frame)
            group.append(bson.decode(body))
        if key is not None:
            yield key, group

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM locs").fetchone()[0]
