"""Live sessions by session id and by call id."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mockserver.runtime.runtime import SessionRuntime


class Registry:
    def __init__(self) -> None:
        self._by_session: dict[str, SessionRuntime] = {}
        self._by_call: dict[str, SessionRuntime] = {}

    def __len__(self) -> int:
        return len(self._by_session)

    def add(self, runtime: SessionRuntime) -> None:
        self._by_session[runtime.session_id] = runtime
        if runtime.call_id is not None:
            self._by_call[runtime.call_id] = runtime

    def remove(self, runtime: SessionRuntime) -> None:
        if self._by_session.get(runtime.session_id) is runtime:
            del self._by_session[runtime.session_id]
        if runtime.call_id is not None and self._by_call.get(runtime.call_id) is runtime:
            del self._by_call[runtime.call_id]

    def session(self, session_id: str) -> SessionRuntime | None:
        return self._by_session.get(session_id)

    def call(self, call_id: str) -> SessionRuntime | None:
        return self._by_call.get(call_id)

    def in_scope(self, scope: str) -> dict[str, SessionRuntime]:
        return {sid: runtime for sid, runtime in self._by_session.items() if runtime.scope == scope}

    def all(self) -> list[SessionRuntime]:
        return list(self._by_session.values())
