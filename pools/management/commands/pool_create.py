"""Open the platform's liquidity pool in one currency, with its allocation policy.

    manage.py pool_create --currency EUR --actor ops@example.com \\
        [--grades A,B,C] [--min-tenor-days 7] [--max-tenor-days 180] \\
        [--max-listing-share 0.25] [--max-debtor-exposure 50000] \\
        [--max-seller-exposure 100000] [--cash-buffer-rate 0.10]

Done by ``--actor`` (a staff account whose role may manage pools: ``operations``) through
:func:`pools.services.pool_create`, which also opens the pool's platform-owned investor
account. Fractions are of one (``0.25`` = 25 %), exposures in the pool's currency. Prints the
pool's id. Exits with an error when the currency already has a pool or is not financed.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import staff_user_by_email
from paymint.core.errors import ApplicationError
from pools.services import pool_create


def _decimal(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise CommandError(f"Not a number: {value!r}.") from None


class Command(BaseCommand):
    help = "Open the liquidity pool of a currency (one per currency) with its policy."

    def add_arguments(self, parser):
        parser.add_argument("--currency", required=True, help="ISO 4217 code, e.g. EUR")
        parser.add_argument("--actor", required=True,
                            help="Email of the staff account (operations role) that opens it")
        parser.add_argument("--grades", default="", help="Eligible grades, e.g. A,B,C (all)")
        parser.add_argument("--min-tenor-days", type=int, default=7)
        parser.add_argument("--max-tenor-days", type=int, default=180)
        parser.add_argument("--max-listing-share", default="0.25",
                            help="At most this fraction of a listing's advance")
        parser.add_argument("--max-debtor-exposure", default="50000")
        parser.add_argument("--max-seller-exposure", default="100000")
        parser.add_argument("--cash-buffer-rate", default="0.10",
                            help="Cash kept for redemptions, a fraction of net assets")

    def handle(self, *args, currency: str, actor: str, grades: str, **options):
        user = staff_user_by_email(email=actor)
        if user is None:
            raise CommandError(f"No active staff account {actor!r}.")
        try:
            pool = pool_create(
                currency=currency.upper(),
                actor=user,
                grades=[g.strip().upper() for g in grades.split(",") if g.strip()] or None,
                min_tenor_days=options["min_tenor_days"],
                max_tenor_days=options["max_tenor_days"],
                max_listing_share=_decimal(options["max_listing_share"]),
                max_debtor_exposure=_decimal(options["max_debtor_exposure"]),
                max_seller_exposure=_decimal(options["max_seller_exposure"]),
                cash_buffer_rate=_decimal(options["cash_buffer_rate"]),
            )
        except ApplicationError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        self.stdout.write(f"{pool.public_id} {pool.name} {pool.currency}")
