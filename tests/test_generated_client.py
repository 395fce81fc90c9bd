"""The mobile journey, driven only by a client generated from the API's own schema.

``openapi-python-client`` (a dev dependency) generates a typed Python client from
``/api/v1/schema/`` of a live server into a temporary folder (never committed); the test then
drives the whole lifecycle through that client against the live server (pytest-django's
``live_server``): a seller registers, confirms the email with the token from the sent mail,
enrols two-factor and signs in with the code, sends KYB with a document (ops approve through
the service, as the admin does), uploads, corrects, submits and lists an invoice and cancels a
second one; an investor gets a quote, funds and reads the portfolio; the bank's signed webhook
repays and both parties read the settlement. Every answer must parse into the generated
models: a wrong schema fails here. Only the bank's webhook (not a mobile call) is sent raw.
"""

from __future__ import annotations

import datetime as dt
import importlib
import io
import json
import os
import re
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import KycProfile
from accounts.services import kyc_approve
from paymint.core import clock
from paymint.core.models import OutboundMessage
from settlements.webhooks import sign
from tests.helpers import (
    LISTING_DAY,
    MUSTANG_DUE,
    STRONG_PASSWORD,
    TINY_PNG,
    bank_event,
    deposit,
    mustang_bytes,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PACKAGE = "paymint_client"


def generate_client(base_url: str, folder: Path):
    """Fetch the schema from the live server and generate the client package into
    ``folder`` (``openapi-python-client generate``); return the imported package."""
    schema = httpx.get(f"{base_url}/api/v1/schema/", params={"format": "json"}, timeout=60)
    assert schema.status_code == 200
    (folder / "schema.json").write_bytes(schema.content)
    bin_dir = str(Path(sys.executable).parent)
    result = subprocess.run(
        [os.path.join(bin_dir, "openapi-python-client"), "generate",
         "--path", str(folder / "schema.json"), "--output-path", str(folder / PACKAGE),
         "--meta", "none"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout, result.stdout  # nothing of the schema was skipped
    sys.path.insert(0, str(folder))
    return importlib.import_module(PACKAGE)


class Api:
    """The generated operations by operation id, and its models by component name."""

    def __init__(self, package, base_url: str):
        self.package = package
        self.base_url = base_url
        self.schema = json.loads((Path(package.__file__).parent.parent / "schema.json")
                                 .read_text())
        self.tags = {op["operationId"]: op["tags"][0]
                     for ops in self.schema["paths"].values() for op in ops.values()}

    def op(self, operation_id: str):
        tag = self.tags[operation_id].replace("-", "_")
        return importlib.import_module(f"{PACKAGE}.api.{tag}.{operation_id}")

    def model(self, name: str):
        return getattr(importlib.import_module(f"{PACKAGE}.models"), name)

    def anonymous(self):
        return self.package.Client(base_url=self.base_url, raise_on_unexpected_status=True,
                                   timeout=httpx.Timeout(60))

    def signed_in(self, token: str):
        return self.package.AuthenticatedClient(base_url=self.base_url, token=token,
                                                raise_on_unexpected_status=True,
                                                timeout=httpx.Timeout(60))

    def call(self, operation_id: str, client, *, status: int = 200, **kwargs):
        """Call an operation; the answer must have ``status`` and parse into a model."""
        response = self.op(operation_id).sync_detailed(client=client, **kwargs)
        assert response.status_code == status, (operation_id, response.content[:500])
        assert response.parsed is not None or status == 204, (operation_id, response.content)
        return response.parsed

    def body(self, name: str, **values):
        return self.model(name).from_dict(values)

    def file(self, payload: bytes, name: str, mime: str):
        return self.package.types.File(payload=io.BytesIO(payload), file_name=name,
                                       mime_type=mime)


def current_code(user_email: str, offset: int = 0) -> str:
    device = TOTPDevice.objects.get(user__email=user_email, confirmed__in=[True, False])
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + offset)
    return f"{value:06d}"


def wait_for(api: Api, client, invoice_id: str, *, leaving: str, timeout: float = 60.0):
    """Read the invoice until its status is no longer ``leaving`` (extraction and scoring run
    in tasks after commit)."""
    deadline = time.monotonic() + timeout
    while True:
        invoice = api.call("invoices_retrieve", client, invoice_id=invoice_id)
        if invoice.status != leaving or time.monotonic() > deadline:
            return invoice
        time.sleep(0.2)


def test_the_whole_lifecycle_with_the_generated_client(live_server, tmp_path, staff,
                                                        make_investor):
    package = generate_client(live_server.url, tmp_path)
    api = Api(package, live_server.url)
    email = "mobile-seller@example.com"

    with clock.frozen_at(LISTING_DAY, all_threads=True):
        # 1. Register, confirm the email with the token from the sent mail, enrol two-factor.
        anonymous = api.anonymous()
        user = api.call("auth_register_create", anonymous, status=201,
                        body=api.body("UserRegisterApiInputRequest", email=email,
                                      password=STRONG_PASSWORD, role="SELLER"))
        assert user.email_verified is False
        mail = OutboundMessage.objects.filter(recipient=email).latest("id")
        token = re.search(r"/verify-email/([^/\s]+)/", mail.body).group(1)
        api.call("auth_email_verify_create", anonymous,
                 body=api.body("EmailVerifyApiInputRequest", token=token))
        pair = api.call("auth_token_create", anonymous,
                        body=api.body("TokenObtainApiInputRequest", email=email,
                                      password=STRONG_PASSWORD))
        seller = api.signed_in(pair.access)
        enrolment = api.call("me_two_factor_create", seller, status=201)
        assert enrolment.otpauth_uri.startswith("otpauth://totp/")
        api.call("me_two_factor_confirm_create", seller,
                 body=api.body("TwoFactorConfirmApiInputRequest", code=current_code(email)))

        # 2. Sign in again: the password alone gives no tokens, the code does.
        refused = api.call("auth_token_create", anonymous, status=401,
                           body=api.body("TokenObtainApiInputRequest", email=email,
                                         password=STRONG_PASSWORD))
        assert refused.code == "OTP_REQUIRED" and refused.mfa_token
        pair = api.call("auth_token_otp_create", anonymous,
                        body=api.body("TokenOtpApiInputRequest", mfa_token=refused.mfa_token,
                                      code=current_code(email, 1)))
        seller = api.signed_in(pair.access)

        # 3. KYB with its document; ops approve through the service, as the admin does.
        document = api.model("KycDocumentCollectionApiUploadInputRequest")(
            kind=api.model("KindEnum")("COMPANY_REGISTRATION"),
            file=api.file(TINY_PNG, "register.png", "image/png"))
        api.call("me_kyc_documents_create", seller, status=201, body=document)
        api.call("me_kyc_create", seller, status=201,
                 body=api.body("KycSubmitApiInputRequest", legal_name="Bei Spiel GmbH",
                               country="DE", tax_id="DE136695976"))
        kyc_approve(profile=KycProfile.objects.get(user__email=email), reviewer=staff)

        # 4. Upload, correct, submit and list an invoice; cancel a second one.
        def upload(variant: str) -> str:
            body = api.model("InvoiceCollectionApiUploadInputRequest")(
                document=api.file(mustang_bytes(variant), "invoice.pdf", "application/pdf"))
            created = api.call("invoices_create", seller, status=201, body=body)
            return str(created.id)

        invoice_id = upload("mobile-1")
        invoice = wait_for(api, seller, invoice_id, leaving="UPLOADED")
        assert invoice.status == "EXTRACTED", invoice.status
        api.call("invoices_partial_update", seller, invoice_id=invoice_id,
                 body=api.body("InvoiceDetailApiUpdateInputRequest",
                               invoice_number="MOBILE-1"))
        api.call("invoices_submit_create", seller, invoice_id=invoice_id)
        invoice = wait_for(api, seller, invoice_id, leaving="SUBMITTED")
        assert invoice.status == "PRICED", invoice.status
        listed = api.call("invoices_list_create", seller, invoice_id=invoice_id,
                          body=api.body("InvoiceListForFundingApiInputRequest"))
        assert listed.status == "LISTED"
        listing_id = str(listed.listing.id)

        second_id = upload("mobile-2")
        wait_for(api, seller, second_id, leaving="UPLOADED")
        api.call("invoices_partial_update", seller, invoice_id=second_id,
                 body=api.body("InvoiceDetailApiUpdateInputRequest",
                               invoice_number="MOBILE-2"))
        api.call("invoices_submit_create", seller, invoice_id=second_id)
        assert wait_for(api, seller, second_id, leaving="SUBMITTED").status == "PRICED"
        cancelled = api.call("invoices_cancel_create", seller, invoice_id=second_id,
                             idempotency_key="mobile-cancel-1")
        assert cancelled.status == "CANCELLED"

        # 5. An investor gets a quote, funds the whole advance and reads the portfolio.
        person = make_investor()
        advance = Decimal(str(listed.listing.advance_amount))
        deposit(person, advance)
        investor = api.signed_in(str(RefreshToken.for_user(person).access_token))
        quote = api.call("marketplace_quote_retrieve", investor, listing_id=listing_id,
                         amount=str(advance))
        assert quote.days == (MUSTANG_DUE - LISTING_DAY).days
        receipt = api.call("marketplace_investments_create", investor, status=201,
                           listing_id=listing_id, idempotency_key="mobile-fund-1",
                           body=api.body("InvestmentCreateApiInputRequest",
                                         amount=str(advance)))
        assert Decimal(str(receipt.expected_return)) == Decimal(str(quote.expected_return))
        portfolio = api.call("portfolio_retrieve", investor)
        assert [c.currency for c in portfolio.currencies] == ["EUR"]
        stats = api.call("marketplace_stats_retrieve", investor)
        assert stats.open_listings == 0

    # 6. The bank's webhook repays on the due date; both parties read the settlement.
    with clock.frozen_at(MUSTANG_DUE, all_threads=True):
        invoice = api.call("invoices_retrieve", seller, invoice_id=invoice_id)
        body = json.dumps(bank_event("evt_mobile_repay", "repayment.received",
                                     invoice.repayment_reference,
                                     str(invoice.face_value))).encode()
        answer = httpx.post(
            f"{live_server.url}/api/v1/webhooks/bank", content=body, timeout=60,
            headers={"Content-Type": "application/json",
                     "X-PayMint-Signature": sign(body, settings.BANK_WEBHOOK_SECRET,
                                                 int(time.time()))})
        assert answer.status_code == 200, answer.text
        seller_view = api.call("settlements_list", seller).results
        investor_view = api.call("settlements_list", investor).results
    assert [s.role for s in seller_view] == ["SELLER"]
    assert [s.role for s in investor_view] == ["INVESTOR"]
    assert Decimal(str(investor_view[0].investor_share)) == Decimal(
        str(receipt.expected_return))
    detail = api.call("settlements_retrieve", investor, settlement_id=str(investor_view[0].id))
    assert detail.status == "COMPLETED"
    assert dt.date.fromisoformat(str(quote.expected_repayment_date)) == MUSTANG_DUE
