"""Generate `schemas/` from the official SDK's types (`realtime-mock schemas generate|check`).

The SDK (`openai`, pinned in `SDK_VERSION`) is generated from OpenAI's spec; its pydantic models
(server payloads) and TypedDicts (what a client sends) are the most exact machine-readable
statement of the wire shapes that we can pin. We turn each into a JSON Schema with pydantic, one
file per event type plus one file per union, and record the SDK version and a hash of every file
in `manifest.json`. `check` regenerates into a temporary folder and diffs, so that a new SDK shows
up as a reviewable diff rather than as silent drift.

Only this module imports `openai`; the server reads the committed files.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import tempfile
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SDK_VERSION = "3.51.0"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class EventFamily:
    """A union of event types in the SDK; one schema file per member plus one for the union."""

    folder: str  # under schemas/
    module: str
    union: str
    request: bool  # True for what a client sends (TypedDicts): closed objects
    # (module, name) of wider types the SDK's `send()` also accepts; each replaces the member of its type.
    wider: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Body:
    """A single REST body or webhook payload."""

    path: str  # under schemas/, without .json
    module: str
    name: str
    request: bool
    # A multipart body: these fields are uploaded files, which the mock validates as their file names (a string).
    uploads: tuple[str, ...] = ()
    # The SDK splits the body into a streaming and a non-streaming TypedDict (`stream: Literal[True]` or
    # `Optional[Literal[False]]`); the schema is of their shared base with `stream: Optional[bool]`.
    stream: bool = False


EVENT_FAMILIES: tuple[EventFamily, ...] = (
    EventFamily("realtime/client", "openai.types.realtime.realtime_client_event_param",
                "RealtimeClientEventParam", request=True,
                # `RealtimeConnection.send` takes `RealtimeClientEventParam | ResponseCreateEventWithReferencesParam`:
                # `response.input` may hold `{"type": "item_reference", "id": ...}`.
                wider=(("openai.types.realtime.response_create_event_with_references_param",
                        "ResponseCreateEventWithReferencesParam"),)),
    EventFamily("realtime/server", "openai.types.realtime.realtime_server_event",
                "RealtimeServerEvent", request=False),
    EventFamily("translation/client", "openai.types.realtime.realtime_translation_client_event_param",
                "RealtimeTranslationClientEventParam", request=True),
    EventFamily("translation/server", "openai.types.realtime.realtime_translation_server_event",
                "RealtimeTranslationServerEvent", request=False),
    EventFamily("beta/client", "openai.types.beta.realtime.realtime_client_event_param",
                "RealtimeClientEventParam", request=True),
    EventFamily("beta/server", "openai.types.beta.realtime.realtime_server_event",
                "RealtimeServerEvent", request=False),
)

_RT = "openai.types.realtime"
_AUDIO = "openai.types.audio"
BODIES: tuple[Body, ...] = (
    Body("rest/client_secrets.request", f"{_RT}.client_secret_create_params",
         "ClientSecretCreateParams", request=True),
    Body("rest/client_secrets.response", f"{_RT}.client_secret_create_response",
         "ClientSecretCreateResponse", request=False),
    Body("rest/translations.client_secrets.request", f"{_RT}.translations.client_secret_create_params",
         "ClientSecretCreateParams", request=True),
    Body("rest/translations.client_secrets.response",
         f"{_RT}.realtime_translation_client_secret_create_response",
         "RealtimeTranslationClientSecretCreateResponse", request=False),
    Body("rest/calls.create.request", f"{_RT}.call_create_params", "CallCreateParams", request=True),
    Body("rest/calls.accept.request", f"{_RT}.call_accept_params", "CallAcceptParams", request=True),
    Body("rest/calls.reject.request", f"{_RT}.call_reject_params", "CallRejectParams", request=True),
    Body("rest/calls.refer.request", f"{_RT}.call_refer_params", "CallReferParams", request=True),
    Body("rest/beta.sessions.request", "openai.types.beta.realtime.session_create_params",
         "SessionCreateParams", request=True),
    Body("rest/beta.sessions.response", "openai.types.beta.realtime.session_create_response",
         "SessionCreateResponse", request=False),
    Body("rest/beta.transcription_sessions.request",
         "openai.types.beta.realtime.transcription_session_create_params",
         "TranscriptionSessionCreateParams", request=True),
    Body("rest/beta.transcription_sessions.response", "openai.types.beta.realtime.transcription_session",
         "TranscriptionSession", request=False),
    Body("rest/audio.speech.request", f"{_AUDIO}.speech_create_params", "SpeechCreateParams", request=True),
    Body("rest/audio.transcriptions.request", f"{_AUDIO}.transcription_create_params",
         "TranscriptionCreateParamsBase", request=True, uploads=("file",), stream=True),
    Body("rest/audio.transcriptions.response", f"{_AUDIO}.transcription_create_response",
         "TranscriptionCreateResponse", request=False),
    Body("rest/audio.transcriptions.stream_event", f"{_AUDIO}.transcription_stream_event",
         "TranscriptionStreamEvent", request=False),
    Body("rest/audio.translations.request", f"{_AUDIO}.translation_create_params", "TranslationCreateParams",
         request=True, uploads=("file",)),
    Body("rest/audio.translations.response", f"{_AUDIO}.translation_create_response",
         "TranslationCreateResponse", request=False),
    Body("rest/chat.completions.request", "openai.types.chat.completion_create_params",
         "CompletionCreateParamsBase", request=True, stream=True),
    Body("rest/chat.completions.response", "openai.types.chat.chat_completion", "ChatCompletion", request=False),
    Body("rest/chat.completions.chunk", "openai.types.chat.chat_completion_chunk", "ChatCompletionChunk",
         request=False),
    Body("webhooks/realtime.call.incoming", "openai.types.webhooks.realtime_call_incoming_webhook_event",
         "RealtimeCallIncomingWebhookEvent", request=False),
)


class SdkMismatch(RuntimeError):
    """The installed SDK is not the pinned one, or is missing."""


def _require_sdk() -> None:
    try:
        import openai
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SdkMismatch(
            f"the official SDK is not installed: pip install 'openai=={SDK_VERSION}' "
            "(or pip install 'realtime-mock[sdk]')"
        ) from exc
    if openai.__version__ != SDK_VERSION:
        raise SdkMismatch(
            f"schemas are generated from openai=={SDK_VERSION}, but openai=={openai.__version__} is "
            f"installed; pip install 'openai=={SDK_VERSION}' (or bump SDK_VERSION to regenerate)"
        )


def _members(union: Any) -> list[Any]:
    """The member types of an SDK union (possibly wrapped in `Annotated`)."""
    if typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    return list(typing.get_args(union))


def _event_type(schema: dict[str, Any]) -> str:
    """The literal `type` of one event, read from its generated schema."""
    return str(schema["properties"]["type"]["const"])


def _close_objects(node: Any) -> None:
    """Mark every object schema with named properties as closed.

    A TypedDict admits no keys beyond those it declares, and the live API answers an unknown
    key with `unknown_parameter`; pydantic leaves `additionalProperties` unset for TypedDicts.
    Maps such as `metadata` (no `properties`) keep their own `additionalProperties`.
    """
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


def _schema_of(tp: Any, request: bool, title: str) -> dict[str, Any]:
    from pydantic import TypeAdapter

    body: dict[str, Any] = TypeAdapter(tp).json_schema(mode="validation")
    if request:
        _close_objects(body)
    body["title"] = title
    return {"$schema": JSON_SCHEMA_DIALECT, **body}


def _body_type(tp: Any, body: Body) -> Any:
    """The SDK's type of a body, with uploads as their file names and `stream` as a boolean (Body says when)."""
    if not body.uploads and not body.stream:
        return tp
    from typing import NotRequired, Required

    from typing_extensions import TypedDict

    fields = typing.get_type_hints(tp, include_extras=True)
    for name in body.uploads:
        fields[name] = Required[str]
    if body.stream:
        fields["stream"] = NotRequired[typing.Optional[bool]]  # noqa: UP045 - a run-time type for pydantic
    shaped: Any = TypedDict(tp.__name__, fields, total=False)  # type: ignore[misc]
    shaped.__doc__ = tp.__doc__
    return shaped


