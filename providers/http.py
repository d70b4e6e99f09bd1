"""The one httpx client factory every adapter uses, with redacted request logging.

Every provider call is logged once (method, URL, status, duration) on the
``providers.http`` logger. Credentials never reach a log line: header values
of ``Authorization``, ``x-api-key``, ``X-Signature``… are replaced, and query
parameters that carry tokens or keys (Integra sends ``accessToken`` and
``bioCode`` in the query string) are redacted from the logged URL. httpx's own
``httpx`` logger prints full URLs at INFO, so this module also installs a filter
on it that redacts the same query parameters.

``transport_errors()`` turns httpx exceptions into the error taxonomy, keeping
the one distinction that matters for money: whether the request may have been
processed (``OutcomeUnknown``) or provably was not (``ProviderUnavailable``).

Reading an answer is the same for every adapter too: ``json_or_none()``,
``json_object()`` and ``retry_after()``; and every adapter's
``_raise_for_response()`` ends alike, after its provider-specific mapping, in
``raise_for_common_status()`` (429, 5xx with the same money distinction, and the
``InvalidRequest`` fallback). Messages name the provider's API as the adapter
passes it (``api_name``: "Payroc", "KOMOJU", "Integra"…).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any, NoReturn

import certifi
import httpx

from providers.errors import (
    InvalidRequest,
    OutcomeUnknown,
    ProviderUnavailable,
    RateLimited,
    UnexpectedResponse,
)

logger = logging.getLogger("providers.http")

REDACTED = "[redacted]"

# Header names compared lower-case.
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-signature",
        "x-komoju-signature",
        "payroc-secret",
    }
)

# Query parameter names compared lower-case.
SENSITIVE_QUERY_PARAMS = frozenset(
    {
        "token",
        "access_token",
        "accesstoken",
        "previousaccesstoken",
        "key",
        "apikey",
        "api_key",
        "biocode",
        "pin",
        "secret",
        "signature",
        "password",
    }
)

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=5.0)

_STARTED_AT = "providers.started_at"


def redact_url(url: httpx.URL | str) -> str:
    """The URL as text with sensitive query parameter values replaced."""
    url = httpx.URL(str(url))
    if not url.query:
        return str(url)
    params = [
        (name, REDACTED if name.lower() in SENSITIVE_QUERY_PARAMS else value)
        for name, value in url.params.multi_items()
    ]
    return str(url.copy_with(params=params)).replace("%5Bredacted%5D", REDACTED)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with credential-bearing values replaced."""
    return {
        name: REDACTED if name.lower() in SENSITIVE_HEADERS else value
        for name, value in headers.items()
    }


@cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context of this process, shared by every client: building one loads and parses
    the CA bundle (tens of milliseconds), which httpx would otherwise do for each new client, that
    is for each payment start. An SSLContext is safe to share between threads once configured.
    The CA bundle is httpx's own choice: SSL_CERT_FILE or SSL_CERT_DIR when set, else certifi's."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    return ssl.create_default_context(cafile=certifi.where())


# A kept-alive connection is dropped after this long idle: shorter than the keep-alive of the
# servers it talks to (config/gunicorn.conf.py keeps one 10 s), so a reused connection is never one
# the server is closing at that moment.
KEEPALIVE_EXPIRY_S = 5.0


