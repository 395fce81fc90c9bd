"""``manage.py demo``: the full invoice lifecycle on a real invoice, end to end.

Creates demo users through the real services, then drives the lifecycle through the HTTP API
(the same endpoints the mobile app uses) and signed bank webhooks, printing each stage:
registration and KYB/KYC approval, upload and extraction, corrections and submission, grade and
offer, listing, funding by three investors in fractions, disbursement, the debtor's repayment,
settlement per investor, and the trial balance after every step; then a second invoice paid
late and in parts, the liquidity pool (a deposit at NAV, the pool's automatic allocation beside an
investor's auto-invest rule, the repayment, the NAV per share rising, a redemption paid to the
investor's wallet) and the payouts. Also shows OCR extraction of a scanned invoice.

The shared invoices are historical (2013-2020), so the business clock is set to the day after
the invoice's issue date for the financing steps and to its due date for the repayment.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import time
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.test import Client
from PIL import Image, ImageDraw
from stellar_sdk import Asset, ChangeTrust, Keypair, TransactionBuilder, TransactionEnvelope

from accounts.models import KycProfile
from accounts.services import kyc_approve, staff_user_create
from devtools.stellar_local.network import local_ledger
from invoices.extraction import ExtractionError, extract_document
from invoices.services import extraction_limits
from paymint.core import clock
from paymint.core.errors import ApplicationError
from paymint.core.models import OutboundMessage
from pools.services import pool_create
from pools.tasks import pools_nav_daily_task, pools_redemptions_pay_task
from settlements.enums import AccountKind
from settlements.ledger import account_balances_table, trial_balance, unbalanced_entries
from settlements.models import ChainTransaction, Settlement
from settlements.services import books_verify, payout_batch_approve, payout_batch_create
from settlements.stellar.enums import ChainTxStatus
from settlements.stellar.gateway import get_gateway, stablecoin_asset
from settlements.tasks import invoices_age_task
from settlements.webhooks import sign

SHARED = Path(settings.BASE_DIR).parent / "shared" / "invoices"
LIFECYCLE_INVOICE = SHARED / "zugferd" / "MustangGnuaccountingBeispielRE-20201121_508.pdf"
LATE_INVOICE = SHARED / "invoice2data" / "AzureInterior.pdf"
LATE_SELLER = {"email": "azure@paymint.demo", "legal_name": "Azure Interior Inc.",
               "country": "US", "tax_id": "04-2103594", "address": "4557 De Silva St, Fremont"}
#: The pool's invoice (issue #17): the same seller's earlier invoice to the same debtor.
POOL_INVOICE = SHARED / "zugferd" / "MustangGnuaccountingBeispielRE-20190610_507.pdf"
OCR_INVOICES = [SHARED / "google-docai" / "invoice1.pdf",
                SHARED / "invoice2data" / "FlipkartInvoice.png"]
PASSWORD = "PayMint-demo-2026!"

SELLER = {"email": "seller@paymint.demo", "legal_name": "Bei Spiel GmbH", "country": "DE",
          "tax_id": "DE136695976", "address": "Ecke 12, 12345 Stadthausen",
          "iban": "DE89370400440532013000"}
INVESTORS = [
    {"email": "anna@paymint.demo", "legal_name": "Anna Investments SARL", "country": "FR",
     "tax_id": "FR40303265045", "deposit": "400.00", "fund": "150.00",
     "iban": "FR1420041010050500013M02606"},
    {"email": "bram@paymint.demo", "legal_name": "Bram Capital B.V.", "country": "NL",
     "tax_id": "NL004495445B01", "deposit": "300.00", "fund": "200.00"},
    {"email": "chiara@paymint.demo", "legal_name": "Chiara Fondi S.r.l.", "country": "IT",
     "tax_id": "IT00743110157", "deposit": "500.00", "fund": None},  # funds the remainder
]
STAFF = {"email": "ops@paymint.demo", "roles": ("operations", "compliance")}
#: Finance (issue #13): one makes payout batches, the other approves them (four eyes).
FINANCE = ["finance@paymint.demo", "treasury@paymint.demo"]
PAYOUTS = Path(settings.BASE_DIR) / "var" / "payouts"


class DemoFailed(CommandError):
    pass


class Command(BaseCommand):
    help = "Run the full invoice-financing lifecycle on real invoices (embedded default)."

    def handle(self, *args, **options):
        if not LIFECYCLE_INVOICE.exists():
            raise CommandError(f"Shared invoices not found at {SHARED}")
        self.client = Client(HTTP_HOST="127.0.0.1")
        self.event_seq = 0
        self.reported_chain_rows: set[int] = set()
        started = time.monotonic()
        self.section("0. Operations staff")
        # Not a superuser: the back-office roles the demo uses (no PEP release, so no
        # senior_management).
        staff = staff_user_create(email=STAFF["email"], password=PASSWORD,
                                  roles=STAFF["roles"])
        self.line(f"staff user {staff.email} (Django admin; roles: "
                  f"{', '.join(STAFF['roles'])})")

        self.section("1. Seller registers, completes KYB, ops approve it")
        seller_token = self.register_and_kyc("SELLER", SELLER)
        self.approve(staff, SELLER["email"])

        self.section("2. Investors register, complete KYC, ops approve them")
        investor_tokens = {}
        for inv in INVESTORS:
            investor_tokens[inv["email"]] = self.register_and_kyc("INVESTOR", inv)
            self.approve(staff, inv["email"])
        self.check_books()
        wallet = self.connect_stellar_wallet(investor_tokens[INVESTORS[0]["email"]])

        issue_date = dt.date(2020, 11, 21)
        with clock.frozen_at(issue_date + dt.timedelta(days=1), all_threads=True):
            self.line(f"business date set to {clock.today()} (the invoice was issued "
                      f"{issue_date})")
            invoice = self.upload_and_review(seller_token)
            invoice = self.submit_and_price(seller_token, invoice)
            listing = self.list_invoice(seller_token, invoice)
            self.trust_token(wallet, investor_tokens[INVESTORS[0]["email"]], listing)
            self.deposits(investor_tokens)
            self.fund(investor_tokens, listing, seller_token, invoice)
            self.chain_report(invoice["id"], "token issued on disbursement")

        due = dt.date.fromisoformat(invoice["due_date"])
        with clock.frozen_at(due, all_threads=True):
            self.repay_and_settle(seller_token, investor_tokens, invoice)
        self.chain_settlement_report(invoice["id"], wallet)

        self.late_and_partial(staff, investor_tokens)

        self.liquidity_pool(staff, seller_token, investor_tokens)

        self.section("9c. What each party was told (GET /api/v1/notifications)")
        self.notifications_report({SELLER["email"]: seller_token, **investor_tokens})

        self.section("10. OCR on scanned invoices (same pipeline as the Celery task)")
        self.ocr_showcase()

        self.section("11. verify_books: the whole books checked, as after a restore")
        self.verify_books()

        self.section("12. Payouts: withdrawals batched, four eyes, exported as a SEPA file")
        self.payouts(seller_token, investor_tokens[INVESTORS[0]["email"]])

        self.section("Done")
        self.line(f"lifecycle complete in {time.monotonic() - started:.1f} s")
        self.line("Serve the site with `make serve`, then sign in at http://127.0.0.1:8000/ :")
        for email in [SELLER["email"], *[i["email"] for i in INVESTORS]]:
            self.line(f"  {email:24} password {PASSWORD}")
        self.line(f"  {STAFF['email']:24} password {PASSWORD}  (admin: "
                  f"http://127.0.0.1:8000/{settings.ADMIN_URL})")

    def notifications_report(self, tokens: dict) -> None:
        """Each party's in-app notifications, oldest first, as their API returns them."""
        for email, token in tokens.items():
            page = self.api("get", "notifications?page_size=100", token)
            rows = list(reversed(page["results"]))
            self.line(f"{email}: {len(rows)} notification(s)")
            for row in rows:
                body = row["body"].splitlines()[0] if row["body"] else ""
                self.line(f"    {row['event']:28} {row['title']}"
                          + (f" - {body}" if body else ""))

    # --- output -----------------------------------------------------------------------------
    def section(self, title: str) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING(f"== {title}"))

    def line(self, text: str) -> None:
        self.stdout.write(f"   {text}")

    def check_books(self) -> None:
        tb = trial_balance()
        bad = unbalanced_entries()
        shown = ", ".join(f"{c} {v:.2f}" for c, v in tb.items()) or "no postings yet"
        if bad or any(v != 0 for v in tb.values()):
            raise DemoFailed(f"books do not balance: {tb} {bad}")
        self.line(self.style.SUCCESS(f"trial balance: {shown} (zero) - every entry balanced"))

    def verify_books(self) -> None:
        report = books_verify()
        counts = ", ".join(f"{name} {count}" for name, count in report.counts.items())
        if not report.ok:
            raise DemoFailed(f"verify_books found differences: {report.findings}")
        self.line(self.style.SUCCESS(f"verify_books: {counts} - no difference"))

    # --- HTTP helpers ----------------------------------------------------------------------
    def api(self, method: str, path: str, token: str | None = None, expect=(200, 201),
            **kwargs):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        if "json" in kwargs:
            kwargs["data"] = json.dumps(kwargs.pop("json"))
            kwargs["content_type"] = "application/json"
        response = getattr(self.client, method)(f"/api/v1/{path}", **kwargs, **headers)
        if response.status_code not in expect:
            raise DemoFailed(f"{method.upper()} {path} -> {response.status_code}: "
                             f"{response.content[:500]!r}")
        return response.json()

    def webhook(self, event_type: str, reference: str, amount: str, currency: str) -> dict:
        self.event_seq += 1
        event = {"id": f"evt_demo_{self.event_seq:04d}", "type": event_type,
                 "created": int(time.time()),
                 "data": {"reference": reference, "amount": amount, "currency": currency}}
        body = json.dumps(event).encode()
        header = sign(body, settings.BANK_WEBHOOK_SECRET, int(time.time()))
        response = self.client.generic("POST", "/api/v1/webhooks/bank", body,
                                       content_type="application/json",
                                       HTTP_X_PAYMINT_SIGNATURE=header)
        if response.status_code != 200:
            raise DemoFailed(f"webhook {event['id']} -> {response.status_code}: "
                             f"{response.content!r}")
        return event

    # --- stages ----------------------------------------------------------------------------
    def register_and_kyc(self, role: str, person: dict) -> str:
        self.api("post", "auth/register",
                 json={"email": person["email"], "password": PASSWORD, "role": role})
        token = self.api("post", "auth/token",
                         json={"email": person["email"], "password": PASSWORD})["access"]
        # The confirmation link, as the user finds it in their mailbox (the outbox's copy).
        mail = OutboundMessage.objects.filter(recipient=person["email"]).latest("created_at")
        link_token = re.search(r"/verify-email/([^/\s]+)/", mail.body).group(1)
        self.api("post", "auth/email/verify", json={"token": link_token})
        kind = "COMPANY_REGISTRATION" if role == "SELLER" else "IDENTITY"
        document = self.api("post", "me/kyc/documents", token, data={
            "kind": kind, "file": _stand_in_document(person["legal_name"], kind)})
        kyc = self.api("post", "me/kyc", token, json={
            "legal_name": person["legal_name"], "country": person["country"],
            "tax_id": person["tax_id"], "address": person.get("address", ""),
            "bank_account_iban": person.get("iban", ""),
        })
        self.line(f"{role.lower():8} {person['email']:22} email confirmed, "
                  f"{document['kind'].lower().replace('_', ' ')} uploaded "
                  f"({document['size']} bytes)")
        self.line(f"{'':8} {'':22} {kyc['kind']} {kyc['legal_name']}, "
                  f"tax id {kyc['tax_id']} (valid) -> {kyc['status']}")
        return token

    def approve(self, staff, email: str) -> None:
        profile = KycProfile.objects.get(user__email=email)
        profile = kyc_approve(profile=profile, reviewer=staff, reason="Documents verified")
        self.line(f"         ops {staff.email} approved {profile.legal_name} "
                  f"at {profile.decided_at:%H:%M:%S} -> {profile.status}")

    def upload_and_review(self, token: str) -> dict:
        self.section("3. Seller uploads a real invoice; a Celery task extracts the fields")
        with LIFECYCLE_INVOICE.open("rb") as handle:
            invoice = self.api("post", "invoices", token, data={"document": handle})
        self.line(f"uploaded {LIFECYCLE_INVOICE.name} -> invoice {invoice['id']}")
        invoice = self.api("get", f"invoices/{invoice['id']}", token)
        self.line(f"status {invoice['status']}, read by {invoice['extraction_method']}")
        for name in ("invoice_number", "issuer_name", "issuer_tax_id", "debtor_name",
                     "debtor_tax_id", "face_value", "amount_due", "currency", "issue_date",
                     "due_date"):
            conf_name = {"debtor_name": "buyer_name", "debtor_tax_id": "buyer_tax_id",
                         "face_value": "total_amount"}.get(name, name)
            conf = invoice["confidence"].get(conf_name)
            conf_text = f"{conf:.2f}" if conf is not None else "-"
            self.line(f"  {name:15} {str(invoice[name] or '-'):32} confidence {conf_text}")
        if invoice["low_confidence_fields"]:
            self.line(f"  to confirm: {', '.join(invoice['low_confidence_fields'])}")
        self.line("seller reviews the fields: confirms that the debtor has no tax id on file "
                  "and adds the debtor's name as it appears on the contract")
        invoice = self.api("patch", f"invoices/{invoice['id']}", token,
                           json={"debtor_tax_id": "", "debtor_name": "Theodor Est"})
        self.line(f"  saved: debtor {invoice['debtor_name']}, status {invoice['status']}")
        return invoice

    def submit_and_price(self, token: str, invoice: dict) -> dict:
        self.section("4. Submission: verification, then risk scoring (Celery)")
        invoice = self.api("post", f"invoices/{invoice['id']}/submit", token)
        for check in invoice["verification"]:
            mark = "ok  " if check["passed"] else "WARN"
            self.line(f"  [{mark}] {check['code']:24} {check['message']}")
        self.line(f"status {invoice['status']}: score {invoice['risk_score']}/100, "
                  f"grade {invoice['risk_grade']}")
        for factor in invoice["risk_factors"]:
            self.line(f"  {factor['points']:+4d}  {factor['label']:26} {factor['detail']}")
        self.line(f"offer: advance rate up to {Decimal(invoice['advance_rate']):.0%}, "
                  f"discount rate {Decimal(invoice['discount_rate']):.2%} a year (ACT/365)")
        return invoice

    def list_invoice(self, token: str, invoice: dict) -> dict:
        self.section("5. Seller lists the invoice")
        invoice = self.api("post", f"invoices/{invoice['id']}/list", token, json={})
        listing = invoice["listing"]
        self.line(f"face value {invoice['face_value']} {invoice['currency']} x advance rate "
                  f"{Decimal(listing['advance_rate']):.0%} = advance amount "
                  f"{listing['advance_amount']} {invoice['currency']}")
        self.line(f"platform fee {listing['platform_fee']} (taken at disbursement); "
                  f"repayment reference {invoice['repayment_reference']}")
        return listing

    def deposits(self, tokens: dict) -> None:
        self.section("6. Investors fund their wallets by bank transfer (signed webhooks)")
        for inv in INVESTORS:
            wallet = self.api("get", "wallet", tokens[inv["email"]])
            event = self.webhook("deposit.received", wallet["deposit_reference"],
                                 inv["deposit"], "EUR")
            wallet = self.api("get", "wallet", tokens[inv["email"]])
            self.line(f"{event['id']}: {inv['deposit']} EUR ref {wallet['deposit_reference']} "
                      f"-> {inv['email']} balance {wallet['balances'][0]['balance']} EUR")
        self.check_books()

    def fund(self, tokens: dict, listing: dict, seller_token: str, invoice: dict) -> None:
        self.section("7. Investors fund the listing in fractions; full funding disburses")
        market = self.api("get", "marketplace?grade=A&grade=B&grade=C&grade=D&currency=EUR",
                          tokens[INVESTORS[0]["email"]])
        self.line(f"marketplace shows {len(market['results'])} open listing(s)")
        for n, inv in enumerate(INVESTORS):
            detail = self.api("get", f"marketplace/{listing['id']}", tokens[inv["email"]])
            amount = inv["fund"] or detail["remaining_amount"]
            receipt = self.api("post", f"marketplace/{listing['id']}/investments",
                               tokens[inv["email"]], json={"amount": amount},
                               headers={"HTTP_IDEMPOTENCY_KEY": f"demo-invest-{n}"})
            self.line(f"{inv['email']:22} funds {receipt['amount']} EUR: expects "
                      f"{receipt['expected_return']} after {receipt['expected_days']} days "
                      f"(discount fee {receipt['expected_discount_fee']})")
            self.check_books()
        invoice = self.api("get", f"invoices/{invoice['id']}", seller_token)
        listing = invoice["listing"]
        wallet = self.api("get", "wallet", seller_token)
        self.line(f"invoice {invoice['status']} on {listing['disbursed_on']}: advance "
                  f"{listing['advance_amount']} - platform fee {listing['platform_fee']} -> "
                  f"seller wallet {wallet['balances'][0]['balance']} EUR")

    def repay_and_settle(self, seller_token: str, tokens: dict, invoice: dict) -> None:
        self.section("8. The debtor pays the face value; settlement pays investors and seller")
        invoice = self.api("get", f"invoices/{invoice['id']}", seller_token)
        self.line(f"business date {clock.today()} (due date)")
        event = self.webhook("repayment.received", invoice["repayment_reference"],
                             invoice["face_value"], invoice["currency"])
        self.line(f"{event['id']}: debtor paid {invoice['face_value']} {invoice['currency']} "
                  f"ref {invoice['repayment_reference']}")
        invoice = self.api("get", f"invoices/{invoice['id']}", seller_token)
        self.line(f"invoice status {invoice['status']}")
        for inv in INVESTORS:
            investments = self.api("get", "investments", tokens[inv["email"]])["results"]
            position = investments[0]
            wallet = self.api("get", "wallet", tokens[inv["email"]])
            self.line(f"{inv['email']:22} principal {position['amount']} + discount fee "
                      f"{position['discount_fee']} = {position['repaid_amount']} EUR "
                      f"(wallet {wallet['balances'][0]['balance']})")
        wallet = self.api("get", "wallet", seller_token)
        reserve = [e for e in wallet["entries"] if e["kind"] == "SETTLEMENT"]
        self.line(f"seller reserve {reserve[0]['amount'] if reserve else '0.00'} EUR "
                  f"(seller wallet {wallet['balances'][0]['balance']} EUR)")
        self.line("ledger accounts (balances derived from postings):")
        for row in account_balances_table():
            self.line(f"  {row['kind']:24} {row['owner'] or '-':22} "
                      f"{row['balance']:>10.2f} {row['currency']}")
        self.check_books()

    # --- on chain (Stellar, the local ledger) -----------------------------------------------
    def connect_stellar_wallet(self, token: str):
        """Anna proves control of a Stellar account with SEP-10 (challenge, sign, verify)."""
        if not settings.STELLAR_ENABLED:
            return None
        self.section("2b. An investor connects a Stellar wallet (SEP-10)")
        gateway = get_gateway()
        wallet = Keypair.random()
        local_ledger().fund(wallet.public_key, "50")  # the local network's friendbot
        challenge = self.api("get", f"stellar/auth/challenge?account={wallet.public_key}", token)
        envelope = TransactionEnvelope.from_xdr(challenge["transaction"],
                                                challenge["network_passphrase"])
        envelope.sign(wallet)
        linked = self.api("post", "stellar/auth/verify", token,
                          json={"transaction": envelope.to_xdr()})
        self.line(f"{INVESTORS[0]['email']} signed the challenge: {linked['account_id']} linked "
                  f"(network: {settings.STELLAR_NETWORK}, {gateway.network_passphrase!r})")
        self.line("the other investors have no wallet: their tokens are held in custody")
        return wallet

    def _wallet_submit(self, wallet, operations) -> dict:
        gateway = get_gateway()
        builder = TransactionBuilder(gateway.load_account(wallet.public_key),
                                     gateway.network_passphrase, base_fee=100)
        builder.add_time_bounds(0, gateway.network_time() + 300)
        for op in operations:
            builder.append_operation(op)
        envelope = builder.build()
        envelope.sign(wallet)
        return gateway.submit(envelope.to_xdr())

    def trust_token(self, wallet, token: str, listing: dict) -> None:
        if wallet is None:
            return
        detail = self.api("get", f"marketplace/{listing['id']}", token)
        code, issuer = detail["token_asset"].split(":")
        coin = stablecoin_asset(detail["currency"])
        result = self._wallet_submit(wallet, [ChangeTrust(Asset(code, issuer)),
                                              ChangeTrust(coin)])
        self.line(f"anna's wallet opens trustlines to the invoice token {code} and to "
                  f"{coin.code} (tx {result['hash'][:16]}...)")

    def chain_report(self, invoice_id: str, title: str) -> None:
        if not settings.STELLAR_ENABLED:
            return
        self.line(f"on chain ({title}):")
        for row in ChainTransaction.objects.filter(invoice__public_id=invoice_id).order_by("id"):
            if row.pk in self.reported_chain_rows:
                continue
            self.reported_chain_rows.add(row.pk)
            holder = row.payload.get("holder")
            what = ("-> custody" if row.payload.get("custody") else f"-> wallet {holder[:8]}..."
                    ) if holder else ""
            if row.purpose == "SETTLEMENT_SNAPSHOT":
                what = f"split by the {row.payload.get('allocation_basis')}"
            self.line(f"  {row.purpose:19} {len(row.operations):2} op(s) ledger "
                      f"{row.ledger or '-':>3} {row.tx_hash or '(no envelope)':64} {what}")

    def chain_settlement_report(self, invoice_id: str, wallet) -> None:
        """The investors' payouts on chain next to the ledger's, to the stroop."""
        if not settings.STELLAR_ENABLED:
            return
        self.section("8b. On chain: stablecoin payouts equal the ledger's, tokens clawed back")
        self.chain_report(invoice_id, "settlement")
        settlement = Settlement.objects.filter(invoice__public_id=invoice_id).get()
        snapshot = ChainTransaction.objects.get(settlement=settlement,
                                                purpose="SETTLEMENT_SNAPSHOT")
        coin = stablecoin_asset(settlement.currency).code
        ledger_total = sum(p.amount for p in settlement.entry.postings.all()
                           if p.account.kind == AccountKind.INVESTOR_CASH)
        for account, amount in snapshot.payload["allocation"].items():
            who = "anna's wallet" if wallet and account == wallet.public_key else "custody"
            self.line(f"  {who:14} {account[:10]}... paid {amount} {coin}")
        paid = sum(Decimal(v) for v in snapshot.payload["allocation"].values())
        rows = ChainTransaction.objects.filter(invoice__public_id=invoice_id)
        if paid != ledger_total or rows.exclude(status=ChainTxStatus.CONFIRMED).exists():
            raise DemoFailed(f"chain payouts {paid} != ledger {ledger_total}")
        self.line(self.style.SUCCESS(
            f"on-chain payouts {paid} = ledger investors' total {ledger_total:.2f}; "
            f"{rows.count()} transactions, {sum(len(r.operations) for r in rows)} operations "
            f"for this invoice, all confirmed"))

    def late_and_partial(self, staff, investor_tokens: dict) -> None:
        """A second seller's USD invoice (read from its embedded UBL XML) paid late and in two
        parts: the daily aging job moves it to overdue, and each payment goes through the
        waterfall (investors' principal + discount fee, late interest, the platform's late
        fee, then the seller)."""
        self.section("9. A second invoice in USD, paid late and in parts (the waterfall)")
        token = self.register_and_kyc("SELLER", LATE_SELLER)
        self.approve(staff, LATE_SELLER["email"])
        with clock.frozen_at(dt.date(2023, 3, 21), all_threads=True):
            with LATE_INVOICE.open("rb") as handle:
                invoice = self.api("post", "invoices", token, data={"document": handle})
            invoice = self.api("get", f"invoices/{invoice['id']}", token)
            self.line(f"{LATE_INVOICE.name}: read by {invoice['extraction_method']}: "
                      f"{invoice['invoice_number']}, {invoice['face_value']} "
                      f"{invoice['currency']} to {invoice['debtor_name']}, due "
                      f"{invoice['due_date']}")
            invoice = self.api("post", f"invoices/{invoice['id']}/submit", token)
            self.line(f"grade {invoice['risk_grade']} (score {invoice['risk_score']})")
            invoice = self.api("post", f"invoices/{invoice['id']}/list", token, json={})
            listing = invoice["listing"]
            half = (Decimal(listing["advance_amount"]) / 2).quantize(Decimal("0.01"))
            for n, inv in enumerate(INVESTORS[:2]):
                wallet = self.api("get", "wallet", investor_tokens[inv["email"]])
                self.webhook("deposit.received", wallet["deposit_reference"], "200.00", "USD")
                amount = half if n == 0 else Decimal(listing["advance_amount"]) - half
                self.api("post", f"marketplace/{listing['id']}/investments",
                         investor_tokens[inv["email"]], json={"amount": str(amount)},
                         headers={"HTTP_IDEMPOTENCY_KEY": f"demo-usd-{n}"})
                self.line(f"{inv['email']:22} funds {amount} USD")
            invoice = self.api("get", f"invoices/{invoice['id']}", token)
            self.line(f"invoice {invoice['status']}: advance {listing['advance_amount']} USD")
            self.check_books()
        schedule = [
            (dt.date(2023, 4, 4), "100.00", "the debtor pays part on the due date"),
            (dt.date(2023, 4, 11), None, "7 days past due (grace 5 days): the aging job runs"),
            (dt.date(2023, 4, 24), "179.84", "the debtor pays the rest, 20 days late"),
        ]
        for day, amount, what in schedule:
            with clock.frozen_at(day, all_threads=True):
                self.line(f"{day}: {what}")
                if amount is None:
                    invoices_age_task()
                else:
                    self.webhook("repayment.received", invoice["repayment_reference"],
                                 amount, "USD")
                invoice = self.api("get", f"invoices/{invoice['id']}", token)
                self.line(f"   invoice status {invoice['status']}")
        for inv in INVESTORS[:2]:
            positions = self.api("get", "investments?page_size=10",
                                 investor_tokens[inv["email"]])["results"]
            usd = next(p for p in positions if p["currency"] == "USD")
            statement = self.api("get", f"investments/{usd['id']}",
                                 investor_tokens[inv["email"]])
            self.line(f"{inv['email']:22} principal {statement['principal_repaid']} + "
                      f"discount fee {statement['fee_repaid']} + late interest "
                      f"{statement['late_interest_repaid']} = {statement['repaid_amount']} USD")
            for line in statement["lines"]:
                self.line(f"     {line['date']} {line['kind']:10} {line['amount']:>9} "
                          f"{line['description']}")
        wallet = self.api("get", "wallet", token)
        usd = next(b for b in wallet["balances"] if b["currency"] == "USD")
        revenue = next(r for r in account_balances_table()
                       if r["kind"] == "PLATFORM_FEE_REVENUE" and r["currency"] == "USD")
        self.line(f"platform fee revenue {revenue['balance']:.2f} USD (platform fee at "
                  f"disbursement + late fee of 0.5 % of face value once overdue)")
        self.line(f"seller wallet {usd['balance']} USD (net advance + what was left after "
                  f"investors and the platform's late fee)")
        self.check_books()
        self.chain_report(invoice["id"], "token in custody, a USDC payout per payment, "
                          "clawback after the last")

    def liquidity_pool(self, staff, seller_token: str, tokens: dict) -> None:
        """Issue #17: ops open the EUR pool; Bram buys shares (API); the seller lists an invoice
        and the pool funds its share automatically in the same run as Chiara's auto-invest
        rule (the listing's after-commit task, the funding service); Anna funds the rest; the
        debtor repays through the waterfall; the NAV per share rises; Bram's redemption, queued
        for the notice period, is paid to his wallet by the beat job. Every figure is read
        back from the API; the stage fails if the NAV did not rise, the redemption was not
        paid in full, the register does not reconcile or the books do not balance."""
        self.section("9b. The liquidity pool: a deposit, automatic allocation, repayment, "
                     "the NAV rises, a redemption is paid")
        anna, bram, chiara = (tokens[inv["email"]] for inv in INVESTORS)
        bram_email = INVESTORS[1]["email"]
        listing_day = dt.date(2019, 6, 11)  # the day after the invoice's issue
        with clock.frozen_at(listing_day, all_threads=True):
            self.line(f"business date {clock.today()}")
            pool = pool_create(currency="EUR", actor=staff, max_listing_share=Decimal("0.5"),
                               cash_buffer_rate=Decimal("0.10"))
            pool_id = str(pool.public_id)
            self.line(f"ops {staff.email} open {pool.name}: grades {', '.join(pool.grades)}, "
                      f"tenor {pool.min_tenor_days}-{pool.max_tenor_days} days, at most "
                      f"{pool.max_listing_share:.0%} of a listing, cash buffer "
                      f"{pool.cash_buffer_rate:.0%} of net assets")
            before_cash = self.eur_balance(bram)
            made = self.api("post", f"pools/{pool_id}/deposits", bram,
                            json={"amount": "300.00"},
                            headers={"HTTP_IDEMPOTENCY_KEY": "demo-pool-deposit"})
            self.line(f"{bram_email:22} deposits {made['amount']} EUR "
                      f"(POST /api/v1/pools/{{id}}/deposits): {made['shares']} shares at NAV "
                      f"{made['nav_per_share']} (wallet {before_cash} -> "
                      f"{self.eur_balance(bram)} EUR)")
            self.check_books()
            rule = self.api("put", "auto-invest", chiara, json={
                "currencies": ["EUR"], "grades": ["A", "B", "C"], "min_tenor_days": 7,
                "max_tenor_days": 90, "amount_per_invoice": "100.00",
                "max_per_debtor": "1000.00", "cash_to_keep": "50.00"})
            self.line(f"{INVESTORS[2]['email']:22} sets an auto-invest rule (PUT "
                      f"/api/v1/auto-invest): {rule['amount_per_invoice']} EUR an invoice, "
                      f"grades {', '.join(rule['grades'])}, keeps {rule['cash_to_keep']} EUR")
            with POOL_INVOICE.open("rb") as handle:
                invoice = self.api("post", "invoices", seller_token, data={"document": handle})
            self.api("patch", f"invoices/{invoice['id']}", seller_token,
                     json={"debtor_tax_id": "", "debtor_name": "Theodor Est"})
            invoice = self.api("post", f"invoices/{invoice['id']}/submit", seller_token)
            invoice = self.api("post", f"invoices/{invoice['id']}/list", seller_token, json={})
            listing = invoice["listing"]
            self.line(f"the seller lists {invoice['invoice_number']} ({POOL_INVOICE.name}): "
                      f"grade {invoice['risk_grade']}, advance {listing['advance_amount']} EUR, "
                      f"due {invoice['due_date']}")
            self.line("the listing's task runs the auto-invest round after commit "
                      "(least recently served first), each through the funding service:")
            detail = self.api("get", f"pools/{pool_id}", bram)["stats"]
            self.line(f"  the pool funds {detail['principal']} EUR (half the advance at most; "
                      f"cash {detail['cash']} EUR left, the buffer kept)")
            log = self.api("get", "auto-invest/log", chiara)["results"]
            for row in log:
                self.line(f"  chiara's rule: {row['outcome']} {row['amount'] or ''} EUR "
                          f"{row['reason']}".rstrip())
            remaining = self.api("get", f"marketplace/{listing['id']}", anna)["remaining_amount"]
            receipt = self.api("post", f"marketplace/{listing['id']}/investments", anna,
                               json={"amount": remaining},
                               headers={"HTTP_IDEMPOTENCY_KEY": "demo-pool-remainder"})
            self.line(f"{INVESTORS[0]['email']:22} funds the remaining {receipt['amount']} EUR")
            invoice = self.api("get", f"invoices/{invoice['id']}", seller_token)
            self.line(f"invoice {invoice['status']}")
            pools_nav_daily_task()  # the beat job stores the day's NAV
            start = self.pool_report(bram, pool_id, "after the allocation")
            self.check_books()

        due = dt.date.fromisoformat(invoice["due_date"])
        with clock.frozen_at(due, all_threads=True):
            self.line(f"business date {clock.today()} (due date)")
            pools_nav_daily_task()
            self.pool_report(bram, pool_id, "discount fee accrued daily (ACT/365F)")
            event = self.webhook("repayment.received", invoice["repayment_reference"],
                                 invoice["face_value"], "EUR")
            invoice = self.api("get", f"invoices/{invoice['id']}", seller_token)
            self.line(f"{event['id']}: the debtor pays {invoice['face_value']} EUR -> invoice "
                      f"{invoice['status']}; the waterfall pays the pool like any investor")
            repaid = self.pool_report(bram, pool_id, "after the repayment")
            self.check_books()
            request = self.api("post", f"pools/{pool_id}/redemptions", bram,
                               json={"shares": "100"},
                               headers={"HTTP_IDEMPOTENCY_KEY": "demo-pool-redemption"})
            position = self.api("get", f"pools/{pool_id}/position", bram)
            queued = position["redemptions"][0]
            self.line(f"{bram_email:22} asks to redeem {request['shares']} shares "
                      f"(POST /api/v1/pools/{{id}}/redemptions): {request['status']}, place "
                      f"{queued['place']} in the queue, payable from {queued['payable_from']} "
                      f"(notice period), estimate {queued['estimate']} EUR")

        with clock.frozen_at(due + dt.timedelta(days=1), all_threads=True):
            before_cash = Decimal(self.eur_balance(bram))
            paid = pools_redemptions_pay_task()  # the beat job, as repayments reach the pool
            after_cash = Decimal(self.eur_balance(bram))
            pools_nav_daily_task()
            position = self.api("get", f"pools/{pool_id}/position", bram)
            redeemed = next(e for e in self.api("get", "wallet", bram)["entries"]
                            if e["kind"] == "POOL_REDEMPTION")
            self.line(f"{clock.today()}: the beat job pays {paid} redemption(s) first-in, "
                      f"first-out: {redeemed['amount']} EUR to {bram_email}'s wallet "
                      f"({before_cash} -> {after_cash} EUR; {redeemed['description']})")
            self.line(f"{bram_email:22} keeps {position['shares']} shares worth "
                      f"{position['value']} EUR (cost {position['invested']}, gain "
                      f"{position['gain']}), {len(position['redemptions'])} queued")
            end = self.pool_report(bram, pool_id, "after the redemption")
            history = self.api("get", f"pools/{pool_id}/nav-history", bram)["results"]
            self.line("NAV history (GET /api/v1/pools/{id}/nav-history): " + ", ".join(
                f"{row['date']} {Decimal(row['nav_per_share']):.6f}" for row in history))
            self.check_books()
        start_nav, end_nav = Decimal(start["nav_per_share"]), Decimal(end["nav_per_share"])
        # A redemption is paid towards zero: the holders who stay keep the sub-cent, so the
        # NAV per share after it is never below the one it was paid at.
        if not (start_nav < Decimal(repaid["nav_per_share"]) <= end_nav):
            raise DemoFailed(f"the NAV per share did not rise: {start_nav} -> {end_nav}")
        if paid != 1 or after_cash - before_cash != Decimal(redeemed["amount"]) or (
                position["redemptions"]):
            raise DemoFailed(f"the redemption was not paid in full: {redeemed}")
        if Decimal(position["value"]) != Decimal(end["net_assets"]):
            raise DemoFailed(f"the register does not reconcile: {position} vs {end}")
        self.line(self.style.SUCCESS(
            f"NAV per share {start_nav:.10f} -> {end_nav:.10f} (rose "
            f"{(end_nav / start_nav - 1):.4%}); redemption paid in full; the only holder's "
            f"value = net assets {end['net_assets']} EUR (the register reconciles)"))

    def eur_balance(self, token: str) -> str:
        balances = self.api("get", "wallet", token)["balances"]
        return next(b["balance"] for b in balances if b["currency"] == "EUR")

    def pool_report(self, token: str, pool_id: str, when: str) -> dict:
        """The pool's NAV and its terms, as ``GET /api/v1/pools/{id}`` answers them."""
        pool = self.api("get", f"pools/{pool_id}", token)
        stats = pool["stats"]
        self.line(f"  NAV {when}: cash {stats['cash']} + principal {stats['principal']} + "
                  f"accrued fee {stats['accrued_fee']} - provisions {stats['provisions']} - "
                  f"owed {stats['redemptions_owed']} = net assets {stats['net_assets']} EUR; "
                  f"{Decimal(pool['shares_outstanding']):f} shares, NAV per share "
                  f"{stats['nav_per_share']}")
        return stats

    def payouts(self, seller_token: str, investor_token: str) -> None:
        """The seller and an investor withdraw (API); a finance user makes the EUR batch,
        another approves it, and the pain.001 file is exported with the scheduled-run
        command (README, "Payouts")."""
        for token, amount in ((seller_token, "500.00"), (investor_token, "250.00")):
            withdrawal = self.api("post", "wallet/withdrawals", token,
                                  json={"amount": amount, "currency": "EUR"})
            self.line(f"withdrawal {withdrawal['reference']} {withdrawal['amount']} EUR "
                      f"-> {withdrawal['status']} (held)")
        maker, checker = (staff_user_create(email=email, password=PASSWORD, roles=("finance",))
                          for email in FINANCE)
        batch = payout_batch_create(actor=maker, currency="EUR").batch
        self.line(f"{maker.email} made {batch.reference}: {batch.item_count} payouts, "
                  f"{batch.total_amount:.2f} EUR -> {batch.status}")
        try:
            payout_batch_approve(batch=batch, actor=maker)
        except ApplicationError as exc:
            self.line(f"{maker.email} approving their own batch: refused ({exc.code})")
        batch = payout_batch_approve(batch=batch, actor=checker)
        self.line(f"{checker.email} approved it -> {batch.status}")
        PAYOUTS.mkdir(parents=True, exist_ok=True)
        output = PAYOUTS / f"{batch.reference}.pain001.xml"
        call_command("payout_batch_export", batch.reference, "--output", str(output),
                     "--actor", maker.email, stdout=io.StringIO())
        content = output.read_text()
        count = re.search(r"<NbOfTxs>(\d+)</NbOfTxs>", content).group(1)
        total = re.search(r"<CtrlSum>([\d.]+)</CtrlSum>", content).group(1)
        self.line(f"exported {output} (pain.001.001.03, XSD-valid): NbOfTxs {count}, "
                  f"CtrlSum {total} EUR")
        self.check_books()

    def ocr_showcase(self) -> None:
        for path in OCR_INVOICES:
            if not path.exists():
                continue
            started = time.monotonic()
            try:
                result = extract_document(path.read_bytes(), limits=extraction_limits())
            except ExtractionError as exc:
                self.line(f"{path.name}: {exc.code} {exc.message}")
                continue
            data = result.to_json_dict()
            self.line(f"{path.name} ({result.method}, {time.monotonic() - started:.1f} s):")
            for name in ("invoice_number", "issuer_name", "buyer_name", "total_amount",
                         "currency", "issue_date", "due_date"):
                self.line(f"  {name:15} {str(data.get(name)):34} "
                          f"confidence {data['confidence'].get(name, 0):.2f}")


def _stand_in_document(legal_name: str, kind: str) -> SimpleUploadedFile:
    """A PNG standing in for the applicant's identity document or register extract (the demo
    has no real ones); the upload goes through the same checks as any other."""
    image = Image.new("RGB", (600, 200), "white")
    draw = ImageDraw.Draw(image)
    draw.text((20, 40), kind.replace("_", " ").title(), fill="black")
    draw.text((20, 80), legal_name, fill="black")
    draw.text((20, 140), "PayMint demo stand-in document", fill="gray")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return SimpleUploadedFile(f"{kind.lower()}.png", buffer.getvalue(), "image/png")
