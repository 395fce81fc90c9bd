"""``manage.py seed_scale --invoices N``: a database the size of a grown PayMint, for scale
benchmarks (``benchmarks/scale_benchmark.py``), written with PostgreSQL ``COPY``.

For ``N`` invoices: ``N // 1000`` sellers (at least 1), ``N // 10`` investors, ``N`` invoices (a
fifth listed at some point: ``N // 5`` listings, of which ``N // 50`` open; the rest in the
other statuses), ``2 N`` investments spread over the listings and investors, each with its
funding journal entry and two postings (investor cash -> invoice escrow) on ``N // 10 + N // 5``
ledger accounts. With ``N`` = 1,000,000 that is the issue's 1M invoices, 200,000 listings
(20,000 open), 100,000 investors and 2,000,000 investments.

Rows bypass the services (that is the point: minutes, not days): every column gets the
model's default unless set here, ids are allocated past the tables' current maximum and the
sequences moved after them, and ``ANALYZE`` runs at the end. Amounts are balanced per entry but
wallets are not funded by deposits (a synthetic ledger: never run this on real data). Users get
unusable passwords and no KYC profile. Refuses to run on a database that is not PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from accounts.enums import Role
from accounts.models import User
from invoices.enums import InvoiceStatus
from invoices.models import Invoice
from marketplace.models import Investment, Listing
from settlements.ledger.enums import AccountKind, EntryKind
from settlements.ledger.models import JournalEntry, LedgerAccount, Posting

GRADES = ("A", "B", "C", "D")
RATES = {
    "A": Decimal("0.080000"),
    "B": Decimal("0.100000"),
    "C": Decimal("0.130000"),
    "D": Decimal("0.170000"),
}
INDUSTRIES = ("C", "F", "G", "H", "J", "M")
CURRENCIES = ("EUR", "EUR", "EUR", "USD", "GBP")
CLOSED = (
    InvoiceStatus.SETTLED,
    InvoiceStatus.DISBURSED,
    InvoiceStatus.FUNDED,
    InvoiceStatus.OVERDUE,
)
UNLISTED = (
    InvoiceStatus.SETTLED,
    InvoiceStatus.PRICED,
    InvoiceStatus.REJECTED,
    InvoiceStatus.OVERDUE,
    InvoiceStatus.EXTRACTED,
)


def next_id(model: type[models.Model]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT COALESCE(MAX(id), 0) + 1 FROM "{model._meta.db_table}"')  # noqa: S608  # nosec B608
        return cursor.fetchone()[0]


def copy_rows(model: type[models.Model], rows) -> int:
    """COPY ``rows`` (dicts of attname -> value) into ``model``'s table; every column not given
    takes the model's default (``auto_now`` ones: now). Returns the rows written."""
    fields = list(model._meta.concrete_fields)
    now = timezone.now()
    defaults = []
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            defaults.append(lambda now=now: now)
        elif field.has_default() and callable(field.default):
            defaults.append(field.get_default)
        else:
            value = field.get_default() if (field.has_default() or not field.null) else None
            defaults.append(lambda value=value: value)
    is_json = [isinstance(f, models.JSONField) for f in fields]
    columns = ", ".join(f'"{f.column}"' for f in fields)
    count = 0
    table = model._meta.db_table
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy,
    ):
        for row in rows:
            values = []
            for field, default, json in zip(fields, defaults, is_json, strict=True):
                value = row[field.attname] if field.attname in row else default()
                values.append(Jsonb(value) if json and value is not None else value)
            copy.write_row(values)
            count += 1
    return count


def move_sequence(model: type[models.Model]) -> None:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "  # noqa: S608  # nosec B608
            f'(SELECT COALESCE(MAX(id), 1) FROM "{table}"))'
        )


