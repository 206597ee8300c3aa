"""The beta -> GA table (reference section 3.3 "Drift table"), and the findings it gives on recorded traffic.

`TABLE` has one `Rule` per rename or moved field: transport and endpoints, event renames (client and
server), session fields, `response.create` fields, item content types and audio format strings.
`beta_findings(cassette)` reads the cassette's CLIENT traffic (frames, HTTP legs and their headers) for
beta shapes, and its server traffic for event names only a beta server sends; each finding names the
GA replacement ("client sent session.update with session.modalities: in GA use
session.output_modalities"). `migration_report(cassettes)` groups and counts them: what an app's
recorded beta traffic must change for GA (`realtime-mock migrate`).

Not detectable from a cassette: an `OpenAI-Beta` header on a WebSocket upgrade that succeeded (the
cassette header keeps no request headers); it shows as the live server's `beta_api_shape_disabled`
error, which is reported, and as the beta shapes of the traffic itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from conformance.cassette import Cassette
from conformance.findings import Finding
from mockserver.beta import EVENT_RENAMES

FORMATS = {"pcm16": {"type": "audio/pcm", "rate": 24000}, "g711_ulaw": {"type": "audio/pcmu"},
           "g711_alaw": {"type": "audio/pcma"}}
TOOL_CHOICES = ("auto", "none", "required")


@dataclass(frozen=True)
class Rule:
    key: str  # stable id, e.g. "session.modalities"
    section: str
    beta: str  # the beta shape
    ga: str  # its GA replacement
    note: str = ""


SECTIONS = ("Transport and endpoints", "Client events", "Server events", "Session fields", "response.create",
            "Conversation items", "Audio formats")

TABLE: tuple[Rule, ...] = (
    # Transport / endpoints
    Rule("header.openai-beta", "Transport and endpoints", "the `OpenAI-Beta: realtime=v1` header (browser "
         "sub-protocol `openai-beta.realtime-v1`)", "no header: GA servers answer it with `beta_api_shape_disabled` "
         "and close 4000"),
    Rule("rest.sessions", "Transport and endpoints", "POST /v1/realtime/sessions (ephemeral key in "
         "`.client_secret.value`, 1 minute)", "POST /v1/realtime/client_secrets with `session: {type: \"realtime\", "
         "...}` (key in `.value`, with `.expires_at`; `expires_after.seconds` 10-7200, default 600)"),
    Rule("rest.transcription_sessions", "Transport and endpoints", "POST /v1/realtime/transcription_sessions",
         "POST /v1/realtime/client_secrets with `session: {type: \"transcription\", ...}`"),
    Rule("rest.webrtc_sdp", "Transport and endpoints", "WebRTC SDP offer to POST /v1/realtime?model=...",
         "POST /v1/realtime/calls (raw SDP with an `ek_` key, or multipart `sdp` + `session` with an API key); "
         "201 with the call id in `Location`"),
    # Client events
    Rule("event.transcription_session.update", "Client events", "client event `transcription_session.update`",
         "`session.update` with `session.type: \"transcription\"` (GA answers the beta event with `invalid_value`)"),
    # Server events
    Rule("event.response.text", "Server events", "`response.text.delta` / `response.text.done`",
         "`response.output_text.delta` / `response.output_text.done`"),
    Rule("event.response.audio", "Server events", "`response.audio.delta` / `response.audio.done`",
         "`response.output_audio.delta` / `response.output_audio.done`"),
    Rule("event.response.audio_transcript", "Server events", "`response.audio_transcript.delta` / `.done`",
         "`response.output_audio_transcript.delta` / `.done`"),
    Rule("event.conversation.item.created", "Server events", "`conversation.item.created` (one event per item)",
         "`conversation.item.added` (the item enters the conversation; model items `in_progress` with empty "
         "content) and `conversation.item.done` (finalised)"),
    Rule("event.transcription_session.created", "Server events", "`transcription_session.created` / "
         "`transcription_session.updated`", "`session.created` / `session.updated` with session `type: "
         "\"transcription\"`, `object: \"realtime.transcription_session\"`"),
    # Session fields
    Rule("session.type", "Session fields", "a session without `type`", "`session.type` is required: \"realtime\" "
         "or \"transcription\" (omitted: `missing_required_parameter` `session.type`)"),
    Rule("session.modalities", "Session fields", "`session.modalities` ([\"text\", \"audio\"] by default)",
         "`session.output_modalities`: [\"audio\"] (default) or [\"text\"], not both"),
    Rule("session.voice", "Session fields", "`session.voice`", "`session.audio.output.voice`"),
    Rule("session.input_audio_format", "Session fields", "`session.input_audio_format` (a string)",
         "`session.audio.input.format` (an object: {type: \"audio/pcm\", rate: 24000} | {type: \"audio/pcmu\"} | "
         "{type: \"audio/pcma\"})"),
    Rule("session.output_audio_format", "Session fields", "`session.output_audio_format` (a string)",
         "`session.audio.output.format` (an object, as for input)"),
    Rule("session.input_audio_transcription", "Session fields", "`session.input_audio_transcription`",
         "`session.audio.input.transcription` ({model, language, prompt} and GA's languages, keywords, delay)"),
    Rule("session.input_audio_noise_reduction", "Session fields", "`session.input_audio_noise_reduction`",
         "`session.audio.input.noise_reduction` ({type, strength})"),
    Rule("session.turn_detection", "Session fields", "`session.turn_detection`",
         "`session.audio.input.turn_detection` (top level: `Unknown parameter: 'session.turn_detection'`)"),
    Rule("session.speed", "Session fields", "`session.speed`", "`session.audio.output.speed`"),
    Rule("session.max_response_output_tokens", "Session fields", "`session.max_response_output_tokens`",
         "`session.max_output_tokens`"),
    Rule("session.temperature", "Session fields", "`session.temperature`", "nothing: GA has no temperature; remove it"),
    Rule("session.tool_choice", "Session fields", "`session.tool_choice` as a function's name",
         "\"none\" | \"auto\" | \"required\" or `{type: \"function\", name}` / `{type: \"mcp\", server_label, name}`"),
    Rule("session.client_secret", "Session fields", "`session.client_secret`",
         "top-level `expires_after` on POST /v1/realtime/client_secrets"),
    # response.create
    Rule("response.modalities", "response.create", "`response.modalities`", "`response.output_modalities`"),
    Rule("response.voice", "response.create", "`response.voice`", "`response.audio.output.voice`"),
    Rule("response.output_audio_format", "response.create", "`response.output_audio_format` (a string)",
         "`response.audio.output.format` (an object)"),
    Rule("response.max_response_output_tokens", "response.create", "`response.max_response_output_tokens`",
         "`response.max_output_tokens`"),
    Rule("response.temperature", "response.create", "`response.temperature`",
         "nothing: GA has no temperature; remove it"),
    Rule("response.tool_choice", "response.create", "`response.tool_choice` as a function's name",
         "`{type: \"function\", name}`"),
    # Items
    Rule("content.text", "Conversation items", "assistant content `{type: \"text\", text}`",
         "`{type: \"output_text\", text}`"),
    Rule("content.audio", "Conversation items", "assistant content `{type: \"audio\", audio, transcript}`",
         "`{type: \"output_audio\", audio, transcript}`"),
    Rule("content.item_reference", "Conversation items", "content part `{type: \"item_reference\", id}`",
         "an input item `{type: \"item_reference\", id}` in `response.input` (item level only)"),
    # Audio formats
    Rule("format.string", "Audio formats", "an audio format string (`pcm16`, `g711_ulaw`, `g711_alaw`)",
         "a format object: `pcm16` -> {type: \"audio/pcm\", rate: 24000}, `g711_ulaw` -> {type: \"audio/pcmu\"}, "
         "`g711_alaw` -> {type: \"audio/pcma\"}"),
)
RULES = {rule.key: rule for rule in TABLE}

# Event renames, both ways: the server events the beta shim renames (`conversation.item.created` is
# `conversation.item.added`, and `conversation.item.done` when final), and the transcription session's.
BETA_TO_GA_EVENTS = {
    **{beta_name: ga for ga, beta_name in EVENT_RENAMES.items()},
    "transcription_session.update": "session.update",
    "transcription_session.created": "session.created",
    "transcription_session.updated": "session.updated",
}
GA_TO_BETA_EVENTS = {ga: beta for beta, ga in BETA_TO_GA_EVENTS.items()}
_SERVER_EVENT_RULES = {
    "response.text.delta": "event.response.text", "response.text.done": "event.response.text",
    "response.audio.delta": "event.response.audio", "response.audio.done": "event.response.audio",
    "response.audio_transcript.delta": "event.response.audio_transcript",
    "response.audio_transcript.done": "event.response.audio_transcript",
    "conversation.item.created": "event.conversation.item.created",
    "transcription_session.created": "event.transcription_session.created",
    "transcription_session.updated": "event.transcription_session.created",
}
BETA_SERVER_EVENTS = frozenset(_SERVER_EVENT_RULES)

# Flat beta session fields -> where GA has them.
SESSION_MOVES = {
    "modalities": "session.output_modalities",
    "voice": "session.audio.output.voice",
    "input_audio_format": "session.audio.input.format",
    "output_audio_format": "session.audio.output.format",
    "input_audio_transcription": "session.audio.input.transcription",
    "input_audio_noise_reduction": "session.audio.input.noise_reduction",
    "turn_detection": "session.audio.input.turn_detection",
    "speed": "session.audio.output.speed",
    "max_response_output_tokens": "session.max_output_tokens",
    "temperature": "nothing (removed in GA)",
    "client_secret": "top-level expires_after on POST /v1/realtime/client_secrets",
}
RESPONSE_MOVES = {
    "modalities": "response.output_modalities",
    "voice": "response.audio.output.voice",
    "output_audio_format": "response.audio.output.format",
    "max_response_output_tokens": "response.max_output_tokens",
    "temperature": "nothing (removed in GA)",
}
BETA_PATHS = {"/v1/realtime/sessions": "rest.sessions", "/v1/realtime/transcription_sessions":
              "rest.transcription_sessions"}


def ga_format(value: str) -> str:
    """The GA format object for a beta format string, as JSON."""
    return json.dumps(FORMATS[value]) if value in FORMATS else "a format object"


def _code(event: dict[str, Any]) -> Any:
    error = event.get("error")
    return error.get("code") if isinstance(error, dict) else None


class _Finder:
    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette
        self.found: list[Finding] = []

    def add(self, rule: str, message: str, event: str | None, index: int | None, path: str = "$",
            recorded: str | None = None, side: str = "recorded") -> None:
        self.found.append(Finding(self.cassette.name, "beta", message, event=event, index=index, path=path,
                                  recorded=recorded, target=RULES[rule].ga, side=side, rule=rule))

    def frames(self) -> None:
        for index, frame in enumerate(self.cassette.frames):
            event_type = frame.event.get("type")
            if not isinstance(event_type, str):
                continue
            if frame.direction == "client":
                self.client(frame.event, event_type, index)
            elif event_type in _SERVER_EVENT_RULES:
                rule = _SERVER_EVENT_RULES[event_type]
                ga = BETA_TO_GA_EVENTS[event_type]
                extra = " and conversation.item.done" if event_type == "conversation.item.created" else ""
                self.add(rule, f"server sent {event_type}: the GA server sends {ga}{extra}", event_type, index,
                         recorded=event_type, side="recorded")
            elif event_type == "error" and _code(frame.event) == "beta_api_shape_disabled":
                self.add("header.openai-beta", "server refused the beta interface (beta_api_shape_disabled): the "
                         "client sent the OpenAI-Beta: realtime=v1 header; in GA send no OpenAI-Beta header",
                         event_type, index, "$.error.code", "beta_api_shape_disabled")

    def client(self, event: dict[str, Any], event_type: str, index: int) -> None:
        session = event.get("session")
        if event_type == "transcription_session.update":
            self.add("event.transcription_session.update", "client sent transcription_session.update: in GA use "
                     "session.update with session.type \"transcription\"", event_type, index, "$.type", event_type)
            if isinstance(session, dict):
                self.session(session, event_type, index, "$.session", needs_type=False, transcription=True)
        elif event_type == "session.update" and isinstance(session, dict):
            self.session(session, event_type, index, "$.session", needs_type=True)
        elif event_type == "response.create" and isinstance(event.get("response"), dict):
            self.response(event["response"], event_type, index)
        elif event_type == "conversation.item.create" and isinstance(event.get("item"), dict):
            self.item(event["item"], event_type, index, "$.item")

    def session(self, session: dict[str, Any], label: str, index: int | None, path: str, needs_type: bool,
                prefix: str = "session.", transcription: bool = False) -> None:
        """A beta session object: `session` of an event (prefix `session.`), or a beta REST body (prefix "")."""
        if needs_type and "type" not in session:
            self.add("session.type", f"client sent {label} with a session without type: in GA session.type is "
                     "required (\"realtime\" or \"transcription\")", label, index, f"{path}.type", "absent")
        for field, ga in SESSION_MOVES.items():
            if field not in session:
                continue
            value, name = session[field], f"{prefix}{field}"
            if field in ("input_audio_format", "output_audio_format"):
                text = (f"client sent {label} with {name}: {json.dumps(value)}: in GA use {ga}: "
                        f"{ga_format(value) if isinstance(value, str) else 'a format object'}")
            elif field == "temperature":
                text = f"client sent {label} with {name}: GA has no temperature; remove it"
            elif field == "modalities" and transcription:
                text = f"client sent {label} with {name}: a GA transcription session has no modalities; remove it"
            elif field == "client_secret":
                text = (f"client sent {label} with {name}: in GA use the top-level expires_after of "
                        "POST /v1/realtime/client_secrets")
            else:
                text = f"client sent {label} with {name}: in GA use {ga}"
                if field == "modalities" and isinstance(value, list) and {"text", "audio"} <= set(value):
                    text += " ([\"audio\"]: GA does not allow both; audio responses carry a transcript)"
            self.add(f"session.{field}", text, label, index, f"{path}.{field}", json.dumps(value))
        choice = session.get("tool_choice")
        if isinstance(choice, str) and choice not in TOOL_CHOICES:
            self.add("session.tool_choice", f"client sent {label} with {prefix}tool_choice {json.dumps(choice)}: in "
                     f"GA use {{\"type\": \"function\", \"name\": {json.dumps(choice)}}}", label, index,
                     f"{path}.tool_choice", json.dumps(choice))
        self.format_strings(session.get("audio"), label, index, f"{path}.audio", prefix.rstrip(".") or "session")

    def format_strings(self, audio: Any, label: str, index: int | None, path: str, owner: str) -> None:
        """GA-shaped `audio.{input,output}.format` still holding a beta string."""
        if not isinstance(audio, dict):
            return
        for direction in ("input", "output"):
            value = (audio.get(direction) or {}).get("format") if isinstance(audio.get(direction), dict) else None
            if isinstance(value, str):
                self.add("format.string", f"client sent {label} with {owner}.audio.{direction}.format "
                         f"{json.dumps(value)}: in GA use {ga_format(value)}", label, index,
                         f"{path}.{direction}.format", json.dumps(value))

    def response(self, response: dict[str, Any], label: str, index: int) -> None:
        for field, ga in RESPONSE_MOVES.items():
            if field not in response:
                continue
            value = response[field]
            if field == "temperature":
                text = f"client sent {label} with response.temperature: GA has no temperature; remove it"
            elif field == "output_audio_format":
                text = (f"client sent {label} with response.output_audio_format: {json.dumps(value)}: in GA use "
                        f"{ga}: {ga_format(value) if isinstance(value, str) else 'a format object'}")
            else:
                text = f"client sent {label} with response.{field}: in GA use {ga}"
            self.add(f"response.{field}", text, label, index, f"$.response.{field}", json.dumps(value))
        choice = response.get("tool_choice")
        if isinstance(choice, str) and choice not in TOOL_CHOICES:
            self.add("response.tool_choice", f"client sent {label} with response.tool_choice {json.dumps(choice)}: "
                     f"in GA use {{\"type\": \"function\", \"name\": {json.dumps(choice)}}}", label, index,
                     "$.response.tool_choice", json.dumps(choice))
        self.format_strings(response.get("audio"), label, index, "$.response.audio", "response")
        for number, item in enumerate(response.get("input") or ()):
            if isinstance(item, dict):
                self.item(item, label, index, f"$.response.input[{number}]")

    def item(self, item: dict[str, Any], label: str, index: int, path: str) -> None:
        for number, part in enumerate(item.get("content") or ()):
            if not isinstance(part, dict):
                continue
            kind, where = part.get("type"), f"{path}.content[{number}].type"
            if kind in ("text", "audio") and item.get("role") == "assistant":
                ga = f"output_{kind}"
                self.add(f"content.{kind}", f"client sent {label} with assistant content type \"{kind}\": in GA use "
                         f"\"{ga}\"", label, index, where, json.dumps(kind))
            elif kind == "item_reference":
                self.add("content.item_reference", f"client sent {label} with a content part of type "
                         "\"item_reference\": in GA put {\"type\": \"item_reference\", \"id\": ...} in "
                         "response.input as an item", label, index, where, json.dumps(kind))

    def http(self) -> None:
        for leg in self.cassette.http:
            path = leg.path.split("?", 1)[0]
            label = f"{leg.method} {path}"
            headers = {k.lower(): v for k, v in leg.request_headers.items()}
            beta_header = headers.get("openai-beta", "").startswith("realtime") or "openai-beta.realtime-v1" in \
                headers.get("sec-websocket-protocol", "")
            if beta_header:
                self.add("header.openai-beta", f"client sent {label} with the OpenAI-Beta: realtime=v1 header: in GA "
                         "send no OpenAI-Beta header", label, None, "$", headers.get("openai-beta", "openai-beta"))
            if path in BETA_PATHS:
                rule = BETA_PATHS[path]
                kind = "transcription" if rule == "rest.transcription_sessions" else "realtime"
                self.add(rule, f"client called {label}: in GA use POST /v1/realtime/client_secrets with session.type "
                         f"\"{kind}\"", label, None, "$", label)
                if isinstance(leg.request, dict):
                    self.session(leg.request, label, None, "$", needs_type=False, prefix="",
                                 transcription=kind == "transcription")
            elif leg.method == "POST" and path == "/v1/realtime":
                self.add("rest.webrtc_sdp", f"client called {label} with an SDP offer: in GA use POST "
                         "/v1/realtime/calls", label, None, "$", label)


def beta_findings(cassette: Cassette) -> list[Finding]:
    """A finding per beta shape in the cassette's traffic, each naming its GA replacement."""
    finder = _Finder(cassette)
    finder.http()
    if "translations" not in cassette.endpoint:  # translation sessions never had a beta shape
        finder.frames()
    return finder.found


