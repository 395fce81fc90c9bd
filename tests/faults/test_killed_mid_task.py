"""The process doing a piece of work killed -9 in the middle of it, then the work run again: it
ends exactly as an uninterrupted run.

* Extraction: a Celery worker's pool process killed while ``invoice_extract_task`` runs (the
  document read, the invoice about to be written). ``acks_late`` with
  ``reject_on_worker_lost`` puts the message back at once; the new pool process runs it
  again: the invoice EXTRACTED once, with its fields, one status event.
* Payout export (a finance user's request, no task): the process building the bank file
  killed while it holds the export's transaction open; its transaction is rolled back by
  PostgreSQL, nothing is half-written (the batch still APPROVED, no file, items PENDING), and
  the export asked again gives the batch EXPORTED once with one file.

* Chain submission: the pool process killed after its envelope was applied by the network
  (the Horizon stand-in holds its answer back), before it learnt the outcome: the task runs
  again, finds the envelope by hash and records it - CONFIRMED, one submission, paid once.

(The settlement task: ``test_worker_killed.py``.)

Each case is held in the middle deterministically, as in ``test_worker_killed.py``: another
connection holds the row lock the work needs next; the process is killed while it waits on
it, and the lock is released only then.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import psycopg
import pytest
from django.db import connection
from stellar_sdk import ChangeTrust, Keypair, TransactionBuilder

from devtools.stellar_local import LocalHorizonClient, LocalLedger
from devtools.stellar_local.bootstrap import local_platform_bootstrap
from settlements.stellar.gateway import (
    HorizonGateway,
    network_config,
    platform_keys,
    stablecoin_asset,
)
from tests.faults.conftest import (
    ROOT,
    HorizonHttpServer,
    load_schema,
    manage,
    server_env,
    wait_until,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.django_db]

UPLOAD = """
from accounts.services import staff_user_create
from invoices.services import invoice_upload
from tests.helpers import STRONG_PASSWORD, make_user, mustang_bytes, uploaded
staff = staff_user_create(email="ops@example.com", password=STRONG_PASSWORD,
                          roles=("operations", "compliance"))
seller = make_user("SELLER", "seller@example.com", approve_by=staff,
                   kyc={"legal_name": "Bei Spiel GmbH", "country": "DE",
                        "tax_id": "DE136695976"})
invoice = invoice_upload(seller=seller, uploaded_file=uploaded(mustang_bytes("killed")))
print(invoice.pk)
"""

BATCH = """
from accounts.services import staff_user_create
from settlements.services import payout_batch_approve, payout_batch_create, withdrawal_request
from tests.helpers import STRONG_PASSWORD, deposit, make_user
maker = staff_user_create(email="maker@example.com", password=STRONG_PASSWORD,
                          roles=("finance", "operations", "compliance"))
checker = staff_user_create(email="checker@example.com", password=STRONG_PASSWORD,
                            roles=("finance",))
for n, (iban, tax_id) in enumerate([("DE89370400440532013000", "FR40303265045"),
                                    ("NL91ABNA0417164300", "NL004495445B01")]):
    user = make_user("INVESTOR", f"payee{n}@example.com", approve_by=maker, kyc={
        "legal_name": f"Payee {n}", "country": tax_id[:2], "tax_id": tax_id,
        "bank_account_iban": iban})
    deposit(user, "500.00")
    withdrawal_request(user=user, amount=f"{120 + n}.50", currency="EUR")
batch = payout_batch_create(actor=maker, currency="EUR").batch
payout_batch_approve(batch=batch, actor=checker)
print(batch.pk)
"""

EXPORT = """
from accounts.models import User
from settlements.models import PayoutBatch
from settlements.services import payout_batch_export
batch = payout_batch_export(batch=PayoutBatch.objects.get(pk={batch_id}),
                            actor=User.objects.get(email="maker@example.com"))
print(batch.status, batch.file_sha256)
"""


def waiting_on_lock(url: str, table: str) -> int:
    """How many sessions wait for a row lock with a statement on ``table``."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE %s",
            [f"%{table}%"],
        ).fetchone()[0]


@contextmanager
def row_lock(url: str, table: str, row_id: int) -> Iterator[psycopg.Connection]:
    """Hold ``table``'s row ``row_id`` locked (FOR UPDATE) until ``rollback()`` or the end."""
    blocker = psycopg.connect(url)
    try:
        blocker.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", [row_id])  # noqa: S608
        yield blocker
    finally:
        blocker.close()


