"""Names people type (resellers, merchants, stores; terminals in tests/terminals): stored in NFKC form,
never holding invisible or text-direction characters, unique within their parent apart from case
and width, in the forms and in the database."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from dashboard import services
from dashboard.forms import MerchantForm
from dashboard.models import Merchant, Reseller, Role, Store
from dashboard.names import clean_display_name, name_key, names_collide
from tests.factories import MerchantFactory, StoreFactory


def clean(value, max_length=100):
    return clean_display_name(value, max_length=max_length)


# --- the shared cleaner ---------------------------------------------------------------------------


def test_a_full_width_name_is_stored_in_its_plain_form():
    assert clean("Ｐixel Repair") == "Pixel Repair"
    assert clean("ﬁsh\u00a0and\u3000chips") == "fish and chips"


def test_white_space_is_trimmed_and_made_one_plain_space():
    assert clean("  Front \t  counter\n") == "Front counter"


@pytest.mark.parametrize(
    "value,problem",
    [
        ("Pixel \u202eriapeR", "text-direction control character (U+202E RIGHT-TO-LEFT OVERRIDE)"),
        ("Pixel\u2066 Repair", "text-direction control character (U+2066 LEFT-TO-RIGHT ISOLATE)"),
        ("Pixel\u200f Repair", "text-direction control character (U+200F RIGHT-TO-LEFT MARK)"),
        ("Pixel\u200bRepair", "invisible character (U+200B ZERO WIDTH SPACE)"),
        ("Pixel\u2060Repair", "invisible character (U+2060 WORD JOINER)"),
        ("\ufeffPixel Repair", "invisible character (U+FEFF ZERO WIDTH NO-BREAK SPACE)"),
        ("Pixel\u00adRepair", "invisible character (U+00AD SOFT HYPHEN)"),
        ("Pixel\x00Repair", "control character (U+0000)"),
        ("Pixel\x1bRepair", "control character (U+001B)"),
        ("Pixel\ue000Repair", "private-use character (U+E000)"),
        ("Pixel\u2028Repair", "line separator (U+2028 LINE SEPARATOR)"),
        ("Pixel\u2029Repair", "paragraph separator (U+2029 PARAGRAPH SEPARATOR)"),
        ("Pixel\ud800Repair", "lone surrogate (U+D800)"),
    ],
)
def test_invisible_and_direction_characters_are_refused_with_a_message_naming_them(value, problem):
    with pytest.raises(ValidationError) as refused:
        clean(value)
    assert refused.value.code == "invalid"
    assert problem in refused.value.messages[0]


def test_length_is_counted_after_normalisation():
    # U+FDFA, one character, is eighteen in NFKC.
    with pytest.raises(ValidationError) as refused:
        clean("\ufdfa", max_length=10)
    assert refused.value.code == "max_length" and "this has 18" in refused.value.messages[0]


def test_a_name_of_only_spaces_is_no_name():
    with pytest.raises(ValidationError) as refused:
        clean(" \u3000 ")
    assert refused.value.messages == ["Enter a name."]


@pytest.mark.parametrize(
    "a,b",
    [
        ("Pixel Repair", "Ｐixel Repair"),
        ("Pixel Repair", "PIXEL  repair"),
        ("Straße", "STRASSE"),
        ("Café", "Cafe\u0301"),  # composed and decomposed é
    ],
)
def test_names_equal_apart_from_case_and_width_collide(a, b):
    assert names_collide(a, b) and name_key(a) == name_key(b)


def test_different_names_do_not_collide():
    assert not names_collide("Pixel Repair", "Pixel Repairs")


# --- the forms ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_look_alike_of_an_existing_merchant_name_is_refused_and_the_page_says_which(
    client, tenant_a
):
    MerchantFactory(reseller=tenant_a.reseller, name="Pixel Repair")
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    response = client.post(
        reverse("dashboard:merchant_create"),
        {"reseller": tenant_a.reseller.pk, "name": "ＰIXEL repair", "default_currency": "USD"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "This reseller already has a merchant with this name (“Pixel Repair”)" in body
    assert Merchant.objects.filter(reseller=tenant_a.reseller).count() == 2


@pytest.mark.django_db
def test_a_merchant_name_is_saved_in_its_plain_form(client, tenant_a):
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    response = client.post(
        reverse("dashboard:merchant_create"),
        {"reseller": tenant_a.reseller.pk, "name": "Ｐixel Repair", "default_currency": "USD"},
    )
    assert response.status_code == 302
    assert Merchant.objects.filter(name="Pixel Repair", reseller=tenant_a.reseller).exists()


@pytest.mark.django_db
def test_a_store_name_with_a_right_to_left_override_is_refused(client, platform_admin, tenant_a):
    client.force_login(platform_admin)
    response = client.post(
        reverse("dashboard:store_create"),
        {"merchant": tenant_a.merchant.pk, "name": "Harbour \u202eetihw", "time_zone": "UTC"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in body
    assert not Store.objects.filter(name__startswith="Harbour").exists()


@pytest.mark.django_db
def test_a_store_look_alike_is_refused_within_its_merchant_only(client, platform_admin, tenant_a):
    StoreFactory(merchant=tenant_a.merchant, name="Harbour")
    client.force_login(platform_admin)
    clash = client.post(
        reverse("dashboard:store_create"),
        {"merchant": tenant_a.merchant.pk, "name": "ＨＡＲＢＯＵＲ", "time_zone": "UTC"},
    )
    assert clash.status_code == 200
    assert "already has a store with this name (“Harbour”)" in clash.content.decode()
    other = MerchantFactory(reseller=tenant_a.reseller)
    ok = client.post(
        reverse("dashboard:store_create"),
        {"merchant": other.pk, "name": "ＨＡＲＢＯＵＲ", "time_zone": "UTC"},
    )
    assert ok.status_code == 302 and Store.objects.get(merchant=other).name == "HARBOUR"


@pytest.mark.django_db
def test_a_reseller_name_with_a_zero_width_space_is_refused(client, platform_admin):
    client.force_login(platform_admin)
    response = client.post(reverse("dashboard:reseller_create"), {"name": "East\u200bern"})
    assert response.status_code == 200
    assert "U+200B ZERO WIDTH SPACE" in response.content.decode()
    assert not Reseller.objects.exists()


@pytest.mark.django_db
def test_a_merchant_keeps_its_own_name_when_edited(client, tenant_a):
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    response = client.post(
        reverse("dashboard:merchant_edit", kwargs={"pk": tenant_a.merchant.pk}),
        {"reseller": tenant_a.reseller.pk, "name": "MERCHANT ALPHA", "default_currency": "EUR"},
    )
    assert response.status_code == 302
    tenant_a.merchant.refresh_from_db()
    assert (tenant_a.merchant.name, tenant_a.merchant.default_currency) == ("MERCHANT ALPHA", "EUR")


# --- the database ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("clash", ["pixel repair", "Ｐixel Repair", "PIXEL REPAIR"])
def test_the_database_refuses_a_merchant_name_taken_apart_from_case_and_width(tenant_a, clash):
    MerchantFactory(reseller=tenant_a.reseller, name="Pixel Repair")
    with pytest.raises(IntegrityError), transaction.atomic():
        Merchant.objects.create(reseller=tenant_a.reseller, name=clash)


@pytest.mark.django_db
def test_the_database_refuses_a_store_name_taken_in_its_merchant(tenant_a):
    with pytest.raises(IntegrityError), transaction.atomic():
        Store.objects.create(merchant=tenant_a.merchant, name=tenant_a.store.name.upper())
    Store.objects.create(merchant=MerchantFactory(), name=tenant_a.store.name.upper())


@pytest.mark.django_db
def test_the_database_refuses_a_reseller_name_taken_apart_from_case(tenant_a):
    with pytest.raises(IntegrityError), transaction.atomic():
        Reseller.objects.create(name=tenant_a.reseller.name.lower())


@pytest.mark.django_db
def test_a_name_taken_between_the_check_and_the_save_is_a_message_not_a_500(tenant_a):
    form = MerchantForm(
        {"reseller": tenant_a.reseller.pk, "name": "Pixel Repair", "default_currency": "USD"},
        resellers=Reseller.objects.all(),
    )
    assert form.is_valid()
    MerchantFactory(reseller=tenant_a.reseller, name="pixel repair")  # someone else, meanwhile
    with pytest.raises(ValidationError) as refused:
        services.merchant_save(form=form)
    assert refused.value.message_dict == {
        "name": ["This reseller already has a merchant with this name."]
    }
