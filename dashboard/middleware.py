import re
import uuid
import zoneinfo

import structlog
from django.utils import timezone

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class TimezoneMiddleware:
    """Shows times in the viewer's time zone (stored on the user); the database stays in UTC."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tz_name = (
            getattr(request.user, "time_zone", None) if request.user.is_authenticated else None
        )
        try:
            timezone.activate(zoneinfo.ZoneInfo(tz_name)) if tz_name else timezone.deactivate()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        return self.get_response(request)


class RequestIdMiddleware:
    """Gives each request an id, bound for every log line written while it runs
    (`structlog.contextvars`, see config/logs.py) and answered as `X-Request-ID`.

    A proxy's `X-Request-ID` is kept when it is a plain token (letters, digits, `-`, `_`, `.`; at
    most 64), so one id follows a request through the proxy's log and ours; anything else (a
    newline that would forge a log line, a megabyte) is replaced by a new id."""

    HEADER = "X-Request-ID"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get(self.HEADER, "")
        request_id = offered if _REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        request.request_id = request_id
        # Cleared here, not on the way out: Django logs a 4xx or 5xx after the middleware returned.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        response = self.get_response(request)
        response[self.HEADER] = request_id
        return response
