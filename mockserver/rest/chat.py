"""`POST /v1/chat/completions` (the SDK's `client.chat.completions.create`), text and audio, answered by the
scope's scenario (the same engine as realtime sessions; the default answers "You said: ...").

With `modalities: ["text", "audio"]` and `audio: {voice, format}` the assistant message carries `audio`:
an `id` (remembered per scope, so a later request may send `{"role": "assistant", "audio": {"id": ...}}`
back), the speech codec's audio of the answer as base64 `data` in `format`, its `transcript` and
`expires_at`. `stream: true` sends `chat.completion.chunk`s: the role, then text pieces (or, for audio, which
streams in `pcm16` only as live, transcript pieces each followed by a piece of the audio, then the
`expires_at`), tool calls, the finish reason, the usage when `stream_options.include_usage`, and `data: [DONE]`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mockserver.protocol.errors import ApiError
from mockserver.protocol.ids import IdSource
from mockserver.protocol.responder import ErrorReply, FunctionCall, Message, Reply
from mockserver.protocol.tokens import count_tokens, tokens
from mockserver.protocol.transcription import AUDIO_TOKENS_PER_SECOND
from mockserver.rest import audio_rules as rules
from mockserver.rest.bodies import JsonBody
from mockserver.rest.chat_turn import ChatTurn, read_turn
from mockserver.rest.endpoint import SSE_TYPE, Call, Refused, endpoint, sse, streamed
from mockserver.rest.requests_journal import StoredAudio
from mockserver.rest.speech import render

PATH = "/v1/chat/completions"
FINGERPRINT = "fp_realtime_mock"
# A failed reply's error code -> the HTTP status a REST request gets for it.
FAILURE_STATUS = {"rate_limit_exceeded": 429, "insufficient_quota": 429}


class Answer:
    """What the reply says, as a chat message: text, tool calls, how it finished, and its audio."""

    def __init__(self, reply: Reply, ids: IdSource) -> None:
        said = [o.text for o in reply.outputs if isinstance(o, Message) and o.phase != "commentary"]
        self.text = " ".join(said)
        self.finish = "stop"
        if reply.status == "incomplete":
            cut = reply.cut_after_tokens if reply.cut_after_tokens is not None else len(tokens(self.text)) // 2
            self.text = "".join(tokens(self.text)[:cut])
            self.finish = "content_filter" if reply.reason == "content_filter" else "length"
        self.tool_calls: list[dict[str, Any]] = [{"id": o.call_id or ids.call(), "type": "function",
                            "function": {"name": o.name, "arguments": o.arguments}}
                           for o in reply.outputs if isinstance(o, FunctionCall)]
        if self.tool_calls and self.finish == "stop":
            self.finish = "tool_calls"
        self.audio: dict[str, Any] | None = None
        self.audio_file = b""
        self.audio_seconds = 0.0


def _check(body: Mapping[str, Any]) -> list[str]:
    """The output modalities, once the request may have them (Refused otherwise)."""
    modalities = list(body.get("modalities") or ["text"])
    if "audio" in modalities:
        if not rules.is_audio_model(body["model"]):
            raise Refused(400, rules.no_audio_output(body["model"]))
        if not body.get("audio"):
            raise Refused(400, rules.audio_parameter_needed())
        if body.get("stream") and body["audio"]["format"] != "pcm16":  # as live: streamed audio is raw PCM
            raise Refused(400, rules.stream_needs_pcm16(body["audio"]["format"]))
    return modalities


def _failure(reply: Reply | ErrorReply) -> Refused | None:
    if isinstance(reply, ErrorReply):
        return Refused(400, ApiError(reply.message, type=reply.type, code=reply.code, param=reply.param))
    if reply.status == "failed":
        error = reply.error or {}
        code = error.get("code")
        return Refused(FAILURE_STATUS.get(str(code), 500),
                       ApiError(error.get("message", ""), type=error.get("type", "server_error"), code=code))
    return None


async def create(call: Call) -> Response:
    body = await call.json("rest/chat.completions.request")
    modalities = _check(body)
    call.admit(body["model"])
    turn = await read_turn(call, body)
    reply = call.responder().reply(turn.turn(body, ["audio"] if "audio" in modalities else ["text"]))
    failure = _failure(reply)
    if failure is not None:
        raise failure
    assert isinstance(reply, Reply)
    ids = IdSource(call.scope.child_seed())
    answer = Answer(reply, ids)
    if "audio" in modalities and answer.text:
        await _speak(call, answer, body["audio"]["format"], ids)
    completion = Completion(call, body, ids, answer, turn)
    if body.get("stream"):
        return streamed(sse(completion.chunks(), done=True), SSE_TYPE)
    return JsonBody(completion.whole())


async def _speak(call: Call, answer: Answer, fmt: str, ids: IdSource) -> None:
    seconds, data = await run_in_threadpool(render, answer.text, 1.0, rules.CHAT_OUTPUT_FORMATS[fmt])
    expires_at = int(call.now()) + rules.AUDIO_SECONDS_KEPT
    audio_id = "audio_" + ids.token(32)
    call.scope.rest.audio[audio_id] = StoredAudio(answer.text, expires_at)
    answer.audio = {"id": audio_id, "data": base64.b64encode(data).decode(), "expires_at": expires_at,
                    "transcript": answer.text}
    answer.audio_file, answer.audio_seconds = data, seconds


class Completion:
    def __init__(self, call: Call, body: Mapping[str, Any], ids: IdSource, answer: Answer, turn: ChatTurn) -> None:
        self.body, self.answer, self.turn = body, answer, turn
        self.head = {"id": "chatcmpl-" + ids.token(29), "created": int(call.now()), "model": body["model"]}

    def usage(self) -> dict[str, Any]:
        audio_in = round(self.turn.audio_seconds * AUDIO_TOKENS_PER_SECOND)
        audio_out = round(self.answer.audio_seconds * AUDIO_TOKENS_PER_SECOND)
        prompt = self.turn.prompt_text_tokens() + audio_in
        completion = count_tokens(self.answer.text) + audio_out + sum(
            count_tokens(c["function"]["arguments"]) for c in self.answer.tool_calls)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": audio_in},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": audio_out,
                                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}

    def whole(self) -> dict[str, Any]:
        answer = self.answer
        message: dict[str, Any] = {"role": "assistant", "content": None if answer.audio else answer.text,
                                   "refusal": None, "annotations": []}
        if answer.audio:
            message["audio"] = answer.audio
        if answer.tool_calls:
            message["tool_calls"] = answer.tool_calls
            message["content"] = answer.text or None
        return {**self.head, "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": answer.finish}],
                "usage": self.usage(), "service_tier": "default", "system_fingerprint": FINGERPRINT}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        chunk = {**self.head, "object": "chat.completion.chunk", "service_tier": "default",
                 "system_fingerprint": FINGERPRINT,
                 "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if self._usage_wanted():
            chunk["usage"] = None
        return chunk

    def _usage_wanted(self) -> bool:
        return bool((self.body.get("stream_options") or {}).get("include_usage"))

    def chunks(self) -> list[dict[str, Any]]:
        answer = self.answer
        out = [self._chunk({"role": "assistant", "content": None if answer.audio else "", "refusal": None})]
        if answer.audio:
            out += self._audio_chunks(answer.audio)
        else:
            out += [self._chunk({"content": piece}) for piece in tokens(answer.text)]
        for index, tool in enumerate(answer.tool_calls):
            function = tool["function"]
            out.append(self._chunk({"tool_calls": [{"index": index, "id": tool["id"], "type": "function",
                                                    "function": {"name": function["name"], "arguments": ""}}]}))
            out += [self._chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                    for piece in tokens(function["arguments"])]
        out.append(self._chunk({}, answer.finish))
        if self._usage_wanted():
            out.append({**self.head, "object": "chat.completion.chunk", "service_tier": "default",
                        "system_fingerprint": FINGERPRINT, "choices": [], "usage": self.usage()})
        return out

    def _audio_chunks(self, audio: dict[str, Any]) -> list[dict[str, Any]]:
        """Transcript pieces, each followed by its share of the audio file (the pieces join into the file)."""
        pieces = tokens(audio["transcript"]) or [""]
        data = self.answer.audio_file
        size = -(-len(data) // len(pieces))
        out = []
        for index, piece in enumerate(pieces):
            share = data[index * size:(index + 1) * size]
            delta: dict[str, Any] = {"id": audio["id"], "transcript": piece}
            out.append(self._chunk({"audio": delta}))
            if share:
                out.append(self._chunk({"audio": {"id": audio["id"], "data": base64.b64encode(share).decode()}}))
        out.append(self._chunk({"audio": {"id": audio["id"], "expires_at": audio["expires_at"]}}))
        return out


ROUTES = [endpoint(PATH, create)]
