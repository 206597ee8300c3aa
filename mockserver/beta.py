"""The retired beta interface (`OpenAI-Beta: realtime=v1`) as a translation layer over the GA session.

`ServerConfig.beta = "shim"` serves apps not yet migrated off the beta interface: their connection
gets a `BetaSession`, a sans-I/O wrapper (no sockets, no wall clock, like `Session`) around an
ordinary GA `Session`. Beta client events are validated with the beta schemas, translated to GA
events and fed to the GA session; what it produces is translated back to beta events. There is one
implementation of the protocol (the GA core); this module only maps between the two shapes, along
the drift table of the reference (section 3.3):

* events: `response.output_text.*` -> `response.text.*`, `response.output_audio.*` ->
  `response.audio.*`, `response.output_audio_transcript.*` -> `response.audio_transcript.*`;
  `conversation.item.added` -> `conversation.item.created` (beta emitted one event per item, "by
  convention at the start": model items arrive `in_progress` with empty content, as with `added`),
  `conversation.item.done` is dropped; GA-only events (MCP, timeouts, DTMF, segments) are dropped.
* the session: flat beta fields (`modalities`, `voice`, `input_audio_format: "pcm16"`, ...) <->
  the GA nested ones (`output_modalities`, `audio.output.voice`, `audio.input.format: {...}`, ...).
  `temperature` no longer exists in GA: it is accepted, checked (0.6-1.2), echoed back and ignored.
* items: assistant content `text`/`audio` <-> `output_text`/`output_audio`; items carry
  `object: "realtime.item"` as beta items did; MCP items do not exist in beta and are left out.
* responses: `modalities`/`voice`/`output_audio_format`/`temperature` <-> `output_modalities`/
  `audio.output`; usage loses the GA-only `image_tokens` and `cached_tokens_details`.

Deliberate leniency beyond the SDK's beta types: `turn_detection: null` and `tracing: null` are
accepted in `session.update` (the SDK documents both as "can be set to null"; its generated types
do not allow it), because push-to-talk beta apps send the first.
"""

from __future__ import annotations

import copy
import json
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

from mockserver import schema_store
from mockserver.protocol import errors
from mockserver.protocol.clock import Clock
from mockserver.protocol.errors import ApiError
from mockserver.protocol.realtime import RealtimeSession
from mockserver.protocol.session import Close
from mockserver.protocol.session_config import transcription_update_on_realtime
from mockserver.protocol.validation import EventValidator

MODES = ("reject", "shim")  # ServerConfig.beta (and `realtime-mock serve --beta`)
DEFAULT_MODEL = "gpt-4o-realtime-preview"  # what beta REST sessions get when the request names none
DEFAULT_TEMPERATURE = 0.8  # the beta default ("0.8 is highly recommended" [SDK beta Session])
TEMPERATURE_RANGE = (0.6, 1.2)  # "limited to [0.6, 1.2]" [SDK beta Session]


def validator() -> EventValidator:
    """The beta client events, each against its beta schema."""
    return schema_store.schemas().validator({t: f"beta/client/{t}" for t in schema_store.event_types("beta/client")})


def _beta_models() -> tuple[str, ...]:
    model = schema_store.load("beta/server/session.created")["$defs"]["Session"]["properties"]["model"]
    return tuple(next(branch["enum"] for branch in model["anyOf"] if "enum" in branch))


# The models the beta interface names (SDK beta `Session.model`); others are refused at the handshake,
# since a beta session object could not name them.
BETA_MODELS = _beta_models()

# -- the drift table (reference 3.3), as data -------------------------------------------------------

EVENT_RENAMES: dict[str, str] = {  # GA server event -> beta server event
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "conversation.item.added": "conversation.item.created",
}
# GA server events with no beta counterpart: never sent on a beta connection.
DROPPED: frozenset[str] = frozenset({
    "conversation.item.done",  # beta announced an item once (conversation.item.created, from `added`)
    "input_audio_buffer.timeout_triggered", "input_audio_buffer.dtmf_event_received",
    "conversation.item.input_audio_transcription.segment",
    "mcp_list_tools.in_progress", "mcp_list_tools.completed", "mcp_list_tools.failed",
    "response.mcp_call_arguments.delta", "response.mcp_call_arguments.done",
    "response.mcp_call.in_progress", "response.mcp_call.completed", "response.mcp_call.failed",
})
# Fields GA added to events beta shares with it (the beta client never saw them).
_GA_ONLY_FIELDS = ("obfuscation", "languages")

