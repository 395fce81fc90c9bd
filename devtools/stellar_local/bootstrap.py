"""The platform's accounts on the local network (tests, demo): funded, the issuer's flags and
home domain set, stablecoin trustlines and supply.
"""

from __future__ import annotations

from django.conf import settings
from stellar_sdk import ChangeTrust, Keypair, Payment, SetOptions, TransactionBuilder
from stellar_sdk.operation.set_options import AuthorizationFlag

from settlements.stellar.gateway import HorizonGateway, platform_keys, stablecoin_asset

from .ledger import LocalLedger

ISSUER_FLAGS = (
    AuthorizationFlag.AUTHORIZATION_REQUIRED
    | AuthorizationFlag.AUTHORIZATION_REVOCABLE
    | AuthorizationFlag.AUTHORIZATION_CLAWBACK_ENABLED
)


def _submit_now(gateway: HorizonGateway, source: Keypair, operations, signers) -> dict:
    account = gateway.load_account(source.public_key)
    builder = TransactionBuilder(
        account, gateway.network_passphrase, base_fee=settings.STELLAR_BASE_FEE
    )
    builder.add_time_bounds(0, gateway.network_time() + settings.STELLAR_TX_TIMEOUT_SECONDS)
    for op in operations:
        builder.append_operation(op)
    envelope = builder.build()
    for signer in signers:
        envelope.sign(signer)
    return gateway.submit(envelope.to_xdr())


def local_platform_bootstrap(
    ledger: LocalLedger,
    gateway: HorizonGateway,
    *,
    currencies: tuple[str, ...] = ("EUR",),
    stablecoin_supply: str = "10000000",
) -> None:
    """Create the platform's accounts on the local network (tests, demo): fund them, set the
    issuer's flags and home domain, stablecoin trustlines for distribution and custody, and
    mint ``stablecoin_supply`` of each stablecoin to the distribution account."""
    keys = platform_keys()
    assert keys.stablecoin_issuer is not None
    for kp in (keys.issuer, keys.distribution, keys.custody, keys.stablecoin_issuer, keys.sep10):
        ledger.fund(kp.public_key, "10000")
    _submit_now(
        gateway,
        keys.issuer,
        [SetOptions(set_flags=ISSUER_FLAGS, home_domain=settings.STELLAR_HOME_DOMAIN)],
        [keys.issuer],
    )
    for currency in currencies:
        coin = stablecoin_asset(currency)
        _submit_now(
            gateway,
            keys.distribution,
            [
                ChangeTrust(coin, source=keys.distribution.public_key),
                ChangeTrust(coin, source=keys.custody.public_key),
                Payment(
                    keys.distribution.public_key,
                    coin,
                    stablecoin_supply,
                    source=keys.stablecoin_issuer.public_key,
                ),
            ],
            [keys.distribution, keys.custody, keys.stablecoin_issuer],
        )
