"""KYC personal data: date of birth and identity document (individuals), payout IBAN
(validated, shown masked), through the API, the onboarding form and the back office."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.banking import iban_mask, iban_validate
from accounts.models import KycProfile
from paymint.core.errors import ValidationFailed
from tests.helpers import PNG_BYTES, api_client_for, kyc_ready, make_user, mark_email_verified

pytestmark = pytest.mark.django_db

INVESTOR_KYC = {
    "legal_name": "Ida Investor",
    "country": "FR",
    "tax_id": "FR40303265045",
    "date_of_birth": "1975-03-09",
    "identity_document_number": " 18AB12345 ",
    "bank_account_iban": "de89 3704 0044 0532 0130 00",
}


def test_iban_validation_and_mask():
    assert iban_validate("de89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    assert iban_validate("  ") == ""
    with pytest.raises(ValidationFailed) as bad:
        iban_validate("DE89 3704 0044 0532 0130 01")  # wrong check digits
    assert bad.value.code == "INVALID_IBAN" and "bank_account_iban" in bad.value.fields
    with pytest.raises(ValidationFailed):
        iban_validate("XX00 1234")
    assert iban_mask("DE89370400440532013000") == "DE89 **** 3000"
    assert iban_mask("GB29 NWBK 6016 1331 9268 19") == "GB29 **** 6819"
    assert iban_mask("") == ""


def test_an_investor_submits_personal_data_through_the_api(db):
    investor = kyc_ready(make_user("INVESTOR", "ida@example.com"))
    response = api_client_for(investor).post("/api/v1/me/kyc", INVESTOR_KYC, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["bank_account"] == "DE89 **** 3000"
    assert "DE89370400440532013000" not in response.content.decode()
    profile = KycProfile.objects.get(user=investor)
    assert profile.date_of_birth == dt.date(1975, 3, 9)
    assert profile.identity_document_number == "18AB12345"
    assert profile.bank_account_iban == "DE89370400440532013000"
    me = api_client_for(investor).get("/api/v1/me").json()
    assert me["kyc"]["bank_account"] == "DE89 **** 3000"


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"bank_account_iban": "DE89 3704 0044 0532 0130 01"}, "INVALID_IBAN",
         "bank_account_iban"),
        ({"date_of_birth": "2100-01-01"}, "INVALID_DATE_OF_BIRTH", "date_of_birth"),
        ({"date_of_birth": None}, None, None),
    ],
)
def test_personal_data_is_validated_before_anything_is_written(db, changes, code, field):
    investor = kyc_ready(make_user("INVESTOR", "val@example.com"))
    response = api_client_for(investor).post(
        "/api/v1/me/kyc", {**INVESTOR_KYC, **changes}, format="json"
    )
    if code is None:
        assert response.status_code == 201
        return
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert field in response.json()["fields"]
    assert_untouched_draft(investor)


def assert_untouched_draft(user) -> None:
    """Only the draft made by the document upload exists, with none of the refused data."""
    profile = KycProfile.objects.get(user=user)
    assert (profile.status, profile.legal_name, profile.tax_id) == ("DRAFT", "", "")
    assert profile.date_of_birth is None and profile.bank_account_iban == ""


def test_investors_must_be_adults(db):
    investor = kyc_ready(make_user("INVESTOR", "young@example.com"))
    today = timezone.localdate()
    seventeen = today.replace(year=today.year - 17) if (today.month, today.day) != (2, 29) \
        else dt.date(today.year - 17, 2, 28)
    response = api_client_for(investor).post(
        "/api/v1/me/kyc", {**INVESTOR_KYC, "date_of_birth": seventeen.isoformat()},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["fields"]["date_of_birth"] == ["You must be at least 18 years old."]


def test_companies_give_no_birth_date_or_passport(db):
    seller = kyc_ready(make_user("SELLER", "firm@example.com"))
    response = api_client_for(seller).post(
        "/api/v1/me/kyc",
        {"legal_name": "Firm GmbH", "country": "DE", "tax_id": "DE136695976",
         "date_of_birth": "1980-01-01"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "NOT_AN_INDIVIDUAL"
    assert_untouched_draft(seller)
    ok = api_client_for(seller).post(
        "/api/v1/me/kyc",
        {"legal_name": "Firm GmbH", "country": "DE", "tax_id": "DE136695976",
         "bank_account_iban": "DE89370400440532013000"},
        format="json",
    )
    assert ok.status_code == 201
    assert ok.json()["bank_account"] == "DE89 **** 3000"


def test_the_onboarding_form_asks_individuals_only_for_birth_date_and_id(db):
    from django.core.files.uploadedfile import SimpleUploadedFile

    investor = make_user("INVESTOR", "form-investor@example.com")
    mark_email_verified(investor)
    seller = make_user("SELLER", "form-seller@example.com")
    mark_email_verified(seller)
    investor_client, seller_client = Client(), Client()
    investor_client.force_login(investor)
    seller_client.force_login(seller)

    investor_page = investor_client.get(reverse("kyc")).content.decode()
    seller_page = seller_client.get(reverse("kyc")).content.decode()
    for name in ("date_of_birth", "identity_document_number", "bank_account_iban"):
        assert f'name="{name}"' in investor_page
    assert 'name="bank_account_iban"' in seller_page
    assert 'name="date_of_birth"' not in seller_page

    data = {**INVESTOR_KYC,
            "document": SimpleUploadedFile("id.png", PNG_BYTES, content_type="image/png")}
    bad = investor_client.post(reverse("kyc"), {**data, "bank_account_iban": "DE00 1234"})
    assert bad.status_code == 200
    assert bad.context["form"].errors["bank_account_iban"]
    data["document"].seek(0)
    response = investor_client.post(reverse("kyc"), data)
    assert response.status_code == 302
    page = investor_client.get(reverse("kyc")).content.decode()
    assert "DE89 **** 3000" in page  # the summary shows the account masked
    assert "DE89370400440532013000" not in page


def test_the_back_office_masks_the_iban_and_finds_a_tax_id_by_its_hash(db, ops_client):
    investor = kyc_ready(make_user("INVESTOR", "admin-view@example.com"))
    api_client_for(investor).post("/api/v1/me/kyc", INVESTOR_KYC, format="json")
    profile = KycProfile.objects.get(user=investor)
    other = make_user("INVESTOR", "someone@example.com",
                      kyc={"legal_name": "Somebody Else", "country": "NL",
                           "tax_id": "NL004495445B01"})

    listing = ops_client.get(reverse("admin:accounts_kycprofile_changelist"))
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "DE89 **** 3000" in html and "DE89370400440532013000" not in html

    change = ops_client.get(reverse("admin:accounts_kycprofile_change", args=[profile.pk]))
    html = change.content.decode()
    assert "DE89 **** 3000" in html and "DE89370400440532013000" not in html
    assert "18AB12345" in html  # reviewers compare the ID number with the document

    found = ops_client.get(reverse("admin:accounts_kycprofile_changelist"),
                           {"q": "fr 403 032 650 45"})
    assert found.status_code == 200
    assert list(found.context["cl"].result_list) == [profile]
    by_name = ops_client.get(reverse("admin:accounts_kycprofile_changelist"),
                             {"q": "Somebody"})
    assert list(by_name.context["cl"].result_list) == [KycProfile.objects.get(user=other)]
