"""No input gives a 500, and a refused request saves nothing (issue 9, item 5).

Every URL pattern of the root URLconf is driven (`discovery.urls()`; a new URL is covered with no
change here):

* every page, as anonymous, each role of tenant A, a cashier of tenant B, a platform admin and a
  user without a membership, by GET and POST, with the parameters its view reads and the fields of
  the forms it binds (`discovery.page_parameters`), each empty, huge, NUL, control characters,
  unicode, `²`, `1e400`, 400 nines or of the wrong kind, and path ids that name nothing or overflow;
* every emulator endpoint of the sandbox, with working or broken credentials (NUL inside Basic
  auth, bearer tokens, Integra's accessToken and bioCode), nasty path ids, and query parameters and
  JSON bodies built from the names its wire module reads (`discovery.wire_names`), with numbers like
  `1e400` and 400 nines written as such.

Each answer is below 500; an answer that refuses (4xx, a form shown again after a POST, Integra's
`success: false`) and every GET leave every table's row count as it was. Each emulator endpoint gets
FUZZ_EXAMPLES examples (default 15), each page FUZZ_EXAMPLES / 5 per user; `FUZZ_EXAMPLES=200` digs
deeper, `FUZZ_SHRINK=1` shrinks a failure to its smallest example.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from tests.fuzz import discovery, values
from tests.fuzz.conftest import row_counts
from tests.second_factor import enrol

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
# Shrinking a failure to its smallest example takes minutes here; FUZZ_SHRINK=1 asks for it.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate] + (
    [Phase.shrink] if os.environ.get("FUZZ_SHRINK") else []
)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=PHASES,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    database=None,
)
# A page is driven as each of the world's users (and anonymously), with fewer examples each.
PER_ROLE = settings(FUZZ, max_examples=max(2, EXAMPLES // 5))

ALL_URLS = discovery.urls()
PAGES = [u for u in ALL_URLS if not u.is_emulator]
EMULATOR_URLS = [u for u in ALL_URLS if u.is_emulator]


def test_the_walk_finds_pages_and_every_emulator():
    assert len(PAGES) >= 30
    assert {u.provider for u in EMULATOR_URLS} == {
        m.rpartition(".")[2] for m in discovery.EMULATOR_MODULES
    }
    fleet = next(u for u in PAGES if u.name == "terminals:fleet")
    assert {"q", "merchant", "store", "status", "sort", "page"} <= set(
        discovery.page_parameters(fleet)
    )
    assert {"amount", "orderId", "processingTerminalId"} <= set(
        discovery.wire_names("sandbox.payroc")
    )


def test_every_parameter_a_view_module_reads_is_driven():
    """The per-view scan misses nothing a pages' module reads from a request anywhere in it."""
    read: set[str] = set()
    # Our modules: Django's own (the read-only admin) are driven too, but their internals are
    # Django's to cover.
    for name in {u.module for u in PAGES if not u.module.startswith("django.")}:
        module = importlib.import_module(name)
        read |= discovery.names_in(ast.parse(inspect.getsource(module)), vars(module))
    driven = set().union(*(discovery.page_parameters(u) for u in PAGES))
    assert read and read <= driven, sorted(read - driven)


def _path_value(kind: str, world) -> st.SearchStrategy:
    real = world.ids.get(kind, [])
    if kind == "int":
        odd = st.sampled_from([0, 2**31, 2**63, int(values.HUGE_NUMBER)])
        return st.one_of(st.sampled_from(real), odd, st.integers(min_value=0))
    if kind == "uuid":
        return st.one_of(st.sampled_from(real), st.uuids())
    return st.one_of(st.sampled_from(real), _segment())


def _segment() -> st.SearchStrategy[str]:
    """Text a URL path segment can carry (no slash, not empty)."""
    return values.nasty_text.filter(lambda t: t and "/" not in t and len(t) < 3000)


def _converter_kind(converter) -> str:
    return {"IntConverter": "int", "UUIDConverter": "uuid"}.get(type(converter).__name__, "str")


def _url(url: discovery.Url, kwargs: dict) -> str:
    try:
        return reverse(url.name, kwargs=kwargs)
    except NoReverseMatch:
        assume(False)
        raise


def _refused(response, *, form_post: bool) -> bool:
    if response.status_code >= 400:
        return True
    if form_post and response.status_code == 200:
        return True  # the form again, with what was wrong
    if response.get("Content-Type", "").startswith("application/json"):
        try:
            body = json.loads(response.content)
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("success") is False  # Integra's in-band refusal
    return False


# The health check's 503 is its answer (the test runs no worker), not a server error.
HEALTH_CHECKS = {"healthz"}


def _check(response, before: dict, *, method: str, form_post: bool, what: str, health=False):
    if not (health and response.status_code == 503):
        assert response.status_code < 500, f"{what}: {response.status_code}"
    if _refused(response, form_post=form_post) or method == "get":
        after = row_counts()
        changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
        assert not changed, f"{what} answered {response.status_code} and changed {changed}"


