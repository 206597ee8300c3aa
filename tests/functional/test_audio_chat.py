"""Audio in Chat Completions with the official SDK over a real socket: spoken answers, heard input audio,
answers referred to by id, streaming, tools, and plain text through the same scenario engine."""

from __future__ import annotations

import base64
import json

import openai
import pytest

from mockserver import media
from mockserver.audio import speech
from mockserver.runner import RunningServer
from mockserver.scenarios import parse_scenario
from tests.functional.audio_rest_helpers import client, error_of, valid, wav_of

pytestmark = pytest.mark.functional

AUDIO = {"voice": "alloy", "format": "wav"}


def spoken(text: str, fmt: str = "wav") -> dict[str, object]:
    data = media.encode(speech.speak(text), fmt)
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(data).decode(), "format": fmt}}


async def test_plain_text_goes_through_the_scenario_engine(mock: RunningServer) -> None:
    answer = await client(mock).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": "What is the weather?"}])
    body = valid("rest/chat.completions.response", answer.http_response.json())
    message = body["choices"][0]["message"]
    assert (message["content"], body["choices"][0]["finish_reason"]) == ("You said: What is the weather?", "stop")
    assert "audio" not in message and body["usage"]["total_tokens"] > 0


async def test_a_spoken_answer_heard_from_spoken_input(mock: RunningServer) -> None:
    completion = await client(mock).chat.completions.create(
        model="gpt-audio", modalities=["text", "audio"], audio=AUDIO,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": [spoken("What time is it?", "mp3")]}])
    valid("rest/chat.completions.response", completion.model_dump(exclude_none=True))
    message = completion.choices[0].message
    assert message.content is None and message.audio is not None
    assert message.audio.transcript == "You said: What time is it?"
    assert speech.transcribe(media.decode(base64.b64decode(message.audio.data))) == message.audio.transcript
    assert message.audio.id.startswith("audio_") and message.audio.expires_at > completion.created
    usage = completion.usage
    assert usage and usage.prompt_tokens_details and usage.prompt_tokens_details.audio_tokens
    assert usage.completion_tokens_details and usage.completion_tokens_details.audio_tokens


@pytest.mark.parametrize("fmt", ["mp3", "flac", "opus", "aac", "pcm16"])
async def test_every_output_format(mock: RunningServer, fmt: str) -> None:
    completion = await client(mock).chat.completions.create(
        model="gpt-4o-audio-preview", modalities=["text", "audio"], audio={"voice": "ash", "format": fmt},
        messages=[{"role": "user", "content": "Format check."}])
    audio = completion.choices[0].message.audio
    assert audio is not None
    data = base64.b64decode(audio.data)
    pcm = data if fmt == "pcm16" else media.decode(data)
    assert speech.transcribe(pcm) == "You said: Format check."


async def test_a_later_request_refers_to_an_earlier_answer_by_id(mock: RunningServer) -> None:
    sdk = client(mock, scope="memory")
    scenario = parse_scenario(json.dumps({"name": "recall", "rules": [
        {"when": {"turn": 1}, "reply": "Earlier I said: {{json_in_text}}"}],
        "fallback": "Noted."}))
    mock.state.scope("memory").use_scenario(scenario)
    first = await sdk.chat.completions.create(model="gpt-audio", modalities=["text", "audio"], audio=AUDIO,
                                              messages=[{"role": "user", "content": "Remember this."}])
    audio_id = first.choices[0].message.audio.id  # type: ignore[union-attr]
    second = await sdk.chat.completions.create(model="gpt-audio", messages=[
        {"role": "user", "content": "Remember this."}, {"role": "assistant", "audio": {"id": audio_id}},
        {"role": "user", "content": "What did you say?"}])
    assert second.choices[0].message.content == "Earlier I said: {}"
    assert mock.state.scope("memory").rest.audio[audio_id].transcript == "Noted."
    with pytest.raises(openai.BadRequestError) as raised:
        await client(mock).chat.completions.create(model="gpt-audio", messages=[  # another scope: unknown
            {"role": "assistant", "audio": {"id": audio_id}}, {"role": "user", "content": "Again?"}])
    assert error_of(raised.value)["param"] == "messages[0].audio.id"
    mock.state.scope("memory").rest.audio[audio_id].expires_at = int(mock.state.clock.now())  # an hour later
    with pytest.raises(openai.BadRequestError) as raised:
        await sdk.chat.completions.create(model="gpt-audio", messages=[
            {"role": "assistant", "audio": {"id": audio_id}}, {"role": "user", "content": "Again?"}])
    assert error_of(raised.value) == {"message": f"Audio with id '{audio_id}' was not found or has expired.",
                                      "type": "invalid_request_error", "param": "messages[0].audio.id",
                                      "code": "invalid_value"}


async def test_the_scenario_hears_the_transcript_of_input_audio(mock: RunningServer) -> None:
    mock.state.scope("heard").use_scenario(parse_scenario(json.dumps({"name": "weather", "rules": [
        {"when": {"user_text": "(?i)weather in (?P<city>\\w+)"}, "reply": "Sunny in {{city}}."}]})))
    completion = await client(mock, scope="heard").chat.completions.create(
        model="gpt-audio-mini", messages=[{"role": "user", "content": [
            {"type": "text", "text": "Listen:"}, spoken("What is the weather in Lima?")]}])
    assert completion.choices[0].message.content == "Sunny in Lima."


async def test_streaming_text_chunks_and_usage(mock: RunningServer) -> None:
    stream = await client(mock).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Stream it."}], stream=True,
        stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    for chunk in chunks:
        valid("rest/chat.completions.chunk", chunk.model_dump(exclude_none=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: Stream it."
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


async def test_streaming_audio_transcript_and_data_pieces(mock: RunningServer) -> None:
    stream = await client(mock).chat.completions.create(
        model="gpt-audio", modalities=["text", "audio"], audio={"voice": "verse", "format": "pcm16"},
        messages=[{"role": "user", "content": [spoken("Tell me a story.")]}], stream=True)
    chunks = [chunk async for chunk in stream]
    audio = [getattr(c.choices[0].delta, "audio", None) for c in chunks if c.choices]
    parts = [a for a in audio if a]
    transcript = "".join(a.transcript or "" for a in parts)
    data = b"".join(base64.b64decode(a.data) for a in parts if a.data)
    assert transcript == "You said: Tell me a story."
    assert speech.transcribe(data) == transcript
    assert len({a.id for a in parts if a.id}) == 1 and parts[-1].expires_at
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_streamed_audio_is_pcm16_only_as_live(mock: RunningServer) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        await client(mock).chat.completions.create(
            model="gpt-audio", modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"},
            messages=[{"role": "user", "content": "Stream a file."}], stream=True)
    assert error_of(raised.value) == {
        "message": "Unsupported value: 'audio.format' does not support 'wav' when stream=true. Supported values "
                   "are: 'pcm16'.",
        "type": "invalid_request_error", "param": "audio.format", "code": "unsupported_value"}


async def test_tools_are_called_as_chat_tool_calls(mock: RunningServer) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    sdk = client(mock)
    completion = await sdk.chat.completions.create(
        model="gpt-4o", tools=tools,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": 'Please get_weather {"city": "Oslo"}'}])
    choice = completion.choices[0]
    (call,) = choice.message.tool_calls or []
    assert choice.finish_reason == "tool_calls"
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Oslo"})
    after = await sdk.chat.completions.create(model="gpt-4o", tools=tools, messages=[  # type: ignore[arg-type]
        {"role": "user", "content": 'Please get_weather {"city": "Oslo"}'},
        {"role": "assistant", "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "foggy"}])
    assert after.choices[0].message.content == "The get_weather tool returned: foggy"


async def test_audio_rules_and_errors(mock: RunningServer) -> None:
    sdk = client(mock)
    with pytest.raises(openai.BadRequestError) as raised:
        await sdk.chat.completions.create(model="gpt-4o-mini", modalities=["text", "audio"], audio=AUDIO,  # type: ignore[arg-type]
                                          messages=[{"role": "user", "content": "Hi"}])
    assert error_of(raised.value)["param"] == "modalities"
    with pytest.raises(openai.BadRequestError) as raised:
        await sdk.chat.completions.create(model="gpt-audio", modalities=["text", "audio"],
                                          messages=[{"role": "user", "content": "Hi"}])
    assert error_of(raised.value)["param"] == "audio"
    with pytest.raises(openai.BadRequestError) as raised:
        await sdk.chat.completions.create(model="gpt-4o-mini", messages=[
            {"role": "user", "content": [spoken("Hi")]}])  # type: ignore[list-item]
    assert error_of(raised.value)["message"] == "Invalid content type. input_audio is only supported by certain models."
    bad = spoken("Hi")
    bad["input_audio"] = {"data": "AAAA====", "format": "wav"}
    with pytest.raises(openai.BadRequestError) as raised:
        await sdk.chat.completions.create(model="gpt-audio", messages=[{"role": "user", "content": [bad]}])  # type: ignore[list-item]
    assert error_of(raised.value)["param"] == "messages[0].content[0].input_audio.data"
    with pytest.raises(openai.BadRequestError) as raised:
        ogg = {"type": "input_audio", "input_audio": {"data": base64.b64encode(wav_of("x")).decode(), "format": "ogg"}}
        await sdk.chat.completions.create(model="gpt-audio", messages=[{"role": "user", "content": [ogg]}])  # type: ignore[list-item]
    assert error_of(raised.value) == {"message": "Invalid value: 'ogg'. Supported values are: 'wav' and 'mp3'.",
                                      "type": "invalid_request_error", "code": "invalid_value",
                                      "param": "messages[0].content[0].input_audio.format"}


async def test_scenario_failures_become_http_errors(mock: RunningServer) -> None:
    mock.state.scope("fails").use_scenario(parse_scenario(json.dumps({"name": "fails", "rules": [
        {"when": {"turn": 0}, "reply": {"fail": "rate_limit"}}]})))
    with pytest.raises(openai.RateLimitError) as raised:
        await client(mock, scope="fails").chat.completions.create(model="gpt-audio", messages=[
            {"role": "user", "content": "Hi"}])
    assert error_of(raised.value)["code"] == "rate_limit_exceeded"
