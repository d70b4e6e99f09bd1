"""The only code that changes tenancy state. Keyword-only, named <entity>_<verb>."""

from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from dashboard.models import Membership, Merchant, Reseller, Role, Store, User


def reseller_save(*, form) -> Reseller:
    return form.save()


def merchant_save(*, form) -> Merchant:
    return form.save()


def store_save(*, form) -> Store:
    return form.save()


@transaction.atomic
def user_create_with_membership(
    *,
    email: str,
    password: str,
    role: str,
    full_name: str = "",
    reseller=None,
    merchant=None,
    store=None,
) -> User:
    # Every password set passes AUTH_PASSWORD_VALIDATORS (ValidationError otherwise), as in the views.
    validate_password(password, user=User(email=email, full_name=full_name))
    user = User.objects.create_user(email=email, password=password, full_name=full_name)
    Membership.objects.create(
        user=user, role=role, reseller=reseller, merchant=merchant, store=store
    )
    return user


__all__ = ["Role", "reseller_save", "merchant_save", "store_save", "user_create_with_membership"]
