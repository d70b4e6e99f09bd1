"""Each credential's request budget, shared by every worker: a sliding window per account in Redis.

USAePay's default key allows 45 requests a minute (`Capabilities.requests_per_minute`); every tracker
read asks `budget_take` first and, when the window is full, is scheduled again for the moment a slot
frees instead of sending. The window is one Redis sorted set per account (a member per request, scored
by its time), trimmed and counted in one Lua script, so two workers can never both take the last slot.
"""

from __future__ import annotations

import time
import uuid
from functools import lru_cache

import redis
from django.conf import settings

WINDOW_S = 60.0
# The share of a credential's documented budget that trackers may spend: the rest is left for
# terminal syncs, actions and verification calls made by the same key.
TRACKING_SHARE = 0.8
# Providers that document no budget still get one, so a fleet of open payments cannot flood them.
UNDOCUMENTED_PER_MINUTE = 120

_TAKE = """
local key, now, window, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]),
    tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, math.ceil(window * 1000))
  return '0'
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""


@lru_cache(maxsize=1)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def _key(account_id: int) -> str:
    return f"budget:account:{account_id}"


def tracking_limit(requests_per_minute: int | None) -> int:
    """How many requests a minute trackers may send with a credential of this budget."""
    per_minute = requests_per_minute or UNDOCUMENTED_PER_MINUTE
    return max(1, int(per_minute * TRACKING_SHARE))


def budget_take(account_id: int, *, limit: int, window_s: float = WINDOW_S) -> float:
    """Take one request from account `account_id`'s window of `limit` requests per `window_s`.

    Returns 0.0 when the request may be sent now (the slot is taken), else the seconds until a slot
    frees (nothing is taken: ask again then).
    """
    script = _client(settings.REDIS_URL).register_script(_TAKE)
    wait = script(keys=[_key(account_id)], args=[time.time(), window_s, limit, uuid.uuid4().hex])
    return max(0.0, float(wait))


def budget_used(account_id: int, *, window_s: float = WINDOW_S) -> int:
    """Requests taken from the account's window in the last `window_s` seconds."""
    client = _client(settings.REDIS_URL)
    return int(client.zcount(_key(account_id), time.time() - window_s, "+inf"))


def budget_reset(account_id: int) -> None:
    _client(settings.REDIS_URL).delete(_key(account_id))