FORMATS_TO_GA: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
FORMATS_TO_BETA: dict[str, str] = {ga["type"]: beta for beta, ga in FORMATS_TO_GA.items()}

CONTENT_TO_GA = {"text": "output_text", "audio": "output_audio"}  # assistant content only
CONTENT_TO_BETA = {ga: beta for beta, ga in CONTENT_TO_GA.items()}
_BETA_CONTENT_TYPES = ("input_text", "input_audio", "item_reference", "text", "audio")
_BETA_ITEM_TYPES = ("message", "function_call", "function_call_output")

_VAD_KEYS = {
    "server_vad": ("type", "threshold", "prefix_padding_ms", "silence_duration_ms", "create_response",
                   "interrupt_response"),
    "semantic_vad": ("type", "eagerness", "create_response", "interrupt_response"),
}
_TOOL_CHOICE_MODES = ("auto", "none", "required")

# GA params in errors of translated events -> the beta names the client used (longest first).
PARAMS_TO_BETA: tuple[tuple[str, str], ...] = (
    ("session.audio.input.format", "session.input_audio_format"),
    ("session.audio.input.transcription", "session.input_audio_transcription"),
    ("session.audio.input.noise_reduction", "session.input_audio_noise_reduction"),
    ("session.audio.input.turn_detection", "session.turn_detection"),
    ("session.audio.output.format", "session.output_audio_format"),
    ("session.audio.output.voice", "session.voice"),
    ("session.audio.output.speed", "session.speed"),
    ("session.output_modalities", "session.modalities"),
    ("session.max_output_tokens", "session.max_response_output_tokens"),
    ("response.audio.output.format", "response.output_audio_format"),
    ("response.audio.output.voice", "response.voice"),
    ("response.output_modalities", "response.modalities"),
    ("response.max_output_tokens", "response.max_response_output_tokens"),
)

# Fields beta documents as "can be set to null" that its generated types do not allow (see above).
_NULLABLE_SESSION_FIELDS = ("turn_detection", "tracing")


# -- beta -> GA (client events) -----------------------------------------------------------------------

def modalities_to_ga(modalities: list[str]) -> list[str]:
    """Beta `["text", "audio"]` (audio with its transcript) is GA `["audio"]`; `["text"]` stays."""
    return ["audio"] if "audio" in modalities else ["text"]


def tool_choice_to_ga(choice: str) -> str | dict[str, Any]:
    """Beta `tool_choice` is a string: a mode, or the name of the function to call."""
    return choice if choice in _TOOL_CHOICE_MODES else {"type": "function", "name": choice}


def tools_to_ga(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "function", **{k: v for k, v in tool.items() if k != "type"}} for tool in tools]


def turn_detection_to_ga(given: dict[str, Any] | None) -> dict[str, Any] | None:
    """Beta took every VAD key whatever the type ("used only for server_vad mode"); GA allows only its own."""
    if given is None:
        return None
    kind = given.get("type", "server_vad")
    return {"type": kind, **{k: v for k, v in given.items() if k in _VAD_KEYS[kind] and k != "type"}}


def session_to_ga(session: dict[str, Any]) -> dict[str, Any]:
    """The GA `session` of a (valid) beta `session.update`; `temperature` and `client_secret` have no GA field."""
    out: dict[str, Any] = {"type": "realtime"}
    audio_in: dict[str, Any] = {}
    audio_out: dict[str, Any] = {}
    for key, value in session.items():
        if key == "modalities":
            out["output_modalities"] = modalities_to_ga(value)
        elif key == "voice":
            audio_out["voice"] = value
        elif key == "speed":
            audio_out["speed"] = value
        elif key == "output_audio_format":
            audio_out["format"] = dict(FORMATS_TO_GA[value])
        elif key == "input_audio_format":
            audio_in["format"] = dict(FORMATS_TO_GA[value])
        elif key == "input_audio_transcription":
            audio_in["transcription"] = copy.deepcopy(value)
        elif key == "input_audio_noise_reduction":
            audio_in["noise_reduction"] = copy.deepcopy(value)
        elif key == "turn_detection":
            audio_in["turn_detection"] = turn_detection_to_ga(value)
        elif key == "max_response_output_tokens":
            out["max_output_tokens"] = value
        elif key == "tool_choice":
            out["tool_choice"] = tool_choice_to_ga(value)
        elif key == "tools":
            out["tools"] = tools_to_ga(value)
        elif key in ("instructions", "tracing", "model"):
            out[key] = copy.deepcopy(value)
        # temperature: echoed by the shim, not a GA field; client_secret: REST only, ignored here
    audio = {side: fields for side, fields in (("input", audio_in), ("output", audio_out)) if fields}
    if audio:
        out["audio"] = audio
    return out


