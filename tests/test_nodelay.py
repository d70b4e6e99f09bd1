"""The test live server turns Nagle's algorithm off on each connection it accepts (tests/nodelay.py),
as gunicorn does, so an answer's body is not held back waiting for an acknowledgement."""

import socket

from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler

from tests.nodelay import NoDelayWSGIServer


def test_every_live_server_is_the_no_delay_server():
    assert LiveServerThread.server_class is NoDelayWSGIServer


def test_an_accepted_connection_has_tcp_nodelay_set():
    server = NoDelayWSGIServer(("127.0.0.1", 0), QuietWSGIRequestHandler, allow_reuse_address=False)
    try:
        with socket.create_connection(server.server_address, timeout=5):
            conn, _ = server.get_request()
            try:
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            finally:
                conn.close()
    finally:
        server.server_close()
