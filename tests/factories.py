"""factory-boy factories with status traits.

Rows whose status carries money or locks (listings, investments, withdrawals) are made through
the real services, so a factory can never produce a state the product could not reach: the
ledger stays balanced and every status event is written. Rows that are plain data (users, KYC
profiles, invoices after scoring) are written directly. Use these instead of uploading a real
document (``tests.helpers.priced_invoice``) unless reading the document is the point.

    ListingFactory()                      # an open listing of a priced invoice, approved seller
    ListingFactory(funded=True)           # fully funded, so disbursed to the seller
    InvestmentFactory(amount=Decimal("50"))
    WithdrawalFactory(paid=True)          # requested, then confirmed by the bank webhook
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.enums import KycKind, KycStatus, Role
from accounts.models import KycProfile, User
from accounts.roles import DEFAULT_ROLES, role_groups
from compliance.taxids import validate_tax_id
from invoices.enums import InvoiceStatus, RiskGrade
from invoices.fingerprints import debtor_key
from invoices.models import Invoice
from marketplace.models import Investment, Listing
from marketplace.services import investment_create, listing_create
from paymint.core import clock
from paymint.core.crypto import lookup_hash
from settlements.models import Withdrawal
from settlements.services import bank_event_apply, withdrawal_request
from tests.helpers.documents import LISTING_DAY, MUSTANG_DUE
from tests.helpers.money import bank_event, deposit

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
        #: With an approved KYC (investor) or KYB (seller) profile: may invest or list.
        approved = factory.Trait(
            kyc_profile=factory.RelatedFactory(
                "tests.factories.KycProfileFactory", "user", status=KycStatus.APPROVED,
                decision_reason="Approved"),
        )
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


def approved_user(role: str, email: str, *, kyc: dict, reviewer: User | None = None) -> User:
    """A seller (KYB) or investor (KYC) with a confirmed email address and an approved profile
    of ``kyc`` (``legal_name``, ``country``, ``tax_id``; the tax id validated and stored as
    :func:`accounts.services.kyc_submit` stores it), decided by ``reviewer``: the state that
    registration, the document upload, submission and review reach
    (:func:`tests.helpers.make_user`), written directly - without the document, the status
    events and the decision notification. For tests where onboarding is not the point."""
    tax = validate_tax_id(kyc["tax_id"], kyc["country"])
    now = timezone.now()
    user = UserFactory(role=role, email=email, email_verified_at=now)
    KycProfileFactory(
        user=user, legal_name=kyc["legal_name"], country=kyc["country"], tax_id=tax.compact,
        tax_id_hash=lookup_hash(tax.compact), tax_id_scheme=tax.scheme,
        status=KycStatus.APPROVED, submitted_at=now, decided_at=now, decided_by=reviewer,
        decision_reason="Approved",
    )
    return User.objects.get(pk=user.pk)  # as a request would load it: no stale caches


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
        #: Priced with the figures the real upload, extraction and scoring give the Mustang
        #: e-invoice (``tests.helpers.priced_invoice``): 571.04 EUR from Bei Spiel GmbH to
        #: Theodor Est, issued 2020-11-21, due 2020-12-12 (20 days after the listing day),
        #: grade A (score 83, PD 0.01), advance rate 0.90 (513.94 EUR), discount rate 0.08.
        mustang = factory.Trait(
            status=InvoiceStatus.PRICED, issuer_name="Bei Spiel GmbH",
            issuer_tax_id="DE136695976", debtor_name="Theodor Est", debtor_tax_id="",
            face_value=Decimal("571.04"), issue_date=dt.date(2020, 11, 21),
            due_date=MUSTANG_DUE, extraction_method="einvoice-cii", risk_score=83,
            risk_grade=RiskGrade.A, probability_of_default=Decimal("0.01"),
            advance_rate=Decimal("0.90"), discount_rate=Decimal("0.08"),
        )


def mustang_listing(seller: User, *, advance_rate=None, min_fill_rate=None,
                    **invoice_fields) -> Listing:
    """A listing of an ``InvoiceFactory(mustang=True)`` invoice of ``seller`` made by
    :func:`marketplace.services.listing_create` on :data:`tests.helpers.LISTING_DAY`: the
    listing :func:`tests.helpers.listed_invoice` makes (513.94 EUR advanced for 20 days),
    without uploading and reading the document. ``invoice_fields`` override the invoice's."""
    invoice = InvoiceFactory(mustang=True, seller=seller, **invoice_fields)
    with clock.frozen_at(LISTING_DAY):
        return listing_create(invoice=invoice, seller=seller, advance_rate=advance_rate,
                              min_fill_rate=min_fill_rate)


