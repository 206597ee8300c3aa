"""`realtime-mock`: serve | record | replay | conformance | migrate | schemas generate | schemas check."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mockserver import __version__

if TYPE_CHECKING:
    from mockserver.state import ServerState


def _checkout_schemas() -> Path | None:
    """`schemas/` of a source checkout (where `generate` writes by default), or None in an installed package."""
    root = Path(__file__).resolve().parent.parent
    return root / "schemas" if (root / "pyproject.toml").is_file() else None


def _serve(args: argparse.Namespace) -> int:
    import asyncio

    import uvicorn

    from mockserver.protocol.responses import Pacing
    from mockserver.runner import (
        bind_or_say_why,
        bind_udp_or_say_why,
        serve,
        serve_until_stopped,
        tune_process,
        uvicorn_config,
    )
    from mockserver.state import ServerConfig, ServerState

    pacing = Pacing(first_delta=args.first_delta_ms / 1000, realtime_audio=args.realtime_audio)
    admin_hosts = tuple(args.admin_host)
    if not _is_ip(args.host) and args.host not in ("", "localhost"):
        admin_hosts += (args.host,)  # a name it is served under (a Docker service, say) is its own
    webhook_secret = _webhook_secret(args)
    if webhook_secret == "":
        return 2
    admin_token = args.admin_token or os.environ.get("REALTIME_MOCK_ADMIN_TOKEN") or None
    config = ServerConfig(seed=args.seed, session_seconds=args.session_seconds, pacing=pacing, beta=args.beta,
                          per_message_deflate=args.permessage_deflate, admin_token=admin_token,
                          admin_hosts=admin_hosts,
                          scenario_dirs=tuple(args.scenario_dir) if args.scenario_dir else None,
                          sip_port=args.sip_port, sip_host=args.sip_host, webhook_url=args.webhook_url or None,
                          webhook_secret=webhook_secret)
    if not admin_token and args.host not in ("127.0.0.1", "::1", "localhost"):
        print(f"realtime-mock: serving on {args.host or 'every address'}: the admin API (/_mock/) still answers "
              "loopback clients only; give --admin-token (or REALTIME_MOCK_ADMIN_TOKEN) to reach it from elsewhere",
              file=sys.stderr)
    state = ServerState(config)
    loaded = _load_scenario(state, args.scenario) if args.scenario else ""
    if loaded is None:
        return 2
    if (args.tls_cert is None) != (args.tls_key is None):
        print("realtime-mock: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if args.tls and args.tls_cert:
        print("realtime-mock: --tls makes its own certificate; give either --tls or --tls-cert/--tls-key",
              file=sys.stderr)
        return 2
    if args.tls_dir is not None and not args.tls:
        print("realtime-mock: --tls-dir goes with --tls", file=sys.stderr)
        return 2
    sock = bind_or_say_why(args.host, args.port)
    if sock is None:
        return 2
    sip_sock = bind_udp_or_say_why(args.sip_host, args.sip_port) if args.sip_port is not None else None
    if args.sip_port is not None and sip_sock is None:
        return 2
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    if args.tls:
        tls = _self_signed(args)
        if tls is None:
            return 2
    if loaded:
        print(loaded, flush=True)
    if sip_sock is not None:
        host, port = sip_sock.getsockname()[:2]
        print(f"realtime-mock: SIP on udp {host}:{port} (INVITE sip:proj_test@{host}:{port}); incoming calls go to "
              f"{args.webhook_url or 'no webhook (find them in GET /_mock/calls)'}", flush=True)
    server = uvicorn.Server(uvicorn_config(state, host=args.host, port=args.port, log_level=args.log_level, tls=tls))
    server.config.load()  # the app and what it imports, before tune_process freezes them out of the collector
    tune_process()
    with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
        serve_until_stopped(lambda: runner.run(serve(server, state, [sock], sip_sock)))
    return 0


def _webhook_secret(args: argparse.Namespace) -> str | None:
    """`--webhook-secret` checked (a new one made and printed when only --webhook-url is given); "" once it has
    said why it cannot be used."""
    from mockserver.sip import webhook

    secret: str | None = args.webhook_secret or None
    if secret is None:
        if not args.webhook_url:
            return None
        secret = webhook.new_secret()
        print(f"realtime-mock: webhooks are signed with the new secret {secret} (give --webhook-secret or "
              "REALTIME_MOCK_WEBHOOK_SECRET to keep one)", flush=True)
    try:
        webhook.secret_key(secret)
    except ValueError as exc:
        print(f"realtime-mock: --webhook-secret: {exc}", file=sys.stderr)
        return ""
    return secret


def _load_scenario(state: ServerState, path: Path) -> str | None:
    """`serve --scenario`: the server-wide scenario, the default of every scope (now and after a reset); what to
    print about it, or None once the reason it cannot be used is printed."""
    from mockserver.scenarios import ScenarioError, load_scenario

    try:
        scenario = load_scenario(path)
        state.use_scenario(scenario)
    except (ScenarioError, ValueError, OSError) as exc:
        print(f"realtime-mock: {exc}", file=sys.stderr)
        return None
    return (f"realtime-mock: scenario {scenario.name!r} from {path} ({len(scenario.rules)} rule(s), "
            f"{len(scenario.faults)} fault(s)) answers in every scope, also after a reset")


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _self_signed(args: argparse.Namespace) -> tuple[str, str] | None:
    """`serve --tls`: the certificate of `--tls-dir` (made, or reused while valid), and what a client needs."""
    from mockserver import tls

    folder = args.tls_dir if args.tls_dir is not None else tls.DEFAULT_DIR
    try:
        cert, key = tls.ensure_certificate(folder)
    except OSError as exc:
        print(f"realtime-mock: cannot write the TLS certificate in {folder}: {exc}", file=sys.stderr)
        return None
    cert = cert.resolve()
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(args.host, args.host)
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    if host.strip("[]") not in {*tls.DNS_NAMES, *map(str, tls.IP_ADDRESSES)}:
        print(f"realtime-mock: warning: the certificate names only loopback; clients of {host} will refuse it "
              "(use --tls-cert/--tls-key with a certificate for that name)", file=sys.stderr)
    print(f"realtime-mock: serving https and wss with the self-signed certificate {cert} "
          f"(for {', '.join(tls.DNS_NAMES + tuple(map(str, tls.IP_ADDRESSES)))}; key {key.resolve()})\n"
          f"Node clients trust it with:\n"
          f"  NODE_EXTRA_CA_CERTS={cert}\n"
          f"base URL: https://{host}:{args.port}/v1\n"
          f"  (WebSocket clients that take a URL: wss://{host}:{args.port}/v1/realtime?model=gpt-realtime)",
          flush=True)
    return str(cert), str(key.resolve())


def _schemas_generate(args: argparse.Namespace) -> int:
    from mockserver import schemagen

    folder = args.dir or _checkout_schemas()
    if folder is None:
        print("realtime-mock: this realtime-mock is installed, not a source checkout: give --dir to say where to "
              "write the schemas (its own copy is checked with `realtime-mock schemas check`)", file=sys.stderr)
        return 2
    try:
        written = schemagen.write(folder)
    except schemagen.SdkMismatch as exc:
        print(f"realtime-mock: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} files to {folder} from openai=={schemagen.SDK_VERSION}")
    return 0


def _schemas_check(args: argparse.Namespace) -> int:
    from mockserver import schema_store, schemagen

    folder: Path = args.dir or schema_store.schemas_root()  # the checkout's, or the copy shipped in the package
    if not (folder / "manifest.json").is_file():
        print(f"realtime-mock: no schemas in {folder} (no manifest.json; `realtime-mock schemas generate --dir "
              f"{folder}` writes them)", file=sys.stderr)
        return 2
    try:
        differences = list(schemagen.diff(folder))
    except schemagen.SdkMismatch as exc:
        print(f"realtime-mock: {exc}", file=sys.stderr)
        return 2
    for text in differences:
        sys.stdout.write(text)
    if differences:
        print(f"schemas check: {len(differences)} file(s) differ from what openai=={schemagen.SDK_VERSION} "
              "generates; run `realtime-mock schemas generate` and review the diff", file=sys.stderr)
        return 1
    print(f"schemas check: {folder} matches openai=={schemagen.SDK_VERSION}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="realtime-mock", description=__doc__)
    parser.add_argument("--version", action="version", version=f"realtime-mock {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="start the mock server")
    serve.add_argument("--host", default="127.0.0.1",
                       help="the address to listen on (default: 127.0.0.1; 0.0.0.0 for every address)")
    serve.add_argument("--port", type=int, default=8000,
                       help="the port to listen on (default: 8000; record uses 8001, replay 8002)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                       help="uvicorn's log level (default: info)")
    serve.add_argument("--seed", type=int, default=0, help="seed of the id generator (default 0)")
    serve.add_argument("--session-seconds", type=float, default=3600,
                       help="maximum session duration before session_expired (default 3600, as live)")
    serve.add_argument("--realtime-audio", action="store_true",
                       help="send output audio at the rate it plays (default: off, as fast as the client reads)")
    serve.add_argument("--first-delta-ms", type=float, default=0.0,
                       help="hold each response's first delta this long (default 0)")
    serve.add_argument("--scenario", type=Path, metavar="FILE",
                       help="a scenario file (YAML or JSON): what the model answers, and its faults, in every scope "
                            "that loads none of its own, also after a reset (default: the built-in echo scenario)")
    serve.add_argument("--beta", choices=["reject", "shim"], default="reject",
                       help="the retired beta interface (OpenAI-Beta: realtime=v1): reject it as live does (default), "
                            "or serve it through a translation layer over the GA session")
    serve.add_argument("--permessage-deflate", action="store_true",
                       help="offer WebSocket compression (default: off; the official SDKs do not use it, and it "
                            "costs about 50 KiB per session)")
    serve.add_argument("--admin-token", metavar="TOKEN",
                       help="callers of the admin API (/_mock/) must present this token (Authorization: Bearer, or "
                            "X-Mock-Admin-Token), from anywhere; without one it answers loopback clients only "
                            "(default: $REALTIME_MOCK_ADMIN_TOKEN)")
    serve.add_argument("--admin-host", action="append", default=[], metavar="NAME",
                       help="a name the admin API answers as, besides localhost and the server's addresses (a "
                            "Docker service name, say); repeatable (default: none, and the --host name). Other Host "
                            "headers are refused (DNS rebinding)")
    serve.add_argument("--scenario-dir", action="append", type=Path, default=[], metavar="DIR",
                       help="a folder PUT /_mock/scenario {\"path\": ...} may read scenario files from; repeatable "
                            "(default: the working directory)")
    serve.add_argument("--tls-cert", metavar="CERT",
                       help="PEM certificate: serve https/wss with it (the Node SDK's WebSocket needs wss; default: "
                            "none, plain http/ws)")
    serve.add_argument("--tls-key", metavar="KEY", help="PEM private key for --tls-cert (default: none)")
    serve.add_argument("--tls", action="store_true",
                       help="serve https/wss with a self-signed certificate for localhost, 127.0.0.1 and ::1, made "
                            "in --tls-dir (or reused from there while valid); prints the NODE_EXTRA_CA_CERTS a "
                            "Node client needs and the base URL (default: off)")
    serve.add_argument("--tls-dir", type=Path, default=None, metavar="DIR",
                       help="where --tls keeps cert.pem and key.pem (default: .realtime-mock/tls in the current "
                            "directory)")
    serve.add_argument("--sip-port", type=int, default=None, metavar="PORT",
                       help="take SIP calls (INVITEs over UDP, RTP audio, DTMF) on this port (default: off; 5060 is "
                            "SIP's own)")
    serve.add_argument("--sip-host", default="127.0.0.1", metavar="HOST",
                       help="the address SIP and the calls' RTP listen on (default: 127.0.0.1)")
    serve.add_argument("--webhook-url", metavar="URL",
                       help="where realtime.call.incoming is POSTed when a SIP call comes in (default: none)")
    serve.add_argument("--webhook-secret", default=os.environ.get("REALTIME_MOCK_WEBHOOK_SECRET"), metavar="SECRET",
                       help="the whsec_... secret webhooks are signed with (default: $REALTIME_MOCK_WEBHOOK_SECRET; "
                            "a new one, printed, when --webhook-url comes without one)")
    serve.set_defaults(func=_serve)

    from conformance.recorder import add_record_arguments, record_command
    from conformance.replayer import add_replay_arguments, replay_command

    record = commands.add_parser("record", help="a recording proxy: relay an app to a Realtime server (live or a "
                                 "mock), writing one cassette per connection")
    add_record_arguments(record)
    record.set_defaults(func=record_command)

    replay = commands.add_parser("replay", help="serve recorded cassettes back to an app, reporting what differs")
    add_replay_arguments(replay)
    replay.set_defaults(func=replay_command)

    from conformance.commands import (
        add_conformance_arguments,
        add_migrate_arguments,
        conformance_command,
        migrate_command,
    )

    conformance = commands.add_parser("conformance", help="replay cassettes against the mock or a URL and report "
                                      "drift between the recording, the target and the SDK's schemas")
    add_conformance_arguments(conformance)
    conformance.set_defaults(func=conformance_command)
    migrate = commands.add_parser("migrate", help="what an app's recorded beta traffic must change for GA")
    add_migrate_arguments(migrate)
    migrate.set_defaults(func=migrate_command)

    schemas = commands.add_parser("schemas", help="generate or check schemas/ from the official SDK")
    actions = schemas.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, func, text in (("generate", _schemas_generate, "regenerate schemas/ from the pinned SDK"),
                             ("check", _schemas_check, "fail if schemas/ differs from what the SDK generates")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--dir", type=Path, default=None,
                            help="the schemas folder (default: schemas/ of the source checkout; `check` in an "
                                 "installed realtime-mock: the copy shipped in the package)")
        action.set_defaults(func=func)
    for command in command_parsers(parser).values():
        command.set_defaults(command_parser=command)  # so that a mistake is reported with the command's usage
    return parser


def command_parsers(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every command's own parser, by its words: "serve", ..., "schemas check"."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found |= command_parsers(child, f"{prefix}{name} ")
    return found or {prefix.strip(): parser}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    _refuse_unknown_words(parser, list(sys.argv[1:] if argv is None else argv))
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse would blame the top-level parser and show its usage, not the command's
        command: argparse.ArgumentParser = args.command_parser
        command.error(f"unrecognized arguments: {' '.join(_with_hint(command, arg) for arg in unknown)}")
    result: int = args.func(args)
    return result


def _refuse_unknown_words(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """A mistyped command or option is reported first, with a "did you mean" and the usage of the command it was
    given to (argparse would first ask for the required option a typo meant, or list every command)."""
    words = iter(arg for arg in argv if not arg.startswith("-"))
    command = parser
    while True:
        choices = next((a.choices for a in command._actions if isinstance(a, argparse._SubParsersAction)), None)
        word = next(words, None) if choices is not None else None
        if choices is None or word is None:
            break
        if word not in choices:
            close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
            if close:
                command.error(f"unknown command {word!r} (did you mean {close[0]}?)")
            return  # argparse lists the commands
        command = choices[word]
    options = [option for action in command._actions for option in action.option_strings]
    unknown = [arg for arg in argv[:argv.index("--") if "--" in argv else len(argv)]
               if arg.startswith("--") and not any(o.startswith(arg.partition("=")[0]) for o in options)]
    if unknown:
        command.error(f"unrecognized arguments: {' '.join(_with_hint(command, arg) for arg in unknown)}")


def _with_hint(parser: argparse.ArgumentParser, arg: str) -> str:
    options = [option for action in parser._actions for option in action.option_strings]
    close = difflib.get_close_matches(arg.partition("=")[0], options, n=1, cutoff=0.7) if arg.startswith("-") else []
    return f"{arg} (did you mean {close[0]}?)" if close else arg
