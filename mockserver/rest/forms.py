"""Multipart bodies (`multipart/form-data`, as the SDK uploads audio files), read through `bodies.read_body`.

The fields become the JSON document the SDK's TypedDict describes, so that they are validated like a JSON
body: `include[]=a` gives `{"include": ["a"]}`, `chunking_strategy[type]=server_vad` gives
`{"chunking_strategy": {"type": "server_vad"}}`, and values that are numbers or booleans in the SDK's
types are read as such (`coerce`; a value that does not read stays a string, and the schema says so).
The uploaded file stands in the document as its file name.

The limit is the live API's: 25 MiB of request body, refused with its words (413, a `server_error`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from mockserver.protocol.errors import ApiError
from mockserver.rest.bodies import BodyRefused, check_content_type, read_body

UPLOAD_LIMIT = 25 * 1024 * 1024  # 26214400 bytes: "File uploads are currently limited to 25 MB" [DOCS]
MULTIPART_TYPES = ("multipart/form-data",)
FILE_FIELD = "file"


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str | None
    data: bytes

    def summary(self) -> dict[str, Any]:
        return {"filename": self.filename, "content_type": self.content_type, "bytes": len(self.data)}


def too_large(received: int) -> ApiError:
    """Worded as live (a 413 whose type is `server_error`, code and param null)."""
    return ApiError(f"Maximum content size limit ({UPLOAD_LIMIT}) exceeded ({received} bytes read)",
                    type="server_error")


def unreadable_form(detail: str) -> ApiError:  # [unverified] the live wording for a broken multipart body
    return ApiError(f"Could not parse the multipart form: {detail}.")


async def parse_form(headers: Headers, raw: bytes, *, max_files: int, max_fields: int, max_part_size: int
                     ) -> FormData:
    """A multipart body already read (within its limit), parsed; BodyRefused (400) when it cannot be."""
    if not raw or "content-type" not in headers:  # no body at all: no fields (the schema says what is missing)
        return FormData()
    async def stream() -> AsyncGenerator[bytes, None]:
        yield raw
        yield b""

    parser = MultiPartParser(headers, stream(), max_files=max_files, max_fields=max_fields,
                             max_part_size=max_part_size)
    try:
        return await parser.parse()
    except MultiPartException as error:
        raise BodyRefused(400, unreadable_form(error.message)) from None


async def read_upload(request: Request, coerce: dict[str, Callable[[str], Any]]
                      ) -> tuple[dict[str, Any], Upload | None]:
    """(the fields as a JSON document, the uploaded `file` or None); BodyRefused says why it cannot be read."""
    try:
        check_content_type(request, MULTIPART_TYPES, required=True)
        raw = await read_body(request, UPLOAD_LIMIT)
    except BodyRefused as refused:
        if refused.status == 413:
            declared = request.headers.get("content-length", "")
            raise BodyRefused(413, too_large(int(declared) if declared.isdigit() else UPLOAD_LIMIT + 1)) from None
        raise

    parsed = await parse_form(request.headers, raw, max_files=4, max_fields=200, max_part_size=UPLOAD_LIMIT)
    document: dict[str, Any] = {}
    upload: Upload | None = None
    for key, value in parsed.multi_items():
        if isinstance(value, UploadFile):
            if key == FILE_FIELD and upload is None:
                upload = Upload(value.filename or "", value.content_type, await value.read())
                document[FILE_FIELD] = value.filename or ""
            await value.close()
            continue
        if key != FILE_FIELD:  # a text field named `file` is no file: the schema says it is missing
            _put(document, key, value, coerce)
    return document, upload


def _put(document: dict[str, Any], key: str, value: str, coerce: dict[str, Callable[[str], Any]]) -> None:
    """One form field into the document: `a[]` appends to a list, `a[b]` sets a key of an object."""
    if key.endswith("[]"):
        name = key[:-2]
        found = document.setdefault(name, [])
        if isinstance(found, list):
            found.append(_read(name, value, coerce))
        return
    if key.endswith("]") and "[" in key:
        name, _, sub = key[:-1].partition("[")
        found = document.get(name)
        if not isinstance(found, dict):
            found = document[name] = {}
        found[sub] = _read(f"{name}.{sub}", value, coerce)
        return
    document[key] = _read(key, value, coerce)


def _read(name: str, value: str, coerce: dict[str, Callable[[str], Any]]) -> Any:
    reader = coerce.get(name)
    if reader is None:
        return value
    try:
        return reader(value)
    except ValueError:
        return value


def boolean(value: str) -> bool:
    """A form boolean as the SDK sends it ("true"/"false")."""
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise ValueError(value)


def number(value: str) -> int | float:
    """A form number: an integer when it reads as one."""
    try:
        return int(value)
    except ValueError:
        return float(value)
