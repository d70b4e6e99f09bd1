"""The demo data (`manage.py demo`) is idempotent."""

import pytest

from dashboard.models import Merchant, Reseller, Role, Store


@pytest.mark.django_db
def test_demo_data_loads_twice_without_duplicates():
    from django.core.management import call_command

    from dashboard.models import Membership, User

    call_command("demo")
    counts = (
        Reseller.objects.count(),
        Merchant.objects.count(),
        Store.objects.count(),
        User.objects.count(),
    )
    call_command("demo")
    assert counts == (2, 6, 12, 7)
    assert (
        Reseller.objects.count(),
        Merchant.objects.count(),
        Store.objects.count(),
        User.objects.count(),
    ) == counts
    assert set(Membership.objects.values_list("role", flat=True)) == set(Role.values)