def item_to_ga(item: dict[str, Any]) -> dict[str, Any]:
    """A beta item as GA takes it: assistant `text`/`audio` content becomes `output_text`/`output_audio`."""
    out = {k: copy.deepcopy(v) for k, v in item.items() if k != "object"}
    if item.get("role") == "assistant" and isinstance(out.get("content"), list):
        for part in out["content"]:
            if isinstance(part, dict) and part.get("type") in CONTENT_TO_GA:
                part["type"] = CONTENT_TO_GA[part["type"]]
    return out


def response_to_ga(params: dict[str, Any]) -> dict[str, Any]:
    """The GA `response` of a beta `response.create` (its `temperature` has no GA field)."""
    out: dict[str, Any] = {}
    audio_out: dict[str, Any] = {}
    for key, value in params.items():
        if key == "modalities":
            out["output_modalities"] = modalities_to_ga(value)
        elif key == "voice":
            audio_out["voice"] = value
        elif key == "output_audio_format":
            audio_out["format"] = dict(FORMATS_TO_GA[value])
        elif key == "max_response_output_tokens":
            out["max_output_tokens"] = value
        elif key == "tool_choice":
            out["tool_choice"] = tool_choice_to_ga(value)
        elif key == "tools":
            out["tools"] = tools_to_ga(value)
        elif key == "input":
            out["input"] = [item_to_ga(item) for item in value]
        elif key != "temperature":
            out[key] = copy.deepcopy(value)
    if audio_out:
        out["audio"] = {"output": audio_out}
    return out


# -- GA -> beta (server events) -----------------------------------------------------------------------

def modalities_to_beta(output_modalities: list[str]) -> list[str]:
    return ["text", "audio"] if "audio" in output_modalities else ["text"]


def format_to_beta(fmt: dict[str, Any] | None) -> str:
    return FORMATS_TO_BETA.get((fmt or {}).get("type", "audio/pcm"), "pcm16")


def voice_to_beta(voice: Any) -> Any:
    return voice.get("id") if isinstance(voice, dict) else voice  # GA custom voices are `{id}` objects


def tool_choice_to_beta(choice: Any) -> str:
    if isinstance(choice, str):
        return choice
    return str(choice.get("name") or "auto") if isinstance(choice, dict) else "auto"


def turn_detection_to_beta(given: dict[str, Any] | None) -> dict[str, Any] | None:
    if given is None:
        return None
    keys = _VAD_KEYS.get(given.get("type", "server_vad"), _VAD_KEYS["server_vad"])
    return {k: copy.deepcopy(given[k]) for k in keys if k in given}


def transcription_to_beta(given: dict[str, Any] | None) -> dict[str, Any] | None:
    if given is None:
        return None
    return {k: given.get(k) for k in ("model", "language", "prompt")}


def session_to_beta(session: dict[str, Any], temperature: float = DEFAULT_TEMPERATURE) -> dict[str, Any]:
    """A GA realtime session object flattened to the beta `Session` (SDK `types/beta/realtime/session.py`)."""
    audio = session.get("audio") or {}
    audio_in, audio_out = audio.get("input") or {}, audio.get("output") or {}
    noise = audio_in.get("noise_reduction")
    return {
        "id": session.get("id"),
        "object": "realtime.session",
        "model": session.get("model"),
        "expires_at": session.get("expires_at"),
        "modalities": modalities_to_beta(session.get("output_modalities") or ["audio"]),
        "instructions": session.get("instructions"),
        "voice": voice_to_beta(audio_out.get("voice", "alloy")),
        "input_audio_format": format_to_beta(audio_in.get("format")),
        "output_audio_format": format_to_beta(audio_out.get("format")),
        "input_audio_transcription": transcription_to_beta(audio_in.get("transcription")),
        "input_audio_noise_reduction": {"type": noise.get("type")} if isinstance(noise, dict) else None,
        "turn_detection": turn_detection_to_beta(audio_in.get("turn_detection")),
        "tools": [tool_to_beta(t) for t in session.get("tools") or () if t.get("type") == "function"],
        "tool_choice": tool_choice_to_beta(session.get("tool_choice", "auto")),
        "temperature": temperature,
        "max_response_output_tokens": session.get("max_output_tokens", "inf"),
        "speed": audio_out.get("speed", 1.0),
        "tracing": copy.deepcopy(session.get("tracing")),
    }


