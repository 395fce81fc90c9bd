"""At-most-once submission through the outbox against the local ledger."""

from __future__ import annotations

from decimal import Decimal

import pytest
from stellar_sdk import Payment

from compliance.models import ComplianceAlert
from devtools.stellar_local import FAULT_LOST_RESPONSE, FAULT_TIMEOUT_BEFORE_APPLY
from settlements.models import ChainTransaction
from settlements.stellar.enums import ChainPurpose, ChainTxStatus
from settlements.stellar.gateway import SubmissionRejected
from settlements.stellar.outbox import (
    ChainRetryLater,
    Handling,
    chain_tx_enqueue,
    handling_for,
)
from settlements.stellar.submission import chain_tx_submit

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def enqueue_payment(chain, destination, amount="25.5", key="pay-1"):
    return chain_tx_enqueue(
        purpose=ChainPurpose.OTHER,
        idempotency_key=key,
        source=chain.keys.distribution.public_key,
        operations=[
            {
                "type": "payment",
                "destination": destination.public_key,
                "asset": f"EURC:{chain.eurc.issuer}",
                "amount": amount,
            }
        ],
    )


def investor(chain):
    wallet = chain.wallet()
    chain.trust(wallet, chain.eurc)
    return wallet


def statuses(row):
    return [(e.from_status, e.to_status) for e in row.events.order_by("id")]


def test_enqueued_payment_is_built_saved_and_confirmed_after_commit(chain, committed):
    wallet = investor(chain)
    with committed():
        row = enqueue_payment(chain, wallet)
        assert row.status == ChainTxStatus.PENDING and row.envelope_xdr == ""
        again = enqueue_payment(chain, wallet)  # same key: the same intent
        assert again.pk == row.pk
    row.refresh_from_db()
    assert row.status == ChainTxStatus.CONFIRMED and row.attempts == 1
    assert chain.ledger.balance(wallet.public_key, chain.eurc) == Decimal("25.5")
    record = chain.gateway.transaction_by_hash(row.tx_hash)
    assert record["successful"] and record["ledger"] == row.ledger
    assert row.sequence == int(record["source_account_sequence"])
    assert row.max_time == chain.clock.now + 300
    assert statuses(row) == [("PENDING", "SUBMITTED"), ("SUBMITTED", "CONFIRMED")]


def test_lost_response_after_apply_is_not_paid_twice(chain, committed):
    wallet = investor(chain)
    chain.ledger.inject_fault(FAULT_LOST_RESPONSE)
    submissions = chain.ledger.submissions
    with committed():
        row = enqueue_payment(chain, wallet)
    row.refresh_from_db()
    assert row.status == ChainTxStatus.CONFIRMED
    assert chain.ledger.submissions == submissions + 1  # found by hash, never resent
    assert chain.ledger.balance(wallet.public_key, chain.eurc) == Decimal("25.5")
    assert row.last_error.startswith("unknown outcome")


def test_timeout_before_apply_resends_the_same_envelope_which_lands_once(chain, committed):
    wallet = investor(chain)
    chain.ledger.inject_fault(FAULT_TIMEOUT_BEFORE_APPLY)
    with committed():
        row = enqueue_payment(chain, wallet)  # the task retries (eagerly) after the timeout
    row.refresh_from_db()
    assert row.status == ChainTxStatus.CONFIRMED and row.attempts == 2
    assert row.previous_hashes == []  # the same envelope, not a new one
    assert chain.ledger.balance(wallet.public_key, chain.eurc) == Decimal("25.5")


def test_expired_envelope_is_rebuilt_with_a_new_sequence_and_pays_once(
    chain, django_capture_on_commit_callbacks
):
    wallet = investor(chain)
    with django_capture_on_commit_callbacks(execute=False):
        row = enqueue_payment(chain, wallet)
    chain.ledger.inject_fault(FAULT_TIMEOUT_BEFORE_APPLY)
    with pytest.raises(ChainRetryLater):
        chain_tx_submit(chain_tx_id=row.pk)
    row.refresh_from_db()
    first_hash, first_sequence = row.tx_hash, row.sequence
    assert row.status == ChainTxStatus.SUBMITTED
    chain.clock.advance(301)  # the time bounds close; the old envelope can never land
    row = chain_tx_submit(chain_tx_id=row.pk)
    assert row.status == ChainTxStatus.CONFIRMED
    assert row.previous_hashes == [first_hash] and row.tx_hash != first_hash
    assert chain.gateway.transaction_by_hash(first_hash) is None
    assert row.sequence == first_sequence  # the old one never consumed its sequence
    assert chain.ledger.balance(wallet.public_key, chain.eurc) == Decimal("25.5")
    assert ("SUBMITTED", "EXPIRED") in statuses(row) and ("EXPIRED", "PENDING") in statuses(row)
    # Running the task again changes nothing.
    assert chain_tx_submit(chain_tx_id=row.pk).status == ChainTxStatus.CONFIRMED
    assert chain.ledger.balance(wallet.public_key, chain.eurc) == Decimal("25.5")


