"""Mass assignment: every write endpoint, sent the fields a client must never set.

Each case sends a legitimate request plus :data:`EXTRAS` - ``status``, the owner
(``owner``/``seller``/``investor``/``user``), ``funded_amount``, ``risk_grade``,
``advance_rate``, ``face_value`` where it is not an input, ``is_staff``/``is_superuser``,
``role``, KYC status, ``id``/``public_id`` and friends - and checks that the request either
succeeded with those fields ignored (the stored row has the values the service computes, or
only the input columns changed) or was refused with nothing written.
:func:`test_every_write_endpoint_has_a_case` keeps the list complete: a new route that takes
POST/PUT/PATCH/DELETE fails it until a case is added here.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from paymint.core import clock
from tests.helpers import (
    LISTING_DAY,
    PNG_BYTES,
    STRONG_PASSWORD,
    api_client_for,
    bank_event,
    kyc_ready,
    listed_invoice,
    make_user,
    mustang_bytes,
    priced_invoice,
    signed_webhook,
)
from tests.security.test_authorization_matrix import (
    all_routes,
    diff_snapshots,
    snapshot,
    supported_methods,
)

pytestmark = pytest.mark.django_db

User = get_user_model()
FORGED_ID = "00000000-0000-4000-8000-000000000001"


def extras(world, *, inputs: tuple[str, ...] = ()) -> dict:
    """Fields no client may set, minus the endpoint's own ``inputs``. Owner fields name
    another user (investor A / seller B) so a successful assignment would be visible."""
    other = str(world.investor_a.public_id)
    values = {
        "id": FORGED_ID, "public_id": FORGED_ID, "pk": 1,
        "status": "SETTLED", "kyc_status": "APPROVED", "kyc": {"status": "APPROVED"},
        "owner": other, "seller": str(world.seller_b.public_id), "investor": other,
        "user": other, "user_id": 1, "seller_id": 1, "investor_id": 1,
        "funded_amount": "999999.00", "advance_amount": "1.00", "platform_fee": "0.00",
        "risk_grade": "E", "risk_score": 1, "advance_rate": "0.011", "discount_rate": "0.99",
        "face_value": "1000000.00", "expected_return": "1000000.00", "repaid_amount": "1.00",
        "is_staff": True, "is_superuser": True, "is_active": True, "role": "STAFF",
        "email_verified_at": "2020-01-01T00:00:00Z", "deposit_reference": "PWNED-REF",
        "reference": "PWNED-REF", "repayment_reference": "PWNED-REF",
        "decision_reason": "approved by myself", "decided_at": "2020-01-01T00:00:00Z",
        "currency": "USD", "created_at": "2000-01-01T00:00:00Z", "investor_count": 99,
        "listing": FORGED_ID, "invoice": FORGED_ID, "account_id": "G" + "A" * 55,
    }
    return {k: v for k, v in values.items() if k not in inputs}


def row(obj) -> dict:
    """The stored columns of ``obj`` (fresh from the database)."""
    fresh = type(obj).objects.get(pk=obj.pk)
    return {f.attname: getattr(fresh, f.attname) for f in type(obj)._meta.concrete_fields}


def changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if before[k] != after[k]}


def privileges() -> list:
    return list(User.objects.order_by("pk").values_list(
        "pk", "email", "role", "is_staff", "is_superuser", "is_active"))


def web_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_post(client, url, data, files=None):
    payload = {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in data.items()}
    if files:
        payload.update(files)
    return client.post(url, payload)


# --- API ------------------------------------------------------------------------------------


def case_register(world):
    client = Client()
    response = client.post("/api/v1/auth/register", {
        "email": "mass@example.com", "password": STRONG_PASSWORD, "role": "INVESTOR",
        **extras(world, inputs=("role",))}, content_type="application/json")
    assert response.status_code == 201, response.content
    user = User.objects.get(email="mass@example.com")
    assert (user.role, user.is_staff, user.is_superuser) == ("INVESTOR", False, False)
    assert str(user.public_id) != FORGED_ID and user.deposit_reference != "PWNED-REF"
    assert user.email_verified_at is None
    # The role itself is an input, but only among the self-service roles.
    before = privileges()
    refused = client.post("/api/v1/auth/register", {
        "email": "staff-me@example.com", "password": STRONG_PASSWORD, "role": "STAFF"},
        content_type="application/json")
    assert refused.status_code == 400 and privileges() == before


def case_kyc_submit(world):
    from accounts.services import user_register

    user = kyc_ready(user_register(email="kyc-mass@example.com", password=STRONG_PASSWORD,
                                   role="SELLER"))
    from accounts.models import KycProfile

    other = row(world.investor_a.kyc)
    response = api_client_for(user).post("/api/v1/me/kyc", {
        "legal_name": "Mass GmbH", "country": "DE", "tax_id": "DE129273398",
        **extras(world)}, format="json")
    assert response.status_code == 201, response.content
    profile = KycProfile.objects.get(user=user)
    assert profile.status == "PENDING_REVIEW" and profile.decision_reason == ""
    assert profile.decided_at is None and profile.decided_by_id is None
    assert profile.kind == "KYB"
    assert row(world.investor_a.kyc) == other


def case_kyc_document_upload(world):
    from accounts.models import KycDocument, KycProfile

    user = make_user("INVESTOR", "doc-mass@example.com")
    response = api_client_for(user).post("/api/v1/me/kyc/documents", {
        "kind": "IDENTITY", "file": SimpleUploadedFile("id.png", PNG_BYTES, "image/png"),
        **{k: (json.dumps(v) if isinstance(v, dict) else v)
           for k, v in extras(world).items()}}, format="multipart")
    assert response.status_code == 201, response.content
    document = KycDocument.objects.get(public_id=response.json()["id"])
    assert document.profile.user_id == user.pk and document.uploaded_by_id == user.pk
    assert str(document.public_id) != FORGED_ID and document.kind == "IDENTITY"
    assert KycProfile.objects.get(user=user).status == "DRAFT"


def case_me_patch(world):
    user = world.investor_b
    before = row(user)
    response = api_client_for(user).patch("/api/v1/me", {
        "first_name": "Bea", "email": "mass-me@example.com", **extras(world)}, format="json")
    assert response.status_code == 200, response.content
    assert changed(before, row(user)) <= {"first_name", "updated_at"}


def case_api_account_flow(world, route: str):
    """Email confirmation, password reset and two-factor over the API: whatever they accept,
    the privilege and identity columns of every user stay as they were, and no other user's
    row changes."""
    before = privileges()
    others = row(world.investor_a)
    client = api_client_for(world.investor_b)
    data = {**extras(world), "email": world.investor_a.email, "token": "MQ/set-password",
            "new_password": "x", "password": "wrong-password-0", "code": "123456"}
    for method in sorted(set(supported_methods_for(route)) - {"GET"}):
        getattr(client, method.lower())("/" + route, data, format="json")
    assert privileges() == before, route
    assert row(world.investor_a) == others, route


def case_invoice_upload(world):
    from invoices.models import Invoice

    client = api_client_for(world.seller_b)
    response = client.post("/api/v1/invoices", {
        "document": SimpleUploadedFile("x.pdf", mustang_bytes("mass-upload"), "application/pdf"),
        **{k: (json.dumps(v) if isinstance(v, dict) else v)
           for k, v in extras(world).items()}}, format="multipart")
    assert response.status_code == 201, response.content
    invoice = Invoice.objects.get(public_id=response.json()["id"])
    assert invoice.seller_id == world.seller_b.pk
    assert invoice.status == "UPLOADED"
    assert str(invoice.public_id) != FORGED_ID
    assert invoice.face_value is None and invoice.risk_grade == "" and invoice.advance_rate is None
    assert invoice.repayment_reference != "PWNED-REF"


def case_invoice_patch(world):
    invoice = world.draft_a
    before = row(invoice)
    response = api_client_for(world.seller_a).patch(
        f"/api/v1/invoices/{invoice.public_id}",
        {"invoice_number": "AUTHZ-A-1-FIXED",
         **extras(world, inputs=("face_value", "currency"))}, format="json")
    assert response.status_code == 200, response.content
    after = row(invoice)
    assert after["invoice_number"] == "AUTHZ-A-1-FIXED"
    assert changed(before, after) <= {"invoice_number", "updated_at", "extraction",
                                      "corrected_fields"}, changed(before, after)


def case_invoice_submit(world):
    invoice = world.draft_a
    with clock.frozen_at(LISTING_DAY):
        response = api_client_for(world.seller_a).post(
            f"/api/v1/invoices/{invoice.public_id}/submit", extras(world), format="json")
    assert response.status_code == 200, response.content
    after = row(invoice)
    assert after["seller_id"] == world.seller_a.pk
    assert after["status"] != "SETTLED" and after["risk_grade"] != "E"
    assert after["risk_score"] != 1 and after["advance_rate"] != Decimal("0.011")
    assert after["discount_rate"] != Decimal("0.99") and after["face_value"] == Decimal("571.04")
    assert after["repayment_reference"] != "PWNED-REF"


def case_invoice_list(world):
    from marketplace.models import Listing

    invoice = priced_invoice(world.seller_a, variant="mass-list", invoice_number="MASS-LIST-1")
    with clock.frozen_at(LISTING_DAY):
        response = api_client_for(world.seller_a).post(
            f"/api/v1/invoices/{invoice.public_id}/list",
            {"advance_rate": "0.8", **extras(world, inputs=("advance_rate",))}, format="json")
    assert response.status_code == 200, response.content
    listing = Listing.objects.get(invoice=invoice)
    assert listing.funded_amount == 0 and listing.investor_count == 0
    assert listing.advance_amount == Decimal("456.83")  # 0.8 x 571.04
    assert listing.platform_fee == Decimal("4.57")
    invoice.refresh_from_db()
    assert listing.discount_rate == invoice.discount_rate != Decimal("0.99")
    assert listing.currency == "EUR" and str(listing.public_id) != FORGED_ID
    assert invoice.status == "LISTED" and invoice.face_value == Decimal("571.04")


def case_invoice_cancel(world):
    """Cancelling takes no input: whatever is sent, only the status moves (to CANCELLED) and
    the invoice stays the seller's, with its amounts."""
    listing = listed_invoice(world.seller_a, variant="mass-cancel",
                             invoice_number="MASS-CANCEL-1")
    invoice = listing.invoice
    before = row(invoice)
    with clock.frozen_at(LISTING_DAY):
        response = api_client_for(world.seller_a).post(
            f"/api/v1/invoices/{invoice.public_id}/cancel", extras(world), format="json")
    assert response.status_code == 200, response.content
    after = row(invoice)
    assert after["status"] == "CANCELLED"
    assert changed(before, after) <= {"status", "updated_at"}, changed(before, after)
    assert row(listing)["funded_amount"] == 0