@contextmanager
def celery_worker(env: dict, queues: str) -> Iterator[subprocess.Popen]:
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "paymint", "worker", "-c", "1", "-Q", queues,
         "--without-gossip", "--without-mingle", "-l", "WARNING"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


def fault_env(local_postgres, tmp_path, **extra) -> tuple[str, dict]:
    s = connection.settings_dict
    source = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    url = load_schema(source, local_postgres)
    return url, server_env(url, REDIS_URL="", MEDIA_ROOT=str(tmp_path), **extra)


def one(pg, sql: str) -> str:
    return pg.psql(sql, db="paymint").strip()


def test_a_worker_killed_mid_extraction_extracts_the_invoice_once(
    local_postgres, local_redis, tmp_path
):
    url, env = fault_env(
        local_postgres,
        tmp_path,
        CELERY_BROKER_URL=f"{local_redis.url}/0",
        CELERY_TASK_ALWAYS_EAGER="false",
    )
    # Not eager: the extraction task waits in Redis until a worker takes it.
    invoice_id = int(manage("shell", "-c", UPLOAD, env=env).stdout.split()[-1])
    assert one(local_postgres, f"SELECT status FROM invoices_invoice WHERE id = {invoice_id}") == (
        "UPLOADED"
    )
    with row_lock(url, "invoices_invoice", invoice_id) as blocker, celery_worker(
        env, "extraction"
    ) as worker:
        wait_until(
            lambda: waiting_on_lock(url, "invoices_invoice") == 1,
            timeout=90,
            what="the extraction task waiting on the invoice's lock",
        )
        children = subprocess.run(
            ["pgrep", "-P", str(worker.pid)], capture_output=True, text=True
        ).stdout.split()
        assert children, "the worker's pool process"
        subprocess.run(["kill", "-9", *children], check=True)  # mid-task
        blocker.rollback()
        wait_until(
            lambda: one(
                local_postgres, f"SELECT status FROM invoices_invoice WHERE id = {invoice_id}"
            )
            == "EXTRACTED",
            timeout=120,
            what="the extraction re-run",
        )
    number, currency = one(
        local_postgres,
        f"SELECT invoice_number, currency FROM invoices_invoice WHERE id = {invoice_id}",
    ).split("|")
    assert number and currency == "EUR"  # the fields read from the document
    assert one(
        local_postgres,
        "SELECT string_agg(from_status || '>' || to_status, ',' ORDER BY id) "
        f"FROM invoices_invoicestatusevent WHERE invoice_id = {invoice_id}",
    ) == ">UPLOADED,UPLOADED>EXTRACTED"  # extracted once


def test_the_process_killed_mid_payout_export_leaves_nothing_and_the_export_ends_once(
    local_postgres, tmp_path
):
    url, env = fault_env(local_postgres, tmp_path, CELERY_TASK_ALWAYS_EAGER="true")
    batch_id = int(manage("shell", "-c", BATCH, env=env).stdout.split()[-1])
    export = EXPORT.replace("{batch_id}", str(batch_id))
    items = (
        f"SELECT string_agg(status, ',') FROM settlements_payoutitem WHERE batch_id = {batch_id}"
    )
    with row_lock(url, "settlements_payoutbatch", batch_id) as blocker:
        exporting = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "shell", "-c", export],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(
                lambda: waiting_on_lock(url, "settlements_payoutbatch") == 1,
                timeout=90,
                what="the export waiting on the batch's lock",
            )
            exporting.kill()  # -9, with the export's transaction open
            exporting.wait(timeout=20)
        finally:
            if exporting.poll() is None:
                exporting.kill()
        blocker.rollback()
    # Nothing half-written: PostgreSQL rolled the dead session's transaction back.
    assert one(
        local_postgres,
        f"SELECT status, file_sha256 FROM settlements_payoutbatch WHERE id = {batch_id}",
    ) == "APPROVED|"
    assert one(local_postgres, items) == "PENDING,PENDING"

    status, sha = manage("shell", "-c", export, env=env).stdout.split()[-2:]
    assert status == "EXPORTED" and len(sha) == 64
    again = manage("shell", "-c", export, env=env).stdout.split()[-2:]
    assert again == [status, sha]  # the same file, not a second export
    assert one(local_postgres, items) == "SENT,SENT"
    assert one(
        local_postgres,
        "SELECT count(*) FROM settlements_payoutbatchevent "
        f"WHERE batch_id = {batch_id} AND to_status = 'EXPORTED'",
    ) == "1"
    assert '"ok": true' in manage("verify_books", "--json", env=env).stdout


