"""The only code that changes tenancy state. Keyword-only, named <entity>_<verb>."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from dashboard.models import Membership, Merchant, Reseller, Role, Store, User

# What the database says when two people save clashing names at once (the forms check first; these
# unique indexes are what holds in the race): constraint name → (field, message).
_CONSTRAINT_MESSAGES = {
    "reseller_name_key_unique": ("name", "A reseller with this name already exists."),
    "dashboard_reseller_name_key": ("name", "A reseller with this name already exists."),
    "merchant_name_key_unique_in_reseller": (
        "name",
        "This reseller already has a merchant with this name.",
    ),
    "store_name_key_unique_in_merchant": (
        "name",
        "This merchant already has a store with this name.",
    ),
}


def _save(form):
    """`form.save()`; a unique index refusing the row is a ValidationError on the field, not a 500."""
    try:
        with transaction.atomic():
            return form.save()
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
        if constraint not in _CONSTRAINT_MESSAGES:
            raise
        field, message = _CONSTRAINT_MESSAGES[constraint]
        raise ValidationError({field: message}) from exc


def reseller_save(*, form) -> Reseller:
    """Create or update a reseller from a valid ResellerForm. Raises ValidationError when another
    reseller took the name meanwhile."""
    return _save(form)


def merchant_save(*, form) -> Merchant:
    """Create or update a merchant from a valid MerchantForm. Raises ValidationError when another
    merchant of the reseller took the name meanwhile."""
    return _save(form)


def _standing_in(store: Store) -> list[tuple[int, object]]:
    """(count, model) of every kind of row that points at `store` (terminals, cashiers' memberships,
    and whatever later apps add), through the reverse relations, so dashboard imports none of them."""
    found = []
    for relation in Store._meta.related_objects:
        if not (relation.one_to_many or relation.one_to_one):
            continue
        count = relation.related_model._base_manager.filter(**{relation.field.name: store}).count()
        if count:
            found.append((count, relation.related_model))
    return found


def store_merchant_change_refusal(*, store: Store, merchant: Merchant) -> str | None:
    """Why `store` may not move to `merchant`, or None when it may.

    A store's merchant does not change once anything stands in it. Its terminals belong to the
    merchant through the merchant's provider account, so they cannot follow the store; taking them
    out quietly would change what a cashier sees and where payments are recorded. Refusing changes
    nothing and says what to do instead. The database holds the same rule (composite foreign keys on
    (store_id, merchant_id)).
    """
    if merchant.pk == store.merchant_id:
        return None
    standing = _standing_in(store)
    if not standing:
        return None
    what = " and ".join(
        f"{count} {model._meta.verbose_name if count == 1 else model._meta.verbose_name_plural}"
        for count, model in standing
    )
    return (
        f"This store has {what} of its merchant, so its merchant cannot change. "
        "Create a store for the other merchant instead, and move the terminals there."
    )


def store_save(*, form) -> Store:
    """Create or update a store from a valid StoreForm. Raises ValidationError (on "merchant") when
    the store would move to another merchant while something stands in it, checked again under a
    lock on the store row (a terminal being put in the store waits for it), and (on "name") when
    another store of the merchant took the name meanwhile."""
    store = form.instance
    with transaction.atomic():
        if store.pk is not None:
            current = Store.objects.select_for_update().get(pk=store.pk)
            refusal = store_merchant_change_refusal(store=current, merchant=store.merchant)
            if refusal:
                raise ValidationError({"merchant": refusal})
        return _save(form)


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


__all__ = [
    "Role",
    "reseller_save",
    "merchant_save",
    "store_merchant_change_refusal",
    "store_save",
    "user_create_with_membership",
]
