"""Log lines through structlog: every stdlib record (Django, Celery, httpx, our `logging.getLogger`)
is rendered by `structlog.stdlib.ProcessorFormatter`, with what `structlog.contextvars` holds
(the request id of dashboard.middleware.RequestIdMiddleware; later the payment id) added to it.

* Development and the demo: one readable line, `2026-12-01T20:44:03Z [info ] message  logger=…
  request_id=…`.
* Production (config/production.py): one JSON object a line, `{"event": …, "level": …, "logger": …,
  "timestamp": …, "request_id": …}`, with a traceback as the `exception` string.

A line carries its message (already redacted where it names a URL or headers, providers/http.py),
the context we bound ourselves and the few vetted `extra` fields of EXTRA_KEYS, nothing else.
"""

from __future__ import annotations

import structlog

# The `extra` fields of stdlib records that become keys of the line: the provider calls' figures
# (providers/http.py, whose URL is already redacted) and the status Django logs a 4xx/5xx with.
# Any other extra (Django's `request` object, a caller's dict) is left out: nothing unvetted is logged.
EXTRA_KEYS = ("provider", "http_method", "http_url", "http_status", "duration_ms", "status_code")

# Added to every record, ours and foreign, before it is rendered.
PRE_CHAIN = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(allow=EXTRA_KEYS),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def formatter(*, json: bool) -> dict:
    """A `LOGGING["formatters"]` entry: JSON objects or readable key-value lines."""
    if json:
        renderer = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        renderer = [structlog.dev.ConsoleRenderer(colors=False)]
    return {
        "()": structlog.stdlib.ProcessorFormatter,
        "foreign_pre_chain": PRE_CHAIN,
        "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    }


def configure() -> None:
    """Makes `structlog.get_logger()` hand its events to stdlib logging, so they get the same
    handlers, filters and formatter as every other record."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