def migration_report(cassettes: Iterable[Cassette]) -> str:
    """What the recorded beta traffic must change for GA: by section, one entry per row of the table with how
    often and where it was seen, and under it each distinct occurrence (deduplicated, counted)."""
    cassettes = list(cassettes)
    by_rule: dict[str, list[Finding]] = {}
    for cassette in cassettes:
        for finding in beta_findings(cassette):
            by_rule.setdefault(finding.rule or "", []).append(finding)
    total = sum(len(found) for found in by_rule.values())
    lines = [f"Migration report: {len(cassettes)} cassette(s), {len(by_rule)} change(s) for GA "
             f"({total} occurrence(s) of beta shapes)"]
    if not by_rule:
        lines += ["", "No beta shapes found: this traffic is already in the GA shape."]
        return "\n".join(lines) + "\n"
    for section in SECTIONS:
        entries = sorted(((key, found) for key, found in by_rule.items() if RULES[key].section == section),
                         key=lambda entry: (-len(entry[1]), entry[0]))
        if not entries:
            continue
        lines += ["", f"## {section}", ""]
        for key, found in entries:
            rule = RULES[key]
            lines.append(f"- {rule.beta} -> GA: {rule.ga} ({_seen(found)})")
            messages: dict[str, list[Finding]] = {}
            for finding in found:
                messages.setdefault(finding.message, []).append(finding)
            lines += [f"  - {message} ({_seen(same)})" for message, same in messages.items()]
    return "\n".join(lines) + "\n"


def _seen(found: list[Finding]) -> str:
    return f"{len(found)}x in {', '.join(sorted({f.cassette for f in found}))}"
