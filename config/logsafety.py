"""Log lines that cannot be forged and are one line each.

* `EscapeControlCharacters`: a request header, a path (`%0a` decodes to a newline) or a provider's
  answer may carry CR, LF, NUL or other C0/C1 control characters; written as they are, they start a
  forged log line. The filter formats the message once and writes each control character as a
  visible escape (`\\n`, `\\x00`, `\\x9b`), so every record stays on its own line. A traceback
  (exc_info) is left as it is: it is ours, not the client's.
* `ClientErrorsWithoutTraceback`: Django logs a 403 (PermissionDenied) and every
  SuspiciousOperation with the exception's traceback; a refused request is the client's doing, not
  a fault of ours, so it is logged as its one line.

Both are installed on every handler of `LOGGING` (config/settings.py), on gunicorn's error and
access logs (`GunicornLogger`, named by config/gunicorn.conf.py) and on Celery's handlers
(`escape_handlers_of`, connected in config/celery.py).
"""

from __future__ import annotations

import logging
import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """`text` with every C0/C1 control character (tab included) and Unicode line separator escaped."""
    return _CONTROL.sub(
        lambda m: (
            _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}")
            if ord(m.group()) < 0x100
            else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


class EscapeControlCharacters(logging.Filter):
    """Formats the record's message and escapes its control characters; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_controls_escaped", False):
            return True  # a record reaches several handlers: escape it once
        record._controls_escaped = True
        if isinstance(record.msg, dict):
            # A structlog event dict (rendered later by config/logs.py's ProcessorFormatter): its
            # text values are escaped, the dict stays a dict.
            record.msg = {
                key: escape_controls(value) if isinstance(value, str) else value
                for key, value in record.msg.items()
            }
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the template, escaped
            message = str(record.msg)
        record.msg = escape_controls(message)
        record.args = None
        return True


class ClientErrorsWithoutTraceback(logging.Filter):
    """A 4xx logged by django.request and every django.security record lose their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        client_error = (
            record.name == "django.request"
            and 400 <= (getattr(record, "status_code", None) or 0) < 500
        )
        if client_error or record.name.startswith("django.security"):
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True


FILTERS = {
    "escape_controls": {"()": "config.logsafety.EscapeControlCharacters"},
    "client_errors_one_line": {"()": "config.logsafety.ClientErrorsWithoutTraceback"},
}
HANDLER_FILTERS = list(FILTERS)


def escape_handlers_of(logger: logging.Logger, **_) -> None:
    """Adds both filters to every handler of `logger` (Celery's `after_setup_*logger` signals)."""
    for handler in logger.handlers:
        for cls in (EscapeControlCharacters, ClientErrorsWithoutTraceback):
            if not any(isinstance(f, cls) for f in handler.filters):
                handler.addFilter(cls())


try:
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # gunicorn is the web server's, not every process's
    _GunicornLogger = None

if _GunicornLogger is not None:

    class GunicornLogger(_GunicornLogger):
        """gunicorn's logger with control characters escaped in its error and access lines."""

        def setup(self, cfg):
            super().setup(cfg)
            escape_handlers_of(self.error_log)
            escape_handlers_of(self.access_log)
