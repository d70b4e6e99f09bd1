"""Tenancy: Platform → Reseller → Merchant → Store, users who log in with their email, and one
Membership per user giving one organisation and one role."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dashboard.names import normalized_lower


class Role(models.TextChoices):
    PLATFORM_ADMIN = "platform_admin", "Platform admin"
    RESELLER_ADMIN = "reseller_admin", "Reseller admin"
    MERCHANT_MANAGER = "merchant_manager", "Merchant manager"
    CASHIER = "cashier", "Cashier"


def membership_of(user) -> Membership | None:
    """The user's membership, cached on the user object for the request."""
    if not getattr(user, "is_authenticated", False):
        return None
    if not hasattr(user, "_membership_cache"):
        if "membership_row" in user._state.fields_cache:
            # Loaded with the user (dashboard.backends.PasswordBackend.get_user): no query.
            user._membership_cache = user._state.fields_cache["membership_row"]
            return user._membership_cache
        user._membership_cache = (
            Membership.objects.select_related("reseller", "merchant", "store__merchant")
            .filter(user=user)
            .first()
        )
    return user._membership_cache


def scoped_to_merchant(queryset, user, merchant_field: str):
    """`queryset` narrowed to the merchants `user` may see, for rows that belong to a merchant through
    `merchant_field` (e.g. "merchant" or "account__merchant"): the tenancy rule for merchant-owned data."""
    m = membership_of(user)
    if m is None:
        return queryset.none()
    if m.role == Role.PLATFORM_ADMIN:
        return queryset
    if m.role == Role.RESELLER_ADMIN:
        return queryset.filter(**{f"{merchant_field}__reseller_id": m.reseller_id})
    return queryset.filter(**{f"{merchant_field}_id": m.merchant_id})


def scoped_to_store(queryset, user):
    """`queryset` narrowed to what `user` may see, for rows carrying their own `merchant_id` and
    `store_id` columns (terminals, payments): the merchant rule, and a cashier tied to a store sees
    that store's rows and the merchant's rows in no store. A reseller admin's rows are found by
    `merchant_id IN (the reseller's merchants)`, not a join on merchant: with a search the planner's
    row estimates are poor, and a join then degenerates into a nested loop."""
    m = membership_of(user)
    if m is None:
        return queryset.none()
    if m.role == Role.PLATFORM_ADMIN:
        return queryset
    if m.role == Role.RESELLER_ADMIN:
        return queryset.filter(
            merchant_id__in=Merchant.objects.filter(reseller_id=m.reseller_id).values("pk")
        )
    if m.role == Role.CASHIER and m.store_id:
        return queryset.filter(
            Q(store_id=m.store_id) | Q(store__isnull=True), merchant_id=m.merchant_id
        )
    return queryset.filter(merchant_id=m.merchant_id)


