"""USAePay keeps only ASCII letters, digits, spaces and dashes of a device name (usaepay.md 3.1) and
drops the rest silently: a name that would lose a letter or be left empty is refused before the call."""

from __future__ import annotations

import json

import pytest

from providers.errors import InvalidRequest
from tests.providers.test_usaepay_wire import DEVICE, DEVICE_KEY, DEVICES_URL


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("מסוף", "none would remain"),
        ("Café ☕", "would drop “é”"),
        ("Kasse Müller", "would drop “ü”"),
        ("收银台 1", "would drop “收”, “银”, “台”"),
        ("#!", "none would remain"),
    ],
)
def test_a_name_usaepay_cannot_store_is_refused_before_any_call(usaepay, router, name, words):
    route = router.put(f"{DEVICES_URL}/{DEVICE_KEY}").respond(200, json=DEVICE)

    with pytest.raises(InvalidRequest, match=words) as refused:
        usaepay.rename_terminal(DEVICE_KEY, name=name)

    assert "letters A to Z, digits, spaces and dashes" in refused.value.message
    assert refused.value.http_status is None
    assert route.call_count == 0


@pytest.mark.parametrize("name", ["Front counter", "Lane-2", "Patio #2!"])
def test_a_name_usaepay_keeps_its_letters_of_is_sent(usaepay, router, name):
    route = router.put(f"{DEVICES_URL}/{DEVICE_KEY}").respond(200, json={**DEVICE, "name": name})

    usaepay.rename_terminal(DEVICE_KEY, name=name)

    assert json.loads(route.calls.last.request.content) == {"name": name}
