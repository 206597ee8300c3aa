"""The per-model rules of the request-based audio endpoints, and the errors that enforce them.

Evidence: the SDK's docstrings (openai 3.51.0, `types/audio/*_params.py`, `types/chat/*`), and the live
error reports quoted below. Wording no capture shows is marked `[unverified]`: it follows the platform's
usual forms (`Unsupported parameter: ...`, `Unsupported value: ...`).
"""

from __future__ import annotations

from collections.abc import Sequence

from mockserver.protocol.errors import ApiError, quoted_list

# -- models ---------------------------------------------------------------------------------------------

# Speech: "tts-1, tts-1-hd, gpt-4o-mini-tts, or gpt-4o-mini-tts-2025-12-15" (and the dated snapshots).
# No `instructions` [SDK docstrings]; `stream_format: "sse"` is ignored (raw audio), as live (rest/speech.py).
TTS_CLASSIC = ("tts-1", "tts-1-hd")
TTS_MODELS = (*TTS_CLASSIC, "gpt-4o-mini-tts")
# The built-in voices per family [SDK docstrings; the classic models predate ballad, verse, marin, cedar].
CLASSIC_VOICES = ("alloy", "ash", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer")
VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar", "fable", "onyx",
          "nova")

WHISPER = "whisper-1"
DIARIZE = "gpt-4o-transcribe-diarize"
GPT_TRANSCRIBE = "gpt-transcribe"
# `logprobs` "only with the models gpt-4o-transcribe, gpt-4o-mini-transcribe, and gpt-4o-mini-transcribe-2025-12-15".
LOGPROB_MODELS = ("gpt-4o-transcribe", "gpt-4o-mini-transcribe")
TRANSCRIBE_MODELS = (WHISPER, GPT_TRANSCRIBE, "gpt-4o-transcribe", "gpt-4o-mini-transcribe", DIARIZE)

# The response formats each transcription model takes. whisper-1 all but diarized_json; the gpt-4o family
# "json" (live also takes "text": "response_format 'verbose_json' is not compatible with model
# 'gpt-4o-transcribe'. Use 'json' or 'text' instead.", openai/openai-dotnet#401, vercel/ai#8214); the diarize
# model "json, text, and diarized_json" [SDK docstring].
WHISPER_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
DIARIZE_FORMATS = ("json", "text", "diarized_json")
GPT_FORMATS = ("json", "text")
# Uploads: the live list, in its order ("Invalid file format. Supported formats: ['flac', 'm4a', ...]").
FILE_FORMATS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")


def is_model(model: str, family: str) -> bool:
    """`model` is `family` or one of its dated snapshots (`gpt-4o-mini-tts-2025-12-15`, `tts-1-1106`)."""
    if model == family:
        return True
    rest = model.removeprefix(family + "-")
    return rest != model and rest[:1].isdigit()


def family_of(model: str, families: Sequence[str]) -> str | None:
    return next((family for family in families if is_model(model, family)), None)


def transcription_formats(family: str) -> tuple[str, ...]:
    if family == WHISPER:
        return WHISPER_FORMATS
    return DIARIZE_FORMATS if family == DIARIZE else GPT_FORMATS


# -- errors ---------------------------------------------------------------------------------------------

