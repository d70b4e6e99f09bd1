"""The one way a test waits for something another thread or process does: poll with a deadline.

Never sleep a fixed time and then assert; to show that something did *not* happen, wait for an
explicit signal that it would have happened by now (a row's state, a sender that finished a pass).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_until(check: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.05) -> T:
    """Calls `check` until it returns something truthy and returns that; fails the test after
    `timeout` seconds, naming the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"condition not met within {timeout} s (last value: {result!r})")
        time.sleep(interval)
