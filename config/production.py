"""Production settings: `DJANGO_SETTINGS_MODULE=config.production`.

Refuses to start without SECRET_KEY and DATABASE_URL (and REDIS_URL): production never falls back to
the embedded servers or to a development key.
"""

import os

from django.core.exceptions import ImproperlyConfigured

_missing = [
    name
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CREDENTIALS_KEYS")
    if not os.environ.get(name)
]
if _missing:
    raise ImproperlyConfigured(
        f"Production needs these environment variables: {', '.join(_missing)}"
    )

from config import logs  # noqa: E402
from config.settings import *  # noqa: E402,F403
from config.settings import LOGGING, _installed_apps, env  # noqa: E402

DEBUG = False
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=False)
# Computed again now that production has decided about the sandbox: off, its app is not installed.
INSTALLED_APPS = _installed_apps(sandbox_enabled=SANDBOX_ENABLED)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = 63072000  # two years
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True

# One JSON object a line (event, level, logger, timestamp, request_id; a traceback as `exception`),
# for a log collector; LOG_JSON=false gives the readable lines of development.
LOG_JSON = env.bool("LOG_JSON", default=True)
LOGGING = {
    **LOGGING,
    "formatters": {**LOGGING["formatters"], "plain": logs.formatter(json=LOG_JSON)},
}
