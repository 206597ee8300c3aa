"""The beta shim (mockserver/beta.py): the drift table of the reference (3.3), row by row, both ways,
then whole beta sessions over the GA core (sans-I/O), every event checked against schemas/beta/server."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockserver import beta, schema_store
from mockserver.beta import BetaSession
from mockserver.protocol import handshake, session_config
from mockserver.protocol.clock import FakeClock
from mockserver.protocol.realtime import RealtimeSession
from mockserver.protocol.responder import FunctionCall, McpCall, Message, Reply, Responder, ScriptedResponder
from tests.unit.sessions import collapse, errors_of, realtime_session, types

GA = schema_store.schemas().validator(RealtimeSession.EVENTS.schemas)
BETA_SERVER_TYPES = set(schema_store.event_types("beta/server"))
GA_SERVER_TYPES = schema_store.event_types("realtime/server")


def ga_default() -> dict[str, Any]:
    return session_config.new_realtime_session(session_id="sess_1", model="gpt-4o-realtime-preview", expires_at=1)


def assert_beta_server(event: dict[str, Any]) -> None:
    assert event["type"] in BETA_SERVER_TYPES, event["type"]
    assert schema_store.shape_errors("beta/server", event) == [], (event["type"], event)


# -- event renames and GA-only events ---------------------------------------------------------------

IDS = {"event_id": "event_1", "response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0}
RENAMES = [  # (GA event, the beta event the shim sends)
    ({"type": "response.output_text.delta", **IDS, "delta": "Hi", "obfuscation": "abc"},
     {"type": "response.text.delta", **IDS, "delta": "Hi"}),
    ({"type": "response.output_text.done", **IDS, "text": "Hi"}, {"type": "response.text.done", **IDS, "text": "Hi"}),
    ({"type": "response.output_audio.delta", **IDS, "delta": "AAAA"},
     {"type": "response.audio.delta", **IDS, "delta": "AAAA"}),
    ({"type": "response.output_audio.done", **IDS}, {"type": "response.audio.done", **IDS}),
    ({"type": "response.output_audio_transcript.delta", **IDS, "delta": "Hi", "obfuscation": "x"},
     {"type": "response.audio_transcript.delta", **IDS, "delta": "Hi"}),
    ({"type": "response.output_audio_transcript.done", **IDS, "transcript": "Hi"},
     {"type": "response.audio_transcript.done", **IDS, "transcript": "Hi"}),
    ({"type": "conversation.item.added", "event_id": "event_1", "previous_item_id": None,
      "item": {"id": "item_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}},
     {"type": "conversation.item.created", "event_id": "event_1", "previous_item_id": None,
      "item": {"id": "item_1", "object": "realtime.item", "type": "message", "status": "in_progress",
               "role": "assistant", "content": []}}),
]


@pytest.mark.parametrize(("ga", "expected"), RENAMES, ids=[r[0]["type"] for r in RENAMES])
def test_event_renames(ga: dict[str, Any], expected: dict[str, Any]) -> None:
    assert schema_store.shape_errors("realtime/server", ga) == []
    out = beta.event_to_beta(ga)
    assert out == expected
    assert out is not None and list(out) == list(expected)  # `type` keeps its place
    assert_beta_server(out)


@pytest.mark.parametrize("event_type", sorted(beta.DROPPED))
def test_ga_only_events_are_not_sent(event_type: str) -> None:
    assert event_type in GA_SERVER_TYPES
    assert event_type not in BETA_SERVER_TYPES or event_type == "conversation.item.done"
    assert beta.event_to_beta({"type": event_type, "event_id": "event_1"}) is None


def test_every_ga_server_event_is_mapped_or_dropped() -> None:
    for event_type in GA_SERVER_TYPES:
        mapped = beta.event_type_to_beta(event_type)
        assert mapped is None or mapped in BETA_SERVER_TYPES, event_type


def test_events_beta_shares_pass_unchanged() -> None:
    for event in ({"type": "input_audio_buffer.committed", "event_id": "e", "previous_item_id": None, "item_id": "i"},
                  {"type": "conversation.item.deleted", "event_id": "e", "item_id": "i"},
                  {"type": "rate_limits.updated", "event_id": "e", "rate_limits": []}):
        assert beta.event_to_beta(event) == event


# -- session field moves ----------------------------------------------------------------------------

PCM = {"type": "audio/pcm", "rate": 24000}
# (beta fields, the GA update fields they become, what session.updated echoes back in beta)
SESSION_ROWS: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("modalities_text", {"modalities": ["text"]}, {"output_modalities": ["text"]}, {"modalities": ["text"]}),
    ("modalities_both", {"modalities": ["text", "audio"]}, {"output_modalities": ["audio"]},
     {"modalities": ["text", "audio"]}),
    ("voice", {"voice": "sage"}, {"audio": {"output": {"voice": "sage"}}}, {"voice": "sage"}),
    ("output_audio_format", {"output_audio_format": "g711_ulaw"},
     {"audio": {"output": {"format": {"type": "audio/pcmu"}}}}, {"output_audio_format": "g711_ulaw"}),
    ("input_audio_format", {"input_audio_format": "g711_alaw"},
     {"audio": {"input": {"format": {"type": "audio/pcma"}}}}, {"input_audio_format": "g711_alaw"}),
    ("input_audio_format_pcm16", {"input_audio_format": "pcm16"}, {"audio": {"input": {"format": PCM}}},
     {"input_audio_format": "pcm16"}),
    ("input_audio_transcription", {"input_audio_transcription": {"model": "whisper-1", "language": "en"}},
     {"audio": {"input": {"transcription": {"model": "whisper-1", "language": "en"}}}},
     {"input_audio_transcription": {"model": "whisper-1", "language": "en", "prompt": None}}),
    ("input_audio_noise_reduction", {"input_audio_noise_reduction": {"type": "near_field"}},
     {"audio": {"input": {"noise_reduction": {"type": "near_field"}}}},
     {"input_audio_noise_reduction": {"type": "near_field"}}),
    ("turn_detection", {"turn_detection": {"type": "server_vad", "silence_duration_ms": 500}},
     {"audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}},
     {"turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                         "silence_duration_ms": 500, "create_response": True, "interrupt_response": True}}),
    ("turn_detection_semantic", {"turn_detection": {"type": "semantic_vad", "eagerness": "low", "threshold": 0.4}},
     {"audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "low"}}}},
     {"turn_detection": {"type": "semantic_vad", "eagerness": "low", "create_response": True,
                         "interrupt_response": True}}),
    ("turn_detection_off", {"turn_detection": None}, {"audio": {"input": {"turn_detection": None}}},
     {"turn_detection": None}),
    ("speed", {"speed": 1.25}, {"audio": {"output": {"speed": 1.25}}}, {"speed": 1.25}),
    ("max_response_output_tokens", {"max_response_output_tokens": 200}, {"max_output_tokens": 200},
     {"max_response_output_tokens": 200}),
    ("temperature_removed", {"temperature": 0.7}, {}, {"temperature": 0.7}),
    ("tool_choice_mode", {"tool_choice": "required"}, {"tool_choice": "required"}, {"tool_choice": "required"}),
    ("tool_choice_function", {"tool_choice": "get_weather"},
     {"tool_choice": {"type": "function", "name": "get_weather"}}, {"tool_choice": "get_weather"}),
    ("tools", {"tools": [{"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}]},
     {"tools": [{"type": "function", "name": "get_weather", "description": "Weather",
                 "parameters": {"type": "object"}}]},
     {"tools": [{"type": "function", "name": "get_weather", "description": "Weather",
                 "parameters": {"type": "object"}}]}),
    ("instructions", {"instructions": "Be brief."}, {"instructions": "Be brief."}, {"instructions": "Be brief."}),
    ("tracing", {"tracing": "auto"}, {"tracing": "auto"}, {"tracing": "auto"}),
]


@pytest.mark.parametrize(("beta_fields", "ga_fields", "echo"), [r[1:] for r in SESSION_ROWS],
                         ids=[r[0] for r in SESSION_ROWS])
def test_session_fields_move(beta_fields: dict[str, Any], ga_fields: dict[str, Any], echo: dict[str, Any]) -> None:
    update = beta.session_to_ga(beta_fields)
    assert update == {"type": "realtime", **ga_fields}
    assert GA.check({"type": "session.update", "session": update})[1] == []
    # and back: the GA session after the update, flattened, shows the beta values
    applied = session_config.apply_update(ga_default(), update, audio_produced=False)
    flat = beta.session_to_beta(applied, beta_fields.get("temperature", beta.DEFAULT_TEMPERATURE))
    assert {k: flat[k] for k in echo} == echo
    assert_beta_server({"type": "session.updated", "event_id": "event_1", "session": flat})


def test_session_object_is_the_beta_shape() -> None:
    flat = beta.session_to_beta(ga_default())
    assert list(flat) == ["id", "object", "model", "expires_at", "modalities", "instructions", "voice",
                          "input_audio_format", "output_audio_format", "input_audio_transcription",
                          "input_audio_noise_reduction", "turn_detection", "tools", "tool_choice", "temperature",
                          "max_response_output_tokens", "speed", "tracing"]
    assert flat["modalities"] == ["text", "audio"] and flat["input_audio_format"] == "pcm16"
    assert flat["temperature"] == 0.8 and flat["max_response_output_tokens"] == "inf"
    assert flat["object"] == "realtime.session"
    from openai.types.beta.realtime.session import Session as BetaSessionModel

    assert BetaSessionModel.model_validate(flat).voice == "alloy"  # the SDK's beta type takes it, strictly


@pytest.mark.parametrize(("beta_name", "ga_format"), [("pcm16", PCM), ("g711_ulaw", {"type": "audio/pcmu"}),
                                                      ("g711_alaw", {"type": "audio/pcma"})])
def test_audio_formats(beta_name: str, ga_format: dict[str, Any]) -> None:
    assert beta.FORMATS_TO_GA[beta_name] == ga_format
    assert beta.format_to_beta(ga_format) == beta_name


# -- response.create and the response object ---------------------------------------------------------

RESPONSE_ROWS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("modalities", {"modalities": ["text"]}, {"output_modalities": ["text"]}),
    ("voice_and_format", {"voice": "verse", "output_audio_format": "g711_ulaw"},
     {"audio": {"output": {"voice": "verse", "format": {"type": "audio/pcmu"}}}}),
    ("max_response_output_tokens", {"max_response_output_tokens": 50}, {"max_output_tokens": 50}),
    ("temperature_removed", {"temperature": 0.9}, {}),
    ("item_reference", {"input": [{"type": "item_reference", "id": "item_1"}]},
     {"input": [{"type": "item_reference", "id": "item_1"}]}),
    ("tool_choice", {"tool_choice": "lookup"}, {"tool_choice": {"type": "function", "name": "lookup"}}),
    ("unchanged", {"conversation": "none", "instructions": "x", "metadata": {"k": "v"}},
     {"conversation": "none", "instructions": "x", "metadata": {"k": "v"}}),
]


@pytest.mark.parametrize(("beta_params", "ga_params"), [r[1:] for r in RESPONSE_ROWS],
                         ids=[r[0] for r in RESPONSE_ROWS])
def test_response_create_params(beta_params: dict[str, Any], ga_params: dict[str, Any]) -> None:
    assert beta.response_to_ga(beta_params) == ga_params
    assert GA.check({"type": "response.create", "response": ga_params})[1] == []


def test_response_object_and_usage() -> None:
    ga = {"object": "realtime.response", "id": "resp_1", "status": "completed", "status_details": None,
          "output": [{"id": "item_1", "type": "message", "status": "completed", "role": "assistant",
                      "content": [{"type": "output_audio", "transcript": "Hi"}]},
                     {"id": "item_2", "type": "mcp_call", "server_label": "s", "name": "n", "arguments": ""}],
          "conversation_id": "conv_1", "output_modalities": ["audio"], "max_output_tokens": "inf",
          "audio": {"output": {"format": {"type": "audio/pcmu"}, "voice": "ash"}},
          "usage": {"total_tokens": 9, "input_tokens": 5, "output_tokens": 4,
                    "input_token_details": {"text_tokens": 5, "audio_tokens": 0, "image_tokens": 0,
                                            "cached_tokens": 0,
                                            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0,
                                                                      "image_tokens": 0}},
                    "output_token_details": {"text_tokens": 1, "audio_tokens": 3}},
          "metadata": None}
    out = beta.response_to_beta(ga, 0.9)
    assert out["modalities"] == ["text", "audio"] and out["voice"] == "ash"
    assert out["output_audio_format"] == "g711_ulaw"
    assert out["temperature"] == 0.9 and "output_modalities" not in out and "audio" not in out
    assert out["output"] == [{"id": "item_1", "object": "realtime.item", "type": "message", "status": "completed",
                              "role": "assistant", "content": [{"type": "audio", "transcript": "Hi"}]}]
    assert out["usage"]["input_token_details"] == {"cached_tokens": 0, "text_tokens": 5, "audio_tokens": 0}
    assert_beta_server({"type": "response.done", "event_id": "event_1", "response": out})


# -- items and content ---------------------------------------------------------------------------------

ITEM_ROWS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [  # (beta item, GA item)
    ("assistant_text", {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "Hi"}]},
     {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi"}]}),
    ("assistant_audio", {"type": "message", "role": "assistant", "content": [{"type": "audio", "transcript": "Hi"}]},
     {"type": "message", "role": "assistant", "content": [{"type": "output_audio", "transcript": "Hi"}]}),
    ("user_text", {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
     {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}),
    ("system_text", {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Hi"}]},
     {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Hi"}]}),
    ("function_call_output", {"type": "function_call_output", "call_id": "call_1", "output": "{}"},
     {"type": "function_call_output", "call_id": "call_1", "output": "{}"}),
    ("object_dropped", {"id": "item_9", "object": "realtime.item", "type": "message", "role": "user",
                        "content": [{"type": "input_text", "text": "x"}]},
     {"id": "item_9", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}),
]


@pytest.mark.parametrize(("beta_item", "ga_item"), [r[1:] for r in ITEM_ROWS], ids=[r[0] for r in ITEM_ROWS])
def test_items_both_ways(beta_item: dict[str, Any], ga_item: dict[str, Any]) -> None:
    assert beta.item_to_ga(beta_item) == ga_item
    assert GA.check({"type": "conversation.item.create", "item": ga_item})[1] == []
    back = beta.item_to_beta({"id": "item_1", **ga_item})
    assert back is not None and list(back)[:2] == ["id", "object"] and back["object"] == "realtime.item"
    unnamed = ("id", "object")
    assert {k: v for k, v in back.items() if k not in unnamed} == {k: v for k, v in beta_item.items()
                                                                    if k not in unnamed}
    assert_beta_server({"type": "conversation.item.created", "event_id": "e", "previous_item_id": None, "item": back})


def test_mcp_items_do_not_exist_in_beta() -> None:
    item = {"id": "item_1", "type": "mcp_list_tools", "server_label": "s", "tools": []}
    assert beta.item_to_beta(item) is None
    assert beta.event_to_beta({"type": "conversation.item.added", "event_id": "e", "item": item}) is None


def test_error_params_of_translated_events_are_said_in_beta_names() -> None:
    error = {"type": "invalid_request_error", "code": "decimal_above_max_value",
             "message": "Invalid 'session.audio.output.speed': decimal above maximum value.",
             "param": "session.audio.output.speed", "event_id": None}
    assert beta.error_to_beta(error)["param"] == "session.speed"
    assert beta.error_to_beta(error)["message"] == "Invalid 'session.speed': decimal above maximum value."
    other = {**error, "param": "item.content[0].type"}
    assert beta.error_to_beta(other) == other


# -- transport rows: the handshake --------------------------------------------------------------------

AUTH = {"authorization": "Bearer sk-test"}


@pytest.mark.parametrize(("headers", "offered"), [({**AUTH, "openai-beta": "realtime=v1"}, []),
                                                  ({}, ["realtime", "openai-insecure-api-key.ek_1",
                                                        "openai-beta.realtime-v1"])],
                         ids=["header", "browser_subprotocol"])
def test_handshake_rejects_beta_by_default_and_shims_on_request(headers: dict[str, str], offered: list[str]) -> None:
    query = {"model": "gpt-4o-realtime-preview"}
    rejected = handshake.check(query, headers, offered)
    assert rejected.error is not None and rejected.error.code == "beta_api_shape_disabled"
    assert rejected.close_code == 4000
    shimmed = handshake.check(query, headers, offered, beta_models=beta.BETA_MODELS)
    assert shimmed.error is None and shimmed.beta and shimmed.model == "gpt-4o-realtime-preview"
    # A GA client on a shim server stays GA.
    assert not handshake.check(query, AUTH, [], beta_models=beta.BETA_MODELS).beta


def test_handshake_refuses_models_the_beta_interface_cannot_name() -> None:
    judged = handshake.check({"model": "gpt-realtime-mini"}, {**AUTH, "openai-beta": "realtime=v1"}, [],
                             beta_models=beta.BETA_MODELS)
    assert judged.error is not None and judged.error.code == "invalid_model" and judged.close_code == 4000
    assert "gpt-4o-realtime-preview" in beta.BETA_MODELS and "gpt-realtime" in beta.BETA_MODELS


# -- REST request schemas: the `session` of the beta client events --------------------------------------

def _resolved(schema: dict[str, Any], node: Any) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _resolved(schema, schema["$defs"][node["$ref"].split("/")[-1]])
        return {k: _resolved(schema, v) for k, v in node.items() if k != "title"}
    if isinstance(node, list):
        return [_resolved(schema, v) for v in node]
    return node


@pytest.mark.parametrize(("rest", "event"), [("rest/beta.sessions.request", "beta/client/session.update"),
                                             ("rest/beta.transcription_sessions.request",
                                              "beta/client/transcription_session.update")])
def test_rest_requests_are_the_session_of_the_beta_events(rest: str, event: str) -> None:
    request, client_event = schema_store.load(rest), schema_store.load(event)
    session = _resolved(client_event, client_event["properties"]["session"])
    assert _resolved(request, {k: v for k, v in request.items() if k not in ("$schema", "$defs")}) == session


# -- whole sessions: the beta wrapper over a GA session --------------------------------------------------

class BetaDriver:
    """A BetaSession over a GA Session with a fake clock; every event it sends is checked against beta/server."""

    def __init__(self, responder: Responder | None = None, seed: int = 7) -> None:
        self.clock = FakeClock()
        self.core = realtime_session(seed, self.clock, model="gpt-4o-realtime-preview", responder=responder)
        self.session = BetaSession(self.core)
        self.sent: list[dict[str, Any]] = []
        self.pump()

    def send(self, event: dict[str, Any] | str | bytes) -> list[dict[str, Any]]:
        self.session.receive_frame(event if isinstance(event, (str, bytes)) else json.dumps(event))
        return self.pump()

    def pump(self) -> list[dict[str, Any]]:
        out = self.session.poll(100_000)
        for event in out:
            assert_beta_server(event)
        self.sent += out
        return out

    def say(self, text: str) -> list[dict[str, Any]]:
        return self.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})


BETA_TEXT_TURN = [
    "conversation.item.created", "response.created", "response.output_item.added", "conversation.item.created",
    "response.content_part.added", "response.text.delta", "response.text.done", "response.content_part.done",
    "response.output_item.done", "response.done", "rate_limits.updated",
]


def test_session_created_is_beta() -> None:
    d = BetaDriver()
    (created,) = d.sent
    assert created["type"] == "session.created"
    assert created["session"]["modalities"] == ["text", "audio"] and created["session"]["temperature"] == 0.8
    assert created["session"]["id"] == d.core.config["id"]


def test_text_turn_in_beta_names() -> None:
    d = BetaDriver()
    updated = d.send({"type": "session.update", "session": {"modalities": ["text"], "temperature": 0.7}})
    assert types(updated) == ["session.updated"]
    assert updated[0]["session"]["modalities"] == ["text"] and updated[0]["session"]["temperature"] == 0.7
    events = d.say("Say hi") + d.send({"type": "response.create"})
    assert collapse(types(events)) == BETA_TEXT_TURN
    assert events[3]["item"]["status"] == "in_progress" and events[3]["item"]["content"] == []  # "at the start"
    text = "".join(e["delta"] for e in events if e["type"] == "response.text.delta")
    assert text == "You said: Say hi"
    assert all("obfuscation" not in e for e in events)
    done = events[-2]["response"]
    assert done["temperature"] == 0.7 and done["modalities"] == ["text"]
    assert done["output"][0]["content"] == [{"type": "text", "text": text}]


def test_audio_turn_in_beta_names() -> None:
    d = BetaDriver()
    events = d.say("Say hi") + d.send({"type": "response.create", "response": {"output_audio_format": "g711_ulaw"}})
    names = collapse(types(events))
    assert "response.audio.delta" in names and "response.audio_transcript.delta" in names
    assert names[-6:] == ["response.audio.done", "response.audio_transcript.done", "response.content_part.done",
                          "response.output_item.done", "response.done", "rate_limits.updated"]
    audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.audio.delta")
    assert len(audio) > 8000
    done = events[-2]["response"]
    assert done["output_audio_format"] == "g711_ulaw" and done["modalities"] == ["text", "audio"]
    assert done["output"][0]["content"][0]["type"] == "audio"


def test_function_call_round() -> None:
    d = BetaDriver(ScriptedResponder([Reply((FunctionCall("get_weather", '{"city":"Paris"}'),)),
                                      Reply((Message("Sunny."),))]))
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    d.send({"type": "session.update", "session": {"modalities": ["text"], "tools": tools, "tool_choice": "auto"}})
    events = d.say("Weather?") + d.send({"type": "response.create"})
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    created = d.send({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": done["call_id"], "output": "Sunny"}})
    assert types(created) == ["conversation.item.created"]
    events = d.send({"type": "response.create"})
    assert events[-2]["response"]["output"][0]["content"] == [{"type": "text", "text": "Sunny."}]


def test_assistant_history_in_beta_content_types() -> None:
    d = BetaDriver()
    created = d.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "assistant", "content": [{"type": "text", "text": "Earlier answer"}]}})
    assert created[0]["item"]["content"] == [{"type": "text", "text": "Earlier answer"}]
    assert d.core.conversation.items()[0]["content"][0]["type"] == "output_text"  # GA inside
    retrieved = d.send({"type": "conversation.item.retrieve", "item_id": created[0]["item"]["id"]})
    assert retrieved[0]["type"] == "conversation.item.retrieved"
    assert retrieved[0]["item"]["content"][0]["type"] == "text"


def test_committed_audio_is_one_created_item() -> None:
    d = BetaDriver()
    d.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(48 * 200)).decode()})
    events = d.send({"type": "input_audio_buffer.commit"})
    assert types(events) == ["input_audio_buffer.committed", "conversation.item.created"]
    assert events[1]["item"]["content"][0]["type"] == "input_audio"


def test_per_response_temperature_is_echoed_and_checked() -> None:
    d = BetaDriver()
    d.say("x")
    events = d.send({"type": "response.create", "response": {"modalities": ["text"], "temperature": 1.1}})
    assert events[0]["response"]["temperature"] == 1.1 and events[-2]["response"]["temperature"] == 1.1
    (error,) = errors_of(d.send({"type": "response.create", "event_id": "ev", "response": {"temperature": 2.0}}))
    assert error["code"] == "decimal_above_max_value" and error["param"] == "response.temperature"
    assert error["event_id"] == "ev"


def test_beta_validation_errors() -> None:
    d = BetaDriver()
    # a GA-shaped update is not a beta one
    (error,) = errors_of(d.send({"type": "session.update", "event_id": "e1", "session": {"type": "realtime"}}))
    assert (error["code"], error["param"], error["event_id"]) == ("unknown_parameter", "session.type", "e1")
    (error,) = errors_of(d.send({"type": "response.output_text.delta"}))
    assert error["code"] == "invalid_value" and "'transcription_session.update'" in error["message"]
    (error,) = errors_of(d.send({"type": "session.update", "session": {"temperature": 0.2}}))
    assert error["code"] == "decimal_below_min_value" and error["param"] == "session.temperature"
    (error,) = errors_of(d.send({"type": "session.update", "session": {"speed": 3}}))
    assert error["param"] == "session.speed"
    (error,) = errors_of(d.send({"type": "transcription_session.update", "session": {}}))
    assert error["message"] == "Passing a transcription session update event to a realtime session is not allowed."
    (error,) = errors_of(d.send({"type": "output_audio_buffer.clear"}))
    assert error["code"] == "invalid_value" and "'output_audio_buffer.clear'" not in error["message"].split(".", 1)[1]
    assert errors_of(d.send(b"\x00"))[0]["code"] == "invalid_event"
    assert errors_of(d.send("NaN"))[0]["code"] == "invalid_json"
    assert d.session.poll() == [] and d.session.close is None
    assert d.sent[-1]["type"] == "error"
    # nothing of the rejected updates stuck
    updated = d.send({"type": "session.update", "session": {"voice": "echo"}})
    assert updated[0]["session"]["temperature"] == 0.8 and updated[0]["session"]["speed"] == 1.0


def test_turn_detection_null_turns_vad_off() -> None:
    d = BetaDriver()
    updated = d.send({"type": "session.update", "session": {"turn_detection": None}})
    assert types(updated) == ["session.updated"] and updated[0]["session"]["turn_detection"] is None
    assert d.core.config["audio"]["input"]["turn_detection"] is None


def test_stall_faults_name_beta_events() -> None:
    d = BetaDriver()
    asked: list[str] = []

    def stall(event: dict[str, Any]) -> bool:
        asked.append(event["type"])
        return event["type"] == "response.text.delta"

    d.session.stall_when = stall
    d.send({"type": "session.update", "session": {"modalities": ["text"]}})
    events = d.say("hi") + d.send({"type": "response.create"})
    assert types(events)[-1] == "response.text.delta" and types(events).count("response.text.delta") == 1
    assert "response.output_text.delta" not in asked and "conversation.item.done" not in asked
    assert d.session.busy is False and d.session.next_due() is None
    cancelled = d.send({"type": "response.cancel"})
    assert cancelled[-2]["response"]["status"] == "cancelled"


def test_injected_ga_events_are_translated_and_expiry_closes() -> None:
    d = BetaDriver()
    d.core.inject({"type": "response.output_text.delta", **{k: v for k, v in IDS.items() if k != "event_id"},
                   "delta": "x"})
    assert types(d.pump()) == ["response.text.delta"]
    d.session.expire()
    assert errors_of(d.pump())[0]["code"] == "session_expired"
    assert d.session.close is not None and d.session.close.code == 1001


def test_the_ga_core_is_left_as_ga() -> None:
    """The wrapper is a translation: the core's own stream, polled directly, stays GA and schema-valid."""
    reply = Reply((McpCall("srv", "tool", "{}", output="ok"), Message("Hi")))
    core = realtime_session(1, model="gpt-4o-realtime-preview", responder=ScriptedResponder([reply]))
    wrapped = BetaSession(core)
    wrapped.receive_frame(json.dumps({"type": "session.update", "session": {"modalities": ["text"]}}))
    wrapped.receive_frame(json.dumps({"type": "response.create"}))
    out = wrapped.poll(10_000)
    for event in out:
        assert_beta_server(event)
    assert not any(e["type"].startswith(("response.mcp_call", "mcp_list_tools")) for e in out)
    assert next(e["response"]["output"] for e in out if e["type"] == "response.done")[0]["type"] == "message"
    assert copy.deepcopy(core.config)["output_modalities"] == ["text"]