class Command(BaseCommand):
    help = "Seed a scale-test database with N invoices (and listings, investors, investments)."

    def add_arguments(self, parser):
        parser.add_argument("--invoices", type=int, required=True)

    def handle(self, *args, invoices: int, **options):
        if connection.vendor != "postgresql":
            raise CommandError("seed_scale writes with PostgreSQL COPY.")
        if invoices < 50:
            raise CommandError("--invoices must be at least 50.")
        started = time.perf_counter()
        n = invoices
        with transaction.atomic():
            # The ledger's balance check queues every new posting's entry for a deferred
            # constraint check (settlements migration 0011): millions of entries here, all
            # balanced by construction (each entry's two legs, deposits covering every
            # investor's fundings), so this transaction turns that one trigger off. Every other
            # trigger runs: the listing's is_open, the back office's tallies and the ledger's
            # day totals stay exact for the rows written here. ALTER TABLE needs no pending
            # deferred checks on the table (SET CONSTRAINTS ... IMMEDIATE runs them now; every
            # deferrable constraint here is initially deferred, so ... DEFERRED restores the
            # defaults), and locks the postings table until commit: a seeding command, never
            # run on live data.
            self._ledger_balance_check(enabled=False)
            written = self.seed(n)
            self._ledger_balance_check(enabled=True)
        with connection.cursor() as cursor:
            for model in (User, Invoice, Listing, Investment, JournalEntry, Posting, LedgerAccount):
                cursor.execute(f'ANALYZE "{model._meta.db_table}"')
        elapsed = time.perf_counter() - started
        total = sum(written.values())
        self.stdout.write(
            ", ".join(f"{count} {name}" for name, count in written.items())
            + f": {total} rows in {elapsed:.1f} s ({total / elapsed:,.0f} rows/s)"
        )

    @staticmethod
    def _ledger_balance_check(*, enabled: bool) -> None:
        """Turn the postings' balance-check trigger on or off for this transaction."""
        action = "ENABLE" if enabled else "DISABLE"
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                f"ALTER TABLE settlements_posting {action} TRIGGER "
                "settlements_posting_entries_to_check"
            )
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")

    def seed(self, n: int) -> dict[str, int]:
        sellers, investors = max(1, n // 1000), max(1, n // 10)
        listings, open_listings, investments = n // 5, n // 50, 2 * n
        now = timezone.now()
        today = now.date()
        tag = hashlib.sha256(str(now.timestamp()).encode()).hexdigest()[:8]
        written: dict[str, int] = {}

        user0 = next_id(User)
        written["users"] = copy_rows(
            User,
            (
                {
                    "id": user0 + i,
                    "password": "!",
                    "username": f"scale-{tag}-{i}@example.com",
                    "email": f"scale-{tag}-{i}@example.com",
                    "role": Role.SELLER if i < sellers else Role.INVESTOR,
                    "deposit_reference": f"S{tag[:4]}{i:09d}",
                }
                for i in range(sellers + investors)
            ),
        )
        investor0 = user0 + sellers

        invoice0 = next_id(Invoice)

        def invoice(i: int) -> dict:
            grade = GRADES[i % len(GRADES)]
            face = Decimal(1000 + (i * 37) % 99_000)
            if i < open_listings:
                status = InvoiceStatus.LISTED
            elif i < listings:
                status = CLOSED[i % len(CLOSED)]
            else:
                status = UNLISTED[i % len(UNLISTED)]
            due = today + dt.timedelta(
                days=(i % 170) - 30 if status != InvoiceStatus.LISTED else 10 + i % 160
            )
            return {
                "id": invoice0 + i,
                "seller_id": user0 + i % sellers,
                "status": status,
                "document": f"scale/{tag}/{i}.xml",
                "document_sha256": f"{tag}{i:056d}",
                "document_content_type": "application/xml",
                "document_size": 4096,
                "invoice_number": f"SC-{tag}-{i}",
                "issuer_name": f"Seller {i % sellers}",
                "debtor_name": f"Debtor {i % 5000}",
                "debtor_key": f"debtor-{i % 5000}",
                "debtor_industry": INDUSTRIES[i % len(INDUSTRIES)],
                "currency": CURRENCIES[i % len(CURRENCIES)],
                "face_value": face,
                "amount_due": face,
                "issue_date": due - dt.timedelta(days=60),
                "due_date": due,
                "risk_score": 90 - 10 * GRADES.index(grade),
                "risk_grade": grade,
                "advance_rate": Decimal("0.850000"),
                "discount_rate": RATES[grade],
                "repayment_reference": f"R{tag}{i:010d}",
            }

        written["invoices"] = copy_rows(Invoice, (invoice(i) for i in range(n)))

        listing0 = next_id(Listing)

        def listing(i: int) -> dict:
            row = invoice(i)
            advance = (row["face_value"] * Decimal("0.85")).quantize(Decimal("0.01"))
            is_open = i < open_listings
            return {
                "id": listing0 + i,
                "invoice_id": invoice0 + i,
                "currency": row["currency"],
                "face_value": row["face_value"],
                "advance_rate": Decimal("0.850000"),
                "advance_amount": advance,
                "discount_rate": row["discount_rate"],
                "platform_fee_rate": Decimal("0.010000"),
                "platform_fee": (advance / 100).quantize(Decimal("0.01")),
                "min_ticket": Decimal("50"),
                "due_date": row["due_date"],
                "late_rate": row["discount_rate"] + Decimal("0.05"),
                "late_fee_rate": Decimal("0.005000"),
                "funded_amount": Decimal(0) if is_open else advance,
                "investor_count": 0 if is_open else 10,
                "listed_at": now - dt.timedelta(days=1 + i % 300),
                "expires_at": now + dt.timedelta(days=14)
                if is_open
                else now - dt.timedelta(days=i % 300),
            }

        written["listings"] = copy_rows(Listing, (listing(i) for i in range(listings)))

        # The bank clearing account the deposits below come from (before the ids are taken).
        clearing, _ = LedgerAccount.objects.get_or_create(
            key=f"{AccountKind.PLATFORM_BANK_CLEARING}:EUR",
            defaults={
                "kind": AccountKind.PLATFORM_BANK_CLEARING,
                "currency": "EUR",
                "may_go_negative": True,
            },
        )
        account0 = next_id(LedgerAccount)
        accounts = [
            {
                "id": account0 + i,
                "kind": AccountKind.INVESTOR_CASH,
                "currency": "EUR",
                "owner_id": investor0 + i,
                # The ledger's account_key format (settlements.ledger.posting, not public).
                "key": f"{AccountKind.INVESTOR_CASH}:EUR:user={investor0 + i}",
            }
            for i in range(investors)
        ] + [
            {
                "id": account0 + investors + i,
                "kind": AccountKind.INVOICE_ESCROW,
                "currency": "EUR",
                "invoice_id": invoice0 + i,
                "key": f"{AccountKind.INVOICE_ESCROW}:EUR:invoice={invoice0 + i}",
            }
            for i in range(listings)
        ]
        written["ledger accounts"] = copy_rows(LedgerAccount, accounts)

        entry0, investment0, posting0 = (
            next_id(JournalEntry),
            next_id(Investment),
            next_id(Posting),
        )
        amount = Decimal("50.00")

        def placed(k: int) -> tuple[int, int]:
            return k % listings, k % investors  # (listing index, investor index)

        written["journal entries"] = copy_rows(
            JournalEntry,
            (
                {
                    "id": entry0 + k,
                    "kind": EntryKind.FUNDING,
                    "idempotency_key": f"scale:{tag}:{k}",
                    "currency": "EUR",
                    "effective_date": today - dt.timedelta(days=k % 300),
                    "description": f"Funding of invoice SC-{tag}-{placed(k)[0]}",
                    "invoice_id": invoice0 + placed(k)[0],
                    "actor_id": investor0 + placed(k)[1],
                    "created_at": now - dt.timedelta(seconds=2 * investments - k),
                }
                for k in range(investments)
            ),
        )
        written["postings"] = copy_rows(
            Posting,
            (
                {
                    "id": posting0 + 2 * k + leg,
                    "entry_id": entry0 + k,
                    "leg": leg,
                    "account_id": (account0 + placed(k)[1])
                    if leg == 0
                    else (account0 + investors + placed(k)[0]),
                    "amount": -amount if leg == 0 else amount,
                    "currency": "EUR",
                    "memo": "investment",
                }
                for k in range(investments)
                for leg in (0, 1)
            ),
        )
        # Each investor's wallet funded by one deposit (bank clearing -> investor cash) that
        # covers their investments, so that no cash account is negative.
        deposit = amount * (investments // investors + 1)
        deposit0, deposit_posting0 = entry0 + investments, posting0 + 2 * investments
        written["journal entries"] += copy_rows(
            JournalEntry,
            (
                {
                    "id": deposit0 + i,
                    "kind": EntryKind.DEPOSIT,
                    "idempotency_key": f"scale:{tag}:deposit:{i}",
                    "currency": "EUR",
                    "effective_date": today - dt.timedelta(days=301),
                    "description": "Deposit",
                    "created_at": now - dt.timedelta(seconds=2 * investments + investors - i),
                }
                for i in range(investors)
            ),
        )
        written["postings"] += copy_rows(
            Posting,
            (
                {
                    "id": deposit_posting0 + 2 * i + leg,
                    "entry_id": deposit0 + i,
                    "leg": leg,
                    "account_id": clearing.pk if leg == 0 else account0 + i,
                    "amount": -deposit if leg == 0 else deposit,
                    "currency": "EUR",
                    "memo": "deposit",
                }
                for i in range(investors)
                for leg in (0, 1)
            ),
        )
        written["investments"] = copy_rows(
            Investment,
            (
                {
                    "id": investment0 + k,
                    "listing_id": listing0 + placed(k)[0],
                    "investor_id": investor0 + placed(k)[1],
                    "amount": amount,
                    "currency": "EUR",
                    "discount_rate": RATES[GRADES[placed(k)[0] % len(GRADES)]],
                    "expected_days": 60,
                    "expected_discount_fee": Decimal("0.66"),
                    "expected_return": Decimal("50.66"),
                    "funding_entry_id": entry0 + k,
                    "created_at": now - dt.timedelta(seconds=2 * investments - k),
                }
                for k in range(investments)
            ),
        )
        for model in (User, Invoice, Listing, LedgerAccount, JournalEntry, Posting, Investment):
            move_sequence(model)
        return written
