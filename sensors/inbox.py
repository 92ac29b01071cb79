"""A drop folder in the object store ("inbox"), shared by the upload sensors.

Marketers drop files directly under a prefix (`briefs/`, `uploads/video/`). Each tick lists only
that level (not sub-folders), so its cost grows with the new files, not with everything ever
dropped. A handled file leaves the inbox: rejected files go to `rejected/` at once with an
`.error.txt` beside them; accepted files go to `processed/` one tick later, after the cursor that
carries their run requests has been committed. A crash between the two never loses a run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from resources.object_store import ObjectInfo, ObjectStoreResource
from sparklio_common.keys import join_key, sanitize_name

PROCESSED = "processed"
REJECTED = "rejected"


def version_of(info: ObjectInfo) -> str:
    """What identifies this version of an object without reading it."""
    return info.etag or f"{info.size}:{info.modified:.6f}"


@dataclass
class InboxCursor:
    """Keys whose runs the last tick requested, with the version seen: they move to processed/ next tick."""

    pending: dict[str, str] = field(default_factory=dict)
    ticks: int = 0

    @classmethod
    def parse(cls, raw: str | None) -> "InboxCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(pending=dict(data.get("pending", {})), ticks=int(data.get("ticks", 0)))

    def dump(self) -> str:
        return json.dumps({"pending": self.pending, "ticks": self.ticks}, ensure_ascii=False, sort_keys=True)


class Inbox:
    def __init__(self, store: ObjectStoreResource, prefix: str):
        self.store = store
        self.prefix = prefix.rstrip("/") + "/"

    def settle(self, cursor: InboxCursor) -> list[str]:
        """Move last tick's accepted files to processed/, unless they changed since (then they are new again)."""
        moved = []
        for key, version in cursor.pending.items():
            info = self.store.head(key)
            if info is None:
                continue  # deleted by someone; nothing to move
            if version_of(info) == version:
                name = sanitize_name(PurePosixPath(key).name)
                self.store.move(key, join_key(self.prefix, PROCESSED, f"{version.replace(':', '-')[:16]}-{name}"))
                moved.append(key)
        return moved

    def new_files(self, limit: int) -> list[ObjectInfo]:
        """Up to `limit` files directly in the inbox, in key order."""
        return list(self.store.list(self.prefix, limit=limit, recursive=False))

    def reject(self, info: ObjectInfo, reasons: list[str]) -> str:
        """Quarantine a file with a `<name>.error.txt` that names every problem."""
        name = sanitize_name(PurePosixPath(info.key).name)
        target = join_key(self.prefix, REJECTED, name)
        text = f"{PurePosixPath(info.key).name} was rejected:\n" + "".join(f"- {r}\n" for r in reasons)
        self.store.put_bytes(target + ".error.txt", text.encode(), "text/plain; charset=utf-8")
        self.store.move(info.key, target)
        return target