def test_malformed_injected_events_do_not_break_the_wrapper() -> None:
    d = BetaDriver()
    d.core.inject({"type": "response.done"})
    d.core.inject({"type": "session.updated", "session": "nope"})
    assert [e["type"] for e in d.session.poll()] == ["response.done", "session.updated"]


_WORDS = st.sampled_from(["text", "audio", "pcm16", "g711_ulaw", "server_vad", "semantic_vad", "auto", "none",
                          "assistant", "user", "message", "input_text", "output_text", "function_call_output", "x"])
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5000) | st.floats(-2, 3, allow_nan=False) | _WORDS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["type", "role", "text", "content", "model", "silence_duration_ms", "name", "eagerness"]),
        inner, max_size=3),
    max_leaves=8)
_SESSION_KEYS = st.sampled_from(["modalities", "voice", "input_audio_format", "output_audio_format",
                                 "input_audio_transcription", "input_audio_noise_reduction", "turn_detection",
                                 "speed", "temperature", "max_response_output_tokens", "tool_choice", "tools",
                                 "instructions", "tracing", "type"])
_RESPONSE_KEYS = st.sampled_from(["modalities", "voice", "output_audio_format", "temperature", "tool_choice",
                                  "max_response_output_tokens", "input", "conversation", "instructions"])
_BETA_EVENTS = st.one_of(
    st.builds(lambda s: {"type": "session.update", "session": s}, st.dictionaries(_SESSION_KEYS, _VALUES)),
    st.builds(lambda r: {"type": "response.create", "response": r}, st.dictionaries(_RESPONSE_KEYS, _VALUES)),
    st.builds(lambda i: {"type": "conversation.item.create", "item": i},
              st.fixed_dictionaries({"type": _WORDS, "role": _WORDS, "content": _VALUES})),
    st.sampled_from([{"type": "response.cancel"}, {"type": "input_audio_buffer.commit"},
                     {"type": "input_audio_buffer.clear"}, {"type": "output_audio_buffer.clear"},
                     {"type": "transcription_session.update", "session": {}}]),
)


@given(st.lists(_BETA_EVENTS, max_size=8))
def test_any_beta_events_keep_the_wrapper_consistent(events: list[dict[str, Any]]) -> None:
    """Whatever a beta client sends, every answer is a valid beta server event (BetaDriver checks each)."""
    d = BetaDriver()
    for event in events:
        d.send(event)
    assert d.session.close is None
