"""A fresh local Stellar network per test, with the platform's accounts bootstrapped."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from stellar_sdk import Asset, Keypair, TransactionBuilder

from devtools.stellar_local import LocalLedger, ManualClock
from devtools.stellar_local.bootstrap import local_platform_bootstrap
from devtools.stellar_local.network import reset_local_ledger
from settlements.stellar.gateway import (
    HorizonGateway,
    PlatformKeys,
    get_gateway,
    platform_keys,
    stablecoin_asset,
)


@dataclass
class Chain:
    ledger: LocalLedger
    clock: ManualClock
    gateway: HorizonGateway
    keys: PlatformKeys
    eurc: Asset

    def wallet(self, xlm: str = "100") -> Keypair:
        kp = Keypair.random()
        self.ledger.fund(kp.public_key, xlm)
        return kp

    def submit(self, source: Keypair, operations, signers=None) -> dict:
        account = self.gateway.load_account(source.public_key)
        builder = TransactionBuilder(account, self.gateway.network_passphrase, base_fee=100)
        builder.add_time_bounds(0, self.clock.now + 300)
        for op in operations:
            builder.append_operation(op)
        envelope = builder.build()
        for signer in signers or [source]:
            envelope.sign(signer)
        return self.gateway.submit(envelope.to_xdr())

    def trust(self, wallet: Keypair, *assets: Asset) -> None:
        from stellar_sdk import ChangeTrust

        self.submit(wallet, [ChangeTrust(asset) for asset in assets])


@pytest.fixture
def chain(settings) -> Chain:
    settings.STELLAR_NETWORK = "local"
    settings.STELLAR_ENABLED = True
    for name in (
        "STELLAR_ISSUER_SECRET",
        "STELLAR_DISTRIBUTION_SECRET",
        "STELLAR_CUSTODY_SECRET",
        "STELLAR_STABLECOIN_ISSUER_SECRET",
        "STELLAR_SEP10_SIGNING_SECRET",
        "STELLAR_HORIZON_URL",
        "STELLAR_NETWORK_PASSPHRASE",
    ):
        setattr(settings, name, "")
    clock = ManualClock(1_700_000_000)
    ledger = reset_local_ledger(clock=clock)
    gateway = get_gateway()
    local_platform_bootstrap(ledger, gateway)
    yield Chain(
        ledger=ledger,
        clock=clock,
        gateway=gateway,
        keys=platform_keys(),
        eurc=stablecoin_asset("EUR"),
    )
    reset_local_ledger()
