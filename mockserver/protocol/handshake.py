"""The `/v1/realtime` handshake as live (reference 1.1): upgrade first, then judge the request.

The live API answers 101 even to a bad key or model, then sends one `error` and closes in the same
millisecond: 3000 for authentication, 4000 for the request's shape, with reason `type.code`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mockserver.protocol.errors import ApiError
from mockserver.protocol.session_config import is_realtime_model

AUTH_FAILED = 3000
TRANSLATION_MODELS = ("gpt-realtime-translate",)  # the SDK's only translation model (and its snapshots)
BAD_REQUEST = 4000
BROWSER_KEY_PREFIX = "openai-insecure-api-key."


@dataclass(frozen=True)
class Handshake:
    """What the upgrade asked for, and the failure to report after accepting it (if any)."""

    subprotocol: str | None  # the one the server selects ("realtime" when offered)
    api_key: str | None
    model: str | None = None
    call_id: str | None = None
    intent: str | None = None
    error: ApiError | None = None
    close_code: int | None = None
    beta: bool = False  # `OpenAI-Beta: realtime=v1`, served by the beta shim (`ServerConfig.beta = "shim"`)

    @property
    def close_reason(self) -> str:
        assert self.error is not None
        return f"{self.error.type}.{self.error.code}" if self.error.code else self.error.type


def masked(key: str) -> str:
    """The key as live error messages show it: its start and its last four characters."""
    return f"{key[:8]}{'*' * max(0, len(key) - 12)}{key[-4:]}" if len(key) > 12 else "*" * len(key)


def missing_auth() -> ApiError:
    return ApiError("Missing bearer or basic authentication in header")


def invalid_api_key(key: str) -> ApiError:
    return ApiError(f"Incorrect API key provided: {masked(key)}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.", code="invalid_api_key")


def beta_disabled() -> ApiError:
    return ApiError("The Realtime Beta API is no longer supported.", code="beta_api_shape_disabled")


def missing_model() -> ApiError:
    return ApiError("You must provide a model parameter, for example "
                    "wss://api.openai.com/v1/realtime?model=gpt-realtime-1.5", code="missing_model")


def invalid_model(model: str) -> ApiError:
    return ApiError(f'Model "{model}" is not supported in realtime mode. See '
                    "https://platform.openai.com/docs/models for a list of supported models.", code="invalid_model")


def too_many_targets() -> ApiError:  # "pass exactly one of model, call_id, or intent" [REF]; wording [unverified]
    return ApiError("You must provide exactly one of the model, call_id or intent parameters.",
                    code="invalid_request")


def invalid_intent(intent: str) -> ApiError:
    return ApiError(f"Invalid value: '{intent}'. Supported values are: 'realtime' and 'transcription'.",
                    code="invalid_value", param="intent")


def wrong_secret(kind: str, wanted: str) -> ApiError:  # [unverified] the mock's own wording
    return ApiError(f"This client secret was created for a {kind} session: it cannot open a {wanted} session.",
                    code="invalid_client_secret")


def translation_intent() -> ApiError:  # the SDK refuses it ("does not accept an intent query parameter")
    return ApiError("Unknown parameter: 'intent'.", code="unknown_parameter", param="intent")


def missing_translation_model() -> ApiError:
    return ApiError("You must provide a model parameter, for example "
                    "wss://api.openai.com/v1/realtime/translations?model=gpt-realtime-translate", code="missing_model")


def invalid_translation_model(model: str) -> ApiError:  # [unverified] the realtime wording, for translation
    return ApiError(f'Model "{model}" is not supported in translation mode. See '
                    "https://platform.openai.com/docs/models for a list of supported models.", code="invalid_model")


def beta_model_unsupported(model: str, beta_models: Sequence[str]) -> ApiError:  # the mock's own wording
    return ApiError(f'Model "{model}" is not served with the Realtime Beta API (OpenAI-Beta: realtime=v1). '
                    f"Beta models: {', '.join(beta_models)}.", code="invalid_model")


def check(query: Mapping[str, str], headers: Mapping[str, str], offered: Sequence[str], *,
          key_is_valid: Callable[[str], bool] = lambda key: True, beta_models: Sequence[str] | None = None,
          secret: Callable[[str], tuple[str, str | None] | None] = lambda key: None) -> Handshake:
    """Judge an upgrade request. Header names are lower case (ASGI). `beta_models`: None rejects the beta
    header, as live does; the models the beta shim serves accept it.

    `secret(key)` gives (session type, model) when the key is a client secret: then the secret's session
    type stands in for a missing `intent` and its model for a missing `model` (reference 1.1, 1.6).
    """
    subprotocol, api_key, refused = _credentials(headers, offered, key_is_valid)
    if refused is not None:
        return refused

    def fail(error: ApiError, close_code: int) -> Handshake:
        return Handshake(subprotocol, api_key, error=error, close_code=close_code)

    is_beta = (headers.get("openai-beta", "").replace(" ", "").lower() == "realtime=v1"
               or "openai-beta.realtime-v1" in offered)
    if is_beta and beta_models is None:
        return fail(beta_disabled(), BAD_REQUEST)
    model, call_id, intent = query.get("model"), query.get("call_id"), query.get("intent")
    minted = secret(api_key)
    if minted is not None and minted[0] == "translation":
        return fail(wrong_secret("translation", "realtime"), AUTH_FAILED)
    if minted is not None and call_id is None and intent is None and model is None:
        kind, minted_model = minted
        if kind == "transcription":
            intent = "transcription"
        else:
            model = minted_model or "gpt-realtime"
    if sum(v is not None for v in (call_id, intent)) + (model is not None and intent != "realtime") > 1:
        return fail(too_many_targets(), BAD_REQUEST)
    if intent is not None and intent not in ("realtime", "transcription"):
        return fail(invalid_intent(intent), BAD_REQUEST)
    if call_id is not None or intent == "transcription":
        return Handshake(subprotocol, api_key, call_id=call_id, intent=intent, beta=is_beta)
    if not model:
        return fail(missing_model(), BAD_REQUEST)
    if not is_realtime_model(model):
        return fail(invalid_model(model), BAD_REQUEST)
    if is_beta and beta_models is not None and model not in beta_models:
        return fail(beta_model_unsupported(model, beta_models), BAD_REQUEST)
    return Handshake(subprotocol, api_key, model=model, intent=intent, beta=is_beta)


def _credentials(headers: Mapping[str, str], offered: Sequence[str], key_is_valid: Callable[[str], bool],
                 ) -> tuple[str | None, str, Handshake | None]:
    """(subprotocol, API key, refusal): the key comes from `Authorization: Bearer` or, from browsers, the
    `openai-insecure-api-key.` subprotocol; a missing or unknown key refuses every path alike ("" with a
    refusal: no key)."""
    subprotocol = "realtime" if "realtime" in offered else None
    api_key = _bearer(headers.get("authorization", ""))
    if api_key is None:
        api_key = next((p[len(BROWSER_KEY_PREFIX):] for p in offered if p.startswith(BROWSER_KEY_PREFIX)), None)
    if api_key is None:
        return subprotocol, "", Handshake(subprotocol, None, error=missing_auth(), close_code=AUTH_FAILED)
    if not key_is_valid(api_key):
        return subprotocol, api_key, Handshake(subprotocol, api_key, error=invalid_api_key(api_key),
                                               close_code=AUTH_FAILED)
    return subprotocol, api_key, None


def _bearer(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def check_translation(query: Mapping[str, str], headers: Mapping[str, str], offered: Sequence[str], *,
                      key_is_valid: Callable[[str], bool] = lambda key: True,
                      secret: Callable[[str], tuple[str, str | None] | None] = lambda key: None) -> Handshake:
    """Judge an upgrade to `/v1/realtime/translations` (reference 1.2): a model is required (a translation
    secret's stands in), `intent` is not taken, and only a translation secret opens it."""
    subprotocol, api_key, refused = _credentials(headers, offered, key_is_valid)
    if refused is not None:
        return refused

    def fail(error: ApiError, close_code: int) -> Handshake:
        return Handshake(subprotocol, api_key, error=error, close_code=close_code)

    minted = secret(api_key)
    if minted is not None and minted[0] != "translation":
        return fail(wrong_secret(minted[0], "translation"), AUTH_FAILED)
    if "intent" in query:
        return fail(translation_intent(), BAD_REQUEST)
    model = query.get("model") or (minted[1] if minted is not None else None)
    if not model:
        return fail(missing_translation_model(), BAD_REQUEST)
    if not model.startswith(TRANSLATION_MODELS):
        return fail(invalid_translation_model(model), BAD_REQUEST)
    return Handshake(subprotocol, api_key, model=model)
