"""The default conversation: items in order, and the item operations of reference 2.1.

Items are stored as the live API shows them in `conversation.item.retrieved` (audio bytes
included); `public()` strips audio bytes for `conversation.item.added/done`, `response.output_item.*`
and `response.done`, which never carry them (reference 6).

Work here does not grow with the conversation: items are found by id in a dict, and what an item
costs a response (its text tokens and audio length, for `usage`) is counted once, when it is stored
or changes (`refresh`); the conversation keeps the running totals. Responders see a read-only
`Items` view, not a copy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, overload

from mockserver.protocol.tokens import count_tokens

_AUDIO_PARTS = ("input_audio", "output_audio")


class Conversation:
    def __init__(self, conversation_id: str) -> None:
        self.id = conversation_id
        self._items: list[dict[str, Any]] = []
        self._by_id: dict[str, dict[str, Any]] = {}
        self._costs: dict[str, tuple[int, float]] = {}
        self._heard: dict[str, dict[int, str]] = {}  # item id -> content index -> words of user audio
        self.text_tokens = 0  # of every item, as `usage` counts them
        self.audio_ms = 0.0

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._by_id

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[dict[str, Any]]:
        return list(self._items)

    def view(self) -> Items:
        """The items now, oldest first, as a responder sees them (read-only; user audio has its words)."""
        return Items(tuple(self._items), self._heard)

    def get(self, item_id: str) -> dict[str, Any] | None:
        return self._by_id.get(item_id)

    def last_id(self) -> str | None:
        return self._items[-1]["id"] if self._items else None

    def previous_id(self, item_id: str) -> str | None:
        """The id of the item before this one (None when it is first, or no longer in the conversation:
        a client may delete an item a response is still streaming)."""
        if item_id not in self._by_id:
            return None
        items = self._items
        if len(items) >= 2 and items[-1]["id"] == item_id:  # the common case: the item just added
            return str(items[-2]["id"])
        index = self._index(item_id)
        return str(items[index - 1]["id"]) if index > 0 else None

    def insert(self, item: dict[str, Any], previous_item_id: str | None = None, *, root: bool = False) -> str | None:
        """Insert after `previous_item_id` (append when None, at the start when `root`).

        Returns the id of the item now before it. The caller checks that `previous_item_id` exists.
        """
        self._by_id[item["id"]] = item
        self._count(item)
        if root:
            self._items.insert(0, item)
            return None
        if previous_item_id is None:
            previous = self.last_id()
            self._items.append(item)
            return previous
        self._items.insert(self._index(previous_item_id) + 1, item)
        return previous_item_id

    def delete(self, item_id: str) -> bool:
        item = self._by_id.pop(item_id, None)
        if item is None:
            return False
        del self._items[self._index(item_id, item)]
        self._uncount(item_id)
        self._heard.pop(item_id, None)
        return True

    def refresh(self, item_id: str) -> None:
        """Count an item again after it changed (a response finished it, it was truncated or transcribed)."""
        item = self._by_id.get(item_id)
        if item is not None:
            self._uncount(item_id)
            self._count(item)

    def hear(self, item_id: str, heard: dict[int, str]) -> None:
        """What the model hears in the user audio parts of an item (by content index) whose transcript
        stays null (the session transcribes nothing)."""
        self._heard[item_id] = heard

    def heard_of(self, items: Sequence[Mapping[str, Any]]) -> dict[str, dict[int, str]]:
        """What the model heard in those of these items that hold user audio without a transcript."""
        return {item["id"]: self._heard[item["id"]] for item in items if item["id"] in self._heard}

    def clear(self) -> None:
        self._items.clear()
        self._by_id.clear()
        self._costs.clear()
        self._heard.clear()
        self.text_tokens, self.audio_ms = 0, 0.0

    def _index(self, item_id: str, item: dict[str, Any] | None = None) -> int:
        target = item if item is not None else self._by_id[item_id]
        return next(i for i, found in enumerate(self._items) if found is target)

    def _count(self, item: dict[str, Any]) -> None:
        tokens, audio_ms = cost(item)
        self._costs[item["id"]] = (tokens, audio_ms)
        self.text_tokens += tokens
        self.audio_ms += audio_ms

    def _uncount(self, item_id: str) -> None:
        tokens, audio_ms = self._costs.pop(item_id, (0, 0.0))
        self.text_tokens -= tokens
        self.audio_ms -= audio_ms


ITEM_TOKENS = 4  # what an item costs besides its words (its role and separators, as chat formats count)
_WORDS_OF_ITEM = ("name", "arguments", "output")
_WORDS_OF_PART = ("text", "transcript")


def cost(item: Mapping[str, Any]) -> tuple[int, float]:
    """What an item in context costs a response: the text tokens of its words (text, transcripts, a call's
    name, arguments and output) and the milliseconds of its audio (PCM16 24 kHz: 48 bytes a millisecond)."""
    tokens, audio_ms = ITEM_TOKENS, 0.0
    for key in _WORDS_OF_ITEM:
        value = item.get(key)
        if isinstance(value, str):
            tokens += count_tokens(value)
    for part in item.get("content") or ():
        if isinstance(part, dict):
            for key in _WORDS_OF_PART:
                value = part.get(key)
                if isinstance(value, str):
                    tokens += count_tokens(value)
            audio = part.get("audio")
            if isinstance(audio, str):
                audio_ms += base64_length(audio) / 48
    return tokens, audio_ms


def base64_length(text: str) -> int:
    """How many bytes a (valid, padded) base64 string decodes to, without decoding it."""
    return len(text) // 4 * 3 - (text[-2:].count("=") if text else 0)


def public(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item without audio bytes, as item and response events carry it.

    A copy of the item and of its content parts (what the session changes in place later); values
    below them are shared, as the session only ever replaces them.
    """
    out = dict(item)
    content = out.get("content")
    if content:
        out["content"] = [_public_part(part) for part in content]
    return out


def _public_part(part: Any) -> Any:
    if not isinstance(part, dict):
        return part
    out = dict(part)
    if out.get("type") in _AUDIO_PARTS:
        out.pop("audio", None)
    return out


def clone(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists and scalars): much cheaper than `copy.deepcopy`."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


class Items(Sequence[Mapping[str, Any]]):
    """Conversation items as the "model" takes them in: read-only mappings, oldest first; the words of
    user audio stand in its `transcript` when the session transcribes nothing (the conversation itself
    keeps `transcript: null`, as the client sees it)."""

    def __init__(self, items: Sequence[dict[str, Any]], heard: Mapping[str, Mapping[int, str]] | None = None) -> None:
        self._items = items
        self._heard = heard or {}

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> Mapping[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Mapping[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> Mapping[str, Any] | Sequence[Mapping[str, Any]]:
        if isinstance(index, slice):
            return Items(self._items[index], self._heard)
        return self._show(self._items[index])

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        return map(self._show, self._items)

    def __reversed__(self) -> Iterator[Mapping[str, Any]]:
        return map(self._show, reversed(self._items))

    def _show(self, item: dict[str, Any]) -> Mapping[str, Any]:
        heard = self._heard.get(item["id"])
        if heard is None:
            return MappingProxyType(item)
        content = [{**part, "transcript": heard[index]} if index in heard and part.get("transcript") is None else part
                   for index, part in enumerate(item.get("content") or ())]
        return MappingProxyType({**item, "content": content})
