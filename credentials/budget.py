"""Each credential's request budget, shared by every worker and web process: a sliding window per
account in Redis.

USAePay's default key allows 45 requests a minute (`Capabilities.requests_per_minute`). A credential's
calls take their slots from the account's one window before they are sent:

* a tracker read (`budget_take` with `tracking_limit`): at most four fifths of the budget; when the
  window is that full it is scheduled again for the moment a slot frees instead of sending;
* a terminal sync (`budget_take` with `budget_limit`), background or "Sync now": when the whole budget
  is spent the run waits for the moment a slot frees;
* a person's press that calls the provider from a web request (probe a terminal, verify a credential:
  `press_take`): at most one press of one target every `PRESS_INTERVAL_S`, and at most a fifth of the
  budget a minute for all presses of the account; a press over either gets a `PressRefused` (the
  person reads "checked 3 s ago, try again in a moment"), never a provider call;
* payment actions (abort, capture, refund: payments/actions.py): taken from the whole budget and sent
  even when it is spent, since an abort that waits is an abort too late.

The window is one Redis sorted set per account (a member per request, scored by its time), trimmed
and counted in one Lua script, so two workers can never both take the last slot.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from functools import lru_cache

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

WINDOW_S = 60.0  # settings.CREDENTIALS_BUDGET_WINDOW_S overrides it (tests: an hour, so no count
# depends on how fast a loaded machine runs)
# The share of a credential's documented budget that trackers may spend: the rest is left for
# terminal syncs, actions and verification calls made by the same key.
TRACKING_SHARE = 0.8
# Providers that document no budget still get one, so a fleet of open payments cannot flood them.
UNDOCUMENTED_PER_MINUTE = 120
# The share of the budget that people's presses (probe, verify) may take in a minute, all together.
PRESS_SHARE = 0.2
# One press of one target (a terminal's probe, an account's verification) in this many seconds.
PRESS_INTERVAL_S = 10.0  # settings.CREDENTIALS_PRESS_INTERVAL_S overrides it

_TAKE = """
local key, now, window, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]),
    tonumber(ARGV[3]), ARGV[4]
local cost = math.min(tonumber(ARGV[5] or '1'), limit)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local used = redis.call('ZCARD', key)
if used + cost <= limit then
  for i = 1, cost do redis.call('ZADD', key, now, member .. ':' .. i) end
  redis.call('PEXPIRE', key, math.ceil(window * 1000))
  return '0'
end
local frees = redis.call('ZRANGE', key, used + cost - limit - 1, used + cost - limit - 1, 'WITHSCORES')
return tostring(tonumber(frees[2]) + window - now)
"""

# KEYS: the account's window, its presses' window, the target's last press.
# ARGV: now, window, limit, press limit, member, interval.
# Returns {'ok'}, {'recent', seconds since the target's last press, seconds until it may be pressed},
# or {'budget', seconds until a slot frees}.
_PRESS = """
local window_key, press_key, target_key = KEYS[1], KEYS[2], KEYS[3]
local now, window, limit, press_limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
    tonumber(ARGV[4])
local member, interval = ARGV[5], tonumber(ARGV[6])
local last = redis.call('GET', target_key)
if last and now - tonumber(last) < interval then
  return {'recent', tostring(now - tonumber(last)), tostring(tonumber(last) + interval - now)}
end
redis.call('ZREMRANGEBYSCORE', window_key, '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', press_key, '-inf', now - window)
local wait = 0
local used = redis.call('ZCARD', window_key)
if used >= limit then
  local frees = redis.call('ZRANGE', window_key, used - limit, used - limit, 'WITHSCORES')
  wait = math.max(wait, tonumber(frees[2]) + window - now)
end
local pressed = redis.call('ZCARD', press_key)
if pressed >= press_limit then
  local frees = redis.call('ZRANGE', press_key, pressed - press_limit, pressed - press_limit,
    'WITHSCORES')
  wait = math.max(wait, tonumber(frees[2]) + window - now)
end
if wait > 0 then return {'budget', tostring(wait)} end
redis.call('ZADD', window_key, now, member)
redis.call('ZADD', press_key, now, member)
redis.call('PEXPIRE', window_key, math.ceil(window * 1000))
redis.call('PEXPIRE', press_key, math.ceil(window * 1000))
if interval > 0 then
  redis.call('SET', target_key, tostring(now), 'PX', math.ceil(interval * 1000))