def model_not_found(model: str) -> ApiError:
    """404, the live wording for a model the key cannot use (here: one the endpoint does not serve)."""
    return ApiError(f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found")


def unsupported_parameter(param: str) -> ApiError:  # [unverified] for these endpoints: the platform's form
    return ApiError(f"Unsupported parameter: '{param}' is not supported with this model.",
                    code="unsupported_parameter", param=param)


def granularities_need_verbose_json() -> ApiError:
    """The rule is the SDK's ("`response_format` must be set `verbose_json` to use timestamp granularities"); the
    words are those reported of an OpenAI-compatible server (SubtitleEdit/subtitleedit#11146), param and code
    null as there [unverified for the live API]."""
    return ApiError("`response_format` must be `verbose_json` if `timestamp_granularities[]` is provided")


def incompatible_format(fmt: str, model: str, supported: Sequence[str]) -> ApiError:
    """Live, for the gpt-4o family ("Use 'json' or 'text' instead."); the lists of other models [unverified]."""
    listed = " or ".join(f"'{f}'" for f in supported) if len(supported) <= 2 else (
        ", ".join(f"'{f}'" for f in supported[:-1]) + f" or '{supported[-1]}'")
    return ApiError(f"response_format '{fmt}' is not compatible with model '{model}'. Use {listed} instead.",
                    code="unsupported_value", param="response_format")


def invalid_voice(voice: str, supported: Sequence[str]) -> ApiError:  # [unverified] the schema's invalid_value form
    return ApiError(f"Invalid value: '{voice}'. Supported values are: {quoted_list(supported)}.",
                    code="invalid_value", param="voice")


def invalid_file_format() -> ApiError:
    """Live wording (reported by apps, e.g. EpicenterHQ/epicenter#357); param and code [unverified]."""
    return ApiError(f"Invalid file format. Supported formats: {list(FILE_FORMATS)}")


def unreadable_audio(param: str = "file") -> ApiError:
    """Live wording for whisper-1 (aallam/openai-kotlin#443); param and code [unverified]."""
    return ApiError("Audio file might be corrupted or unsupported", code="invalid_value", param=param)


def unsupported_format() -> ApiError:
    """Live, the gpt-4o transcription models' answer to audio they cannot read (openai/openai-python#2477,
    modem-works/dream-recorder#3: param `messages`, code `unsupported_format`)."""
    return ApiError("This model does not support the format you provided.", code="unsupported_format",
                    param="messages")


def chunking_needed(seconds: float) -> ApiError:  # [unverified] "Required ... for inputs longer than 30 seconds"
    return ApiError(f"chunking_strategy is required for {DIARIZE} when the audio is longer than 30 seconds "
                    f"(this audio is {seconds:.1f} seconds).", code="missing_required_parameter",
                    param="chunking_strategy")


def speakers_mismatch(names: int, references: int) -> ApiError:  # [unverified]
    return ApiError(f"known_speaker_names and known_speaker_references must have the same length (got {names} "
                    f"names and {references} references).", code="invalid_value", param="known_speaker_names")


def translation_model(model: str) -> ApiError:  # [unverified] "Only whisper-1 ... is currently available."
    return ApiError(f"Unsupported value: 'model' does not support '{model}' for translations. Supported values "
                    f"are: '{WHISPER}'.", code="unsupported_value", param="model")


def logprobs_need_json(fmt: str) -> ApiError:  # [unverified] "logprobs only works with response_format set to json"
    return ApiError(f"Unsupported value: 'include' does not support 'logprobs' with response_format '{fmt}'. "
                    "Use 'json' instead.", code="unsupported_value", param="include")


# -- Chat Completions with audio --------------------------------------------------------------------------

# Models that hear and speak in Chat Completions: the audio models (`gpt-audio`, `gpt-audio-mini`,
# `gpt-4o-audio-preview`, `gpt-4o-mini-audio-preview` and their snapshots).
CHAT_AUDIO_MARK = "audio"
CHAT_OUTPUT_FORMATS = {"wav": "wav", "aac": "aac", "mp3": "mp3", "flac": "flac", "opus": "opus", "pcm16": "pcm"}
AUDIO_SECONDS_KEPT = 3600  # `expires_at` of an answer's audio: an hour, as live shows [unverified]


def is_audio_model(model: str) -> bool:
    return CHAT_AUDIO_MARK in model.split("-")


def no_audio_output(model: str) -> ApiError:  # [unverified]
    return ApiError(f"This model does not support audio output: '{model}'. Use an audio model such as 'gpt-audio'.",
                    code="unsupported_value", param="modalities")


def no_audio_input(param: str) -> ApiError:
    """The live wording for images on a model without vision, said of audio [unverified]."""
    return ApiError("Invalid content type. input_audio is only supported by certain models.", param=param)


def audio_parameter_needed() -> ApiError:  # [unverified] "Required when audio output is requested"
    return ApiError("Audio output requires the 'audio' parameter (voice and format) when modalities include "
                    "'audio'.", code="missing_required_parameter", param="audio")


def stream_needs_pcm16(fmt: str) -> ApiError:
    """Live (forwarded by OpenRouter, Agent-Field/agentfield#584): streamed audio is pcm16 only."""
    return ApiError(f"Unsupported value: 'audio.format' does not support '{fmt}' when stream=true. Supported "
                    "values are: 'pcm16'.", code="unsupported_value", param="audio.format")


def unknown_audio(audio_id: str, param: str) -> ApiError:  # [unverified]
    return ApiError(f"Audio with id '{audio_id}' was not found or has expired.", code="invalid_value", param=param)
