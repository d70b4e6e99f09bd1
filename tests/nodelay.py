"""The test live server answers without Nagle's delay.

Django's test server (`ThreadedWSGIServer`, under pytest-django's `live_server`) writes a response's
headers and its body in two sends on a socket with Nagle's algorithm on. On a kept-alive connection
the body then waits for the client to acknowledge the headers, and Linux delays that
acknowledgement by about 40 ms: every answer after a connection's first took 40 to 50 ms instead of
10 (the 100-run lost-start contract case spent half its time so). gunicorn, which serves the product
and the benchmarks' emulators, sets TCP_NODELAY on its sockets itself; this gives the test server
the same.
"""

from __future__ import annotations

import socket

from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread


class NoDelayWSGIServer(ThreadedWSGIServer):
    def get_request(self):
        conn, address = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, address


def install() -> None:
    """Every live server the tests start is a NoDelayWSGIServer: pytest-django's `live_server`
    runs Django's `LiveServerThread`, which builds its server from its `server_class`."""
    LiveServerThread.server_class = NoDelayWSGIServer