def _render(schema: dict[str, Any]) -> bytes:
    return (json.dumps(schema, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def build() -> dict[str, bytes]:
    """Every schema file as relative path -> bytes, manifest included."""
    _require_sdk()
    files: dict[str, bytes] = {}
    families: dict[str, list[str]] = {}
    for family in EVENT_FAMILIES:
        union = getattr(importlib.import_module(family.module), family.union)
        members = _members(union)
        for module, name in family.wider:
            wide = getattr(importlib.import_module(module), name)
            wide_type = _event_type(_schema_of(wide, family.request, ""))
            members = [wide if _event_type(_schema_of(m, family.request, "")) == wide_type else m for m in members]
        union = typing.Union[tuple(members)]  # noqa: UP007 - built at run time from the SDK's members
        types: list[str] = []
        for member in members:
            schema = _schema_of(member, family.request, "")
            event_type = _event_type(schema)
            if event_type in types:
                raise ValueError(f"{family.folder}: event type {event_type!r} appears twice")
            types.append(event_type)
            schema["title"] = event_type
            files[f"{family.folder}/{event_type}.json"] = _render(schema)
        files[f"{family.folder}/_union.json"] = _render(
            _schema_of(union, family.request, f"{family.folder} events"))
        families[family.folder] = types
    for item in BODIES:
        tp = _body_type(getattr(importlib.import_module(item.module), item.name), item)
        files[f"{item.path}.json"] = _render(_schema_of(tp, item.request, item.path.split("/")[-1]))
    manifest = {
        "generator": "realtime-mock schemas generate (mockserver/schemagen.py)",
        "sdk": {"package": "openai", "version": SDK_VERSION},
        "closed_request_objects": "request schemas (client events, REST requests) forbid unknown keys",
        "families": families,
        "files": {path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())},
    }
    files["manifest.json"] = _render(manifest)
    return files


def write(target: Path) -> list[str]:
    """Regenerate `target` in place: write every file, remove stale ones. Returns paths written."""
    files = build()
    for stale in sorted(target.rglob("*.json")):
        if stale.relative_to(target).as_posix() not in files:
            stale.unlink()
    for path, data in files.items():
        out = target / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    return sorted(files)


def diff(committed: Path) -> Iterator[str]:
    """Regenerate into a temporary folder and yield one unified diff (or notice) per difference."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        write(fresh)
        new = {p.relative_to(fresh).as_posix() for p in fresh.rglob("*.json")}
        old = {p.relative_to(committed).as_posix() for p in committed.rglob("*.json")}
        for path in sorted(old - new):
            yield f"only in {committed}: {path} (the SDK no longer has it)\n"
        for path in sorted(new - old):
            yield f"missing from {committed}: {path} (new in the SDK)\n"
        for path in sorted(old & new):
            a = (committed / path).read_text("utf-8").splitlines(keepends=True)
            b = (fresh / path).read_text("utf-8").splitlines(keepends=True)
            if a != b:
                yield "".join(difflib.unified_diff(a, b, f"committed/{path}", f"generated/{path}"))