def tool_to_beta(tool: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(tool[k]) for k in ("type", "name", "description", "parameters") if k in tool}


def item_to_beta(item: dict[str, Any]) -> dict[str, Any] | None:
    """A GA item as a beta `ConversationItem`; None for item types beta does not have (MCP)."""
    if item.get("type") not in _BETA_ITEM_TYPES:
        return None
    out: dict[str, Any] = {"id": item.get("id"), "object": "realtime.item"}
    for key, value in item.items():
        if key in ("id", "object"):
            continue
        if key == "content" and isinstance(value, list):
            value = [part for part in map(_content_to_beta, value) if part is not None]
        out[key] = copy.deepcopy(value)
    return out


def _content_to_beta(part: Any) -> dict[str, Any] | None:
    """Assistant `output_text`/`output_audio` parts become `text`/`audio`; GA-only parts (images) are left out."""
    if not isinstance(part, dict):
        return None
    kind = CONTENT_TO_BETA.get(part.get("type", ""), part.get("type"))
    return {**part, "type": kind} if kind in _BETA_CONTENT_TYPES else None


def usage_to_beta(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    given_in = usage.get("input_token_details") or {}
    given_out = usage.get("output_token_details") or {}
    return {
        "total_tokens": usage.get("total_tokens"), "input_tokens": usage.get("input_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "input_token_details": {k: given_in.get(k, 0) for k in ("cached_tokens", "text_tokens", "audio_tokens")},
        "output_token_details": {k: given_out.get(k, 0) for k in ("text_tokens", "audio_tokens")},
    }


def response_to_beta(response: dict[str, Any], temperature: float = DEFAULT_TEMPERATURE) -> dict[str, Any]:
    """A GA response object as the beta `RealtimeResponse`."""
    audio_out = (response.get("audio") or {}).get("output") or {}
    output = [beta for beta in (item_to_beta(i) for i in response.get("output") or ()) if beta is not None]
    return {
        "object": "realtime.response",
        "id": response.get("id"),
        "status": response.get("status"),
        "status_details": copy.deepcopy(response.get("status_details")),
        "output": output,
        "conversation_id": response.get("conversation_id"),
        "modalities": modalities_to_beta(response.get("output_modalities") or ["audio"]),
        "voice": voice_to_beta(audio_out.get("voice", "alloy")),
        "output_audio_format": format_to_beta(audio_out.get("format")),
        "temperature": temperature,
        "max_output_tokens": response.get("max_output_tokens", "inf"),
        "usage": usage_to_beta(response.get("usage")),
        "metadata": copy.deepcopy(response.get("metadata")),
    }


def error_to_beta(error: dict[str, Any]) -> dict[str, Any]:
    """An error payload with GA params (of a translated event) renamed to the beta fields the client sent."""
    param = error.get("param")
    if not isinstance(param, str):
        return error
    for ga, beta in PARAMS_TO_BETA:
        if param == ga or param.startswith((ga + ".", ga + "[")):
            renamed = beta + param[len(ga):]
            message = str(error.get("message", "")).replace(f"'{param}'", f"'{renamed}'")
            return {**error, "param": renamed, "message": message}
    return error


def event_type_to_beta(event_type: str) -> str | None:
    """The beta name of a GA server event type; None when beta does not send it."""
    return None if event_type in DROPPED else EVENT_RENAMES.get(event_type, event_type)


def event_to_beta(event: dict[str, Any], *, session_temperature: float = DEFAULT_TEMPERATURE,
                  response_temperature: float | None = None) -> dict[str, Any] | None:
    """One GA server event as the beta event the client gets; None when beta has no such event.

    Event types neither GA nor beta know (e.g. injected through the admin API) pass unchanged.
    """
    beta_type = event_type_to_beta(event["type"])
    if beta_type is None:
        return None
    out = {k: v for k, v in event.items() if k not in _GA_ONLY_FIELDS}
    out["type"] = beta_type  # same key position
    if beta_type in ("session.created", "session.updated") and isinstance(event.get("session"), dict):
        out["session"] = session_to_beta(event["session"], session_temperature)
    elif beta_type in ("response.created", "response.done") and isinstance(event.get("response"), dict):
        temperature = session_temperature if response_temperature is None else response_temperature
        out["response"] = response_to_beta(event["response"], temperature)
    elif isinstance(event.get("item"), dict):  # conversation.item.created/retrieved, response.output_item.*
        item = item_to_beta(event["item"])
        if item is None:
            return None
        out["item"] = item
    elif beta_type == "error" and isinstance(event.get("error"), dict):
        out["error"] = error_to_beta(event["error"])
    return out


# -- checks the beta interface made that the GA core cannot ---------------------------------------------

def temperature_error(value: float, param: str) -> ApiError | None:
    low, high = TEMPERATURE_RANGE
    if value < low:
        return errors.out_of_range(param, value, low, integer=False, below=True)
    if value > high:
        return errors.out_of_range(param, value, high, integer=False, below=False)
    return None


def strip_documented_nulls(session: dict[str, Any]) -> tuple[dict[str, Any], dict[str, None]]:
    """A beta session without the `null`s beta documents but its types forbid (for validating), and those nulls."""
    nulls = {k: None for k in _NULLABLE_SESSION_FIELDS if k in session and session[k] is None}
    return {k: v for k, v in session.items() if k not in nulls}, nulls


class BetaSession:
    """A GA `Session` seen through the beta interface. Drive it as the transport drives a `Session`."""

    def __init__(self, core: RealtimeSession) -> None:
        self.core = core
        self.validator = validator()
        # Over a WebSocket: the beta types but `output_audio_buffer.clear` (WebRTC only, as in GA).
        self._websocket_types = tuple(t for t in self.validator.supported if t != "output_audio_buffer.clear")
        self.temperature = DEFAULT_TEMPERATURE
        self._response_temperatures: dict[str, float] = {}
        self._ready: deque[dict[str, Any]] = deque()
        # What the client event being handled asked for that GA cannot carry (set while the core handles it).
        self._asked: dict[str, Any] = {}
        self._stall_when: Callable[[dict[str, Any]], bool] | None = None
        self._drain()  # session.created

    # -- the transport's interface (that of `Session`) --------------------------------------------

    @property
    def clock(self) -> Clock:
        return self.core.clock

    @property
    def config(self) -> dict[str, Any]:
        """The GA session config of the core (its `id` names the session everywhere)."""
        return self.core.config

    @property
    def close(self) -> Close | None:
        return self.core.close

    @property
    def expires_at(self) -> float:
        return self.core.expires_at

    @property
    def busy(self) -> bool:
        return bool(self._ready) or self.core.busy

    @property
    def stall_when(self) -> Callable[[dict[str, Any]], bool] | None:
        return self._stall_when

    @stall_when.setter
    def stall_when(self, ask: Callable[[dict[str, Any]], bool] | None) -> None:
        """Faults name beta event types: the core's GA events are asked about under their beta names."""
        self._stall_when = ask
        if ask is None:
            self.core.stall_when = None
            return

        def ask_in_beta(event: dict[str, Any]) -> bool:
            beta_type = event_type_to_beta(event["type"])
            return beta_type is not None and ask({**event, "type": beta_type})

        self.core.stall_when = ask_in_beta

    def receive_frame(self, frame: str | bytes) -> None:
        if self.core.close is not None:
            return
        parsed = frame if isinstance(frame, bytes) else _loads(frame)
        nulls: dict[str, None] = {}
        if isinstance(parsed, dict):
            if parsed.get("type") == "session.update" and isinstance(parsed.get("session"), dict):
                stripped, nulls = strip_documented_nulls(parsed["session"])
                parsed = {**parsed, "session": stripped}
            event, problems = self.validator.check(parsed)
        else:
            event, problems = self.validator.check_frame(frame)
        if problems:
            self._error(problems[0])
            return
        assert event is not None
        handler = self._HANDLERS.get(event["type"])
        if handler is not None:
            handler(self, event, nulls)
        else:  # the events whose beta and GA shapes are the same
            self._forward(event)

    def poll(self, limit: int = 64) -> list[dict[str, Any]]:
        self._drain(limit)
        out = list(self._ready)
        self._ready.clear()
        return out

    def next_due(self) -> float | None:
        return self.core.clock.now() if self._ready else self.core.next_due()

    def expire(self) -> None:
        self.core.expire()

    def check_expiry(self) -> None:
        self.core.check_expiry()

    # -- translation ----------------------------------------------------------------------------

    def _forward(self, event: dict[str, Any], **asked: Any) -> None:
        """Feed a GA event to the core and translate at once what it answered (so the answer meets `asked`)."""
        self._asked = asked
        try:
            self.core.receive_frame(json.dumps(event))
            self._drain()
        finally:
            self._asked = {}

    def _drain(self, limit: int = 64) -> None:
        for event in self.core.poll(limit):
            beta = self._translate(event)
            if beta is not None:
                self._ready.append(beta)

    def _translate(self, event: dict[str, Any]) -> dict[str, Any] | None:
        kind = event["type"]
        response_temperature: float | None = None
        if kind == "session.updated" and "temperature" in self._asked:
            self.temperature = self._asked["temperature"]  # the update was accepted: now it counts
        elif kind == "response.created" and isinstance(event.get("response"), dict):
            chosen = self._asked.get("response_temperature", self.temperature)
            self._response_temperatures[str(event["response"].get("id"))] = chosen
        if kind in ("response.created", "response.done"):
            response = event.get("response")  # an admin-injected event may lack it
            response_id = response.get("id") if isinstance(response, dict) else None
            response_temperature = self._response_temperatures.get(str(response_id))
            if kind == "response.done":
                self._response_temperatures.pop(str(response_id), None)
        return event_to_beta(event, session_temperature=self.temperature, response_temperature=response_temperature)

    def _error(self, error: ApiError) -> None:
        """An error of the beta layer itself: queued through the core, so it keeps its place in the stream."""
        self.core.inject({"type": "error", "event_id": self.core.ids.event(), "error": error.payload()})
        self._drain()

    def _event_id(self, event: dict[str, Any]) -> str | None:
        return event["event_id"] if isinstance(event.get("event_id"), str) else None

    # -- client events that need more than passing through ------------------------------------------

    def _on_session_update(self, event: dict[str, Any], nulls: dict[str, None]) -> None:
        session = {**event["session"], **nulls}
        asked: dict[str, Any] = {}
        if "temperature" in session:
            problem = temperature_error(session["temperature"], "session.temperature")
            if problem is not None:
                self._error(problem.for_event(self._event_id(event)))
                return
            asked["temperature"] = session["temperature"]
        self._forward({**event, "session": session_to_ga(session)}, **asked)

    def _on_transcription_session_update(self, event: dict[str, Any], nulls: dict[str, None]) -> None:
        # Transcription sessions (`?intent=transcription`) are not served by the mock; on a realtime
        # session the live API answers the GA equivalent (`session.type: "transcription"`) this way.
        self._error(transcription_update_on_realtime().for_event(self._event_id(event)))

    def _on_output_audio_buffer_clear(self, event: dict[str, Any], nulls: dict[str, None]) -> None:
        # WebRTC and SIP only: over a WebSocket it is an unknown type, as in GA (reference 4f).
        self._error(errors.invalid_value("type", event["type"], self._websocket_types).for_event(
            self._event_id(event)))

    def _on_conversation_item_create(self, event: dict[str, Any], nulls: dict[str, None]) -> None:
        self._forward({**event, "item": item_to_ga(event["item"])})

    def _on_response_create(self, event: dict[str, Any], nulls: dict[str, None]) -> None:
        params = event.get("response")
        if params is None:
            self._forward(event)
            return
        asked: dict[str, Any] = {}
        if "temperature" in params:
            problem = temperature_error(params["temperature"], "response.temperature")
            if problem is not None:
                self._error(problem.for_event(self._event_id(event)))
                return
            asked["response_temperature"] = params["temperature"]
        self._forward({**event, "response": response_to_ga(params)}, **asked)

    _HANDLERS: ClassVar[dict[str, Callable[[BetaSession, dict[str, Any], dict[str, None]], None]]] = {
        "session.update": _on_session_update,
        "transcription_session.update": _on_transcription_session_update,
        "output_audio_buffer.clear": _on_output_audio_buffer_clear,
        "conversation.item.create": _on_conversation_item_create,
        "response.create": _on_response_create,
    }


def _loads(frame: str) -> Any:
    try:
        return json.loads(frame, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None  # the validator's check_frame words the parse error


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
