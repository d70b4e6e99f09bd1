"""Settings read from the environment (django-environ). Production overrides live in config/production.py.

Without DATABASE_URL / REDIS_URL the embedded PostgreSQL and Redis of config/embedded.py are used
(started on first use), so every `manage.py …` in the checkout works beside `make demo`.
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF

from config import embedded, logs, logsafety

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production-3f9a1c")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Sandbox emulators of the five provider APIs; off in production unless asked for. The sandbox is
# the provider, not the product: its app (and its tables) is installed only when it is on.
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=True)


def _installed_apps(*, sandbox_enabled: bool) -> list[str]:
    """The product's apps, and the sandbox's after them when it is on (config/production.py too)."""
    return _PRODUCT_APPS + (["sandbox"] if sandbox_enabled else [])


_PRODUCT_APPS = [
    "django.contrib.admin",  # the operators' admin, mounted by home/urls.py (dashboard/admin_site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "rules.apps.AutodiscoverRulesConfig",
    "axes",
    "csp",
    # The second factor (TOTP, and recovery codes as static tokens): dashboard/second_factor.py.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "dashboard",
    "home",
    "terminals",
    "payments",
    "credentials",
]
INSTALLED_APPS = _installed_apps(sandbox_enabled=SANDBOX_ENABLED)

MIDDLEWARE = [
    "dashboard.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Every response, static files included, carries CONTENT_SECURITY_POLICY below.
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise (static files stay cacheable): everything else is `private, no-store`.
    "dashboard.middleware.PrivateNoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Before authentication: a session idle for SESSION_COOKIE_AGE ends; polls are not activity.
    "dashboard.middleware.SessionActivityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): the session passed the second factor (dashboard/second_factor.py).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Work saved while the broker is down: the person is told it is queued (config/scheduling.py).
    "config.scheduling.QueuedWorkMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboard.middleware.TimezoneMiddleware",
    # AxesMiddleware must be last: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "home.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.navigation",
            ],
        },
    },
]

if env("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {"default": embedded.ensure_postgres()}


def _green_threads() -> bool:
    """True in a process gevent has monkey-patched (`celery worker -P gevent`, gunicorn's gevent
    worker): each task or request runs in its own greenlet, with its own database connection.
    Anything patched counts: gunicorn's gevent worker loads these settings in the middle of its
    `patch_all()` (patching `threading` touches `django.conf.settings`), before `socket` is."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey and monkey.is_anything_patched())


if _green_threads():
    # A greenlet's connection ends with its task or request: kept for reuse it would outlive the
    # greenlet that owns it, one idle connection left behind per task. It goes back to a pool of
    # the process instead (psycopg_pool, Django's "pool" option): hundreds of greenlets (a tracking
    # pool of 500, a gevent web worker holding long-polls) share DATABASE_POOL_MAX_SIZE connections,
    # far under PostgreSQL's `max_connections`, and no task or request pays a new connection. A
    # greenlet waits for a free one (up to 30 s) instead of failing with "too many clients".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # No health check as a connection leaves the pool: it is a round trip to PostgreSQL before
    # every task's and request's first query (the busiest cost of a tracker's read after the read
    # itself). psycopg_pool drops a connection that comes back broken; one broken while it waited
    # in the pool (PostgreSQL restarted) fails one task or request, and the sweeper restarts a
    # tracker whose step failed.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=16),
        "timeout": 30,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _redis_db() -> int:
    """The embedded Redis database: 0 for the demo; tests use their own, so a running demo's
    workers never answer them, and each pytest-xdist worker one more (gw0 -> 1, gw1 -> 2, ...),
    so one worker's Celery worker never takes, nor purges, another's tasks, broadcasts or cache."""
    if "pytest" not in sys.modules:
        return 0
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return 1 + int(worker.removeprefix("gw"))


REDIS_URL = env("REDIS_URL", default="") or embedded.ensure_redis(db=_redis_db())