def test_bad_seq_after_the_sequence_was_used_elsewhere_rebuilds_and_pays_once(
    chain, django_capture_on_commit_callbacks
):
    wallet = investor(chain)
    with django_capture_on_commit_callbacks(execute=False):
        row = enqueue_payment(chain, wallet)
    chain.ledger.inject_fault(FAULT_TIMEOUT_BEFORE_APPLY)
    with pytest.raises(ChainRetryLater):
        chain_tx_submit(chain_tx_id=row.pk)
    # Another process spends the distribution account's next sequence number.
    chain.submit(chain.keys.distribution, [Payment(wallet.public_key, chain.eurc, "1")])
    row = chain_tx_submit(chain_tx_id=row.pk)
    assert row.status == ChainTxStatus.CONFIRMED and len(row.previous_hashes) == 1
    assert chain.ledger.balance(wallet.public_key, chain.eurc) == Decimal("26.5")


def test_failed_operation_stops_and_raises_a_reconciliation_alert(chain, committed):
    stranger = chain.wallet()  # no EURC trustline
    with committed():
        row = enqueue_payment(chain, stranger)
    row.refresh_from_db()
    assert row.status == ChainTxStatus.FAILED
    assert row.result_codes == {"transaction": "tx_failed", "operations": ["op_no_trust"]}
    alert = ComplianceAlert.objects.get()
    assert alert.kind == "RECONCILIATION" and alert.evidence["tx_hash"] == row.tx_hash
    # The envelope was applied and failed: fee and sequence consumed, nothing paid.
    assert chain.gateway.transaction_by_hash(row.tx_hash)["successful"] is False


def test_every_code_has_a_handling():
    assert handling_for(SubmissionRejected("tx_bad_seq")) == Handling.REBUILD
    assert handling_for(SubmissionRejected("tx_too_late")) == Handling.REBUILD
    assert handling_for(SubmissionRejected("tx_too_early")) == Handling.RETRY
    assert handling_for(SubmissionRejected("tx_insufficient_fee")) == Handling.RAISE_FEE
    assert handling_for(SubmissionRejected("tx_bad_auth")) == Handling.ALERT
    assert handling_for(SubmissionRejected("tx_failed", ["op_success", "op_underfunded"])) == (
        Handling.ALERT
    )
    assert handling_for(SubmissionRejected("tx_something_new")) == Handling.ALERT


def test_missing_signing_key_fails_with_an_alert(chain, committed):
    wallet = investor(chain)
    stranger = chain.wallet()
    with committed():
        row = chain_tx_enqueue(
            purpose=ChainPurpose.OTHER,
            idempotency_key="foreign",
            source=stranger.public_key,
            operations=[
                {
                    "type": "payment",
                    "destination": wallet.public_key,
                    "asset": "native",
                    "amount": "1",
                }
            ],
        )
    row.refresh_from_db()
    assert row.status == ChainTxStatus.FAILED and row.envelope_xdr == ""
    assert ChainTransaction.objects.count() == 1 and ComplianceAlert.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_on_one_row_pay_once(chain):
    from tests.helpers import run_in_threads

    wallet = investor(chain)
    row = ChainTransaction.objects.create(  # created directly: no task runs on commit
        purpose=ChainPurpose.OTHER,
        idempotency_key="concurrent",
        source=chain.keys.distribution.public_key,
        operations=[
            {
                "type": "payment",
                "destination": wallet.public_key,
                "asset": f"EURC:{chain.eurc.issuer}",
                "amount": "7",
            }
        ],
    )
    results = run_in_threads(6, lambda i: chain_tx_submit(chain_tx_id=row.pk))
    assert not [r for r in results if isinstance(r, BaseException)], results
    row.refresh_from_db()
    assert row.status == ChainTxStatus.CONFIRMED and row.previous_hashes == []
    assert chain.ledger.balance(wallet.public_key, chain.eurc) == Decimal("7")
