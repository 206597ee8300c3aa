"""`realtime-mock replay`: serve recorded sessions (cassettes) back to an app, checking what it sends.

Each new connection on `/v1/realtime` (or `/v1/realtime/translations`) takes the first unused cassette
recorded for the same endpoint, `model` and `intent` (else the first unused one, and once all are used,
they are used again from the start). The app gets the recorded server frames verbatim, event ids and all:

- on connect, those recorded before the first client frame;
- for each frame the app sends, the first recorded client frame not yet consumed that is like it (same
  `type`; same content, leaving out `event_id`, with audio compared by length and ids paired up as they
  first meet, so an id the app makes up may differ from the recorded one as long as it is used
  consistently): the server frames recorded after that one, up to the next recorded client frame. So an
  app may send frames in another order than recorded, as long as each finds its counterpart;
- for a frame the cassette has no counterpart for, an `error` event (`cassette_mismatch`, naming the
  frame types it expected and the first field that differs), a report line saying the same, and the end of
  the replay: the connection closes (1008), since what was recorded after may answer another question. With
  `--continue-after-mismatch` the connection stays open and later frames that match are answered.

A cassette of a refused upgrade (no frames, a GET leg with an HTTP error) refuses the upgrade the same way.
Frames go out as fast as the app reads them: recorded timings are not reproduced.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from conformance.cassette import Cassette, HttpLeg, client_frame, find, read
from conformance.normalize import is_id_key
from conformance.recorder import WEBSOCKET_PATHS, add_listen_arguments, app_config
from conformance.rest_replay import REPLAYED_PATHS, RestLegs
from mockserver.protocol.ids import IdSource
from mockserver.runner import bind_or_say_why, serve_until_stopped

Report = Callable[[str], None]
REPLAY_PORT = 8002  # the default port: beside `serve` (8000) and `record` (8001)
MISMATCH_CLOSE = 1008  # the close code after a cassette_mismatch (policy violation: the app left the script)
MATCHED_QUERY = ("model", "intent")  # what must agree between a connection and its cassette
EXPECTED_SHOWN = 3  # how many of the next unconsumed client frames an error names
VALUE_SHOWN = 80  # characters of a value shown in a report line

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass
class _Attempt:
    """One comparison of an app's frame with a recorded client frame."""

    index: int  # the recorded client frame's
    strict: bool  # ids not paired yet must be the recorded ones (tried first)
    pairs: dict[str, str] = field(default_factory=dict)  # ids that pair up for the first time: recorded -> app's


