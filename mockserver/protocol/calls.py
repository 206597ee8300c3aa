"""One call state machine for WebRTC and SIP calls (`/v1/realtime/calls/{call_id}/accept|reject|refer|hangup`).

A SIP call arrives `incoming` (the platform answers the trunk and tells the app by webhook); `accept`
starts its session (`active`), `reject` ends it with a SIP status, `refer` hands it on (a SIP `REFER`;
the caller then leaves). A WebRTC call is `active` from its `POST /v1/realtime/calls`. `hangup` ends an
incoming or active call of either kind; an ended call is not found any more, as live answers a second
hangup (404 `call_id_not_found`).

`Call.check(action)` says whether an action may run now, as the error the REST route answers; the
transports (transports/webrtc.py, the SIP endpoint) do the action and then move the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mockserver.protocol.errors import ApiError

Kind = Literal["webrtc", "sip"]
State = Literal["incoming", "active", "ended"]
Action = Literal["accept", "reject", "refer", "hangup"]
DEFAULT_REJECT_STATUS = 603  # SIP "Decline", the documented default (reference 1.5)


def call_not_found() -> ApiError:
    # Live, for a sideband to an unknown call and for a second hangup (openai/codex#35094; issue 13).
    return ApiError("No session found for the provided call_id", code="call_id_not_found")


def wrong_state(call_id: str, action: Action, why: str) -> ApiError:  # [unverified] the mock's own wording
    return ApiError(f"Cannot {action} call '{call_id}': {why}.", code="invalid_call_state")


@dataclass
class Call:
    call_id: str
    kind: Kind
    scope: str
    state: State

    def check(self, action: Action) -> tuple[int, ApiError] | None:
        """(HTTP status, error) when `action` cannot run in this state, else None."""
        if self.state == "ended":
            return 404, call_not_found()
        if action == "hangup":
            return None
        if self.kind == "webrtc":
            why = ("a WebRTC call is answered when it is created" if action in ("accept", "reject")
                   else "only SIP calls can be referred")
            return 400, wrong_state(self.call_id, action, why)
        if action in ("accept", "reject") and self.state != "incoming":
            return 400, wrong_state(self.call_id, action, "it was already accepted")
        if action == "refer" and self.state != "active":  # REFER goes in the dialog an accept makes
            return 400, wrong_state(self.call_id, action, "it has not been accepted")
        return None


def body_problem(action: Action, body: dict[str, Any]) -> ApiError | None:
    """What the schema cannot say about a reject or refer body: a reject's SIP status must be a final failure
    (400-699), a refer's target a SIP or telephone URI. [unverified] the mock's own wording and bounds."""
    status = body.get("status_code")
    if action == "reject" and status is not None and not 400 <= status <= 699:
        return ApiError(f"Invalid 'status_code': {status}. Expected a SIP failure status between 400 and 699.",
                        code="invalid_value", param="status_code")
    target = body.get("target_uri")
    if action == "refer" and isinstance(target, str) and not target.lower().startswith(("sip:", "sips:", "tel:")):
        return ApiError(f"Invalid 'target_uri': '{target}'. Expected a sip:, sips: or tel: URI.",
                        code="invalid_value", param="target_uri")
    return None
