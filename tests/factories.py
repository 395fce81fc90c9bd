"""factory-boy factories. Users and KYC go through the real services where status matters."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import factory

from accounts.enums import KycKind, KycStatus, Role
from accounts.models import KycProfile, User
from accounts.roles import DEFAULT_ROLES, role_groups
from invoices.enums import InvoiceStatus, RiskGrade
from invoices.fingerprints import debtor_key
from invoices.models import Invoice
from paymint.core import clock

PASSWORD = "correct-horse-battery-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.SelfAttribute("email")
    role = Role.INVESTOR
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()

    @factory.post_generation
    def roles(obj, create, extracted, **kwargs):
        """Back-office roles (``accounts.roles.ROLES``) given to a staff user's groups:
        operations by default, ``roles=[...]`` chooses (``roles=()``: none)."""
        names = DEFAULT_ROLES if extracted is None and obj.is_staff else extracted
        if create and names:
            obj.groups.set(role_groups(names))

    class Params:
        seller = factory.Trait(role=Role.SELLER)
        investor = factory.Trait(role=Role.INVESTOR)
        # Staff are never superusers: what they may do comes from their roles.
        staff = factory.Trait(role=Role.STAFF, is_staff=True, is_superuser=False)


class KycProfileFactory(factory.django.DjangoModelFactory):
    """A KYC/KYB profile in any status; ``approved`` is the usual trait."""

    class Meta:
        model = KycProfile

    user = factory.SubFactory(UserFactory)
    kind = factory.LazyAttribute(lambda o: KycKind.KYB if o.user.role == Role.SELLER
                                 else KycKind.KYC)
    legal_name = factory.Sequence(lambda n: f"Company {n} GmbH")
    country = "DE"
    tax_id = "DE136695976"
    tax_id_scheme = "stdnum.eu.vat"
    status = KycStatus.DRAFT

    class Params:
        pending = factory.Trait(status=KycStatus.PENDING_REVIEW)
        approved = factory.Trait(status=KycStatus.APPROVED, decision_reason="Approved")
        rejected = factory.Trait(status=KycStatus.REJECTED, decision_reason="Blurry document")


class InvoiceFactory(factory.django.DjangoModelFactory):
    """An invoice whose fields are set directly, without a document to read (no OCR): for
    tests of what happens after scoring. ``priced`` is ready to list: grade C, an advance rate
    of 0.80, due 60 days after today. Each invoice has its own document hash and number, so
    the double-financing checks do not match it with another one."""

    class Meta:
        model = Invoice

    seller = factory.SubFactory(UserFactory, seller=True)
    status = InvoiceStatus.EXTRACTED
    document = ""
    document_sha256 = factory.Sequence(lambda n: hashlib.sha256(f"doc-{n}".encode()).hexdigest())
    document_content_type = "application/pdf"
    document_size = 1024
    invoice_number = factory.Sequence(lambda n: f"F-{n:05d}")
    issuer_name = "Factory Seller GmbH"
    debtor_name = "Theodor Est"
    debtor_tax_id = "DE123456789"
    debtor_key = factory.LazyAttribute(
        lambda o: debtor_key(debtor_tax_id=o.debtor_tax_id, debtor_name=o.debtor_name))
    currency = "EUR"
    face_value = Decimal("125.00")
    amount_due = factory.SelfAttribute("face_value")
    issue_date = factory.LazyFunction(lambda: clock.today())
    due_date = factory.LazyFunction(lambda: clock.today() + dt.timedelta(days=60))

    class Params:
        priced = factory.Trait(
            status=InvoiceStatus.PRICED, risk_score=55, risk_grade=RiskGrade.C,
            probability_of_default=Decimal("0.05"), advance_rate=Decimal("0.80"),
            discount_rate=Decimal("0.13"),
        )