class _KeptAlive(httpx.BaseTransport):
    """A pool of kept-alive connections shared by many short-lived clients of one account in one
    process (a tracker step makes one): closing a client leaves the pool open. Authentication
    travels in each request's headers and cookies stay with each client."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport(
            verify=tls_context(),
            limits=httpx.Limits(
                max_connections=None,  # a green tracking pool holds hundreds of long-polls
                max_keepalive_connections=1000,
                keepalive_expiry=KEEPALIVE_EXPIRY_S,
            ),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)

    def close(self) -> None:
        """Kept open: other clients of this process use it."""


_shared: dict[tuple[int, object], _KeptAlive] = {}
_shared_lock = threading.Lock()


def shared_transport(key: object = None) -> httpx.BaseTransport:
    """This process's kept-alive transport for `key` (a provider account: its own few connections;
    one pool for all would be scanned whole by each request, and a tracking process holds hundreds).
    One set per process: a forked child makes its own. For reads only: a start, capture or refund
    sent on a connection the server closes at that moment is a broken exchange, and the call may
    have landed."""
    slot = (os.getpid(), key)
    transport = _shared.get(slot)
    if transport is None:
        with _shared_lock:
            transport = _shared.get(slot) or _shared.setdefault(slot, _KeptAlive())
    return transport


def make_client(
    base_url: str,
    *,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
    label: str = "",
) -> httpx.Client:
    """An httpx client for one provider account, logging every exchange redacted.

    ``label`` (the provider name) is added to each log record as ``provider``.
    """

    def on_request(request: httpx.Request) -> None:
        request.extensions[_STARTED_AT] = time.monotonic()

    def on_response(response: httpx.Response) -> None:
        request = response.request
        started_at = request.extensions.get(_STARTED_AT)
        duration_ms = (time.monotonic() - started_at) * 1000 if started_at else None
        url = redact_url(request.url)
        logger.info(
            "%s %s -> %s in %s ms",
            request.method,
            url,
            response.status_code,
            f"{duration_ms:.0f}" if duration_ms is not None else "?",
            extra={
                "provider": label,
                "http_method": request.method,
                "http_url": url,
                "http_status": response.status_code,
                "duration_ms": duration_ms,
            },
        )
        logger.debug(
            "request headers %s",
            redact_headers(request.headers),
            extra={"provider": label, "http_url": url},
        )

    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        verify=tls_context(),
        transport=transport,
        event_hooks={"request": [on_request], "response": [on_response]},
    )


@contextmanager
def transport_errors(request_label: str, *, moves_money: bool) -> Iterator[None]:
    """Translate httpx transport exceptions raised inside the block.

    * never sent (connect error or timeout, DNS or TLS failure, pool timeout):
      ``ProviderUnavailable`` with ``sent=False``: the request provably never
      reached the provider, so sending it again cannot make a second charge;
    * sent, then the exchange broke (read/write timeout, reset, the server hung up
      mid-answer): ``OutcomeUnknown`` if the call moves money (starts, aborts,
      captures, refunds), because the provider may have processed it or may still
      be processing it; otherwise ``ProviderUnavailable``. Both keep ``sent=True``.

    ``request_label`` (e.g. "POST /payrequests") names the call in the message;
    it must not contain secrets.
    """
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        logger.warning("%s: could not connect (%s)", request_label, type(exc).__name__)
        raise ProviderUnavailable(
            "The payment provider is not reachable right now; nothing was sent.", sent=False
        ) from exc
    except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        logger.warning("%s: exchange broke (%s)", request_label, type(exc).__name__)
        if moves_money:
            raise OutcomeUnknown(
                "The connection to the payment provider broke after the request was sent; "
                "it may have been processed."
            ) from exc
        raise ProviderUnavailable(
            "The payment provider did not answer in time; try again shortly."
        ) from exc


def json_or_none(response: httpx.Response) -> Any:
    """The answer's body parsed as JSON, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def json_object(response: httpx.Response, api_name: str) -> dict[str, Any]:
    """The answer's body as a JSON object; UnexpectedResponse naming ``api_name`` otherwise."""
    body = json_or_none(response)
    if not isinstance(body, dict):
        raise UnexpectedResponse(
            f"{api_name} answered HTTP {response.status_code} without a JSON object."
        )
    return body


def retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds; None when it is absent or not a number."""
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def raise_for_transient_status(
    response: httpx.Response,
    api_name: str,
    detail: str,
    *,
    moves_money: bool,
    provider_code: str | int | None = None,
) -> None:
    """Raise for the statuses every provider means alike; return for any other.

    * 429: ``RateLimited`` with the ``Retry-After`` seconds;
    * 5xx: ``OutcomeUnknown`` when the call moves money and the status is not 503
      (a gateway can fail after the charge ran; 503 means it refused the request),
      else ``ProviderUnavailable``.

    ``detail`` is the provider's error text, already scrubbed of secrets.
    """
    status = response.status_code
    codes: dict[str, Any] = {"provider_code": provider_code, "http_status": status}
    if status == 429:
        raise RateLimited(
            f"{api_name} is rate limiting us: {detail}",
            retry_after=retry_after(response),
            **codes,
        )
    if status >= 500:
        if moves_money and status != 503:
            raise OutcomeUnknown(
                f"{api_name} failed (HTTP {status}) after receiving the request; "
                "it may have been processed.",
                **codes,
            )
        raise ProviderUnavailable(f"{api_name} is having problems (HTTP {status}).", **codes)


def raise_for_common_status(
    response: httpx.Response,
    api_name: str,
    detail: str,
    *,
    moves_money: bool,
    provider_code: str | int | None = None,
) -> NoReturn:
    """The tail of every ``_raise_for_response()``, after its provider-specific mapping.

    ``raise_for_transient_status()``, then ``InvalidRequest`` for any other failure.
    """
    raise_for_transient_status(
        response, api_name, detail, moves_money=moves_money, provider_code=provider_code
    )
    raise InvalidRequest(
        f"{api_name} rejected the request: {detail}",
        provider_code=provider_code,
        http_status=response.status_code,
    )


class _RedactHttpxUrls(logging.Filter):
    """Redacts sensitive query parameters from URLs in httpx's own log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, httpx.URL) for arg in record.args
        ):
            record.args = tuple(
                redact_url(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


def _install_httpx_log_redaction() -> None:
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactHttpxUrls) for f in httpx_logger.filters):
        httpx_logger.addFilter(_RedactHttpxUrls())


_install_httpx_log_redaction()