class Replay:
    """One connection's way through one cassette, without I/O: what to send, what was matched.

    Ids: one the recording shows the server sending before a client frame named it reached the app verbatim,
    so the app must send it back as it is; one the client made up may differ from the recorded one, and
    pairs with it when first met (then it must be used consistently)."""

    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette
        self.preamble: list[dict[str, Any]] = []  # server frames before the first client frame
        self.recorded: list[dict[str, Any]] = []  # the client frames, in recorded order
        self.answers: list[list[dict[str, Any]]] = []  # server frames after each, up to the next
        self._server_ids: dict[str, int] = {}  # an id -> how many client frames came before the server sent it
        for frame in cassette.frames:
            if frame.direction == "client":
                self.recorded.append(frame.event)
                self.answers.append([])
                continue
            (self.answers[-1] if self.answers else self.preamble).append(frame.event)
            for found in _ids_in(frame.event):
                self._server_ids.setdefault(found, len(self.recorded))
        self.consumed = [False] * len(self.recorded)
        self._ids: dict[str, str] = {}  # a recorded id -> the app's
        self._ids_back: dict[str, str] = {}
        self._event_ids = IdSource()

    def receive(self, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The recorded server frames that answer this client frame; None if the cassette has none like it."""
        candidates = [i for i in self._unconsumed() if self.recorded[i].get("type") == event.get("type")]
        for strict in (True, False):  # a frame with the very ids recorded first, then one whose new ids pair up
            for index in candidates:
                attempt = _Attempt(index, strict)
                if self._difference(self.recorded[index], event, attempt) is None:
                    self.consumed[index] = True
                    self._ids.update(attempt.pairs)
                    self._ids_back.update({sent: rec for rec, sent in attempt.pairs.items()})
                    return self.answers[index]
        return None

    def expected(self) -> list[str]:
        """The types of the next unconsumed recorded client frames (each once)."""
        types: list[str] = []
        for index in self._unconsumed()[:EXPECTED_SHOWN]:
            kind = _kind(self.recorded[index])
            if kind not in types:
                types.append(kind)
        return types

    def left(self) -> list[dict[str, Any]]:
        return [self.recorded[index] for index in self._unconsumed()]

    def mismatch(self, event: dict[str, Any], *, stops: bool = False) -> tuple[dict[str, Any], str]:
        """The `error` event for a client frame the cassette did not see, and a report line saying why (both
        name the first field that differs); `stops`: the error says the replay answers nothing more."""
        kind, name = _kind(event), self.cassette.name
        expected = ", ".join(self.expected()) or "nothing, every recorded client frame was consumed"
        closest = self._closest(event)
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        then = " The replay stops here (replay --continue-after-mismatch goes on)." if stops else ""
        error = {"type": "invalid_request_error", "code": "cassette_mismatch", "param": None, "event_id": event_id,
                 "message": f"realtime-mock replay: the cassette {name} has no client frame like this {kind} "
                            f"(expected one of: {expected}); {closest}.{then}"}
        sent = f"a {kind}" + (f" (event_id {event_id})" if event_id else "")
        line = f"realtime-mock replay: cassette {name}: the app sent {sent} that the cassette has no counterpart " \
               f"for; {closest}; expected next: {expected}"
        return {"type": "error", "event_id": self._event_ids.event(), "error": error}, line

    def _unconsumed(self) -> list[int]:
        return [index for index, done in enumerate(self.consumed) if not done]

    def _closest(self, event: dict[str, Any]) -> str:
        kind = _kind(event)
        same = [i for i, recorded in enumerate(self.recorded) if recorded.get("type") == event.get("type")]
        if not same:
            return f"it recorded no {kind} at all"
        left = [i for i in same if not self.consumed[i]]
        if not left:
            return f"its {len(same)} recorded {kind} frame(s) were all consumed already"
        difference = self._difference(self.recorded[left[0]], event, _Attempt(left[0], strict=False))
        return f"the next recorded {kind} (client frame #{left[0] + 1}) differs: {difference}"

    def _difference(self, recorded: Any, sent: Any, attempt: _Attempt, where: str = "", key: str = "") -> str | None:
        """Where `sent` first differs from `recorded`, or None when they are alike."""
        if isinstance(recorded, dict) and isinstance(sent, dict):
            for name in [*recorded, *(k for k in sent if k not in recorded)]:
                if not where and name == "event_id":
                    continue
                place = f"{where}.{name}" if where else name
                if name not in sent:
                    return f"{place} is missing (the recording has {_shown(recorded[name])})"
                if name not in recorded:
                    return f"{place} is not in the recording (sent {_shown(sent[name])})"
                found = self._difference(recorded[name], sent[name], attempt, place, name)
                if found is not None:
                    return found
            return None
        if isinstance(recorded, list) and isinstance(sent, list):
            if len(recorded) != len(sent):
                return f"{where} has {len(sent)} entries, the recording {len(recorded)}"
            for index, (old, new) in enumerate(zip(recorded, sent, strict=True)):
                found = self._difference(old, new, attempt, f"{where}[{index}]", key)
                if found is not None:
                    return found
            return None
        if key == "audio" and isinstance(recorded, str) and isinstance(sent, str):  # base64 audio: by length
            if len(recorded) == len(sent):
                return None
            return f"{where} has {len(sent)} characters of base64 audio, the recording {len(recorded)}"
        if is_id_key(key) and isinstance(recorded, str) and isinstance(sent, str) and recorded != "root":
            return None if self._pair(recorded, sent, attempt) else \
                f"{where} is {sent!r}, the recording has {recorded!r} ({self._why_not(recorded, sent, attempt)})"
        if recorded == sent and isinstance(recorded, bool) == isinstance(sent, bool):
            return None
        return f"{where or 'the frame'} is {_shown(sent)}, the recording has {_shown(recorded)}"

    def _pair(self, recorded: str, sent: str, attempt: _Attempt) -> bool:
        """Whether the app's id may stand for the recorded one."""
        for known in (self._ids, attempt.pairs):
            if recorded in known:
                return known[recorded] == sent
        if sent in self._ids_back or sent in attempt.pairs.values():
            return False
        if sent != recorded and (attempt.strict or self._from_server(recorded, attempt.index)):
            return False
        attempt.pairs[recorded] = sent
        return True

    def _why_not(self, recorded: str, sent: str, attempt: _Attempt) -> str:
        paired = self._ids.get(recorded, attempt.pairs.get(recorded))
        if paired is not None:
            return f"which the app called {paired!r} before"
        if sent in self._ids_back:
            return f"and the app's {sent!r} stands for the recorded {self._ids_back[sent]!r}"
        return "an id the server sent, so the app got it as it is"

    def _from_server(self, recorded: str, index: int) -> bool:
        return self._server_ids.get(recorded, len(self.recorded)) <= index


def _ids_in(value: Any, key: str = "", top: bool = True) -> Iterator[str]:
    """The ids in an event: strings under `id` and `*_id` keys (not its own `event_id`)."""
    if isinstance(value, dict):
        for name, inner in value.items():
            if not (top and name == "event_id"):
                yield from _ids_in(inner, name, top=False)
    elif isinstance(value, list):
        for inner in value:
            yield from _ids_in(inner, key, top=False)
    elif isinstance(value, str) and is_id_key(key) and value != "root":
        yield value



def _kind(event: dict[str, Any]) -> str:
    kind = event.get("type")
    if isinstance(kind, str):
        return kind
    if "binary_frame_bytes" in event:
        return "binary frame"
    return "non-JSON text frame" if "unparsed_text" in event else "frame without a type"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_SHOWN else text[:VALUE_SHOWN - 3] + "..."


class Library:
    """The cassettes of a replay server, which of them were used, and what went wrong."""

    def __init__(self, loaded: list[Cassette], report: Report | None, *, continue_after_mismatch: bool = False) -> None:
        self.cassettes = loaded
        self.used: set[int] = set()
        self.mismatches: list[str] = []
        self._report = report
        # After a frame it has no counterpart for, a session's recorded answers may no longer fit what the app
        # asked: by default the replay stops there (error, then close), so a wrong answer is never silent.
        self.continue_after_mismatch = continue_after_mismatch

    def pick(self, endpoint: str, query: dict[str, str]) -> Cassette:
        if len(self.used) == len(self.cassettes):
            self.used.clear()  # all used: from the start again
        unused = [i for i in range(len(self.cassettes)) if i not in self.used]
        alike = [i for i in unused if self._fits(self.cassettes[i], endpoint, query)]
        index = (alike or unused)[0]
        self.used.add(index)
        chosen = self.cassettes[index]
        if not alike:
            asked = "&".join(f"{k}={query[k]}" for k in MATCHED_QUERY if k in query)
            recorded = "&".join(f"{k}={chosen.query[k]}" for k in MATCHED_QUERY if k in chosen.query)
            self.report(f"realtime-mock replay: no unused cassette was recorded for {endpoint}?{asked}; "
                        f"replaying {chosen.name} (recorded for {chosen.endpoint}?{recorded})")
        return chosen

    def mismatch(self, line: str) -> None:
        self.mismatches.append(line)
        self.report(line)

    def report(self, line: str) -> None:
        if self._report is not None:
            self._report(line)

    @staticmethod
    def _fits(cassette: Cassette, endpoint: str, query: dict[str, str]) -> bool:
        return cassette.endpoint == endpoint and all(cassette.query.get(k) == query.get(k) for k in MATCHED_QUERY)


def create_replay_app(cassettes: list[Path], report: Report | None = None, *,
                      continue_after_mismatch: bool = False) -> Starlette:
    """A server replaying these cassettes: WebSocket sessions, and the REST calls of request-based audio
    (conformance/rest_replay.py); cassettes of other REST calls are left out.

    `report` is called with a line for each client frame the cassettes have no counterpart for (those
    lines are also kept in `app.state.mismatches`), and with notes: a connection that got a cassette
    recorded for another endpoint or model, an app that closed before sending every recorded frame.
    ValueError when a file cannot be read or none is a WebSocket session.
    """
    loaded: list[Cassette] = []
    rest: list[Cassette] = []
    for path in cassettes:
        try:
            cassette = read(path)
        except Exception as exc:  # anything a malformed file raises (JSON, YAML, missing keys)
            raise ValueError(f"{path}: cannot replay it: {exc}") from exc
        if cassette.endpoint in WEBSOCKET_PATHS:
            loaded.append(cassette)
        elif cassette.endpoint in REPLAYED_PATHS:
            rest.append(cassette)
    if not loaded and not rest:
        raise ValueError("none of the cassettes given is a WebSocket session or an audio REST call (other REST "
                         "calls are not replayed)")
    library = Library(loaded, report, continue_after_mismatch=continue_after_mismatch)
    legs = RestLegs(rest, library.mismatch)
    app = Starlette(routes=[*(WebSocketRoute(path, _replay_websocket) for path in WEBSOCKET_PATHS), *legs.routes()])
    app.state.replay = library
    app.state.mismatches = library.mismatches
    return app


async def _replay_websocket(websocket: WebSocket) -> None:
    library: Library = websocket.app.state.replay
    cassette = library.pick(websocket.url.path, dict(websocket.query_params))
    refusal = _refusal(cassette)
    if refusal is not None:
        await _deny(websocket, refusal)
        return
    offered = websocket.scope.get("subprotocols") or []
    replay = Replay(cassette)
    try:
        await websocket.accept(subprotocol="realtime" if "realtime" in offered else None)
        await _send(websocket, replay.preamble)
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            event = client_frame(text if text is not None else message.get("bytes") or b"")
            answer = replay.receive(event)
            if answer is None:
                stops = not library.continue_after_mismatch
                error, line = replay.mismatch(event, stops=stops)
                library.mismatch(line)
                await websocket.send_text(_dumps(error))
                if stops:
                    await websocket.close(MISMATCH_CLOSE, "realtime-mock replay: cassette_mismatch")
                    return
            else:
                await _send(websocket, answer)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the app went away
    left = replay.left()
    if left:
        library.report(f"realtime-mock replay: cassette {cassette.name}: the app closed before sending "
                       f"{len(left)} recorded client frame(s): {', '.join(_kind(e) for e in left[:5])}"
                       f"{', ...' if len(left) > 5 else ''}")


async def _send(websocket: WebSocket, events: list[dict[str, Any]]) -> None:
    for event in events:
        if set(event) == {"binary_frame_bytes"}:  # the cassette kept only the length of a binary frame
            await websocket.send_bytes(bytes(int(event["binary_frame_bytes"])))
        elif set(event) == {"unparsed_text"}:
            await websocket.send_text(str(event["unparsed_text"]))
        else:
            await websocket.send_text(_dumps(event))


def _refusal(cassette: Cassette) -> HttpLeg | None:
    """The recorded answer to a refused upgrade, for a cassette that holds only that."""
    if cassette.frames:
        return None
    return next((leg for leg in cassette.http if leg.method == "GET" and leg.status >= 400), None)


async def _deny(websocket: WebSocket, leg: HttpLeg) -> None:
    if leg.response is None:
        body, media_type = b"", None
    elif isinstance(leg.response, str):
        body, media_type = leg.response.encode(), leg.response_headers.get("content-type", "text/plain")
    else:
        body, media_type = _dumps(leg.response).encode(), "application/json"
    try:
        await websocket.send_denial_response(Response(body, status_code=leg.status, media_type=media_type))
    except RuntimeError:  # a server without the denial-response extension: refuse plainly (403)
        await websocket.close()


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cassettes", nargs="+", type=Path, metavar="CASSETTE",
                        help="cassette files (*.cassette.jsonl, or *.yaml recordings), or folders of them")
    parser.add_argument("--continue-after-mismatch", action="store_true",
                        help="after a client frame the cassette has no counterpart for, answer the next frames "
                             "that match (default: off; the replay sends the cassette_mismatch error and closes "
                             f"the connection with {MISMATCH_CLOSE}, so an app cannot go on with answers recorded "
                             "for other questions)")
    add_listen_arguments(parser, REPLAY_PORT)


