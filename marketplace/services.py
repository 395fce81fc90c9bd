"""Writes for the marketplace: listing an invoice, funding it, disbursing the advance.

Lock order for every money-moving operation on an invoice: the one of the ledger
(:mod:`settlements.ledger.posting`), whose first two steps are :mod:`.lock_objects` (``Listing``
row -> ``Invoice`` row), then the accounts the operation debits, in one batch. A funding is the
ledger's one exception: the investor's cash first
(:func:`settlements.ledger.funding_accounts_lock`, before the investor's concentration check),
the listing last, with its conditional update just before the commit, then - when it fills the
listing - the invoice and the escrow (see :func:`investment_create`). Money moves only
through the ledger's narrow API: :func:`~settlements.ledger.funding_post`,
:func:`~settlements.ledger.disbursement_post`, :func:`~settlements.ledger.refund_post`.

Listing an invoice: ``Invoice`` row -> advisory locks on the seller and the debtor
(:func:`paymint.core.db.advisory_xact_lock`, one call) -> the concentration check.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.enums import Role
from accounts.error_codes import AccountsError
from accounts.selectors import kyc_approved_and_on_hold, kyc_is_approved
from compliance.public import audit_rows_batched, invoice_has_sanctions_hit, require_no_hold
from invoices.enums import CANCELLABLE_STATUSES, InvoiceStatus, statuses_after
from invoices.error_codes import InvoicesError
from invoices.models import Invoice
from invoices.pricing import (
    accrual_days,
    advance_amount,
    investment_discount_fee,
    investment_quote,
    listing_expiry,
    platform_fee,
)
from invoices.selectors import invoice_duplicates
from invoices.services import invoice_transition, raise_double_financing_alerts
from paymint.core import clock
from paymint.core.db import update_columns
from paymint.core.errors import ApplicationError, Conflict, PermissionDenied, ValidationFailed
from paymint.core.events import EventName, event_emit
from paymint.core.idempotency import idempotent_replay
from paymint.core.money import parse_money_amount, quantize_money
from paymint.core.queue import enqueue_on_commit
from settlements.ledger import (
    InsufficientFunds,
    disbursement_post,
    exact_sum,
    funding_accounts,
    funding_accounts_lock,
    funding_cash_balance_sql,
    funding_post,
    investment_refunds_post,
    invoice_escrow_open,
    refund_post,
)

from .concentration import (
    ConcentrationLimit,
    check_investor_concentration,
    check_listing_concentration,
    investor_debtor_exposure_sql,
    lock_listing_concentration,
)
from .enums import InvestmentStatus
from .error_codes import MarketplaceError
from .lock_objects import listing_and_invoice_lock, listing_lock
from .models import Investment, Listing
from .selectors import investor_audience
from .signals import advance_disbursed


def listing_create(
    *, invoice: Invoice, seller, advance_rate: Decimal | None = None,
    min_fill_rate: Decimal | None = None, recourse: bool = True,
) -> Listing:
    """List a priced invoice on the marketplace for an advance of ``advance_rate`` x face value.

    ``advance_rate`` defaults to the grade's maximum and may not exceed it. The listing's terms
    (rates, fee, advance amount, minimum ticket, expiry) are fixed here. ``min_fill_rate``
    (fraction of the advance amount, optional) lets a listing that is not fully funded by its
    expiry be disbursed partially instead of cancelled. ``recourse`` (default) makes the seller
    repay investors if the debtor defaults; non-recourse invoices are written off instead.

    Locks: the invoice row, then - in one :func:`~paymint.core.db.advisory_xact_lock` call -
    ``paymint:listing:seller:<seller id>`` and ``paymint:listing:debtor:<debtor key>``, held to
    commit. Every listing of the seller or of the debtor takes the same locks before its
    concentration check, so concurrent listings are checked one after the other, each seeing
    the listings committed before it (READ COMMITTED) and never exceeding
    ``MAX_DEBTOR_EXPOSURE`` / ``MAX_SELLER_EXPOSURE`` together.

    Raises:
        PermissionDenied: not the invoice's seller, or ``KYB_NOT_APPROVED``.
        ValidationFailed: ``ADVANCE_RATE_ABOVE_CAP`` or a non-positive rate.
        ConcentrationLimit: ``DEBTOR_CONCENTRATION_LIMIT``, ``SELLER_CONCENTRATION_LIMIT``.
        InvalidTransition: the invoice is not ``PRICED``.
        ApplicationError: ``DUE_DATE_NOT_IN_FUTURE`` if the due date has passed since scoring.
    """
    if invoice.seller_id != seller.pk:
        raise PermissionDenied("Not your invoice.", code=InvoicesError.NOT_INVOICE_OWNER)
    if not kyc_is_approved(user=seller):
        raise PermissionDenied("Your company's KYB must be approved first.",
                               code=AccountsError.KYB_NOT_APPROVED)
    require_no_hold(seller)
    if invoice.disputed_at is not None:
        raise Conflict("This invoice is disputed and cannot be listed.",
                       code=MarketplaceError.INVOICE_DISPUTED)
    if invoice_has_sanctions_hit(invoice):
        raise PermissionDenied("This invoice's debtor matched a sanctions list and is under "
                               "compliance review.", code=MarketplaceError.DEBTOR_UNDER_REVIEW)
    config = settings.PAYMINT
    duplicates = invoice_duplicates(invoice=invoice)
    if any(duplicates.values()):
        # Caught after submission (e.g. two sellers submitting at once): blocks the listing.
        raise_double_financing_alerts(invoice=invoice, duplicates=duplicates)
        raise Conflict("This invoice matches another invoice submitted for financing; "
                       "compliance will review it.",
                       code=MarketplaceError.LISTING_BLOCKED_DUPLICATE)
    with transaction.atomic(durable=True):
        locked = Invoice.objects.select_for_update(no_key=True).get(pk=invoice.pk)
        if locked.status != InvoiceStatus.PRICED:
            invoice_transition(invoice=locked, to_status=InvoiceStatus.LISTED)  # raises
        cap = locked.advance_rate
        rate = cap if advance_rate is None else Decimal(advance_rate)
        if rate <= 0 or rate > cap:
            raise ValidationFailed(
                f"The advance rate must be above 0 and at most {cap:.2%} for grade "
                f"{locked.risk_grade}.",
                code=MarketplaceError.ADVANCE_RATE_ABOVE_CAP,
                fields={"advance_rate": ["Above the cap."]},
            )
        if min_fill_rate is not None and not (0 < Decimal(min_fill_rate) <= 1):
            raise ValidationFailed("The minimum fill must be a fraction in (0, 1].",
                                   code=MarketplaceError.INVALID_MIN_FILL_RATE,
                                   fields={"min_fill_rate": ["Between 0 and 1."]})
        today = clock.today()
        if (locked.due_date - today).days < config["MIN_TENOR_DAYS"]:
            raise ApplicationError("The due date is too close to list this invoice.",
                                   code=InvoicesError.DUE_DATE_NOT_IN_FUTURE, http_status=422)
        advance = advance_amount(locked.face_value, rate, locked.currency)
        lock_listing_concentration(invoice=locked)
        check_listing_concentration(invoice=locked, advance=advance)
        fee = platform_fee(advance, config["PLATFORM_FEE_RATE"], locked.currency)
        now = clock.now()
        listing = Listing.objects.create(
            invoice=locked,
            currency=locked.currency,
            face_value=locked.face_value,
            advance_rate=rate,
            advance_amount=advance,
            discount_rate=locked.discount_rate,
            platform_fee_rate=config["PLATFORM_FEE_RATE"],
            platform_fee=fee,
            min_ticket=min(quantize_money(config["MIN_TICKET"], locked.currency), advance),
            min_fill_rate=min_fill_rate,
            late_rate=locked.discount_rate + config["LATE_RATE_MARGIN"],
            late_fee_rate=config["LATE_FEE_RATE"],
            recourse=recourse,
            due_date=locked.due_date,
            listed_at=now,
            expires_at=listing_expiry(listed_at=now, due_date=locked.due_date,
                                      listing_days=config["LISTING_DAYS"],
                                      min_tenor_days=config["MIN_TENOR_DAYS"]),
        )
        invoice_transition(invoice=locked, to_status=InvoiceStatus.LISTED, actor=seller,
                           reason=f"listed for {advance} {locked.currency}")
        invoice_escrow_open(invoice=locked, currency=locked.currency)
        # Automatic investors (auto-invest rules, the liquidity pool) fund it through
        # investment_create, after this commits (by task name: pools sits above).
        enqueue_on_commit("pools.tasks.listing_opened_task", listing.pk)
    return listing


def _fingerprint(listing_id, amount: Decimal) -> str:
    return hashlib.sha256(f"{listing_id}|{amount.normalize()}".encode()).hexdigest()


_LISTING = Listing._meta.db_table
_INVOICE = Invoice._meta.db_table

#: A funding's listing update, the transaction's last statement and its only lock on the
#: listing: the counters move only if the listing is still open, unexpired, not disputed, at
#: the terms the quote used, and the amount fits what is left and the minimum ticket
#: (PostgreSQL re-evaluates the condition on the row's latest version when it had to wait for
#: another funding's commit). Returns whether the funding filled the listing. Parameters:
#: amount, updated at, amount, funded at, id, now (expiry), amount x3, discount rate, due date.
_LISTING_FUND_SQL = (
    f'UPDATE "{_LISTING}" SET "funded_amount" = "funded_amount" + %s, '  # noqa: S608  # nosec B608 - names from code, values bound
    f'"investor_count" = "investor_count" + 1, "updated_at" = %s, '
    f'"funded_at" = CASE WHEN "funded_amount" + %s = "advance_amount" THEN %s '
    f'ELSE "funded_at" END '
    f'WHERE "id" = %s AND "is_open" AND "expires_at" > %s '
    f'AND "funded_amount" + %s <= "advance_amount" '
    f'AND (%s >= "min_ticket" OR "funded_amount" + %s = "advance_amount") '
    f'AND "discount_rate" = %s AND "due_date" = %s '
    f'AND NOT EXISTS (SELECT 1 FROM "{_INVOICE}" WHERE "{_INVOICE}"."id" = '
    f'"{_LISTING}"."invoice_id" AND "{_INVOICE}"."disputed_at" IS NOT NULL) '
    f'RETURNING "funded_amount" = "advance_amount"'
)

#: A listing whose invoice shows one of these statuses, however old the read, is closed for
#: good (a listed invoice never comes back to ``LISTED`` from them).
_CLOSED_FOR_GOOD = statuses_after(InvoiceStatus.LISTED)


def _funding_refusal(*, amount: Decimal, now, disputed: bool, is_open: bool, expires_at,
                     remaining: Decimal, min_ticket: Decimal | None,
                     currency: str) -> ApplicationError | None:
    """The error that refuses funding ``amount`` of a listing in the given state, in the
    order the investor is told (disputed, not open, expired, more than what is left, below
    the minimum ticket), or None. ``min_ticket`` None: not checked."""
    if disputed:
        return Conflict("This invoice is disputed and cannot be funded.",
                        code=MarketplaceError.INVOICE_DISPUTED)
    if not is_open:
        return Conflict("This listing is not open for funding.",
                        code=MarketplaceError.LISTING_NOT_OPEN)
    if now >= expires_at:
        return Conflict("This listing has expired.", code=MarketplaceError.LISTING_EXPIRED)
    if amount > remaining:
        return Conflict(f"Only {remaining} {currency} is left to fund.",
                        code=MarketplaceError.AMOUNT_EXCEEDS_REMAINING,
                        fields={"amount": [f"At most {remaining}."]})
    if min_ticket is not None and amount < min_ticket and amount != remaining:
        return ValidationFailed(f"The minimum ticket is {min_ticket} {currency}.",
                                code=MarketplaceError.BELOW_MIN_TICKET,
                                fields={"amount": ["Below the minimum ticket."]})
    return None


def _committed_state(listing: Listing) -> dict:
    """The listing's funding state as committed now (a plain read): ``is_open``,
    ``expires_at``, ``funded_amount``, ``advance_amount``, ``min_ticket`` and the invoice's
    ``disputed_at``.

    Raises:
        ValueError: the caller's instance has other terms than the stored listing (never after
            creation: the instance was modified).
    """
    state = (Listing.objects.filter(pk=listing.pk)
             .values("is_open", "expires_at", "funded_amount", "advance_amount", "min_ticket",
                     "discount_rate", "due_date", "invoice__disputed_at").get())
    if (state["discount_rate"], state["due_date"]) != (listing.discount_rate, listing.due_date):
        raise ValueError(f"Listing {listing.pk}: its terms differ from the caller's instance.")
    return state


def _state_refusal(state: dict, *, listing: Listing, amount: Decimal,
                   now) -> ApplicationError | None:
    """:func:`_funding_refusal` on a state read by :func:`_committed_state`."""
    return _funding_refusal(
        amount=amount, now=now, disputed=state["invoice__disputed_at"] is not None,
        is_open=state["is_open"], expires_at=state["expires_at"],
        remaining=state["advance_amount"] - state["funded_amount"],
        min_ticket=state["min_ticket"], currency=listing.currency)


def _listing_fund(*, listing: Listing, amount: Decimal, now) -> bool:
    """Add a funding of ``amount`` to the listing's counters if the listing's state at ``now``
    (the business clock: expiry, ``funded_at``) allows it (:func:`_funding_refusal`); whether
    it filled the advance amount. One conditional
    ``UPDATE`` on PostgreSQL (:data:`_LISTING_FUND_SQL`), which takes the listing's row lock;
    when it refuses, the committed state says why.

    Raises:
        Conflict: ``INVOICE_DISPUTED``, ``LISTING_NOT_OPEN``, ``LISTING_EXPIRED``,
            ``AMOUNT_EXCEEDS_REMAINING``.
        ValidationFailed: ``BELOW_MIN_TICKET``.
    """
    if connection.vendor != "postgresql":
        # SQLite (the demo): the transaction's first write serialized it against every other
        # writer, so the state read now holds to the commit; amounts compared as Decimals.
        state = _committed_state(listing)
        refusal = _state_refusal(state, listing=listing, amount=amount, now=now)
        if refusal is not None:
            raise refusal
        funded = state["funded_amount"] + amount
        fills = funded == state["advance_amount"]
        Listing.objects.filter(pk=listing.pk).update(
            funded_amount=funded, investor_count=F("investor_count") + 1,
            updated_at=timezone.now(),
            **({"funded_at": now} if fills else {}))
        return fills
    params = [amount, timezone.now(), amount, now, listing.pk, now, amount, amount, amount,
              listing.discount_rate, listing.due_date]
    for _ in range(3):
        with connection.cursor() as cursor:
            cursor.execute(_LISTING_FUND_SQL, params)
            row = cursor.fetchone()
        if row is not None:
            return row[0]
        refusal = _state_refusal(_committed_state(listing), listing=listing, amount=amount,
                                 now=now)
        if refusal is not None:
            raise refusal
        # Refused by the update, allowed by the state read after it: only a ticket below the
        # minimum that the fundings committed in between made exactly the remainder. Again.
    raise Conflict("This listing changed while you were funding it; try again.",
                   code=MarketplaceError.AMOUNT_EXCEEDS_REMAINING)


#: ``investment_create(via=...)``: the investor's auto-invest rule made the investment (the
#: ``investment.confirmed`` event says so; there is no second event for it).
VIA_AUTO_INVEST = "auto_invest"


def investment_create(
    *, investor, listing: Listing, amount, idempotency_key: str = "", via: str = ""
) -> tuple[Investment, bool]:
    """Fund ``amount`` (listing currency) of a listing from the investor's cash.

    One durable transaction: lock the investor's cash, check the investor's concentration
    and balance, post ``investor cash -> invoice escrow``, record the investment with its
    accepted quote, and - last - add it to the listing's counters with one conditional
    ``UPDATE`` that checks the amount against what is left and the minimum ticket and that the
    listing is still open (:func:`_listing_fund`); when this fills the advance amount, the
    invoice moves to ``FUNDED`` and the advance is disbursed in the same transaction. What does
    not depend on the listing's changing state (the investor's checks, a replayed key, the
    invoice's fixed fields, the quote at the listing's fixed terms) is read before the
    transaction. AML monitoring of the entry runs after commit.

    Locks, in this order: the investor's cash account (it serializes the investor's fundings of
    any listing, so the exposure read next includes the investor's investments committed
    before), then the listing row, taken by its update just before the commit - so fundings of
    one listing queue only for that update and the commit (issue #19). A funding that fills the
    listing then locks the invoice row and the escrow (its disbursement debits it). No
    transaction holding a listing, an invoice or an escrow waits for an investor's cash lock
    (refunds and distributions only credit investors), so the order cannot deadlock; see
    :mod:`settlements.ledger.posting` and ``tests/settlements/test_concurrency_lock_order.py``.

    Statements: 9 for a funding that does not fill the listing (no idempotency key, accounts
    existing, the listing loaded with its invoice), pinned by
    ``tests/marketplace/test_funding_queries.py``.

    Idempotent per investor and ``idempotency_key``: a replay returns the first investment
    (``created`` is False); the same key with another listing or amount is refused.

    Tells the investor once (``investment.confirmed``, with the amount and the expected return;
    ``via`` - e.g. :data:`VIA_AUTO_INVEST` - says what made the investment when it was not the
    investor's own click).

    Error order: the listing's state as the caller read it (disputed, closed for good, expired,
    more than what is left), then the listing's state as committed (the same checks and the
    minimum ticket), then the investor's concentration and cash. The listing's committed state
    is read at its update, or - when the investor's concentration or cash refuses first - read
    then, so that a ticket below the minimum is refused as such whatever the investor's cash.

    Returns:
        ``(investment, created)``.

    Raises:
        PermissionDenied: ``NOT_AN_INVESTOR``, ``KYC_NOT_APPROVED``.
        ValidationFailed: ``INVALID_AMOUNT``, ``BELOW_MIN_TICKET``.
        Conflict: ``INVOICE_DISPUTED``, ``LISTING_NOT_OPEN``, ``LISTING_EXPIRED``,
            ``AMOUNT_EXCEEDS_REMAINING``, ``INSUFFICIENT_FUNDS``, ``IDEMPOTENCY_KEY_REUSED``
            (422).
        ConcentrationLimit: ``INVESTOR_CONCENTRATION_LIMIT``.
    """
    if investor.role != Role.INVESTOR:
        raise PermissionDenied("Only investors can fund invoices.",
                               code=MarketplaceError.NOT_AN_INVESTOR)
    approved, on_hold = kyc_approved_and_on_hold(user=investor)  # one query for both
    if not approved:
        raise PermissionDenied("Your KYC must be approved before you invest.",
                               code=AccountsError.KYC_NOT_APPROVED)
    require_no_hold(investor, on_hold=on_hold)
    amount = parse_money_amount(amount, listing.currency)
    fingerprint = _fingerprint(listing.public_id, amount)
    key = (idempotency_key or "").strip()[:255]
    if key:
        # A replay is answered from the first investment without taking any lock (a
        # concurrent first request is caught again under the cash lock and by the unique key).
        previous = Investment.objects.filter(investor=investor, idempotency_key=key).first()
        if previous is not None:
            return idempotent_replay(previous, fingerprint=fingerprint), False
    # Before the transaction: the listing's terms are fixed when it is created, the invoice's
    # number and debtor when it is submitted. The invoice as the caller loaded it with the
    # listing (the API's selectors join it), or read here.
    invoice = (listing.invoice if Listing.invoice.is_cached(listing)
               else Invoice.objects.get(pk=listing.invoice_id))
    now = clock.now()
    # Refusals that hold however old the caller's read: these states never come back.
    refusal = _funding_refusal(
        amount=amount, now=now, disputed=invoice.disputed_at is not None,
        is_open=invoice.status not in _CLOSED_FOR_GOOD, expires_at=listing.expires_at,
        remaining=listing.advance_amount - listing.funded_amount, min_ticket=None,
        currency=listing.currency)
    if refusal is not None:
        raise refusal
    today = clock.today()
    quote = investment_quote(principal=amount, currency=listing.currency,
                             discount_rate=listing.discount_rate, start=today,
                             due_date=listing.due_date)
    accounts = funding_accounts(investor=investor, invoice=invoice, currency=listing.currency)
    try:
        with transaction.atomic(durable=True):
            # The transaction's first lock: the investor's cash (missing accounts are created
            # here, rolled back with a refused funding).
            funding_accounts_lock(accounts)
            if key:
                previous = Investment.objects.filter(investor=investor,
                                                     idempotency_key=key).first()
                if previous is not None:
                    return idempotent_replay(previous, fingerprint=fingerprint), False
            # After that lock, one statement reads the investor's exposure to the debtor and
            # the cash balance (a statement of its own: it sees every funding committed by the
            # lock's previous holder); the checks and the posting use them.
            exposure_sql, exposure_params = investor_debtor_exposure_sql(
                investor=investor, invoice=invoice, currency=listing.currency)
            balance_sql, balance_params = funding_cash_balance_sql(accounts)
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {exposure_sql}, {balance_sql}",  # noqa: S608
                               exposure_params + balance_params)
                exposure, cash_balance = cursor.fetchone()
            try:
                check_investor_concentration(
                    investor=investor, invoice=invoice, currency=listing.currency,
                    amount=amount, current=Decimal(0) if exposure is None else exposure)
                with audit_rows_batched():  # the entry's and the investment's: one INSERT
                    entry = funding_post(accounts=accounts, amount=amount, idempotency_key=key,
                                         effective_date=today,
                                         cash_balance=exact_sum(cash_balance))
                    investment = Investment.objects.create(
                        listing=listing,
                        investor=investor,
                        amount=amount,
                        currency=listing.currency,
                        discount_rate=quote.discount_rate,
                        expected_days=quote.days,
                        expected_discount_fee=quote.expected_discount_fee,
                        expected_return=quote.expected_return,
                        idempotency_key=key,
                        request_fingerprint=fingerprint,
                        funding_entry=entry,
                    )
            except (ConcentrationLimit, InsufficientFunds) as investor_refusal:
                # The listing is explained first (a ticket below the minimum, a listing closed
                # meanwhile): its committed state, read only on this refusing path.
                raise (_state_refusal(_committed_state(listing), listing=listing,
                                      amount=amount, now=now)
                       or investor_refusal) from None
            audience = investor_audience([investment], listing=listing)
            audience[investor.pk]["expected_return"] = str(
                quantize_money(investment.expected_return, listing.currency))
            if via:
                audience[investor.pk]["via"] = via
            event_emit(
                name=EventName.INVESTMENT_CONFIRMED,
                key=f"investment.confirmed:{investment.public_id}",
                recipients=audience,
                data={"invoice_number": invoice.invoice_number,
                      "debtor_name": invoice.debtor_name},
            )
            # Last: the listing (its row lock is held from here to the commit).
            if _listing_fund(listing=listing, amount=amount, now=now):
                invoice_transition(
                    invoice=invoice, to_status=InvoiceStatus.FUNDED, actor=investor,
                    reason="advance amount fully funded",
                    audience=investor_audience(
                        Investment.objects.filter(listing=listing).order_by("id"),
                        listing=listing),
                )
                _disburse(listing_id=listing.pk)
            return investment, True
    except IntegrityError:
        # A concurrent request with the same idempotency key (on another listing) won the race.
        if key:
            previous = Investment.objects.filter(investor=investor, idempotency_key=key).first()
            if previous is not None:
                return idempotent_replay(previous, fingerprint=fingerprint), False
        raise


def _disburse(*, listing_id: int) -> None:
    """Pay the advance: invoice escrow -> seller cash (advance - platform fee) + platform fee.

    Fixes each investment's discount fee for the actual days from today (disbursement) to the
    due date, ACT/365F: :func:`invoices.pricing.investment_discount_fee` of its own amount, the
    rule its quote used (the invoice's discount fee is their sum), so that an investor is paid
    exactly the quoted return when the debtor pays in full on time. Runs inside the funding
    (or expiry) transaction, under its listing and invoice locks. The escrow is the only
    account it debits, so the only one it locks: the expiry's one batch holds it already; a
    filling funding locks it here (its second batch, which never waits: every debit of an
    escrow runs under its listing's lock, which the funding holds). The seller's cash and the
    fee revenue are credited, which locks nothing.
    """
    listing = Listing.objects.select_related("invoice", "invoice__seller").get(pk=listing_id)
    invoice = listing.invoice
    today = clock.today()
    currency = listing.currency
    if listing.funded_amount != listing.advance_amount:
        # Partial disbursement (minimum fill reached at expiry): the fee is on what is paid.
        listing.platform_fee = platform_fee(listing.funded_amount, listing.platform_fee_rate,
                                            currency)
        Listing.objects.filter(pk=listing.pk).update(platform_fee=listing.platform_fee)
    disbursement_post(invoice=invoice, currency=currency, amount=listing.funded_amount,
                      platform_fee=listing.platform_fee, effective_date=today)
    investments = list(listing.investments.order_by("id"))
    days = accrual_days(today, listing.due_date)
    for inv in investments:
        inv.discount_fee = investment_discount_fee(inv.amount, listing.discount_rate, days,
                                                   currency)
    update_columns(Investment, pks=[inv.pk for inv in investments],
                   columns={"discount_fee": [inv.discount_fee for inv in investments]})
    Listing.objects.filter(pk=listing.pk).update(disbursed_on=today)
    net = listing.funded_amount - listing.platform_fee
    invoice_transition(invoice=invoice, to_status=InvoiceStatus.DISBURSED,
                       reason=f"advance {net} {currency} paid to seller, fee "
                       f"{listing.platform_fee}",
                       audience={invoice.seller_id: {"amount": str(net)}})
    # The on-chain mirror (settlements.stellar): the invoice token and each investor's share,
    # outbox rows in this transaction.
    advance_disbursed.send(sender=Listing, invoice=invoice, investments=investments)


def listing_expire(*, listing_id: int) -> Listing:
    """Close a listing whose expiry has passed without full funding (the expiry task's body).

    If the seller allowed a minimum fill and at least ``min_fill_rate`` x advance amount is
    funded, the funded amount is disbursed (fee on the funded amount). Otherwise the listing is
    cancelled and every investor is refunded in full (invoice escrow -> investor cash, one
    entry). Safe to run twice: only an expired ``LISTED`` listing is processed.
    """
    with transaction.atomic(durable=True):
        listing = listing_lock(listing_id=listing_id)
        invoice = listing.invoice
        invoice.refresh_from_db(fields=["status"])
        if invoice.status != InvoiceStatus.LISTED or clock.now() < listing.expires_at:
            return listing
        funded = listing.funded_amount
        if (listing.min_fill_rate is not None and funded > 0
                and funded >= listing.advance_amount * listing.min_fill_rate):
            Listing.objects.filter(pk=listing.pk).update(funded_at=clock.now())
            invoice_transition(invoice=invoice, to_status=InvoiceStatus.FUNDED,
                               reason=f"listing expired {funded}/{listing.advance_amount} "
                               f"funded, above the seller's minimum fill",
                               audience=investor_audience(
                                   Investment.objects.filter(listing=listing).order_by("id"),
                                   listing=listing))
            _disburse(listing_id=listing.pk)
            listing.refresh_from_db()
            return listing
        investments = list(
            Investment.objects.filter(listing=listing, status=InvestmentStatus.ACTIVE)
            .select_related("investor").order_by("id")
        )
        if investments:
            refund_post(invoice=invoice, currency=listing.currency, total=funded,
                        refunds=[(inv.investor_id, inv.amount) for inv in investments],
                        reference=str(listing.public_id), effective_date=clock.today())
            now = timezone.now()
            for inv in investments:
                inv.status, inv.updated_at = InvestmentStatus.REFUNDED, now
            Investment.objects.bulk_update(investments, ["status", "updated_at"])
        invoice_transition(invoice=invoice, to_status=InvoiceStatus.CANCELLED,
                           reason=f"listing expired with {funded}/{listing.advance_amount} "
                           f"funded; {len(investments)} investor(s) refunded",
                           audience=investor_audience(investments, listing=listing))
        return listing


class _ListedMeanwhile(Exception):
    """The invoice was listed between reading its listing and locking it: lock again, in the
    lock order (listing, then invoice)."""


def invoice_cancel(*, invoice: Invoice, seller, reason: str = "") -> Invoice:
    """The seller withdraws an invoice before disbursement (the API's
    ``POST /invoices/{id}/cancel`` and the invoice page's "Cancel" button).

    A ``PRICED`` invoice is cancelled; a ``LISTED`` one too, its listing withdrawn and every
    investor refunded in full, one journal entry per investment (invoice escrow -> investor
    cash, :func:`settlements.ledger.investment_refunds_post`), each investment ``REFUNDED``.
    One durable transaction in the lock order of fundings (listing row, then invoice row, then
    the escrow): a funding that arrives at the same moment either commits first (and is
    refunded here) or waits and then finds the listing cancelled (``LISTING_NOT_OPEN``); a
    funding that filled the listing first disbursed it, and the cancellation is refused.
    Idempotent: cancelling a cancelled invoice returns it unchanged, and the refund entries'
    keys are unique per investment.

    Returns:
        the invoice, reloaded (status ``CANCELLED``).

    Raises:
        PermissionDenied: ``NOT_INVOICE_OWNER`` (the API resolves ids with
            ``invoice_get_for_seller`` first, so another seller's invoice is a 404 there).
        Conflict: ``INVOICE_NOT_CANCELLABLE`` (409) once funded, disbursed or in any status
            but ``PRICED``/``LISTED``.
    """
    if invoice.seller_id != seller.pk:
        raise PermissionDenied("Not your invoice.", code=InvoicesError.NOT_INVOICE_OWNER)
    for _ in range(3):
        listing = Listing.objects.filter(invoice_id=invoice.pk).first()
        try:
            _invoice_cancel_locked(invoice=invoice, listing=listing, seller=seller,
                                   reason=reason)
        except _ListedMeanwhile:
            continue
        break
    return Invoice.objects.get(pk=invoice.pk)


def _invoice_cancel_locked(*, invoice: Invoice, listing: Listing | None, seller,
                           reason: str) -> None:
    with transaction.atomic(durable=True):
        if listing is not None:
            listing, state = listing_and_invoice_lock(listing_id=listing.pk)
            status = state["status"]
        else:
            status = (Invoice.objects.select_for_update(no_key=True)
                      .values_list("status", flat=True).get(pk=invoice.pk))
            if status == InvoiceStatus.LISTED:
                raise _ListedMeanwhile
        if status == InvoiceStatus.CANCELLED:
            return
        if status not in CANCELLABLE_STATUSES:
            raise Conflict(
                f"This invoice is {InvoiceStatus(status).label.lower()}: it can be cancelled "
                "only before its advance is paid.",
                code=MarketplaceError.INVOICE_NOT_CANCELLABLE,
            )
        locked = Invoice.objects.get(pk=invoice.pk)
        refunded = 0
        if listing is not None:
            investments = list(
                Investment.objects.filter(listing=listing, status=InvestmentStatus.ACTIVE)
                .order_by("id")
            )
            investment_refunds_post(
                invoice=locked, currency=listing.currency,
                refunds=[(str(inv.public_id), inv.investor_id, inv.amount)
                         for inv in investments],
                effective_date=clock.today(), reason="listing withdrawn by the seller",
            )
            now = timezone.now()
            for inv in investments:
                inv.status, inv.updated_at = InvestmentStatus.REFUNDED, now
            Investment.objects.bulk_update(investments, ["status", "updated_at"])
            refunded = len(investments)
        text = "cancelled by the seller"
        if listing is not None:
            text += f"; listing withdrawn, {refunded} investor(s) refunded in full"
        if reason:
            text += f": {reason}"
        invoice_transition(invoice=locked, to_status=InvoiceStatus.CANCELLED, actor=seller,
                           reason=text)
