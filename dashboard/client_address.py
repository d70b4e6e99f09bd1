"""The client's address, as the lockout (django-axes) counts failed logins by it.

Behind the TLS proxy the README prescribes every request comes from the proxy's address, so
counting by REMOTE_ADDR would let one person lock everyone out. Each trusted proxy appends the
address it saw to X-Forwarded-For; with TRUSTED_PROXY_COUNT = N the client is the Nth address from
the right (what the client itself wrote there stands further left and is never believed). With
N = 0 (the default, no proxy) X-Forwarded-For is ignored, since any client may send one.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_address(request) -> str | None:
    remote = request.META.get("REMOTE_ADDR")
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if count <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [hop for hop in hops if hop]
    if len(hops) < count:
        return remote  # not through all our proxies: only the direct peer is known
    candidate = hops[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
