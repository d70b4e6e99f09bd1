"""Moving a session's end in tests, where `cached_db` keeps it (config/settings.py SESSION_ENGINE):
the database row and the cached copy in Redis, whose time to live ends at the same moment."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.sessions.backends.cached_db import KEY_PREFIX
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.utils import timezone


def set_session_expiry(when: datetime, **filters) -> int:
    """Sessions (all, or those matching `filters`) end at `when`; returns how many."""
    sessions = Session.objects.filter(**filters)
    keys = list(sessions.values_list("session_key", flat=True))
    sessions.update(expire_date=when)
    cache = caches[settings.SESSION_CACHE_ALIAS]
    remaining = (when - timezone.now()).total_seconds()
    for key in keys:
        if remaining > 0:
            cache.touch(KEY_PREFIX + key, remaining)
        else:
            cache.delete(KEY_PREFIX + key)  # what Redis does once the time to live is over
    return len(keys)