def case_debtor_confirmation(world):
    from invoices.models import DebtorConfirmation

    invoice = world.open_a.invoice
    other_before = row(world.confirmation_a)
    with clock.frozen_at(LISTING_DAY):
        response = api_client_for(world.seller_a).post(
            f"/api/v1/invoices/{invoice.public_id}/debtor-confirmation",
            {"email": "ap2@debtor.example", "expires_at": "2099-01-01T00:00:00Z",
             "confirmed_at": "2020-01-01T00:00:00Z", **extras(world)}, format="json")
    assert response.status_code == 201, response.content
    confirmation = DebtorConfirmation.objects.get(public_id=response.json()["id"])
    assert confirmation.invoice_id == invoice.pk and confirmation.status == "REQUESTED"
    assert confirmation.expires_at.year < 2099
    assert row(world.confirmation_a) == other_before


def case_investment_create(world):
    from marketplace.models import Investment

    listing = world.open_a
    victim = row(world.investment_a)
    with clock.frozen_at(LISTING_DAY):
        response = api_client_for(world.investor_b).post(
            f"/api/v1/marketplace/{listing.public_id}/investments",
            {"amount": "50.00", **extras(world, inputs=())}, format="json")
    assert response.status_code == 201, response.content
    investment = Investment.objects.get(public_id=response.json()["id"])
    assert investment.investor_id == world.investor_b.pk
    assert investment.listing_id == listing.pk and investment.currency == "EUR"
    assert investment.amount == Decimal("50.00")
    assert investment.discount_rate == listing.discount_rate
    assert investment.repaid_amount == 0 and investment.expected_return < Decimal("100")
    assert str(investment.public_id) != FORGED_ID
    assert row(world.investment_a) == victim


