"""Check Payroc exchanges against Payroc's official OpenAPI spec (v1.0.227).

``validate_payroc_request(request)`` validates one ``httpx.Request`` the Payroc
adapter sent (path, query, headers incl. ``Idempotency-Key`` and bearer auth,
JSON body) and raises ``AssertionError`` listing every violation.
``validate_payroc_response(response)`` does the same for an answer, so a test can
also prove that an emulator (or a fixture) answers in Payroc's documented shapes.

Our base URL (the sandbox's ``…/sandbox/payroc/v1``, UAT, live) is mapped onto
the spec's server ``https://api.payroc.com/v1`` by keeping only the path after
the last ``/v1``. Calls the spec does not cover are skipped, and only these,
listed in ``NOT_IN_SPEC``; the functions return False for them and True when
they validated.

The spec is ~950 KB and takes about a second to parse: it is parsed once per
process (``payroc_openapi()``), without re-validating Payroc's own document.
Its location is ``$PAYROC_OPENAPI_SPEC``, by default the shared research copy.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from openapi_core import OpenAPI
    from openapi_core.testing import MockRequest

# openapi_core is imported where it is used: every test process imports this module as it
# collects (tests/contract/conftest.py), and openapi_core's import costs each of them 0.3 s of CPU.

SPEC_PATH = Path(
    os.environ.get(
        "PAYROC_OPENAPI_SPEC", str(Path(__file__).parent / "data" / "payroc-openapi.yaml")
    )
)
SPEC_SERVER = "https://api.payroc.com"
SPEC_BASE_PATH = "/v1"

# (method, path relative to the API root) -> why the spec cannot check it.
NOT_IN_SPEC: dict[tuple[str, str], str] = {
    (
        "GET",
        "/devices",
    ): "Search devices is documented on docs.payroc.com only, not in the OpenAPI file",
    (
        "POST",
        "/authorize",
    ): "the identity service (bearer tokens) is a separate host without a spec",
}


def payroc_spec_available() -> bool:
    return SPEC_PATH.is_file()


@cache
def payroc_openapi() -> OpenAPI:
    from openapi_core import Config, OpenAPI

    if not payroc_spec_available():
        raise FileNotFoundError(
            f"Payroc's OpenAPI spec is not at {SPEC_PATH}; set PAYROC_OPENAPI_SPEC to its path."
        )
    config = Config(
        # Trust Payroc's document instead of re-checking it (5 s -> 1 s).
        spec_validator_cls=None,
        # Payroc's errors are RFC 7807 JSON, which openapi-core does not parse by default.
        extra_media_type_deserializers={"application/problem+json": json.loads},
    )
    return OpenAPI.from_file_path(str(SPEC_PATH), config=config)


def validate_payroc_request(request: httpx.Request) -> bool:
    """Validate one request the adapter sent; False if it is a listed NOT_IN_SPEC call."""
    spec_request = _spec_request(request)
    if spec_request is None:
        return False
    errors = list(payroc_openapi().iter_request_errors(spec_request))
    if errors:
        raise AssertionError(
            f"{request.method} {spec_request.path} breaks Payroc's OpenAPI spec:\n"
            + "\n".join(_describe(error) for error in errors)
        )
    return True


def validate_payroc_response(response: httpx.Response) -> bool:
    """Validate one answer to a Payroc request; False if the call is NOT_IN_SPEC."""
    spec_request = _spec_request(response.request)
    if spec_request is None:
        return False
    from openapi_core.testing import MockResponse

    spec_response = MockResponse(
        data=response.content,
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=response.headers.get("Content-Type", "application/json").split(";")[0],
    )
    errors = list(payroc_openapi().iter_response_errors(spec_request, spec_response))
    if errors:
        raise AssertionError(
            f"HTTP {response.status_code} to {response.request.method} {spec_request.path} "
            "breaks Payroc's OpenAPI spec:\n" + "\n".join(_describe(error) for error in errors)
        )
    return True


def api_path(url: httpx.URL) -> str:
    """The path relative to the API root: everything after the last ``/v1``.

    Identity URLs have no ``/v1``; their last path segment is kept (``/authorize``).
    """
    path = url.path
    marker = path.rfind(SPEC_BASE_PATH + "/")
    if marker >= 0:
        return path[marker + len(SPEC_BASE_PATH) :]
    return "/" + path.rstrip("/").rsplit("/", 1)[-1]


def _spec_request(request: httpx.Request) -> MockRequest | None:
    from openapi_core.testing import MockRequest

    path = api_path(request.url)
    if (request.method, path) in NOT_IN_SPEC:
        return None
    return MockRequest(
        host_url=SPEC_SERVER,
        method=request.method,
        path=SPEC_BASE_PATH + path,
        args=dict(request.url.params.multi_items()),
        headers=dict(request.headers),
        data=request.content or None,
        content_type=request.headers.get("Content-Type", "application/json").split(";")[0],
    )


def _describe(error: BaseException) -> str:
    lines = [f"  - {type(error).__name__}: {error}"]
    cause = error.__cause__
    while cause is not None:
        lines.append(f"      caused by {type(cause).__name__}: {cause}")
        for schema_error in getattr(cause, "schema_errors", ()) or ():
            location = "/".join(str(part) for part in getattr(schema_error, "absolute_path", ()))
            lines.append(
                f"        at {location or '<root>'}: "
                f"{getattr(schema_error, 'message', schema_error)}"
            )
        cause = cause.__cause__
    return "\n".join(lines)
