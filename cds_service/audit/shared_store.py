"""Resources every patient may cite (practitioners, organisations, locations), kept on disk and read by key.

A Bulk export's shared files grow with the population; held in memory by every worker they would make a worker's
peak memory grow with the input. A SQLite file (stdlib, one reader per worker process) answers ``Type/id`` look-ups
instead, so a worker holds only the resources its current patient cites.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

_SCHEMA = "CREATE TABLE IF NOT EXISTS shared (key TEXT PRIMARY KEY, resource TEXT NOT NULL)"


def write_shared(path: Path, resources: Iterable[tuple[str, str]]) -> int:
    """Store ``(Type/id, resource JSON)`` pairs in a new SQLite file at ``path`` (a later copy of a key wins)."""
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(_SCHEMA)
        db.executemany("INSERT OR REPLACE INTO shared VALUES (?, ?)", resources)
        (count,) = db.execute("SELECT COUNT(*) FROM shared").fetchone()
    return int(count)


class SharedResources(Mapping[str, dict[str, Any]]):
    """A read-only ``Type/id`` -> resource mapping over the SQLite file ``write_shared`` made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    def __getitem__(self, key: str) -> dict[str, Any]:
        row = self._db.execute("SELECT resource FROM shared WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return json.loads(row[0])  # type: ignore[no-any-return]

    def __contains__(self, key: object) -> bool:
        return self._db.execute("SELECT 1 FROM shared WHERE key = ?", (key,)).fetchone() is not None

    def __iter__(self) -> Iterator[str]:
        return (key for (key,) in self._db.execute("SELECT key FROM shared ORDER BY key"))

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM shared").fetchone()[0])
