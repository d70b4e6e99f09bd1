"""The virtual terminal's Busy switch reaches the dashboard where the provider's read tells it."""

import pytest

from sandbox.services import device_set_switches
from tests.sandbox.conftest import KLEARLY_DEVICE

pytestmark = pytest.mark.django_db(transaction=True)


def test_klearlys_read_of_a_busy_terminal_says_busy_and_connected(klearly, klearly_device):
    assert klearly.get_terminal(KLEARLY_DEVICE).busy is False

    device_set_switches(device=klearly_device, busy=True)

    info = klearly.get_terminal(KLEARLY_DEVICE)
    assert (info.online, info.busy, info.status_text) == (True, True, "busy")
    assert [t.busy for t in klearly.list_terminals() if t.ref == KLEARLY_DEVICE] == [True]