end
return {'ok'}
"""


@lru_cache(maxsize=1)
def _client(url: str) -> redis.Redis:
    # Short timeouts: a person's press waits on this, and an unanswered Redis means "not now".
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def _key(account_id: int) -> str:
    return f"budget:account:{account_id}"


def _window(window_s: float | None) -> float:
    return window_s or float(getattr(settings, "CREDENTIALS_BUDGET_WINDOW_S", WINDOW_S))


def _interval(interval_s: float | None) -> float:
    if interval_s is not None:
        return interval_s
    return float(getattr(settings, "CREDENTIALS_PRESS_INTERVAL_S", PRESS_INTERVAL_S))


def budget_limit(requests_per_minute: int | None) -> int:
    """The whole budget a minute of a credential (the documented one, else UNDOCUMENTED_PER_MINUTE)."""
    return max(1, requests_per_minute or UNDOCUMENTED_PER_MINUTE)


def tracking_limit(requests_per_minute: int | None) -> int:
    """How many requests a minute trackers may send with a credential of this budget."""
    return max(1, int(budget_limit(requests_per_minute) * TRACKING_SHARE))


def press_limit(requests_per_minute: int | None) -> int:
    """How many presses a minute (probe, verify) people may make with a credential, all together."""
    return max(1, int(budget_limit(requests_per_minute) * PRESS_SHARE))


def budget_take(
    account_id: int, *, limit: int, window_s: float | None = None, cost: int = 1
) -> float:
    """Take `cost` requests from account `account_id`'s window of `limit` requests per `window_s`.

    Returns 0.0 when the requests may be sent now (the slots are taken), else the seconds until
    enough slots free (nothing is taken: ask again then).
    """
    window_s = _window(window_s)
    script = _client(settings.REDIS_URL).register_script(_TAKE)
    wait = script(
        keys=[_key(account_id)],
        args=[time.time(), window_s, limit, uuid.uuid4().hex, max(1, cost)],
    )
    return max(0.0, float(wait))


def budget_free_in(
    account_id: int, *, limit: int, cost: int = 1, window_s: float | None = None
) -> float:
    """Seconds until `cost` requests could be taken from the window (0.0: now). A look, not a take:
    "Sync now" uses it to say when its run will start; the run itself takes its slots then."""
    window_s = _window(window_s)
    now = time.time()
    cost = max(1, min(cost, limit))
    try:
        entries = _client(settings.REDIS_URL).zrangebyscore(
            _key(account_id), now - window_s, "+inf", withscores=True
        )
    except redis.RedisError:  # cannot tell: the run takes its slots (or waits) when it starts
        return 0.0
    scores = [score for _, score in entries]
    surplus = len(scores) + cost - limit
    if surplus <= 0:
        return 0.0
    return max(0.0, scores[surplus - 1] + window_s - now)


def budget_record(account_id: int, count: int, *, window_s: float | None = None) -> None:
    """Count `count` requests already sent (a sync's further pages, a token fetch on the way)."""
    window_s = _window(window_s)
    if count <= 0:
        return
    now = time.time()
    batch = uuid.uuid4().hex
    client = _client(settings.REDIS_URL)
    try:
        with client.pipeline() as pipe:
            pipe.zadd(_key(account_id), {f"{batch}:{i}": now for i in range(count)})
            pipe.pexpire(_key(account_id), int(window_s * 1000))
            pipe.execute()
    except redis.RedisError:  # the calls were made; the count is lost, not the answer
        logger.warning("could not count %s requests of account %s: Redis", count, account_id)


class PressRefused(Exception):
    """A person's press that would call the provider now is over the budget; nothing was sent.

    `since_s`: seconds since the same target was last pressed (None when it is the account's share of
    presses that is spent); `wait_s`: seconds until a press may go through."""

    def __init__(self, *, since_s: float | None, wait_s: float, uncounted: bool = False):
        super().__init__(f"over the budget for {wait_s:.1f} s")
        self.since_s = since_s
        self.wait_s = wait_s
        self.uncounted = uncounted  # Redis did not answer: the budget could not be checked

    def message(self, *, done: str = "Checked", api: str = "the provider") -> str:
        """In plain words: "Checked 3 s ago, try again in a moment." (`done` names what the last
        press did) or, when the account's share is spent, "… try again in 12 s."."""
        if self.uncounted:
            return (
                f"The dashboard cannot count this {api} account's requests right now, so it did "
                "not ask; try again in a moment."
            )
        if self.since_s is not None:
            return f"{done} {max(1, round(self.since_s))} s ago, try again in a moment."
        wait = max(1, math.ceil(self.wait_s))
        return (
            f"This {api} account has made as many calls as its request budget allows for now; "
            f"try again in {wait} s."
        )


def press_take(
    account_id: int,
    *,
    target: str,
    requests_per_minute: int | None,
    interval_s: float | None = None,
    window_s: float | None = None,
) -> None:
    """Take one request for a person's press on `target` (e.g. "probe:17") of account `account_id`,
    or raise PressRefused (nothing is taken) when `target` was pressed less than `interval_s` ago,
    when the account's presses used their share of the budget, or when the whole budget is spent."""
    window_s, interval_s = _window(window_s), _interval(interval_s)
    script = _client(settings.REDIS_URL).register_script(_PRESS)
    try:
        answer = script(
            keys=[
                _key(account_id),
                _key(account_id) + ":presses",
                f"{_key(account_id)}:press:{target}",
            ],
            args=[
                time.time(),
                window_s,
                budget_limit(requests_per_minute),
                press_limit(requests_per_minute),
                uuid.uuid4().hex,
                interval_s,
            ],
        )
    except redis.RedisError as exc:  # no budget to check: no call either
        raise PressRefused(since_s=None, wait_s=interval_s, uncounted=True) from exc
    kind = answer[0].decode() if isinstance(answer[0], bytes) else answer[0]
    if kind == "recent":
        raise PressRefused(since_s=float(answer[1]), wait_s=float(answer[2]))
    if kind == "budget":
        raise PressRefused(since_s=None, wait_s=float(answer[1]))


def budget_used(account_id: int, *, window_s: float | None = None) -> int:
    """Requests taken from the account's window in the last `window_s` seconds."""
    window_s = _window(window_s)
    client = _client(settings.REDIS_URL)
    return int(client.zcount(_key(account_id), time.time() - window_s, "+inf"))


def budget_reset(account_id: int) -> None:
    client = _client(settings.REDIS_URL)
    client.delete(_key(account_id), _key(account_id) + ":presses")
    for key in client.scan_iter(match=f"{_key(account_id)}:press:*"):
        client.delete(key)


def clear_all_windows() -> None:
    """Forget every account's window (tests: ids start again with each new test database)."""
    client = _client(settings.REDIS_URL)
    for key in client.scan_iter(match="budget:account:*", count=1000):
        client.delete(key)