def normalise_email(email: str) -> str:
    """How an email is stored and looked up: trimmed and in lower case, so `Manager@Bakery.TEST`
    and `manager@bakery.test` are one login."""
    return (email or "").strip().lower()


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        # Emails are stored in lower case (create_user); older rows may not be, hence iexact.
        return self.get(**{f"{self.model.USERNAME_FIELD}__iexact": normalise_email(username)})

    def create_user(self, email: str, password: str | None = None, **extra):
        if not email:
            raise ValueError("A user needs an email address")
        user = self.model(email=normalise_email(self.normalize_email(email)), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=120, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    time_zone = models.CharField(max_length=64, default="UTC")

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.email

    @property
    def membership(self) -> Membership | None:
        return membership_of(self)

    @property
    def role(self) -> str | None:
        membership = membership_of(self)
        return membership.role if membership else None


class ResellerQuerySet(models.QuerySet):
    def for_user(self, user) -> ResellerQuerySet:
        m = membership_of(user)
        if m is None:
            return self.none()
        if m.role == Role.PLATFORM_ADMIN:
            return self.all()
        if m.role == Role.RESELLER_ADMIN:
            return self.filter(pk=m.reseller_id)
        return self.none()


class Reseller(models.Model):
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ResellerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            # Names are compared apart from case and width (dashboard/names.py); the forms say so
            # first, this is what holds when two people save at once.
            models.UniqueConstraint(
                normalized_lower("name"),
                name="reseller_name_key_unique",
                violation_error_message="A reseller with this name already exists.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class MerchantQuerySet(models.QuerySet):
    def for_user(self, user) -> MerchantQuerySet:
        m = membership_of(user)
        if m is None:
            return self.none()
        if m.role == Role.PLATFORM_ADMIN:
            return self.all()
        if m.role == Role.RESELLER_ADMIN:
            return self.filter(reseller_id=m.reseller_id)
        return self.filter(pk=m.merchant_id)


class Merchant(models.Model):
    reseller = models.ForeignKey(Reseller, on_delete=models.PROTECT, related_name="merchants")
    name = models.CharField(max_length=100)
    contact_email = models.EmailField(blank=True)
    default_currency = models.CharField(max_length=3, default="USD")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MerchantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "reseller",
                normalized_lower("name"),
                name="merchant_name_key_unique_in_reseller",
                violation_error_message="This reseller already has a merchant with this name.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class StoreQuerySet(models.QuerySet):
    def for_user(self, user) -> StoreQuerySet:
        m = membership_of(user)
        if m is None:
            return self.none()
        if m.role == Role.PLATFORM_ADMIN:
            return self.all()
        if m.role == Role.RESELLER_ADMIN:
            return self.filter(merchant__reseller_id=m.reseller_id)
        if m.role == Role.CASHIER and m.store_id:
            return self.filter(pk=m.store_id)
        return self.filter(merchant_id=m.merchant_id)


class Store(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="stores")
    name = models.CharField(max_length=100)
    address = models.CharField(max_length=200, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StoreQuerySet.as_manager()

    class Meta:
        ordering = ["merchant__name", "name"]
        constraints = [
            models.UniqueConstraint(
                "merchant",
                normalized_lower("name"),
                name="store_name_key_unique_in_merchant",
                violation_error_message="This merchant already has a store with this name.",
            ),
            # The target of the composite foreign keys (store_id, merchant_id) of the rows that stand
            # in a store (terminals, a cashier's membership): the database refuses a row whose store
            # belongs to another merchant, and refuses to change the merchant of a store that has
            # such rows. Those foreign keys are written in SQL in the migrations (Django has no
            # composite foreign keys): dashboard 0002, terminals 0003. Drop them before this.
            models.UniqueConstraint(fields=["id", "merchant"], name="store_id_merchant_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant.name} / {self.name}"


class Membership(models.Model):
    """One organisation and one role per user; the organisation columns that the role needs are set,
    the others are empty (checked by the database)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="membership_row")
    role = models.CharField(max_length=32, choices=Role.choices)
    reseller = models.ForeignKey(Reseller, null=True, blank=True, on_delete=models.CASCADE)
    merchant = models.ForeignKey(Merchant, null=True, blank=True, on_delete=models.CASCADE)
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="membership_organisation_fits_role",
                condition=(
                    Q(
                        role=Role.PLATFORM_ADMIN,
                        reseller__isnull=True,
                        merchant__isnull=True,
                        store__isnull=True,
                    )
                    | Q(
                        role=Role.RESELLER_ADMIN,
                        reseller__isnull=False,
                        merchant__isnull=True,
                        store__isnull=True,
                    )
                    | Q(
                        role=Role.MERCHANT_MANAGER,
                        reseller__isnull=True,
                        merchant__isnull=False,
                        store__isnull=True,
                    )
                    | Q(role=Role.CASHIER, reseller__isnull=True, merchant__isnull=False)
                ),
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.get_role_display()}"

    @property
    def organisation(self):
        return self.store or self.merchant or self.reseller