AUTH_USER_MODEL = "dashboard.User"
AUTHENTICATION_BACKENDS = [
    # axes first: it refuses a locked-out login before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "rules.permissions.ObjectPermissionBackend",
    "dashboard.backends.PasswordBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Twelve spaces, `aaaaaaaaaaaa` and `qwertyuiopas` pass the four above.
    {"NAME": "dashboard.validators.NotOnlyWhitespaceValidator"},
    {"NAME": "dashboard.validators.RepetitionValidator"},
    {"NAME": "dashboard.validators.KeyboardWalkValidator"},
]
if "pytest" in sys.modules:
    # Tests create many users; the production hashers are slow on purpose.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Lockout: 10 failed logins for one account from one address lock it for 30 minutes.
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "dashboard.forms.axes_username"

# The address is the client's, not the proxy's: behind N trusted proxies (the README's TLS proxy is
# one) it is the Nth from the right of X-Forwarded-For; with 0, X-Forwarded-For is ignored.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "dashboard.client_address.client_address"

# Idle timeout: a session ends 15 minutes after the person's last own request. A page's polls
# (`X-Poll: 1`) do not renew it: dashboard.middleware.SessionActivityMiddleware renews the others.
SESSION_COOKIE_AGE = 15 * 60
# Sessions read from the cache (Redis) and written through to the database: a page's poll costs no
# session query, and a session survives a cache flush.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Content-Security-Policy (django-csp) on every response: scripts and stylesheets from our own
# origin only; no inline <script>, <style>, `style="…"` or `on…=` attribute, no eval (so no htmx
# `hx-on`, trigger filters or `js:` values). A script that must be inline carries
# `nonce="{{ request.csp_nonce }}"` (the nonce is added to the header only on pages that use it).
# htmx's own indicator <style> is switched off (`htmx-config` meta tag in base.html) and its rules
# live in static/css/app.css. Pico's icons are `data:` SVG images inside its stylesheet.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
if "pytest" in sys.modules:
    # Each test client (a fresh one per test, per fuzz example) builds its own middleware, and
    # WhiteNoise indexed every static file of the finders each time (8 ms, a fifth of the fuzz
    # suite). Tests look a file up when it is asked for instead: the same files, the same headers.
    WHITENOISE_AUTOREFRESH = True

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
}

# Celery: Redis is the broker; trackers go to the `tracking` queue (waiting calls, thread pool).
CELERY_BROKER_URL = REDIS_URL
# Two queues: `celery` (the default: terminal syncs, token refreshes, everything short) and
# `tracking` (payment trackers, which wait on providers). A worker for both: `-Q celery,tracking`.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = {"celery": {}, "tracking": {}}
CELERY_TASK_ROUTES = {
    "payments.tasks.track_*": {"queue": "tracking"},
    "terminals.tasks.*": {"queue": "celery"},
    "credentials.tasks.*": {"queue": "celery"},
}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# One (disabled) result backend for the process, not one per thread: a green worker's every task runs
# in a new greenlet, which made a backend object per task (2 % of a tracking process).
CELERY_RESULT_BACKEND_THREAD_SAFE = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker host that does not answer is given up on after 2 s (config/scheduling.py), not the OS's
# connect timeout of minutes.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 2}
if _green_threads():
    # A green worker acks and schedules from hundreds of greenlets at once; kombu's Redis channel
    # holds 10 connections by default, and the 11th ack fails ("Too many connections").
    CELERY_BROKER_TRANSPORT_OPTIONS["max_connections"] = 1000
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    # Tokens that expire within 10 minutes are refreshed, one task per account under a short lease.
    "refresh-expiring-tokens": {
        "task": "credentials.tasks.refresh_expiring_tokens",
        "schedule": 30.0,
    },
    # Self-rotations by policy, and reminders for provider-issued keys near their age limit.
    "credentials-rotation-policy": {
        "task": "credentials.tasks.rotation_policy",
        "schedule": 3600.0,
    },
    # Starts the terminal syncs that are due; each account has its own cadence inside its rate budget.
    "sync-terminals": {"task": "terminals.tasks.sync_due_accounts", "schedule": 2.0},
    # Open payments whose tracker died get a new one; unknown payments are asked about again.
    "payments-sweep": {"task": "payments.tasks.payments_sweep", "schedule": 15.0},
    "payments-reconcile": {"task": "payments.tasks.payments_reconcile", "schedule": 10.0},
}
# How long /healthz waits for a Celery worker to answer its ping.
HEALTHZ_WORKER_PING_S = env.float("HEALTHZ_WORKER_PING_S", default=0.5)
# An unknown payment the reconciler could not settle in this time is flagged "needs attention".
PAYMENTS_ATTENTION_AFTER_S = env.int("PAYMENTS_ATTENTION_AFTER_S", default=900)
# How long a tracker's lease holds without renewal (a dead worker's payments wait this long for the
# sweeper); the default (90 s) covers one Payroc long-poll of up to a minute.
PAYMENTS_TRACKING_LEASE_S = env.int("PAYMENTS_TRACKING_LEASE_S", default=90)
# The pause between reads of a payment whose account holds its webhook secret (None: each
# provider's own: `webhook_backstop_s`, 15 s, where webhooks push every outcome; USAePay's
# `webhook_poll_interval_s`, 5 s). The tests shorten it: their emulators mostly have no webhook
# address to push to.
PAYMENTS_WEBHOOK_BACKSTOP_S = env.float("PAYMENTS_WEBHOOK_BACKSTOP_S", default=0) or None
# The terminal's timeout sent with each start (None: each provider's default_timeout_s).
PAYMENTS_TERMINAL_TIMEOUT_S = env.int("PAYMENTS_TERMINAL_TIMEOUT_S", default=0) or None

