"""SIP calls, sans-I/O: messages (`message.py`), SDP offers and answers (`sdp.py`), the server side of a call's
dialog and its transactions (`dialog.py`), RTP packets and RFC 4733 telephone events (`rtp.py`), and the
`realtime.call.incoming` webhook (`webhook.py`). None of them touches a socket or a clock: the UDP endpoint
(transports/sip.py) and the test caller (sip_client.py) feed them datagrams and the time."""
