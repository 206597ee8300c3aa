"""The sans-I/O SIP code (mockserver/sip/): messages, SDP offers and answers, the server side of a call's dialog
and transactions with its timers, and the webhook's body and signature (checked with the official SDK)."""

from __future__ import annotations

import ast

import pytest

from mockserver.sip import dialog as dialogs
from mockserver.sip import sdp, webhook
from mockserver.sip.dialog import GIVE_UP, T1, T2, ServerDialog
from mockserver.sip.message import (
    Message,
    SipError,
    host_port,
    param,
    parse,
    request,
    response,
    split_list,
    uri_of,
)
from tests.test_layering import FILE_IO, GRAPH, MODULES

OFFER = ("v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
         "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n")


def invite(body: str = OFFER, *, branch: str = "z9hG4bK-1", extra: str = "") -> bytes:
    """An INVITE as SIPp sends one (compact forms and a folded line included)."""
    head = (f"INVITE sip:proj_test@127.0.0.1:5070 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:5061;branch={branch};rport\r\n"
            "v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-proxy\r\n"
            "f: sipp <sip:+14155550100@127.0.0.1:5061>;tag=caller-1\r\n"
            "To: <sip:proj_test@127.0.0.1:5070>\r\n"
            "i: 1-2345@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
            "Contact: <sip:sipp@127.0.0.1:5061>\r\nMax-Forwards: 70\r\n"
            "Record-Route: <sip:proxy.example;lr>\r\n"
            "Subject: a long\r\n  folded subject\r\n"
            "Authorization: Digest username=\"x\"\r\n"
            f"{extra}Content-Type: application/sdp\r\nContent-Length: {len(body.encode())}\r\n\r\n")
    return head.encode() + body.encode()


def ack_of(message: Message, to: str, cseq: int = 1, branch: str = "z9hG4bK-ack") -> Message:
    return request("ACK", "sip:realtime-mock@127.0.0.1:5070", [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:5061;branch={branch}"), ("From", message.require("From")), ("To", to),
        ("Call-ID", message.call_id), ("CSeq", f"{cseq} ACK")])


def in_dialog(method: str, message: Message, to: str, cseq: int, body: bytes = b"",
              headers: tuple[tuple[str, str], ...] = ()) -> Message:
    return request(method, "sip:realtime-mock@127.0.0.1:5070", [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{method}-{cseq}"), ("From", message.require("From")),
        ("To", to), ("Call-ID", message.call_id), ("CSeq", f"{cseq} {method}"), *headers], body)


# -- messages --------------------------------------------------------------------------------------------

def test_an_invite_parses_with_its_headers_in_order() -> None:
    message = parse(invite() + b"trailing bytes past Content-Length")
    assert (message.method, message.uri) == ("INVITE", "sip:proj_test@127.0.0.1:5070")
    assert message.call_id == "1-2345@127.0.0.1" and message.cseq == (1, "INVITE")
    assert message.from_tag == "caller-1" and message.to_tag is None
    assert message.branch == "z9hG4bK-1"  # the top Via's
    assert message.get_all("via") == ["SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1;rport",
                                      "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-proxy"]
    assert message.get("Subject") == "a long folded subject"  # unfolded
    assert [name for name, _ in message.headers][:3] == ["Via", "v", "f"]  # names as sent
    assert message.body.decode() == OFFER


def test_a_response_parses_and_echoes_the_request() -> None:
    request_ = parse(invite())
    ringing = response(request_, 180, to_tag="abc", headers=[("Server", "x")])
    again = parse(ringing.encode())
    assert (again.status, again.reason) == (180, "Ringing")
    assert again.get_all("Via") == request_.get_all("Via") and again.to_tag == "abc"
    assert again.get("Record-Route") == "<sip:proxy.example;lr>"  # a dialog-making response keeps the route
    assert again.get("Content-Length") == "0"
    assert parse(response(request_, 100).encode()).to_tag is None
    assert parse(response(request_, 486).encode()).get("Record-Route") is None


@pytest.mark.parametrize("data", [
    b"", b"\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"SIP/2.0 99 Too Low\r\n\r\n",
    invite().replace(b"i: 1-2345@127.0.0.1\r\n", b""),  # no Call-ID
    invite().replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE"),
    invite().replace(b"Content-Length: ", b"Content-Length: 9"),  # longer than the datagram
    invite().replace(b"Max-Forwards: 70", b"Max Forwards 70"),
])
def test_what_is_not_a_sip_message_is_refused(data: bytes) -> None:
    with pytest.raises(SipError):
        parse(data)


