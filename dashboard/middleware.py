import re
import time
import uuid
import zoneinfo

import structlog
from django.utils import timezone
from django.utils.cache import patch_cache_control


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


_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
POLL_HEADER = "X-Poll"
LAST_ACTIVITY_KEY = "_last_activity"


def is_poll(request) -> bool:
    """A request the page made on its own: every element with `hx-trigger="every …"` carries
    `hx-headers='{"X-Poll": "1"}'` (tests/dashboard/test_sessions.py checks every template)."""
    return request.headers.get(POLL_HEADER) == "1"


class SessionActivityMiddleware:
    """Only a person's own requests keep a session alive; a page's polls do not.

    `SESSION_SAVE_EVERY_REQUEST` is off, so a session is saved (and its expiry moved
    `SESSION_COOKIE_AGE` ahead) only when it changes. A request that is not a poll stamps the
    session's last activity, which changes it; a poll leaves it alone. A session whose last activity is
    older than the idle limit ends here even if something else saved it since (a view writing to the
    session during a poll). The next poll of an ended session is answered by the access policy with
    an `HX-Redirect` to the login page saying the session ended.

    Sits after SessionMiddleware and before AuthenticationMiddleware, so a session it ends is
    anonymous for everything after it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.conf import settings
        from django.contrib.auth import SESSION_KEY

        session = request.session
        if session.get(SESSION_KEY) is not None:
            now = int(time.time())
            last = session.get(LAST_ACTIVITY_KEY)
            if last is not None and now - last >= settings.SESSION_COOKIE_AGE:
                session.flush()
            elif not is_poll(request):
                session[LAST_ACTIVITY_KEY] = now
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


class PrivateNoStoreMiddleware:
    """Every page, partial, export and API answer is `Cache-Control: private, no-store`: nothing the
    dashboard renders (tenant data, a CSV export, a status badge, a login form with its CSRF token)
    is kept by a shared proxy or by the browser's back/forward cache on a shared till.

    One place instead of a decorator per view, so a new view cannot forget it. Sits after WhiteNoise,
    which answers static files (fingerprinted, cacheable) before this runs. A view's own
    Cache-Control directives are kept; `public` is dropped and `private, no-store` added."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        patch_cache_control(response, private=True, no_store=True)
        return response
