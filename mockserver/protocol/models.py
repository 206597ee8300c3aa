"""What differs between realtime models: their defaults, what they accept, and how they speak.

One `Profile` per family, found by the longest matching name prefix (dated snapshots and `-mini`
variants belong to their family unless listed). Each value names its evidence; where there is none,
the table says so and takes the nearest documented value.

- `gpt-realtime-2`, `gpt-realtime-2.1`, `-2.1-mini` and the rest of `2.x`: voice marin, server VAD
  silence 500 ms, reasoning (default effort `low`), phases and preambles. Evidence: the live recording
  `newer/gpt-realtime-2.1.test_text_tool_round_parity` (session.created; a commentary preamble streaming
  beside a function call, then a final_answer) and the SDK's doc comments ("reasoning-capable Realtime
  models such as `gpt-realtime-2`"). `gpt-realtime-2` itself is not captured: it takes 2.1's values.
- `gpt-realtime` (with `-1.5` and the dated snapshots): voice alloy, silence 200 ms, no reasoning, no
  phases. Evidence: the live recordings `openai_ws.*`.
- `gpt-realtime-mini`, `gpt-audio`: not captured; they take gpt-realtime's values.
- `gpt-4o-realtime-preview`, `gpt-4o-mini-realtime-preview`: alloy and 200 ms, the beta-era defaults
  (reference 2.1, 3.3; examples/beta.session.created.json); their GA session is not captured.

Reasoning (`reasoning: {effort: minimal|low|medium|high|xhigh}`, default `low`, reference 2.1) is taken in
`session.update`, `response.create` and call accept by reasoning models only. Live `session.created` of
`gpt-realtime-2.1` shows no `reasoning` key, so the mock shows one only once a client sets it; a
non-reasoning model answers `unsupported_parameter` (the wording of the platform's other endpoints for a
reasoning setting on a model without reasoning; no capture of the realtime wording). Usage counts
`output_token_details.reasoning_tokens` when the client asked for an effort (the recording, which asked
for none, shows no such key), by effort: `REASONING_TOKENS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EFFORTS = ("minimal", "low", "medium", "high", "xhigh")
DEFAULT_EFFORT = "low"
REASONING_TOKENS = {"minimal": 0, "low": 12, "medium": 48, "high": 160, "xhigh": 480}  # per response


@dataclass(frozen=True)
class Profile:
    family: str  # a pattern the model name starts with
    voice: str
    silence_duration_ms: int
    reasoning: bool  # takes `reasoning`, thinks before answering
    phases: bool  # assistant messages carry `phase`; a preamble (commentary) streams beside a tool call

    def item_done_names_previous(self, kind: str, *, spoken: bool, overtaken: bool) -> bool:
        """Whether `conversation.item.done` of an assistant item says which item is before it.

        gpt-realtime (recordings openai_ws.*): a written message does, a spoken one or a function call
        says null. gpt-realtime-2.1 (recording newer/...parity): a function call and a message do, except a
        message another item was added after while it streamed (the preamble beside its function call).
        """
        if self.phases:
            return not overtaken
        return kind == "message" and not spoken


PROFILES = (
    # `gpt-realtime-2`, `-2.1`, `-2.1-mini`, ... but not the dated `gpt-realtime-2025-08-28` (a gpt-realtime).
    Profile(r"gpt-realtime-2(\.\d+)?(-|$)", "marin", 500, reasoning=True, phases=True),
    Profile(r"gpt-realtime-mini", "alloy", 200, reasoning=False, phases=False),
    Profile(r"gpt-realtime", "alloy", 200, reasoning=False, phases=False),
    Profile(r"gpt-4o(-mini)?-realtime-preview", "alloy", 200, reasoning=False, phases=False),
    Profile(r"gpt-audio", "alloy", 200, reasoning=False, phases=False),
)
DEFAULT = PROFILES[2]  # gpt-realtime


def profile(model: str) -> Profile:
    """The profile of a model name: the first family it belongs to (gpt-realtime when none)."""
    return next((p for p in PROFILES if re.match(p.family, model)), DEFAULT)
