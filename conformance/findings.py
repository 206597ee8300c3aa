"""A finding: one place where a recording, a target (the mock or the live API) and the SDK's schemas
disagree. Comparators yield every finding instead of stopping at the first; `classify` gives each a
category and the allowlist may explain it.

Kinds (what differs):

| kind | found by |
|---|---|
| `missing_event`, `extra_event`, `order`, `delta_types` | the order of event types (compare, part a) |
| `missing_key`, `extra_key`, `json_type`, `array_length`, `value`, `reference` | the shape of paired events (part b) |
| `schema` | a frame that does not validate against `schemas/` (part c) |
| `beta` | traffic in the beta shape (beta.py) |

Categories: `beta_shape` (client traffic in the beta shape), `mock_drift` (the mock differs from the
recording), `live_drift` (a URL target differs from the recording), `spec_drift` (live traffic, recorded
or from a URL target, differs from the SDK's schema). A finding the allowlist explains is `allowed`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

CATEGORIES = ("beta_shape", "mock_drift", "live_drift", "spec_drift")
KINDS = ("missing_event", "extra_event", "order", "delta_types", "missing_key", "extra_key", "json_type",
         "array_length", "value", "reference", "schema", "beta")


@dataclass
class Finding:
    cassette: str
    kind: str
    message: str
    event: str | None = None  # the event type it is about
    index: int | None = None  # the frame's index in the cassette (client and server frames counted)
    target_index: int | None = None  # the event's index among the server events the target sent
    path: str = "$"  # JSON path inside the event: `$.response.output[0].type`
    recorded: str | None = None  # the recorded value or shape, as text
    target: str | None = None  # the target's value or shape, as text
    side: str = "both"  # "recorded", "target" or "both": whose frame it is about
    rule: str | None = None  # beta findings: the key of the beta -> GA table row
    category: str = ""  # set by classify: one of CATEGORIES
    allowed_reason: str | None = None  # set by the allowlist

    @property
    def classification(self) -> str:
        """The category, or `allowed` when the allowlist explains the finding."""
        return "allowed" if self.allowed_reason is not None else self.category

    @property
    def unexplained(self) -> bool:
        return self.allowed_reason is None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["classification"] = self.classification
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(**{k: v for k, v in data.items() if k != "classification"})