CHAIN_PAYMENT = """
from django.db import transaction
from settlements.stellar.enums import ChainPurpose
from settlements.stellar.outbox import chain_tx_enqueue
with transaction.atomic():
    row = chain_tx_enqueue(
        purpose=ChainPurpose.OTHER, idempotency_key="faults-killed-chain",
        source="{source}",
        operations=[{{"type": "payment", "destination": "{destination}",
                      "asset": "{asset}", "amount": "25.5"}}])
print(row.pk)
"""


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK on set_flags
def test_a_worker_killed_after_its_envelope_landed_does_not_pay_twice(
    local_postgres, local_redis, tmp_path, settings
):
    """The chain submission's worst moment: the envelope was applied by the network, the
    worker killed before it heard back. The re-run finds it by hash: CONFIRMED, sent once."""
    settings.STELLAR_NETWORK = "local"
    for name in ("STELLAR_ISSUER_SECRET", "STELLAR_DISTRIBUTION_SECRET",
                 "STELLAR_CUSTODY_SECRET", "STELLAR_STABLECOIN_ISSUER_SECRET",
                 "STELLAR_SEP10_SIGNING_SECRET", "STELLAR_HORIZON_URL",
                 "STELLAR_NETWORK_PASSPHRASE"):
        setattr(settings, name, "")
    passphrase = network_config()[2]
    ledger = LocalLedger(network_passphrase=passphrase)
    local = HorizonGateway(horizon_url="http://stellar.local/", network_passphrase=passphrase,
                           client=LocalHorizonClient(ledger), ledger=ledger)
    local_platform_bootstrap(ledger, local)
    keys, eurc = platform_keys(), stablecoin_asset("EUR")
    wallet = Keypair.random()
    ledger.fund(wallet.public_key, "100")
    account = local.load_account(wallet.public_key)
    trust = (
        TransactionBuilder(account, passphrase, base_fee=100)
        .add_time_bounds(0, int(time.time()) + 300)
        .append_operation(ChangeTrust(eurc))
        .build()
    )
    trust.sign(wallet)
    local.submit(trust.to_xdr())

    horizon = HorizonHttpServer(ledger).start()
    url, env = fault_env(
        local_postgres,
        tmp_path,
        CELERY_BROKER_URL=f"{local_redis.url}/0",
        CELERY_TASK_ALWAYS_EAGER="false",
        STELLAR_NETWORK="local",
        STELLAR_ENABLED="true",
        STELLAR_HORIZON_URL=horizon.url,
        STELLAR_LOCAL_NETWORK="devtools.stellar_local.network.remote_gateway",
    )
    try:
        script = CHAIN_PAYMENT.format(
            source=keys.distribution.public_key,
            destination=wallet.public_key,
            asset=f"EURC:{eurc.issuer}",
        )
        # Not eager: the submission task waits in Redis until a worker takes it.
        row_id = int(manage("shell", "-c", script, env=env).stdout.split()[-1])
        submissions = ledger.submissions
        horizon.hold_submissions = True
        with celery_worker(env, "settlement") as worker:
            assert horizon.submitted.wait(timeout=120), "the worker's submission"
            children = subprocess.run(
                ["pgrep", "-P", str(worker.pid)], capture_output=True, text=True
            ).stdout.split()
            assert children, "the worker's pool process"
            subprocess.run(["kill", "-9", *children], check=True)  # before the answer
            horizon.hold_submissions = False
            horizon.release.set()
            wait_until(
                lambda: one(
                    local_postgres,
                    f"SELECT status FROM settlements_chaintransaction WHERE id = {row_id}",
                )
                == "CONFIRMED",
                timeout=120,
                what="the submission re-run",
            )
    finally:
        horizon.release.set()
        horizon.stop()
    assert ledger.submissions == submissions + 1  # found by hash, never sent again
    assert ledger.balance(wallet.public_key, eurc) == Decimal("25.5")
    assert one(
        local_postgres,
        f"SELECT attempts FROM settlements_chaintransaction WHERE id = {row_id}",
    ) == "1"
