"""Every error the mock reports, worded as the live API words it.

One place for codes, params and messages (reference `realtime-api.md` section 5 and the live
captures it cites). Validation problems are built by `validation.py` from these constructors;
session-level errors (later issues) add theirs here too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

INVALID_REQUEST = "invalid_request_error"


@dataclass(frozen=True)
class ApiError:
    """The `error` object of an `error` server event (and of a REST error body)."""

    message: str
    type: str = INVALID_REQUEST
    code: str | None = None
    param: str | None = None
    event_id: str | None = None

    def payload(self) -> dict[str, Any]:
        """The inner `error` object, keys in the live order."""
        return {"type": self.type, "code": self.code, "message": self.message,
                "param": self.param, "event_id": self.event_id}

    def for_event(self, event_id: str | None) -> ApiError:
        return replace(self, event_id=event_id)


# --- how the live API quotes values and lists --------------------------------------------------

def quote(value: Any) -> str:
    """A value as the live API quotes it in a message: strings bare, anything else as JSON."""
    text = value if isinstance(value, str) else json.dumps(value)
    return f"'{text}'"


def quoted_list(values: Sequence[Any]) -> str:
    """`'a'`, `'a' and 'b'`, `'a', 'b', and 'c'` (the live API uses the serial comma)."""
    items = [quote(v) for v in values]
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + f", and {items[-1]}"


def json_kind(value: Any) -> str:
    """The live API's name for the JSON type of a value ("but got a string instead")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def number(value: float | int) -> str:
    return str(value)


# --- frame-level errors (reference 1.1, 5.2) ---------------------------------------------------

def invalid_json(detail: str) -> ApiError:
    # Live: "Invalid event: failed to parse JSON value. …" (the capture elides the parser's
    # detail); we append Python's own parser message.
    return ApiError(f"Invalid event: failed to parse JSON value. {detail}", code="invalid_json")


def binary_frame() -> ApiError:
    return ApiError("Expected a text WebSocket message; binary frames are not supported.",
                    code="invalid_event")


def missing_type() -> ApiError:
    return ApiError("The 'type' field is missing.", code="invalid_event")


# --- field-level errors ------------------------------------------------------------------------

def unknown_parameter(param: str) -> ApiError:
    return ApiError(f"Unknown parameter: '{param}'.", code="unknown_parameter", param=param)


def missing_required_parameter(param: str) -> ApiError:
    return ApiError(f"Missing required parameter: '{param}'.", code="missing_required_parameter",
                    param=param)


def invalid_value(param: str, value: Any, supported: Sequence[Any]) -> ApiError:
    if len(supported) == 1:
        tail = f"Value must be {quote(supported[0])}."
    else:
        tail = f"Supported values are: {quoted_list(supported)}."
    return ApiError(f"Invalid value: {quote(value)}. {tail}", code="invalid_value", param=param)


def invalid_type(param: str, expected: str, value: Any) -> ApiError:
    return ApiError(f"Invalid type for '{param}': expected {expected}, but got {json_kind(value)} instead.",
                    code="invalid_type", param=param)


def out_of_range(param: str, value: float | int, bound: float | int, *, integer: bool, below: bool) -> ApiError:
    kind = "integer" if integer else "decimal"
    if below:
        code, words, op = f"{kind}_below_min_value", "below minimum value", ">="
    else:
        code, words, op = f"{kind}_above_max_value", "above maximum value", "<="
    return ApiError(f"Invalid '{param}': {kind} {words}. Expected a value {op} {number(bound)}, "
                    f"but got {number(value)} instead.", code=code, param=param)


def string_length(param: str, length: int, bound: int, *, too_long: bool) -> ApiError:
    if too_long:
        return ApiError(f"Invalid '{param}': string too long. Expected a string with maximum length "
                        f"{bound}, but got a string with length {length} instead.",
                        code="string_above_max_length", param=param)
    return ApiError(f"Invalid '{param}': string too short. Expected a string with minimum length "
                    f"{bound}, but got a string with length {length} instead.",
                    code="string_below_min_length", param=param)


def array_length(param: str, length: int, bound: int, *, too_long: bool) -> ApiError:
    if too_long:
        return ApiError(f"Invalid '{param}': array too long. Expected an array with maximum length "
                        f"{bound}, but got an array with length {length} instead.",
                        code="array_above_max_length", param=param)
    if length == 0:
        return ApiError(f"Invalid '{param}': empty array. Expected an array with minimum length "
                        f"{bound}, but got an empty array instead.", code="empty_array", param=param)
    return ApiError(f"Invalid '{param}': array too short. Expected an array with minimum length "
                    f"{bound}, but got an array with length {length} instead.",
                    code="array_below_min_length", param=param)


