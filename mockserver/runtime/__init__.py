"""The live side of sessions: a `SessionRuntime` owns one live session and the connections attached to
it; the `Registry` finds runtimes by session id (and, for calls, by call id)."""

from mockserver.runtime.registry import Registry
from mockserver.runtime.runtime import SessionRuntime, Sink

__all__ = ["Registry", "SessionRuntime", "Sink"]
