"""The local ledger behind the real SDK: valid transactions apply, and each rejection code is
produced by the situation that causes it on the network (no mocks, no network)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from stellar_sdk import (
    Asset,
    FeeBumpTransaction,
    Keypair,
    Network,
    Server,
    Signer,
    TransactionBuilder,
    TransactionEnvelope,
)
from stellar_sdk.exceptions import BadRequestError, ConnectionError, NotFoundError
from stellar_sdk.operation.set_options import AuthorizationFlag
from stellar_sdk.operation.set_trust_line_flags import TrustLineFlags

from devtools.stellar_local import (
    FAULT_LOST_RESPONSE,
    FAULT_TIMEOUT_BEFORE_APPLY,
    LocalHorizonClient,
    LocalLedger,
    ManualClock,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:`set_flags` is a int:DeprecationWarning",
    "ignore:`clear_flags` is a int:DeprecationWarning",
    "ignore:This function is deprecated:DeprecationWarning",
)

PASSPHRASE = Network.TESTNET_NETWORK_PASSPHRASE
ISSUER_FLAGS = (
    AuthorizationFlag.AUTHORIZATION_REQUIRED
    | AuthorizationFlag.AUTHORIZATION_REVOCABLE
    | AuthorizationFlag.AUTHORIZATION_CLAWBACK_ENABLED
)


class Net:
    def __init__(self):
        self.clock = ManualClock(1_700_000_000)
        self.ledger = LocalLedger(PASSPHRASE, clock=self.clock)
        self.server = Server("http://stellar.local/", client=LocalHorizonClient(self.ledger))

    def account(self, xlm="100"):
        kp = Keypair.random()
        self.ledger.fund(kp.public_key, xlm)
        return kp

    def build(
        self, source: Keypair, ops, *, signers=None, fee=100, timeout=60, sequence=None, min_time=0
    ):
        account = self.server.load_account(source.public_key)
        if sequence is not None:
            account.sequence = sequence - 1
        builder = TransactionBuilder(account, PASSPHRASE, base_fee=fee)
        builder.add_time_bounds(min_time, self.clock.now + timeout)
        for op in ops:
            builder.append_operation(op)
        envelope = builder.build()
        for signer in signers if signers is not None else [source]:
            envelope.sign(signer)
        return envelope

    def submit(self, source, ops, **kwargs):
        return self.server.submit_transaction(self.build(source, ops, **kwargs))

    def codes(self, source, ops, **kwargs) -> dict:
        with pytest.raises(BadRequestError) as info:
            self.submit(source, ops, **kwargs)
        assert info.value.status == 400
        return info.value.extras["result_codes"]

    def seq(self, kp) -> int:
        return self.server.load_account(kp.public_key).sequence

    def balance(self, kp, asset=None) -> Decimal:
        return self.ledger.balance(kp.public_key, asset)

    def token(self, issuer: Keypair, code="INVAB"):
        """An AUTH_REQUIRED | REVOCABLE | CLAWBACK asset issued by ``issuer``."""
        from stellar_sdk import SetOptions

        self.submit(issuer, [SetOptions(set_flags=ISSUER_FLAGS)])
        return Asset(code, issuer.public_key)


@pytest.fixture
def net():
    return Net()


def pay(destination, amount, asset=None, source=None):
    from stellar_sdk import Payment

    return Payment(
        destination.public_key,
        asset or Asset.native(),
        str(amount),
        source=source.public_key if source else None,
    )


def trust(asset, source=None, limit=None):
    from stellar_sdk import ChangeTrust

    return ChangeTrust(asset, limit, source=source.public_key if source else None)


def authorize(trustor, asset, source=None):
    from stellar_sdk import SetTrustLineFlags

    return SetTrustLineFlags(
        trustor.public_key,
        asset,
        set_flags=TrustLineFlags.AUTHORIZED_FLAG,
        source=source.public_key if source else None,
    )


def test_native_payment_applies_charges_fee_and_consumes_sequence(net):
    alice, bob = net.account("100"), net.account("10")
    seq = net.seq(alice)
    response = net.submit(alice, [pay(bob, "12.5")])
    assert response["successful"] is True and response["fee_charged"] == "100"
    assert net.balance(alice) == Decimal("87.4999900")
    assert net.balance(bob) == Decimal("22.5")
    assert net.seq(alice) == seq + 1
    record = net.server.transactions().transaction(response["hash"]).call()
    assert record["successful"] and record["ledger"] == response["ledger"]
    latest = net.server.ledgers().order(desc=True).limit(1).call()["_embedded"]["records"][0]
    assert latest["sequence"] == response["ledger"]
    assert net.server.fetch_base_fee() == 100


def test_credit_asset_payment_with_authorized_trustline(net):
    issuer, holder = net.account(), net.account()
    asset = net.token(issuer)
    net.submit(holder, [trust(asset)])
    line = net.server.accounts().account_id(holder.public_key).call()["balances"][0]
    assert line["is_authorized"] is False and line["is_clawback_enabled"] is True
    net.submit(issuer, [authorize(holder, asset), pay(holder, "1000.1234567", asset)])
    assert net.balance(holder, asset) == Decimal("1000.1234567")
    holders = net.server.accounts().for_asset(asset).call()["_embedded"]["records"]
    assert [h["account_id"] for h in holders] == [holder.public_key]


def test_tx_bad_seq_when_the_sequence_was_already_used(net):
    alice, bob = net.account(), net.account()
    seq = net.seq(alice)
    net.submit(alice, [pay(bob, 1)])
    # (An identical envelope would have the same hash: Horizon answers with its stored result.)
    assert net.codes(alice, [pay(bob, 2)], sequence=seq + 1) == {"transaction": "tx_bad_seq"}
    assert net.codes(alice, [pay(bob, 2)], sequence=seq + 5) == {"transaction": "tx_bad_seq"}
    assert net.balance(bob) == Decimal("101")


def test_tx_bad_auth_when_signed_by_a_stranger_and_nothing_changes(net):
    alice, bob, mallory = net.account(), net.account(), net.account()
    seq = net.seq(alice)
    assert net.codes(alice, [pay(bob, 1)], signers=[mallory]) == {"transaction": "tx_bad_auth"}
    assert net.codes(alice, [pay(bob, 1)], signers=[]) == {"transaction": "tx_bad_auth"}
    assert net.seq(alice) == seq and net.balance(alice) == Decimal("100")


def test_thresholds_and_extra_signers(net):
    from stellar_sdk import SetOptions

    alice, cosigner, bob = net.account(), Keypair.random(), net.account()
    net.submit(
        alice,
        [
            SetOptions(
                signer=Signer.ed25519_public_key(cosigner.public_key, 1),
                low_threshold=1,
                med_threshold=2,
                high_threshold=2,
            )
        ],
    )
    # Low threshold passes with the master key alone, the payment (medium) does not.
    assert net.codes(alice, [pay(bob, 1)]) == {
        "transaction": "tx_failed",
        "operations": ["op_bad_auth"],
    }
    net.submit(alice, [pay(bob, 1)], signers=[alice, cosigner])
    assert net.balance(bob) == Decimal("101")
    # A signature that belongs to no signer of any source account.
    assert net.codes(alice, [pay(bob, 1)], signers=[alice, cosigner, Keypair.random()]) == {
        "transaction": "tx_bad_auth_extra"
    }


def test_tx_insufficient_fee_below_100_stroops_per_operation(net):
    alice, bob = net.account(), net.account()
    seq = net.seq(alice)
    codes = net.codes(alice, [pay(bob, 1), pay(bob, 1)], fee=99)
    assert codes == {"transaction": "tx_insufficient_fee"}
    assert net.seq(alice) == seq


def test_time_bounds_against_the_ledger_clock(net):
    alice, bob = net.account(), net.account()
    envelope = net.build(alice, [pay(bob, 1)], timeout=30)
    net.clock.advance(31)
    with pytest.raises(BadRequestError) as info:
        net.server.submit_transaction(envelope)
    assert info.value.extras["result_codes"] == {"transaction": "tx_too_late"}
    early = net.codes(alice, [pay(bob, 1)], min_time=net.clock.now + 100, timeout=200)
    assert early == {"transaction": "tx_too_early"}
    assert net.balance(bob) == Decimal("100")


def test_op_underfunded_and_low_reserve(net):
    alice, bob = net.account("10"), net.account()
    # 10 XLM, reserve 1 XLM, the fee 0.00001: 9 XLM is too much.
    assert net.codes(alice, [pay(bob, "9")])["operations"] == ["op_underfunded"]
    net.submit(alice, [pay(bob, "8.9999")])
    issuer = net.account()
    asset = Asset("USDC", issuer.public_key)
    poor = net.account("1.00001")
    # A trustline is a subentry: 1.5 XLM needed, 1 XLM held.
    assert net.codes(poor, [trust(asset)])["operations"] == ["op_low_reserve"]
    from stellar_sdk import CreateAccount

    codes = net.codes(alice, [CreateAccount(Keypair.random().public_key, "0.5")])
    assert codes["operations"] == ["op_low_reserve"]


def test_op_no_trust_and_op_not_authorized(net):
    issuer, holder = net.account(), net.account()
    asset = net.token(issuer)
    assert net.codes(issuer, [pay(holder, 5, asset)])["operations"] == ["op_no_trust"]
    net.submit(holder, [trust(asset)])
    assert net.codes(issuer, [pay(holder, 5, asset)])["operations"] == ["op_not_authorized"]


def test_failed_operation_rolls_back_the_others_but_consumes_fee_and_sequence(net):
    alice, bob, carol = net.account("100"), net.account(), net.account()
    seq = net.seq(alice)
    envelope = net.build(alice, [pay(bob, 10), pay(carol, 1000), pay(bob, 1)])
    with pytest.raises(BadRequestError) as info:
        net.server.submit_transaction(envelope)
    assert info.value.extras["result_codes"] == {
        "transaction": "tx_failed",
        "operations": ["op_success", "op_underfunded", "op_success"],
    }
    assert net.balance(bob) == Decimal("100") and net.balance(carol) == Decimal("100")
    assert net.balance(alice) == Decimal("99.9999700")  # 3 operations x 100 stroops
    assert net.seq(alice) == seq + 1
    record = net.server.transactions().transaction(envelope.hash_hex()).call()
    assert record["successful"] is False
    # Resubmitting the same envelope returns the recorded result; nothing is charged again.
    with pytest.raises(BadRequestError):
        net.server.submit_transaction(envelope)
    assert net.balance(alice) == Decimal("99.9999700")


def test_clawback_and_revocation(net):
    issuer, holder = net.account(), net.account()
    asset = net.token(issuer)
    net.submit(holder, [trust(asset)])
    net.submit(issuer, [authorize(holder, asset), pay(holder, 100, asset)])
    from stellar_sdk import Clawback, SetTrustLineFlags

    net.submit(issuer, [Clawback(asset, holder.public_key, "60")])
    assert net.balance(holder, asset) == Decimal("40")
    assert net.codes(issuer, [Clawback(asset, holder.public_key, "41")])["operations"] == [
        "op_underfunded"
    ]
    net.submit(
        issuer,
        [SetTrustLineFlags(holder.public_key, asset, clear_flags=TrustLineFlags.AUTHORIZED_FLAG)],
    )
    other = net.account()
    net.submit(other, [trust(asset)])
    net.submit(issuer, [authorize(other, asset)])
    assert net.codes(holder, [pay(other, 1, asset)])["operations"] == ["op_src_not_authorized"]
    # An asset issued before the clawback flag was set is not clawback-enabled.
    plain_issuer = net.account()
    plain = Asset("PLAIN", plain_issuer.public_key)
    net.submit(holder, [trust(plain)])
    net.submit(plain_issuer, [pay(holder, 5, plain)])
    assert net.codes(plain_issuer, [Clawback(plain, holder.public_key, "1")])["operations"] == [
        "op_not_clawback_enabled"
    ]


def test_manage_data_and_home_domain(net):
    from stellar_sdk import ManageData, SetOptions

    issuer = net.account()
    net.submit(
        issuer, [ManageData("INVAB.sha256", bytes(32)), SetOptions(home_domain="paymint.example")]
    )
    record = net.server.accounts().account_id(issuer.public_key).call()
    assert record["data"]["INVAB.sha256"] == "A" * 43 + "="
    assert record["home_domain"] == "paymint.example" and record["subentry_count"] == 1


def test_fee_bump_pays_for_an_inner_transaction(net):
    alice, sponsor, bob = net.account(), net.account(), net.account()
    inner = net.build(alice, [pay(bob, 1)], fee=100)
    bump = TransactionBuilder.build_fee_bump_transaction(sponsor.public_key, 200, inner, PASSPHRASE)
    bump.sign(sponsor)
    response = net.server.submit_transaction(bump)
    assert response["successful"] and response["inner_transaction"]["hash"] == inner.hash_hex()
    assert net.balance(alice) == Decimal("99")  # the fee was paid by the sponsor
    assert net.balance(sponsor) == Decimal("99.9999800")
    assert isinstance(bump.transaction, FeeBumpTransaction)


def test_lost_response_after_apply_is_found_by_hash_and_not_applied_twice(net):
    alice, bob = net.account(), net.account()
    envelope = net.build(alice, [pay(bob, 5)])
    net.ledger.inject_fault(FAULT_LOST_RESPONSE)
    with pytest.raises(ConnectionError):
        net.server.submit_transaction(envelope)
    assert net.server.transactions().transaction(envelope.hash_hex()).call()["successful"]
    net.server.submit_transaction(envelope)  # resubmitted: the stored result, no new payment
    assert net.balance(bob) == Decimal("105")


def test_timeout_before_apply_then_the_same_envelope_lands_once(net):
    alice, bob = net.account(), net.account()
    envelope = net.build(alice, [pay(bob, 5)])
    net.ledger.inject_fault(FAULT_TIMEOUT_BEFORE_APPLY)
    with pytest.raises(ConnectionError):
        net.server.submit_transaction(envelope)
    with pytest.raises(NotFoundError):
        net.server.transactions().transaction(envelope.hash_hex()).call()
    net.server.submit_transaction(envelope)
    net.server.submit_transaction(TransactionEnvelope.from_xdr(envelope.to_xdr(), PASSPHRASE))
    assert net.balance(bob) == Decimal("105")


def test_signature_from_another_network_is_bad_auth(net):
    alice, bob = net.account(), net.account()
    account = net.server.load_account(alice.public_key)
    envelope = (
        TransactionBuilder(account, Network.PUBLIC_NETWORK_PASSPHRASE, 100)
        .append_operation(pay(bob, 1))
        .set_timeout(60)
        .build()
    )
    envelope.sign(alice)
    with pytest.raises(BadRequestError) as info:
        net.server.submit_transaction(envelope.to_xdr())
    assert info.value.extras["result_codes"] == {"transaction": "tx_bad_auth"}