def replay_command(args: argparse.Namespace) -> int:
    """Serve until interrupted; exit status 1 if any client frame had no counterpart in the cassettes."""
    paths = list(find(args.cassettes))
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        print(f"realtime-mock: no such cassette: {', '.join(missing)}", file=sys.stderr)
        return 2
    if not paths:
        print(f"realtime-mock: no cassettes (*.cassette.jsonl or *.yaml) in {', '.join(map(str, args.cassettes))}: "
              "nothing to replay", file=sys.stderr)
        return 2

    def report(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        app = create_replay_app(paths, report, continue_after_mismatch=args.continue_after_mismatch)
    except ValueError as exc:
        print(f"realtime-mock: {exc}", file=sys.stderr)
        return 2
    sock = bind_or_say_why(args.host, args.port)
    if sock is None:
        return 2
    count = len(app.state.replay.cassettes)
    print(f"realtime-mock replay: {count} session(s); point the app at http://{args.host}:{args.port}/v1",
          file=sys.stderr)
    server = uvicorn.Server(app_config(app, host=args.host, port=args.port, log_level=args.log_level))
    serve_until_stopped(lambda: server.run(sockets=[sock]))
    mismatches: list[str] = app.state.mismatches
    if mismatches:
        print(f"realtime-mock replay: {len(mismatches)} client frame(s) had no counterpart in the cassettes",
              file=sys.stderr)
        return 1
    return 0