def case_withdrawal_request(world):
    from settlements.models import Withdrawal

    victim = row(world.withdrawal_a)
    response = api_client_for(world.investor_b).post(
        "/api/v1/wallet/withdrawals",
        {"amount": "10.00", "currency": "EUR", **extras(world, inputs=("currency",)),
         "failure_reason": "none"}, format="json")
    assert response.status_code == 201, response.content
    withdrawal = Withdrawal.objects.get(public_id=response.json()["id"])
    assert withdrawal.user_id == world.investor_b.pk and withdrawal.status == "REQUESTED"
    assert withdrawal.reference != "PWNED-REF" and withdrawal.failure_reason == ""
    assert withdrawal.amount == Decimal("10.00")
    assert row(world.withdrawal_a) == victim


def case_pool_deposit(world):
    from pools.models import PoolDeposit, PoolHolding

    pool = world.pool
    victim = row(PoolHolding.objects.get(pool=pool, investor=world.investor_a))
    response = api_client_for(world.investor_b).post(
        f"/api/v1/pools/{pool.public_id}/deposits",
        {"amount": "50.00", **extras(world), "shares": "1000000", "nav_per_share": "0.0001",
         "pool": FORGED_ID}, format="json")
    assert response.status_code == 201, response.content
    made = PoolDeposit.objects.get(public_id=response.json()["id"])
    assert made.investor_id == world.investor_b.pk and made.pool_id == pool.pk
    assert made.amount == Decimal("50.00") and made.shares <= Decimal("50")
    assert row(PoolHolding.objects.get(pool=pool, investor=world.investor_a)) == victim


