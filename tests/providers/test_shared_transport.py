"""A tracker's reads go through kept-alive connections (providers/http.py `shared_transport`): the
clients of one account's reads share a connection across steps, closing a client leaves it open,
and each account has its own pool. Over real loopback HTTP to a small HTTP/1.1 server that counts
the connections it accepts."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from providers.http import KEEPALIVE_EXPIRY_S, make_client, shared_transport


class _Counting(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0
        self.lock = threading.Lock()

    def process_request(self, request, client_address):
        with self.lock:
            self.connections += 1
        super().process_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps the connection open between requests

    def do_GET(self):
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    server = _Counting()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _step(server, key) -> int:
    """One tracker step's client: built, one read, closed (as `with _adapter(...)` does)."""
    url = f"http://127.0.0.1:{server.server_address[1]}"
    with make_client(url, transport=shared_transport(key)) as client:
        return client.get("/status").status_code


def test_reads_of_one_account_reuse_one_connection_across_clients(server):
    key = object()
    assert [_step(server, key) for _ in range(5)] == [200] * 5
    assert server.connections == 1


def test_each_account_has_its_own_connections(server):
    first, second = object(), object()
    _step(server, first)
    _step(server, second)
    _step(server, first)
    assert server.connections == 2
    assert shared_transport(first) is shared_transport(first)
    assert shared_transport(first) is not shared_transport(second)


def test_the_client_keeps_an_idle_connection_shorter_than_the_server_keeps_it():
    from django.conf import settings

    conf = {}
    exec((settings.BASE_DIR / "config" / "gunicorn.conf.py").read_text(), conf)
    assert KEEPALIVE_EXPIRY_S < conf["keepalive"]


def test_a_start_never_goes_through_the_kept_alive_connections():
    """Only reads keep connections: the engine asks for them only in `_read`."""
    import ast
    import inspect

    from payments import engine

    tree = ast.parse(inspect.getsource(engine))
    uses = {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        for call in ast.walk(node)
        if isinstance(call, ast.Call)
        and getattr(call.func, "id", "") == "_adapter"
        and any(k.arg == "keep_alive" for k in call.keywords)
    }
    assert uses == {"_read"}