def test_header_values() -> None:
    assert split_list('<sip:a@b;lr>, "x, y" <sip:c@d>,sip:e@f') == ["<sip:a@b;lr>", '"x, y" <sip:c@d>', "sip:e@f"]
    assert param('"A;tag=no" <sip:a@b;tag=no>;tag=yes;lr', "tag") == "yes"
    assert param("<sip:a@b>;lr", "lr") == "" and param("<sip:a@b>", "tag") is None
    assert uri_of('"Bob" <sip:bob@host:5062;transport=udp>;tag=1') == "sip:bob@host:5062;transport=udp"
    assert uri_of("sip:bob@host;tag=1") == "sip:bob@host"
    assert host_port("sip:bob@[::1]:5062;transport=udp") == ("::1", 5062)
    assert host_port("sip:example.com") == ("example.com", 5060)


# -- SDP ---------------------------------------------------------------------------------------------------

def test_the_offerers_first_g711_codec_and_its_dtmf_type_are_chosen() -> None:
    chosen = sdp.negotiate(sdp.parse(OFFER))
    assert chosen == sdp.Negotiated("PCMA", 8, 101, ("127.0.0.1", 6000), "sendrecv")
    answer = sdp.answer(chosen, "127.0.0.1", 40000, session_id=7)
    assert "m=audio 40000 RTP/AVP 8 101\r\n" in answer and "a=rtpmap:101 telephone-event/8000" in answer
    assert sdp.negotiate(sdp.parse(answer)) == sdp.Negotiated("PCMA", 8, 101, ("127.0.0.1", 40000), "sendrecv")