# -- pages -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES, ids=[u.route or "/" for u in PAGES])
def test_no_page_answers_500_to_any_input(url, world):
    # Built once, drawn from in every example: a strategy made inside an example is validated
    # again each time (a tenth of the fuzz suite's time).
    methods = st.sampled_from(["get", "post"])
    path_values = {
        name: _path_value(_converter_kind(c), world) for name, c in url.converters.items()
    }
    parameters = values.parameters(discovery.page_parameters(url), world.plausible)

    @PER_ROLE
    @given(data=st.data())
    def drive(role, data):
        method = data.draw(methods, label="method")
        kwargs = {name: data.draw(value, label=name) for name, value in path_values.items()}
        path = _url(url, kwargs)
        params = data.draw(parameters, label="params")
        htmx = data.draw(st.booleans(), label="htmx")
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        client = Client()
        if world.users[role] is not None:
            _log_in(client, world.users[role], verified=role in verified)
        before = row_counts()
        if method == "get":
            response = client.get(path, data=params, **headers)
        elif data.draw(st.booleans(), label="urlencoded"):
            response = client.post(
                path,
                data=urlencode(params, doseq=True),
                content_type="application/x-www-form-urlencoded",
                **headers,
            )
        else:
            response = client.post(path, data=params, **headers)
        _check(
            response,
            before,
            method=method,
            form_post=method == "post" and not htmx,
            what=f"{role} {method} {path}",
            health=url.name in HEALTH_CHECKS,
        )

    # Enrolled by the world: their sessions have passed the second factor.
    verified = {
        role
        for role, user in world.users.items()
        if user is not None and TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    }
    for role in world.users:  # every role, and anonymous, each gets its own examples
        drive(role)


@pytest.mark.django_db
def test_the_fuzz_suites_sessions_are_logged_in_and_past_the_second_factor(world):
    """What `_log_in` writes is a session Django takes for the user's own (and, for an enrolled
    user, verified), so the pages above are driven as each role and not as anonymous."""
    roles = [role for role, user in world.users.items() if user is not None]
    assert len(roles) >= 5
    for role in roles:
        user = world.users[role]
        enrolled = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        client = Client()
        _log_in(client, user, verified=enrolled)
        request = client.get("/").wsgi_request
        assert request.user == user, role
        assert request.user.is_verified() == enrolled, role


def _log_in(client: Client, user, *, verified: bool) -> None:
    """What `force_login` (and `verify_client`) leave in a new session, written once: the fuzz
    suite logs in for every example, and `force_login` saved the session three times and ran the
    login signals each time (a quarter of the suite's time). No login is tested here."""
    from django.conf import settings as django_settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django_otp import DEVICE_ID_SESSION_KEY

    session = importlib.import_module(django_settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = user._meta.pk.value_to_string(user)
    session[BACKEND_SESSION_KEY] = "dashboard.backends.PasswordBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    if verified:
        session[DEVICE_ID_SESSION_KEY] = enrol(user).persistent_id  # the world's device
    session.save()
    client.cookies[django_settings.SESSION_COOKIE_NAME] = session.session_key


# -- emulators -------------------------------------------------------------------------------------


def _credentials(emulated) -> st.SearchStrategy[tuple[dict, dict]]:
    """The emulator's working credentials, or some of them broken."""
    nasty = values.nasty_text
    broken_header = st.one_of(
        nasty.map(lambda t: "Bearer " + t),
        st.tuples(nasty, nasty).map(lambda p: _basic(*p)),
        nasty,
    )

    def breaking(valid: dict, broken) -> st.SearchStrategy[dict]:
        return st.fixed_dictionaries(
            {key: st.one_of(st.just(value), broken) for key, value in valid.items()}
        )

    return st.tuples(breaking(emulated.headers, broken_header), breaking(emulated.params, nasty))


def _basic(user: str, password: str) -> str:
    import base64

    raw = f"{user}:{password}".encode("utf-8", "surrogatepass")
    return "Basic " + base64.b64encode(raw).decode()


def _bodies(names, plausible) -> st.SearchStrategy[tuple[str, object]]:
    """What a body is made of: ("json", an object), ("form", fields), ("raw", (bytes, type))."""
    return st.one_of(
        st.tuples(st.just("json"), values.json_objects(names, plausible)),
        st.tuples(
            st.just("form"),
            st.dictionaries(st.sampled_from(list(names)), values.text_values(plausible)),
        ),
        st.tuples(
            st.just("raw"),
            st.tuples(
                st.binary(max_size=64),
                st.sampled_from(["application/json", "text/plain", "application/xml", ""]),
            ),
        ),
        st.just(("raw", (b"", "application/json"))),
    )


def _body(drawn: tuple[str, object], auth_params: dict) -> tuple[bytes, str]:
    """The drawn body with the emulator's auth parameters (Integra's) in a JSON or form body."""
    kind, content = drawn
    if kind == "json":
        return values.encode({**auth_params, **content}).encode(), "application/json"
    if kind == "form":
        return urlencode({**auth_params, **content}).encode(), "application/x-www-form-urlencoded"
    return content


@pytest.mark.django_db
@pytest.mark.parametrize("url", EMULATOR_URLS, ids=[u.route for u in EMULATOR_URLS])
def test_no_emulator_endpoint_answers_500_to_any_input(url, world):
    emulated = world.emulators[url.provider]
    names = discovery.wire_names(url.module)
    plausible = emulated.plausible
    # Built once, drawn from in every example (see the pages' test).
    methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"])
    credentials = _credentials(emulated)
    segment = st.one_of(st.sampled_from(plausible), _segment())
    parameters = values.parameters(names, plausible)
    bodies = _bodies(names, plausible)

    @FUZZ
    @given(data=st.data())
    def drive(data):
        method = data.draw(methods, label="m")
        headers, auth_params = data.draw(credentials, label="credentials")
        kwargs = {name: data.draw(segment, label=name) for name in url.converters}
        path = _url(url, kwargs)
        query = data.draw(parameters, label="query")
        if method == "GET":
            query = {**auth_params, **query}
        body, content_type = _body(data.draw(bodies, label="body"), auth_params)
        before = row_counts()
        response = Client().generic(
            method,
            path + ("?" + urlencode(query, doseq=True) if query else ""),
            data=body,
            content_type=content_type,
            **headers,
        )
        _check(response, before, method=method.lower(), form_post=False, what=f"{method} {path}")

    drive()
