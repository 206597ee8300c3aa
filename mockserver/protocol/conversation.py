"""The default conversation: items in order, and the item operations of reference 2.1.

Items are stored as the live API shows them in `conversation.item.retrieved` (audio bytes
included); `public()` strips audio bytes for `conversation.item.added/done`, `response.output_item.*`
and `response.done`, which never carry them (reference 6).
"""

from __future__ import annotations

import copy
from typing import Any


class Conversation:
    def __init__(self, conversation_id: str) -> None:
        self.id = conversation_id
        self._items: list[dict[str, Any]] = []

    def __contains__(self, item_id: object) -> bool:
        return any(item["id"] == item_id for item in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[dict[str, Any]]:
        return list(self._items)

    def get(self, item_id: str) -> dict[str, Any] | None:
        return next((item for item in self._items if item["id"] == item_id), None)

    def last_id(self) -> str | None:
        return self._items[-1]["id"] if self._items else None

    def previous_id(self, item_id: str) -> str | None:
        ids = [item["id"] for item in self._items]
        index = ids.index(item_id)
        return ids[index - 1] if index > 0 else None

    def insert(self, item: dict[str, Any], previous_item_id: str | None = None, *, root: bool = False) -> str | None:
        """Insert after `previous_item_id` (append when None, at the start when `root`).

        Returns the id of the item now before it. The caller checks that `previous_item_id` exists.
        """
        if root:
            self._items.insert(0, item)
            return None
        if previous_item_id is None:
            previous = self.last_id()
            self._items.append(item)
            return previous
        ids = [i["id"] for i in self._items]
        self._items.insert(ids.index(previous_item_id) + 1, item)
        return previous_item_id

    def delete(self, item_id: str) -> bool:
        before = len(self._items)
        self._items = [item for item in self._items if item["id"] != item_id]
        return len(self._items) != before

    def clear(self) -> None:
        self._items.clear()


def public(item: dict[str, Any]) -> dict[str, Any]:
    """An item without audio bytes, as item and response events carry it."""
    out = copy.deepcopy(item)
    for part in out.get("content") or ():
        if isinstance(part, dict) and part.get("type") in ("input_audio", "output_audio"):
            part.pop("audio", None)
    return out
