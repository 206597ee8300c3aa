"""Read the committed JSON Schemas in `schemas/` and hand out compiled validators.

Validators are built once per schema file and cached: building one walks the whole schema,
validating with one is cheap.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

    from mockserver.protocol.validation import Schemas

Family = str  # "realtime/client", "realtime/server", "translation/client", "beta/server", ...


@functools.cache
def schemas_root() -> Path:
    """`schemas/` of a source checkout, or the copy installed with the package."""
    checkout = Path(__file__).resolve().parent.parent / "schemas"
    if (checkout / "manifest.json").is_file():
        return checkout
    installed = Path(str(resources.files("mockserver") / "_schemas"))
    if (installed / "manifest.json").is_file():
        return installed
    raise FileNotFoundError("no schemas/manifest.json next to the package nor installed with it")


@functools.cache
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((schemas_root() / "manifest.json").read_text("utf-8"))
    return data


def event_types(family: Family) -> tuple[str, ...]:
    """Event types of a family, in the SDK's union order."""
    return tuple(manifest()["families"][family])


@functools.cache
def load(path: str) -> dict[str, Any]:
    """One schema by its path under schemas/, without `.json` (e.g. `realtime/client/session.update`)."""
    data: dict[str, Any] = json.loads((schemas_root() / f"{path}.json").read_text("utf-8"))
    return data


@functools.cache
def schemas() -> Schemas:
    """The schemas as the protocol core validates with them (live rules applied), read from here."""
    from mockserver.protocol.validation import Schemas

    return Schemas(load)


@functools.cache
def validator(path: str) -> Validator:
    from jsonschema import Draft202012Validator  # imported on first use: it costs ~50 ms at start-up

    schema = load(path)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def event_validator(family: Family, event_type: str) -> Validator | None:
    """The validator for one event type of a family, or None when the family has no such type."""
    if event_type not in manifest()["families"].get(family, ()):
        return None
    return validator(f"{family}/{event_type}")


def shape_errors(family: Family, event: Any) -> list[str]:
    """Plain jsonschema messages for one event (for tests and conformance, not for clients)."""
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return ["not an event object with a string 'type'"]
    check = event_validator(family, event["type"])
    if check is None:
        return [f"{event['type']!r} is not a {family} event type"]
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in check.iter_errors(event)]