class ListingFactory(factory.django.DjangoModelFactory):
    """A listing made by :func:`marketplace.services.listing_create` from a priced
    :class:`InvoiceFactory` invoice of an approved seller (each listing has its own debtor, so
    concentration limits do not join them).

    Traits: ``funded`` - one approved investor funds the whole advance amount, which disburses
    the advance to the seller, as :func:`marketplace.services.investment_create` does.
    """

    class Meta:
        model = Listing

    seller = factory.SubFactory(UserFactory, seller=True, approved=True)
    invoice = factory.SubFactory(
        InvoiceFactory, priced=True, seller=factory.SelfAttribute("..seller"),
        debtor_name=factory.Sequence(lambda n: f"Debtor {n} AG"), debtor_tax_id="",
    )
    funded = False
    advance_rate = None
    min_fill_rate = None

    @classmethod
    def _create(cls, model_class, *, seller, invoice, funded, advance_rate, min_fill_rate):
        listing = listing_create(invoice=invoice, seller=seller, advance_rate=advance_rate,
                                 min_fill_rate=min_fill_rate)
        if funded:
            InvestmentFactory(listing=listing, amount=listing.advance_amount)
            listing.refresh_from_db()
        return listing


class InvestmentFactory(factory.django.DjangoModelFactory):
    """An investment made by :func:`marketplace.services.investment_create`: an approved
    investor is credited ``amount`` by a real bank deposit, then funds ``listing`` with it.
    ``amount`` (listing currency) defaults to the listing's minimum ticket."""

    class Meta:
        model = Investment

    listing = factory.SubFactory(ListingFactory)
    investor = factory.SubFactory(UserFactory, investor=True, approved=True)
    amount = factory.LazyAttribute(lambda o: o.listing.min_ticket)

    @classmethod
    def _create(cls, model_class, *, listing, investor, amount):
        amount = Decimal(amount)
        deposit(investor, amount, currency=listing.currency)
        investment, _created = investment_create(investor=investor, listing=listing,
                                                 amount=amount)
        return investment


class WithdrawalFactory(factory.django.DjangoModelFactory):
    """A withdrawal made by :func:`settlements.services.withdrawal_request` from cash credited
    by a real bank deposit. Traits: ``paid`` / ``failed`` - the bank's webhook event for it
    has been applied (the hold paid out, or released back to cash)."""

    class Meta:
        model = Withdrawal

    paid = False
    failed = False
    user = factory.SubFactory(UserFactory, investor=True, approved=True)
    amount = Decimal("100.00")
    currency = "EUR"

    @classmethod
    def _create(cls, model_class, *, user, amount, currency, paid, failed):
        amount = Decimal(amount)
        deposit(user, amount, currency=currency)
        withdrawal, _created = withdrawal_request(user=user, amount=amount, currency=currency)
        if paid or failed:
            event = "withdrawal.paid" if paid else "withdrawal.failed"
            bank_apply = bank_event(f"evt_{withdrawal.reference}_{event}", event,
                                    withdrawal.reference, amount, currency)
            bank_event_apply(payload=bank_apply)
            withdrawal.refresh_from_db()
        return withdrawal
