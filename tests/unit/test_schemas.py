"""schemas/ is generated from the SDK, and the reference payloads and recordings conform to it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from mockserver import schema_store, schemagen
from tests.conftest import ROOT, reference_params

SCHEMAS = ROOT / "schemas"


def _examples() -> list[Any]:
    return reference_params(lambda folder: sorted(folder.joinpath("examples").glob("*.json")))


def _family_of_example(path: Path, event_type: str) -> str:
    prefix = path.name.split(".")[0]
    side = "client" if event_type in schema_store.event_types(
        {"beta": "beta", "translation": "translation"}.get(prefix, "realtime") + "/client") else "server"
    return {"beta": "beta", "translation": "translation"}.get(prefix, "realtime") + "/" + side


HTTP_EXAMPLES = {
    "http.client_secrets.response.json": "rest/client_secrets.response",
    "http.translations.client_secrets.response.json": "rest/translations.client_secrets.response",
    "webhook.realtime.call.incoming.json": "webhooks/realtime.call.incoming",
}


def test_manifest_records_sdk_and_hashes_every_file() -> None:
    manifest = json.loads((SCHEMAS / "manifest.json").read_text())
    assert manifest["sdk"] == {"package": "openai", "version": schemagen.SDK_VERSION}
    on_disk = {p.relative_to(SCHEMAS).as_posix() for p in SCHEMAS.rglob("*.json")} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    for path, digest in manifest["files"].items():
        assert hashlib.sha256((SCHEMAS / path).read_bytes()).hexdigest() == digest, path


def test_every_family_has_one_file_per_event_type_and_a_union() -> None:
    manifest = schema_store.manifest()
    expected_sizes = {"realtime/client": 11, "realtime/server": 46, "translation/client": 3,
                      "translation/server": 7, "beta/client": 12, "beta/server": 34}
    for family, size in expected_sizes.items():
        types = manifest["families"][family]
        assert len(types) == size, family
        for event_type in types:
            schema = schema_store.load(f"{family}/{event_type}")
            Draft202012Validator.check_schema(schema)
            assert schema["properties"]["type"]["const"] == event_type
        assert (SCHEMAS / family / "_union.json").is_file()


def test_request_schemas_are_closed_and_server_schemas_open() -> None:
    client = schema_store.load("realtime/client/session.update")
    assert client["additionalProperties"] is False
    server = schema_store.load("realtime/server/response.output_text.delta")
    assert server.get("additionalProperties") is not False  # live adds `obfuscation`


def test_schemas_check_finds_no_drift() -> None:
    assert list(schemagen.diff(SCHEMAS)) == []


def test_schemas_check_reports_a_hand_edit(tmp_path: Path) -> None:
    copy = tmp_path / "schemas"
    copy.mkdir()
    for path in SCHEMAS.rglob("*.json"):
        target = copy / path.relative_to(SCHEMAS)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    edited = copy / "realtime/client/response.cancel.json"
    edited.write_text(edited.read_text().replace('"response_id"', '"response_ident"'))
    (copy / "realtime/client/extra.json").write_text("{}")
    report = "".join(schemagen.diff(copy))
    assert "response_ident" in report and "committed/realtime/client/response.cancel.json" in report
    assert "realtime/client/extra.json (the SDK no longer has it)" in report


@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.name)
def test_reference_example_validates(path: Path) -> None:
    payload = json.loads(path.read_text())
    if path.name in HTTP_EXAMPLES:
        errors = list(schema_store.validator(HTTP_EXAMPLES[path.name]).iter_errors(payload))
        assert not errors, [e.message for e in errors]
        return
    family = _family_of_example(path, payload["type"])
    assert schema_store.shape_errors(family, payload) == []


def _recordings() -> list[Any]:
    return reference_params(lambda folder: sorted(folder.joinpath("recordings").glob("*.yaml")))


@pytest.mark.parametrize("path", _recordings(), ids=lambda p: p.stem)
def test_recording_frames_validate(path: Path) -> None:
    frames = yaml.safe_load(path.read_text())["interactions"]
    assert frames
    for index, frame in enumerate(frames):
        family = "realtime/client" if frame["direction"] == "sent" else "realtime/server"
        assert schema_store.shape_errors(family, frame["data"]) == [], (index, frame["data"]["type"])


def test_a_wrong_payload_does_not_validate() -> None:
    # The check above can fail: a beta event is not a GA server event, a GA one with a wrong field is not.
    assert schema_store.shape_errors("realtime/server", {"type": "response.text.delta", "event_id": "e"})
    bad = {"type": "response.output_text.delta", "event_id": "e", "response_id": "r", "item_id": "i",
           "output_index": "zero", "content_index": 0, "delta": "x"}
    assert schema_store.shape_errors("realtime/server", bad)
