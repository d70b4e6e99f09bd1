import factory

from dashboard.models import Membership, Merchant, Reseller, Role, Store, User

PASSWORD = "correct-horse-battery-staple"


class ResellerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reseller

    name = factory.Sequence(lambda n: f"Reseller {n}")


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    reseller = factory.SubFactory(ResellerFactory)
    name = factory.Sequence(lambda n: f"Merchant {n}")


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Store {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def member(role: str, *, reseller=None, merchant=None, store=None, email=None) -> User:
    """A user with one membership; the organisation columns that fit the role."""
    user = UserFactory(**({"email": email} if email else {}))
    Membership.objects.create(
        user=user, role=role, reseller=reseller, merchant=merchant, store=store
    )
    return user


__all__ = ["Role", "member", "PASSWORD"]