def too_many_properties(param: str, count: int, bound: int) -> ApiError:
    return ApiError(f"Invalid '{param}': too many properties. Expected an object with at most {bound} "
                    f"properties, but got an object with {count} properties instead.",
                    code="object_above_max_properties", param=param)


# --- errors of a session's events (reference 4f, 5.2); [unverified] marks wording no capture shows --

def commit_empty(ms: float) -> ApiError:
    return ApiError("Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                    f"but buffer only has {ms:.2f}ms of audio.", code="input_audio_buffer_commit_empty")


def active_response(response_id: str) -> ApiError:
    return ApiError(f"Conversation already has an active response in progress: {response_id}. Wait until the "
                    "response is finished before creating a new one.", code="conversation_already_has_active_response")


def too_many_responses(limit: int) -> ApiError:  # the mock's own limit (protocol/session.py); wording its own
    return ApiError(f"Too many responses in progress: {limit} out-of-band responses are running. Wait until one "
                    "is finished before creating another.", code="too_many_active_responses")


def cancel_not_active() -> ApiError:
    return ApiError("Cancellation failed: no active response found", code="response_cancel_not_active")


def session_expired() -> ApiError:
    return ApiError("Your session hit the maximum duration of 60 minutes.", code="session_expired")


def no_such_item(verb: str, code: str, item_id: str) -> ApiError:
    # "Error deleting item: the item with id '…' does not exist." [OBS]; truncate/retrieve by analogy.
    return ApiError(f"Error {verb} item: the item with id '{item_id}' does not exist.", code=code)


def no_previous_item(item_id: str) -> ApiError:  # [unverified]
    return ApiError(f"Error adding item: the previous item with id '{item_id}' does not exist.",
                    code="item_create_invalid_previous_item_id", param="previous_item_id")


def duplicate_item(item_id: str) -> ApiError:  # [unverified]
    return ApiError(f"Error adding item: an item with id '{item_id}' already exists.",
                    code="item_create_duplicate_item_id", param="item.id")


def not_output_audio() -> ApiError:  # reported wording, code null
    return ApiError("Only model output audio messages can be truncated")


def truncate_too_long(end_ms: int, length_ms: float) -> ApiError:  # [unverified] documented, code unknown
    return ApiError(f"Audio content of {length_ms:.0f}ms is shorter than audio_end_ms {end_ms}ms.",
                    code="invalid_value", param="audio_end_ms")


def bad_base64(param: str = "audio") -> ApiError:  # [unverified]
    return ApiError(f"Invalid '{param}': expected a base64-encoded string.", code="invalid_value", param=param)


def append_too_large(length: int, limit: int) -> ApiError:  # documented limit, error not captured
    return ApiError(f"Invalid 'audio': string too long. Expected a string with maximum length {limit}, "
                    f"but got a string with length {length} instead.", code="string_above_max_length", param="audio")


def unknown_reference(index: int, item_id: str) -> ApiError:  # [unverified]
    return ApiError(f"Error creating response: the item with id '{item_id}' does not exist.",
                    code="invalid_value", param=f"response.input[{index}].id")


def not_a_conversation(value: str) -> ApiError:
    return ApiError(f"Invalid value: '{value}'. Supported values are: 'auto' and 'none'.", code="invalid_value",
                    param="response.conversation")


def no_responses_here() -> ApiError:  # [unverified] transcription sessions have no responses (reference 2.4)
    return ApiError("Responses are not supported in transcription sessions.", code="invalid_value", param="type")


def close_not_supported() -> ApiError:  # "only supported for translation sessions" [DOCS]
    return ApiError("session.close is only supported for translation sessions.", code="invalid_value", param="type")


def server_error(session_id: str) -> ApiError:
    """What live sends when the server fails inside a session (seen on the live API since 2024; the
    mock sends it when its own core raises, then closes 1011)."""
    return ApiError("The server had an error while processing your request. Sorry about that! You can retry your "
                    "request, or contact us through our help center at help.openai.com if the error persists. "
                    f"(Please include the session ID {session_id} in your message.)", type="server_error")