def case_pool_redemption(world):
    from pools.models import RedemptionRequest

    victim = row(world.redemption_a)
    response = api_client_for(world.investor_a).post(
        f"/api/v1/pools/{world.pool.public_id}/redemptions",
        {"shares": "5", **extras(world), "shares_paid": "5", "amount_paid": "999.00",
         "payable_from": "2000-01-01"}, format="json")
    assert response.status_code == 201, response.content
    made = RedemptionRequest.objects.get(public_id=response.json()["id"])
    assert made.investor_id == world.investor_a.pk and made.status == "QUEUED"
    assert (made.shares, made.shares_paid, made.amount_paid) == (Decimal(5), 0, 0)
    assert made.payable_from > LISTING_DAY
    assert row(world.redemption_a) == victim


def case_pool_redemption_cancel(world):
    victim = row(world.redemption_a)
    url = f"/api/v1/pools/{world.pool.public_id}/redemptions/{world.redemption_a.public_id}"
    response = api_client_for(world.investor_b).generic(
        "DELETE", url, json.dumps(extras(world)), content_type="application/json")
    assert response.status_code == 404, response.content
    assert row(world.redemption_a) == victim
    response = api_client_for(world.investor_a).generic(
        "DELETE", url, json.dumps(extras(world)), content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "CANCELLED"
    assert row(world.redemption_a)["shares_paid"] == 0


def case_pool_deposit_web(world):
    from pools.models import PoolDeposit, PoolHolding

    victim = row(PoolHolding.objects.get(pool=world.pool, investor=world.investor_a))
    response = form_post(web_client(world.investor_b),
                         reverse("pool-deposit", args=[world.pool.public_id]),
                         {**extras(world), "amount": "20.00", "confirm": "1",
                          "idempotency_key": uuid.uuid4().hex, "shares": "99999"})
    assert response.status_code == 302, response.status_code
    made = PoolDeposit.objects.get(investor=world.investor_b)
    assert made.amount == Decimal("20.00") and made.shares <= Decimal("20")
    assert row(PoolHolding.objects.get(pool=world.pool, investor=world.investor_a)) == victim


def case_pool_redeem_web(world):
    from pools.models import RedemptionRequest

    victim = row(world.redemption_a)
    before = set(RedemptionRequest.objects.values_list("pk", flat=True))
    response = form_post(web_client(world.investor_a),
                         reverse("pool-redeem", args=[world.pool.public_id]),
                         {**extras(world), "shares": "5", "confirm": "1",
                          "idempotency_key": uuid.uuid4().hex, "shares_paid": "5",
                          "amount_paid": "999"})
    assert response.status_code == 302, response.status_code
    made = RedemptionRequest.objects.exclude(pk__in=before).get()
    assert made.investor_id == world.investor_a.pk and made.shares_paid == 0
    assert row(world.redemption_a) == victim


def case_pool_redemption_cancel_web(world):
    victim = row(world.redemption_a)
    url = reverse("pool-redemption-cancel",
                  args=[world.pool.public_id, world.redemption_a.public_id])
    assert form_post(web_client(world.investor_b), url, extras(world)).status_code == 404
    assert row(world.redemption_a) == victim
    assert form_post(web_client(world.investor_a), url, extras(world)).status_code == 302
    assert row(world.redemption_a)["status"] == "CANCELLED"


def case_auto_invest_web(world):
    from pools.models import AutoInvestRule

    response = form_post(web_client(world.investor_b), reverse("auto-invest"), {
        **extras(world), "currencies": "EUR", "grades": "A", "min_tenor_days": "0",
        "max_tenor_days": "90", "min_discount_rate": "0", "amount_per_invoice": "50",
        "max_per_debtor": "100", "cash_to_keep": "0",
        "last_invested_at": "2000-01-01T00:00:00Z"})
    assert response.status_code == 302, response.status_code
    (rule,) = AutoInvestRule.objects.all()
    assert rule.investor_id == world.investor_b.pk and rule.last_invested_at is None


def _claims(token: str) -> set[str]:
    return set(jwt.decode(token, options={"verify_signature": False}))


# "hash_password": simplejwt's CHECK_REVOKE_TOKEN claim (a hash of the password hash), set by
# the server so that tokens die with a password change; never taken from the request.
STANDARD_CLAIMS = {"token_type", "exp", "iat", "jti", "sub", "hash_password"}


def case_token_obtain(world):
    response = Client().post("/api/v1/auth/token", {
        "email": world.investor_b.email, "password": STRONG_PASSWORD, **extras(world)},
        content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert _claims(body["access"]) <= STANDARD_CLAIMS
    assert _claims(body["refresh"]) <= STANDARD_CLAIMS


def case_token_otp(world):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=world.investor_b, name="phone", confirmed=True)
    step = Client().post("/api/v1/auth/token", {
        "email": world.investor_b.email, "password": STRONG_PASSWORD, **extras(world)},
        content_type="application/json")
    assert step.status_code == 401 and step.json()["code"] == "OTP_REQUIRED", step.content
    code = f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"
    response = Client().post("/api/v1/auth/token/otp", {
        "mfa_token": step.json()["mfa_token"], "code": code, **extras(world)},
        content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert _claims(body["access"]) <= STANDARD_CLAIMS
    assert _claims(body["refresh"]) <= STANDARD_CLAIMS
    assert jwt.decode(body["access"], options={"verify_signature": False})["sub"] == str(
        world.investor_b.public_id)


def case_token_refresh(world):
    from rest_framework_simplejwt.tokens import RefreshToken

    refresh = str(RefreshToken.for_user(world.investor_b))
    response = Client().post("/api/v1/auth/token/refresh", {
        "refresh": refresh, **extras(world)}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert _claims(response.json()["access"]) <= STANDARD_CLAIMS


def case_bank_webhook(world):
    from settlements.ledger.selectors import wallet_balances

    def cash(user):
        return sum((b["balance"] for b in wallet_balances(user=user)), Decimal(0))

    a_before, b_before = cash(world.investor_a), cash(world.investor_b)
    event = bank_event(f"evt_{uuid.uuid4().hex}", "deposit.received",
                       world.investor_b.deposit_reference, "40.00")
    event["data"].update({"user": str(world.investor_a.public_id),
                          "owner": str(world.investor_a.public_id),
                          "account": "INVESTOR_CASH", "status": "APPLIED"})
    event.update({"user": str(world.investor_a.public_id), "status": "APPLIED"})
    response = signed_webhook(Client(), event)
    assert response.status_code == 200, response.content
    assert cash(world.investor_b) - b_before == Decimal("40.00")
    assert cash(world.investor_a) == a_before


def case_logout(world):
    """The body is one refresh token: extras revoke nothing else and change no account."""
    from rest_framework_simplejwt.tokens import RefreshToken

    before = privileges()
    other = str(RefreshToken.for_user(world.investor_a))
    mine = str(RefreshToken.for_user(world.investor_b))
    client = api_client_for(world.investor_b)
    response = client.post("/api/v1/auth/logout", {"refresh": mine, **extras(world),
                                                    "refresh_tokens": [other], "all": True},
                           format="json")
    assert response.status_code == 204, response.content
    assert privileges() == before
    refreshed = Client().post("/api/v1/auth/token/refresh", {"refresh": other},
                              content_type="application/json")
    assert refreshed.status_code == 200, "another user's token was revoked"


def case_erasure_request(world):
    from accounts.services import user_register
    from compliance.models import DataErasureRequest

    leaving = user_register(email="leaving@example.com", password=STRONG_PASSWORD,
                            role="INVESTOR")  # no positions: erasure may be requested
    response = api_client_for(leaving).post(
        "/api/v1/me/erasure-request", {"note": "please", **extras(world),
                                       "decided_by": str(world.staff.public_id)}, format="json")
    assert response.status_code == 201, response.content
    request = DataErasureRequest.objects.get(public_id=response.json()["id"])
    assert request.user_id == leaving.pk and request.status == "REQUESTED"
    assert request.decided_at is None and request.decided_by_id is None
    assert request.decision_reason == "" and str(request.public_id) != FORGED_ID
    assert not DataErasureRequest.objects.filter(user=world.investor_a).exists()


def _refused_without_writes(client, url, payload, *, as_json=True):
    before = snapshot()
    if as_json:
        response = client.post(url, payload, content_type="application/json")
    else:
        response = client.post(url, payload)
    assert 400 <= response.status_code < 500, (url, response.status_code)
    assert snapshot() == before, url
    return response


def case_stellar_signed(world, route: str):
    """SEP-10: the body is one signed envelope; extras next to a forged one change nothing."""
    client = Client(HTTP_AUTHORIZATION=f"Bearer {_access(world.investor_b)}")
    _refused_without_writes(client, "/" + route,
                            {"transaction": "AAAA" * 20, **extras(world)})


def _access(user) -> str:
    from rest_framework_simplejwt.tokens import RefreshToken

    return str(RefreshToken.for_user(user).access_token)


# --- Dashboards -----------------------------------------------------------------------------


def case_signup(world):
    response = Client().post(reverse("signup"), {
        "email": "web-mass@example.com", "password": STRONG_PASSWORD, "role": "SELLER",
        **{k: v for k, v in extras(world, inputs=("role",)).items() if not isinstance(v, dict)}})
    assert response.status_code == 302, response.status_code
    user = User.objects.get(email="web-mass@example.com")
    assert (user.role, user.is_staff, user.is_superuser) == ("SELLER", False, False)
    assert user.deposit_reference != "PWNED-REF" and user.email_verified_at is None


def case_kyc_web(world):
    from accounts.email_verification import email_verification_token, email_verify
    from accounts.models import KycProfile
    from accounts.services import user_register

    user = user_register(email="kyc-web@example.com", password=STRONG_PASSWORD, role="INVESTOR")
    email_verify(token=email_verification_token(user=user))
    response = form_post(web_client(user), reverse("kyc"), {
        "legal_name": "Kai Web", "country": "BE", "tax_id": "BE0403170701",
        **extras(world)}, files={"document": SimpleUploadedFile("id.png", PNG_BYTES,
                                                                 "image/png")})
    assert response.status_code == 302, response.status_code
    profile = KycProfile.objects.get(user=user)
    assert profile.status == "PENDING_REVIEW" and profile.decided_at is None
    assert profile.decision_reason == ""


def case_invoice_upload_web(world):
    from invoices.models import Invoice

    before = set(Invoice.objects.values_list("pk", flat=True))
    response = form_post(web_client(world.seller_b), reverse("invoice-upload"), extras(world),
                         files={"document": SimpleUploadedFile(
                             "y.pdf", mustang_bytes("mass-web-upload"), "application/pdf")})
    assert response.status_code == 302, response.status_code
    invoice = Invoice.objects.exclude(pk__in=before).get()
    assert invoice.seller_id == world.seller_b.pk and invoice.status == "UPLOADED"
    assert invoice.face_value is None and invoice.risk_grade == ""
    assert str(invoice.public_id) != FORGED_ID


def case_seller_invoice_web(world):
    from invoices.views import _fields_form
    from marketplace.models import Listing
    from tests.helpers import form_data

    invoice = world.draft_b
    client = web_client(world.seller_b)
    before = row(invoice)
    data = form_data(_fields_form(invoice), action="save", invoice_number="AUTHZ-B-1-FIXED")
    response = form_post(client, reverse("seller-invoice", args=[invoice.public_id]),
                         {**extras(world, inputs=tuple(data)), **data})
    assert response.status_code == 302, response.status_code
    after = row(invoice)
    assert after["invoice_number"] == "AUTHZ-B-1-FIXED"
    assert changed(before, after) <= {"invoice_number", "updated_at", "extraction",
                                      "corrected_fields"}, changed(before, after)
    # action=list: only the advance rate (and minimum fill) are inputs.
    priced = priced_invoice(world.seller_a, variant="mass-web-list",
                            invoice_number="MASS-WEB-LIST")
    with clock.frozen_at(LISTING_DAY):
        response = form_post(web_client(world.seller_a),
                             reverse("seller-invoice", args=[priced.public_id]),
                             {**extras(world, inputs=("advance_rate",)), "action": "list",
                              "advance_rate": "80", "min_fill_rate": ""})  # percent
    assert response.status_code == 302, response.status_code
    listing = Listing.objects.get(invoice=priced)
    assert listing.funded_amount == 0 and listing.advance_amount == Decimal("456.83")
    priced.refresh_from_db()
    assert listing.discount_rate == priced.discount_rate != Decimal("0.99")
    assert listing.platform_fee == Decimal("4.57")


def case_listing_invest_web(world):
    from marketplace.models import Investment

    victim = row(world.investment_a)
    before = set(Investment.objects.values_list("pk", flat=True))
    with clock.frozen_at(LISTING_DAY):
        response = form_post(web_client(world.investor_b),
                             reverse("listing-invest", args=[world.open_a.public_id]),
                             {**extras(world), "amount": "50.00", "confirm": "1",
                              "idempotency_key": uuid.uuid4().hex})
    assert response.status_code == 302, response.status_code
    investment = Investment.objects.exclude(pk__in=before).get()
    assert investment.investor_id == world.investor_b.pk
    assert investment.listing_id == world.open_a.pk and investment.currency == "EUR"
    assert investment.discount_rate == world.open_a.discount_rate
    assert row(world.investment_a) == victim


def case_withdraw_web(world):
    from settlements.models import Withdrawal

    victim = row(world.withdrawal_a)
    before = set(Withdrawal.objects.values_list("pk", flat=True))
    response = form_post(web_client(world.investor_b), reverse("withdraw"),
                         {**extras(world, inputs=("currency",)), "amount": "5.00",
                          "currency": "EUR", "confirm": "True",
                          "idempotency_key": uuid.uuid4().hex})
    assert response.status_code == 302, response.status_code
    withdrawal = Withdrawal.objects.exclude(pk__in=before).get()
    assert withdrawal.user_id == world.investor_b.pk and withdrawal.status == "REQUESTED"
    assert withdrawal.reference != "PWNED-REF" and withdrawal.amount == Decimal("5.00")
    assert row(world.withdrawal_a) == victim


def case_debtor_confirm_web(world):
    from invoices.confirmation import confirmation_token

    token = confirmation_token(world.confirmation_a)
    other = row(world.draft_b)
    with clock.frozen_at(LISTING_DAY):
        response = form_post(Client(), reverse("debtor-confirm", args=[token]),
                             {**extras(world), "answer": "confirm", "note": "ok",
                              "invoice": str(world.draft_b.public_id)})
    assert response.status_code == 200, response.status_code
    confirmation = row(world.confirmation_a)
    assert confirmation["status"] == "CONFIRMED"
    assert confirmation["invoice_id"] == world.open_a.invoice_id
    assert row(world.draft_b) == other


def case_account_flow(world, route: str):
    """Sign-in, sign-out, two-factor, email verification and password reset forms: whatever
    they accept, privilege and identity columns of every user stay as they were."""
    before = privileges()
    client = web_client(world.investor_b)
    path = "/" + route.replace("<str:token>", "not-a-token").replace(
        "<uidb64>", "MQ").replace("<token>", "set-password")
    data = {**extras(world), "email": world.investor_a.email, "username": world.staff.email,
            "password": "wrong-password-0", "new_password1": "x", "new_password2": "x",
            "token": "123456"}
    client.post(path, {k: v for k, v in data.items() if not isinstance(v, dict)})
    assert privileges() == before, route


def case_csp_report(world):
    """A CSP violation report padded with privilege and owner fields is logged (204) and
    writes nothing anywhere."""
    before = snapshot()
    body = {"csp-report": {"document-uri": "http://testserver/seller/",
                           "effective-directive": "script-src-elem", "blocked-uri": "inline",
                           **extras(world)}, **extras(world)}
    response = Client().post(reverse("csp-report"), json.dumps(body),
                             content_type="application/csp-report")
    assert response.status_code == 204, response.status_code
    assert not diff_snapshots(before, snapshot())


def _notification_rows():
    from notifications.models import Notification, NotificationPreference, PushDevice

    return {
        "notifications": list(Notification.objects.order_by("pk").values_list(
            "pk", "recipient_id", "event_id", "title", "read_at")),
        "preferences": list(NotificationPreference.objects.order_by("pk").values_list(
            "pk", "user_id", "category", "channel", "enabled")),
        "devices": list(PushDevice.objects.order_by("pk").values_list(
            "pk", "user_id", "token", "disabled_at")),
    }


def _others(rows: dict, user_id: int) -> dict:
    """The rows of every user but ``user_id``."""
    return {k: [r for r in v if r[1] != user_id] for k, v in rows.items()}


def case_notifications(world, route: str):
    """Reading notifications, preferences and push devices (API and pages): the user's own
    rows change in their input columns only, nobody else's, no privilege column."""
    from notifications.models import Notification, NotificationPreference, PushDevice

    user = world.investor_b
    mine = world.notifications["investor_b"]
    before, privileged = _notification_rows(), privileges()
    path = "/" + route.replace("<str:notification_id>", str(mine.public_id)).replace(
        "<uuid:notification_id>", str(mine.public_id)).replace(
        "<str:device_id>", str(world.devices["investor_b"].public_id))
    data = {**extras(world), "preferences": [
        {"category": "MONEY", "channel": "PUSH", "enabled": False, **extras(world)}],
        "platform": "IOS", "token": "mass-assignment-token-0123456789",
        "money_push": "", "recipient": str(world.investor_a.public_id),
        "read_at": "2000-01-01T00:00:00Z", "locked": False, "disabled_at": None}
    if route.startswith("api/"):
        client = api_client_for(user)
        for method in sorted(set(supported_methods_for(route)) - {"GET"}):
            response = getattr(client, method.lower())(path, data, format="json")
            assert response.status_code < 300, (route, method, response.content)
    else:
        response = form_post(web_client(user), path,
                             {k: v for k, v in data.items() if not isinstance(v, list | dict)
                              and v is not None})
        assert response.status_code == 302, (route, response.status_code)
    after = _notification_rows()
    assert _others(after, user.pk) == _others(before, user.pk), route
    assert privileges() == privileged, route
    read = Notification.objects.filter(recipient=user).exclude(read_at=None)
    assert all(n.read_at.year > 2000 for n in read), route
    assert not PushDevice.objects.filter(public_id=FORGED_ID).exists()
    assert all(d.user_id == user.pk for d in PushDevice.objects.filter(
        token="mass-assignment-token-0123456789"))
    assert not NotificationPreference.objects.filter(
        category="SECURITY", channel="EMAIL", enabled=False).exists()


def case_auto_invest_rule(world):
    """``PUT auto-invest`` with owner and bookkeeping fields beside the rule: the rule is the
    caller's own, ``last_invested_at`` stays unset and no other user changes."""
    from pools.models import AutoInvestRule

    users = privileges()
    rule = {"currencies": ["EUR"], "grades": ["A", "B"], "amount_per_invoice": "50.00",
            "max_per_debtor": "200.00"}
    data = {**extras(world), **rule, "investor": str(world.investor_a.public_id),
            "last_invested_at": "2020-01-01T00:00:00Z"}
    response = api_client_for(world.investor_b).put("/api/v1/auto-invest", data, format="json")
    assert response.status_code == 200, response.content
    (saved,) = AutoInvestRule.objects.all()
    assert saved.investor_id == world.investor_b.pk
    assert saved.last_invested_at is None
    assert privileges() == users


#: Every route that takes a write method -> its case.
CASES = {
    "api/v1/auth/register": case_register,
    "api/v1/auth/token": case_token_obtain,
    "api/v1/auth/token/otp": case_token_otp,
    "api/v1/auth/token/refresh": case_token_refresh,
    "api/v1/auth/logout": case_logout,
    "api/v1/me/erasure-request": case_erasure_request,
    "api/v1/me/kyc": case_kyc_submit,
    "api/v1/me/kyc/documents": case_kyc_document_upload,
    "api/v1/me": case_me_patch,
    "api/v1/invoices": case_invoice_upload,
    "api/v1/invoices/<str:invoice_id>": case_invoice_patch,
    "api/v1/invoices/<str:invoice_id>/submit": case_invoice_submit,
    "api/v1/invoices/<str:invoice_id>/list": case_invoice_list,
    "api/v1/invoices/<str:invoice_id>/cancel": case_invoice_cancel,
    "api/v1/invoices/<str:invoice_id>/debtor-confirmation": case_debtor_confirmation,
    "api/v1/marketplace/<str:listing_id>/investments": case_investment_create,
    "api/v1/wallet/withdrawals": case_withdrawal_request,
    "api/v1/pools/<str:pool_id>/deposits": case_pool_deposit,
    "api/v1/pools/<str:pool_id>/redemptions": case_pool_redemption,
    "api/v1/pools/<str:pool_id>/redemptions/<str:redemption_id>": case_pool_redemption_cancel,
    "api/v1/webhooks/bank": case_bank_webhook,
    "signup/": case_signup,
    "onboarding/": case_kyc_web,
    "seller/invoices/upload/": case_invoice_upload_web,
    "seller/invoices/<uuid:invoice_id>/": case_seller_invoice_web,
    "marketplace/<uuid:listing_id>/invest/": case_listing_invest_web,
    "wallet/withdraw/": case_withdraw_web,
    "debtor/confirm/<str:token>/": case_debtor_confirm_web,
    "csp-report/": case_csp_report,
    "pools/<uuid:pool_id>/deposit/": case_pool_deposit_web,
    "pools/<uuid:pool_id>/redeem/": case_pool_redeem_web,
    "pools/<uuid:pool_id>/redemptions/<uuid:redemption_id>/cancel/":
        case_pool_redemption_cancel_web,
    "investor/auto-invest/": case_auto_invest_web,
    "api/v1/auto-invest": case_auto_invest_rule,
}
#: Route prefixes whose write routes share a generic case.
GENERIC = (
    ("api/v1/stellar/", case_stellar_signed),
    ("api/v1/auth/email/", case_api_account_flow),
    ("api/v1/auth/password/", case_api_account_flow),
    ("api/v1/me/two-factor", case_api_account_flow),
    ("api/v1/notifications", case_notifications),
    ("notifications/", case_notifications),
    ("login/", case_account_flow),
    ("logout/", case_account_flow),
    ("account/", case_account_flow),
    ("verify-email/", case_account_flow),
    ("password-reset/", case_account_flow),
    ("api/v1/me/devices", case_notifications),
    ("api/v1/me/notification-preferences", case_notifications),
)


def write_routes() -> list[str]:
    return [r.route for r in all_routes()
            if not r.is_admin and set(supported_methods(r.callback)) - {"GET"}]


def supported_methods_for(route: str) -> list[str]:
    (match,) = [r for r in all_routes() if r.route == route]
    return supported_methods(match.callback)


def case_for(route: str):
    if route in CASES:
        return CASES[route]
    for prefix, case in GENERIC:
        if route.startswith(prefix):
            return lambda world: case(world, route)
    return None


def test_every_write_endpoint_has_a_case():
    missing = [r for r in write_routes() if case_for(r) is None]
    assert not missing, f"write routes without a mass-assignment case: {missing}"


@pytest.mark.slow  # a fresh world of users, invoices and money per route: minutes
@pytest.mark.parametrize("route", write_routes())
def test_extra_fields_are_ignored_or_rejected(route, world):
    case = case_for(route)
    assert case is not None, route
    case(world)