@pytest.mark.parametrize(("offer", "expected"), [
    (OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 96 8").replace("a=rtpmap:8 PCMA", "a=rtpmap:96 pcmu"),
     ("PCMU", 96, None)),  # a dynamic type named PCMU; no telephone-event offered
    (OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 0"), ("PCMU", 0, None)),  # a static type without rtpmap
    (OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 18"), None),  # G.729 only
    (OFFER.replace("RTP/AVP", "RTP/SAVP"), None),  # SRTP
    (OFFER.replace("m=audio 6000", "m=audio 0"), None),  # the stream refused
    (OFFER.replace("m=audio", "m=video"), None),
    ("", None),
])
def test_offers_the_mock_can_and_cannot_take(offer: str, expected: tuple[str, int, int | None] | None) -> None:
    chosen = sdp.negotiate(sdp.parse(offer))
    assert (chosen and (chosen.codec, chosen.payload_type, chosen.dtmf_payload_type)) == expected


def test_a_caller_on_hold_is_not_sent_audio() -> None:
    held = sdp.negotiate(sdp.parse(OFFER + "a=sendonly\r\n"))
    assert held is not None and held.direction == "recvonly" and not held.sends
    assert "a=recvonly" in sdp.answer(held, "127.0.0.1", 4000, session_id=1)
    nowhere = sdp.negotiate(sdp.parse(OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0")))
    assert nowhere is not None and not nowhere.sends


# -- the dialog --------------------------------------------------------------------------------------------

@pytest.fixture
def call() -> tuple[ServerDialog, Message]:
    message = parse(invite())
    return ServerDialog(message, contact="sip:realtime-mock@127.0.0.1:5070", via="127.0.0.1:5070",
                        local_tag="mock-1"), message


def test_ringing_then_an_answer_sent_again_until_the_ack(call: tuple[ServerDialog, Message]) -> None:
    dialog, message = call
    trying, ringing = (parse(data) for data in dialog.ringing())
    assert (trying.status, trying.to_tag, ringing.status, ringing.to_tag) == (100, None, 180, "mock-1")
    assert [parse(d).status for d in dialog.receive(message, 0.1)] == [180]  # the INVITE again: 180 again
    ok = parse(dialog.accept("v=0\r\n", 1.0))
    assert ok.status == 200 and ok.get("Contact") == "<sip:realtime-mock@127.0.0.1:5070>" and ok.body == b"v=0\r\n"
    assert ok.get("Content-Type") == "application/sdp"
    sent_at = []
    now = 1.0
    while now < 1.0 + 10:
        now = dialog.next_due() or now + 1
        if dialog.tick(now):
            sent_at.append(round(now - 1.0, 3))
    assert sent_at[:5] == [T1, 3 * T1, 7 * T1, 7 * T1 + T2, 7 * T1 + 2 * T2]  # T1 doubling, capped at T2
    assert dialog.receive(ack_of(message, ok.require("To")), now) == [] and dialog.phase == "confirmed"
    assert [e.kind for e in dialog.events] == ["acked"] and dialog.quiet and dialog.next_due() is None
    assert [parse(d).status for d in dialog.receive(message, now)] == [200]  # idempotent


def test_no_ack_is_given_up_on_after_64_t1(call: tuple[ServerDialog, Message]) -> None:
    dialog, _ = call
    dialog.accept("v=0\r\n", 0.0)
    assert dialog.tick(GIVE_UP - 0.01) and not dialog.events
    assert dialog.tick(GIVE_UP) == [] and [e.kind for e in dialog.events] == ["ack_timeout"]


def test_cancel_before_the_answer(call: tuple[ServerDialog, Message]) -> None:
    dialog, message = call
    dialog.ringing()
    cancel = request("CANCEL", message.uri, [("Via", message.get_all("Via")[0]), ("From", message.require("From")),
                                            ("To", message.require("To")), ("Call-ID", message.call_id),
                                            ("CSeq", "1 CANCEL")])
    ok, terminated = (parse(d) for d in dialog.receive(cancel, 1.0))
    assert (ok.status, ok.cseq, terminated.status, terminated.cseq) == (200, (1, "CANCEL"), 487, (1, "INVITE"))
    assert [e.kind for e in dialog.events] == ["cancelled"] and dialog.phase == "rejected"
    assert dialog.tick(1.0 + T1) == [terminated.encode()]  # the 487 again until its ACK
    dialog.receive(ack_of(message, terminated.require("To"), branch="z9hG4bK-1"), 2.0)
    assert dialog.phase == "terminated" and dialog.quiet
    assert parse(dialog.receive(cancel, 3.0)[0]).status == 200  # late: answered, nothing changes
    other = parse(cancel.encode().replace(b"z9hG4bK-1", b"z9hG4bK-other"))
    assert parse(dialog.receive(other, 3.0)[0]).status == 481


def test_a_reject_with_its_status(call: tuple[ServerDialog, Message]) -> None:
    dialog, message = call
    busy = parse(dialog.reject(486, 0.0))
    assert (busy.status, busy.reason, busy.to_tag) == (486, "Busy Here", "mock-1")
    assert parse(dialog.receive(message, 0.2)[0]).status == 486  # the INVITE again: the same answer
    dialog.tick(GIVE_UP)
    assert dialog.phase == "terminated" and dialog.quiet  # no ACK came: given up


def test_the_callers_requests_in_the_dialog(call: tuple[ServerDialog, Message]) -> None:
    dialog, message = call
    ok = parse(dialog.accept("v=0\r\n", 0.0))
    to = ok.require("To")
    dialog.receive(ack_of(message, to), 0.1)
    options = parse(dialog.receive(in_dialog("OPTIONS", message, to, 2), 1)[0])
    assert options.status == 200 and "REFER" not in (options.get("Allow") or "")
    info = parse(dialog.receive(in_dialog("INFO", message, to, 3), 1)[0])
    assert (info.status, info.get("Allow")) == (405, dialogs.ALLOW)
    reinvite = parse(dialog.receive(in_dialog("INVITE", message, to, 4, b"v=0\r\nnew offer"), 1)[0])
    assert reinvite.status == 200 and reinvite.body == b"v=0\r\n"  # the same answer
    assert dialog.events[-1].kind == "reoffer" and dialog.events[-1].body == b"v=0\r\nnew offer"
    stranger = parse(dialog.receive(in_dialog("BYE", message, "<sip:x@y>;tag=someone-else", 5), 1)[0])
    assert stranger.status == 481
    bye = in_dialog("BYE", message, to, 6)
    answered = dialog.receive(bye, 2)
    assert parse(answered[0]).status == 200 and dialog.events[-1].kind == "bye" and dialog.phase == "terminated"
    assert dialog.receive(bye, 2.5) == answered  # a retransmitted BYE: the same 200


def test_refer_and_bye_are_sent_until_answered(call: tuple[ServerDialog, Message]) -> None:
    dialog, message = call
    to = parse(dialog.accept("v=0\r\n", 0.0)).require("To")
    dialog.receive(ack_of(message, to), 0.1)
    refer = parse(dialog.refer("tel:+14155550123", 1.0))
    assert (refer.method, refer.uri) == ("REFER", "sip:sipp@127.0.0.1:5061")  # to the caller's Contact
    assert refer.get("Refer-To") == "<tel:+14155550123>" and refer.get("Route") == "<sip:proxy.example;lr>"
    assert refer.from_tag == "mock-1" and refer.to_tag == "caller-1" and refer.cseq == (1, "REFER")
    assert dialog.tick(1.0 + T1) == [refer.encode()]
    dialog.receive(parse(response(refer, 202).encode()), 1.6)
    assert dialog.events[-1] == dialogs.Event("response", status=202, method="REFER") and dialog.quiet
    notify = in_dialog("NOTIFY", message, to, 2, b"SIP/2.0 200 OK\r\n",
                       (("Event", "refer"), ("Content-Type", "message/sipfrag")))
    assert parse(dialog.receive(notify, 2)[0]).status == 200 and dialog.events[-1] == dialogs.Event("notify", 200)
    bye = parse(dialog.bye(3.0))
    assert bye.cseq == (2, "BYE") and dialog.phase == "terminated"
    dialog.tick(3.0 + GIVE_UP)
    assert dialog.events[-1] == dialogs.Event("timeout", method="BYE")  # never answered


# -- the webhook -------------------------------------------------------------------------------------------

SECRET = "whsec_" + "c2VjcmV0LWZvci10ZXN0cy1vbmx5LTMyLWJ5dGVzISE="


def test_the_webhook_is_what_the_sdk_unwraps() -> None:
    import time

    import openai
    from standardwebhooks.webhooks import Webhook

    headers = webhook.sip_headers(parse(invite(extra="X-Mock-Scope: t1\r\nproxy-authorization: x\r\n")).headers)
    names = [h["name"] for h in headers]
    assert names[:5] == ["Via", "v", "f", "To", "i"] and "Authorization" not in names
    assert "X-Mock-Scope" not in names and "proxy-authorization" not in names and names.count("Content-Length") == 1
    event = webhook.incoming_call_event("evt_1", 1750287018, "rtc_1", headers)
    body = webhook.body_of(event)
    signed = webhook.signed_headers(SECRET, "wh_1", int(time.time()), body)
    assert signed["user-agent"] == "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
    client = openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    unwrapped = client.webhooks.unwrap(body, signed, secret=SECRET)
    assert unwrapped.type == "realtime.call.incoming" and unwrapped.data.call_id == "rtc_1"
    assert [(h.name, h.value) for h in unwrapped.data.sip_headers] == [(h["name"], h["value"]) for h in headers]
    assert Webhook(SECRET).verify(body, signed)["id"] == "evt_1"  # the library's own check agrees
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.unwrap(body, signed, secret="whsec_" + "d3Jvbmctc2VjcmV0")
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.unwrap(body.replace(b"rtc_1", b"rtc_2"), signed, secret=SECRET)
    raw = webhook.signed_headers("plain-secret", "wh_1", int(time.time()), body)  # no prefix: its own bytes
    assert client.webhooks.unwrap(body, raw, secret="plain-secret").id == "evt_1"


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_not base64!"])
def test_unusable_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError):
        webhook.secret_key(secret)
    assert webhook.secret_key(webhook.new_secret())


# -- layering ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("mockserver.sip.")])
def test_the_sip_modules_are_sans_io(name: str) -> None:
    """They import only the core and each other, and use no files (the I/O is in transports/sip.py)."""
    allowed = ("mockserver.sip", "mockserver.protocol", "mockserver.audio")
    assert sorted(m for m in GRAPH[name] if not m.startswith(allowed)) == []
    tree = ast.parse(MODULES[name].read_text("utf-8"))
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert used & FILE_IO == set()
    assert "asyncio" not in {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                             for alias in node.names}
