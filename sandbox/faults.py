"""Fault switches as the wire sees them: latency, a 5xx, and a response lost after the work was done.

The switches themselves are device fields set on the virtual terminal page (or by tests through
`services.device_set_switches`); using one up is a conditional UPDATE in `services`.
"""

from __future__ import annotations

import logging
import socket
import time

from django.http import HttpResponse, StreamingHttpResponse

from sandbox import services
from sandbox.models import SandboxDevice

logger = logging.getLogger(__name__)

# How much of a lost response's body the client receives before the connection drops.
LOST_RESPONSE_BYTES = 12


def device_faults(device: SandboxDevice) -> bool:
    """Waits the device's latency, then uses up one "5xx" if any is left.

    True when this request must be answered with a 5xx (and not processed). Called before any
    database transaction is opened, so the wait holds no lock.
    """
    if device.latency_ms:
        time.sleep(device.latency_ms / 1000)
    return services.device_take_5xx(device=device)


def deliver(request, device: SandboxDevice, response: HttpResponse) -> HttpResponse:
    """The response of a money-moving POST, unless the device's "lose the next response" switch is on:
    then the work is already done (and committed) and the client gets a broken response instead."""
    if 200 <= response.status_code < 300 and services.device_take_lost_response(device=device):
        logger.info(
            "sandbox: losing the response to %s %s on purpose", request.method, request.path
        )
        return broken_response(request, response)
    return response


def broken_response(request, response: HttpResponse) -> StreamingHttpResponse:
    """The same status and headers, a Content-Length for the whole body, and only its first bytes.

    After those bytes the connection is shut down, so an HTTP client sees the body end early and
    raises a protocol error (httpx.RemoteProtocolError) instead of getting an answer.
    """
    body = response.content
    environ = request.environ

    def first_bytes_then_hang_up():
        yield body[: min(LOST_RESPONSE_BYTES, max(len(body) - 1, 0))]
        sock = _client_socket(environ)
        if sock is None:
            # A server we cannot reach into: an error mid-body makes it drop the connection.
            raise ConnectionAbortedError("sandbox: response lost on purpose")
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    broken = StreamingHttpResponse(first_bytes_then_hang_up(), status=response.status_code)
    for header, value in response.items():
        broken[header] = value
    broken["Content-Length"] = str(max(len(body), LOST_RESPONSE_BYTES + 1))
    return broken


def _client_socket(environ) -> socket.socket | None:
    """The client's socket under gunicorn or Django's own server (runserver, live_server)."""
    sock = environ.get("gunicorn.socket")
    if isinstance(sock, socket.socket):
        return sock
    # Django's server: wsgi.input is a LimitedStream over the connection's rfile (a socket file).
    read = getattr(environ.get("wsgi.input"), "_read", None)
    rfile = getattr(read, "__self__", None)
    sock = getattr(getattr(rfile, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def credential_fault(account) -> str:
    """Uses up one of the account's credential fault switches before its credentials are checked:
    "5xx" (answer 503, process nothing), "refuse" (answer as for wrong credentials) or "".
    The account was just read: with no switch on, nothing more is asked of the database."""
    if not (account.credential_fail_next_5xx or account.credential_refuse_next):
        return ""
    return services.account_take_credential_fault(account=account)


def deliver_credential(request, account, response: HttpResponse) -> HttpResponse:
    """The answer of a credential call, unless the account's "lose the next response" switch is on:
    then the call was processed (a token issued, Integra's token reset) and the answer breaks."""
    if (
        account.credential_lose_next_response
        and not response.streaming
        and 200 <= response.status_code < 300
        and services.account_take_lost_response(account=account)
    ):
        logger.info(
            "sandbox: losing the credential response to %s %s on purpose",
            request.method,
            request.path,
        )
        return broken_response(request, response)
    return response