# Pause before a magic amount's outcome (the demo shows "waiting"), and Payroc's long-poll hold.
SANDBOX_MAGIC_DELAY_S = env.float("SANDBOX_MAGIC_DELAY_S", default=2)
SANDBOX_PAYROC_LONG_POLL_S = env.float("SANDBOX_PAYROC_LONG_POLL_S", default=30)
# How long an emulated terminal waits for its customer (sandbox/conf.py has the defaults): a bench
# that opens 1,000 payments before anyone pays sets them longer than its starts take.
for _name in (
    "SANDBOX_PAYROC_INSTRUCTION_TIMEOUT_S",
    "SANDBOX_MOBILEPAY_TIMEOUT_S",
    "SANDBOX_KOMOJU_TIMEOUT_S",
    "SANDBOX_KLEARLY_TIMEOUT_S",
):
    if env(_name, default=""):
        globals()[_name] = env.int(_name)
# The base URL the dashboard's adapters use to reach the sandbox (the web server itself in the demo).
SANDBOX_BASE_URL = env(
    "SANDBOX_BASE_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}"
)

# Credential vault: Fernet keys, newest first. Development keeps a generated key under .data/.
CREDENTIALS_KEYS = env.list("CREDENTIALS_KEYS", default=[]) or [
    embedded.development_credentials_key()
]

# The second factor (dashboard/second_factor.py): platform and reseller admins need a confirmed TOTP
# device and a verified session before any credentials page; a rotation or a change of secrets also
# needs the password and a code within the last SECOND_FACTOR_REAUTH_MINUTES.
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="Terminal Dashboard")
SECOND_FACTOR_REAUTH_MINUTES = env.int("SECOND_FACTOR_REAUTH_MINUTES", default=5)

# Every record (Django, Celery, httpx, ours) is rendered by structlog (config/logs.py): readable
# key-value lines here, one JSON object a line in production (LOG_JSON), with the request id bound
# by dashboard.middleware.RequestIdMiddleware.
LOG_JSON = env.bool("LOG_JSON", default=False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": logs.formatter(json=LOG_JSON)},
    # Every handler escapes control characters and logs a refused request as one line.
    "filters": logsafety.FILTERS,
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": logsafety.HANDLER_FILTERS,
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
logs.configure()
# The worker keeps the handlers above rather than installing its own, so its lines look the same.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
