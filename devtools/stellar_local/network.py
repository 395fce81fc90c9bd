"""The process-wide local network (``STELLAR_NETWORK = "local"``): one :class:`LocalLedger`
per process, the gateway that speaks to it, and the platform's accounts on it.

``settings.STELLAR_LOCAL_NETWORK`` names :func:`local_gateway`, which
:func:`settlements.stellar.gateway.get_gateway` calls to build its gateway on the local
network; production code never imports this package.
"""

from __future__ import annotations

import threading

from django.conf import settings

from settlements.stellar.gateway import HorizonGateway, gateway_reset, network_config

from .bootstrap import local_platform_bootstrap
from .horizon import LocalHorizonClient
from .ledger import LocalLedger

_lock = threading.Lock()
_local_ledger: LocalLedger | None = None


def local_ledger() -> LocalLedger:
    """The process-wide local ledger (``STELLAR_NETWORK = "local"`` only)."""
    global _local_ledger
    with _lock:
        if _local_ledger is None:
            _local_ledger = LocalLedger(network_passphrase=network_config()[2])
        return _local_ledger


def reset_local_ledger(*, clock=None) -> LocalLedger:
    """Start a fresh local network (tests): new ledger, new gateway."""
    global _local_ledger
    passphrase = network_config()[2]
    with _lock:
        _local_ledger = (
            LocalLedger(network_passphrase=passphrase)
            if clock is None
            else LocalLedger(network_passphrase=passphrase, clock=clock)
        )
    gateway_reset()
    return _local_ledger


def local_gateway(*, horizon_url: str, network_passphrase: str) -> HorizonGateway:
    """A gateway to the process's local ledger. The first one of a process starts the ledger
    and creates the platform's accounts on it (issuer, distribution, custody, stablecoin
    issuers with a supply for every currency in ``STELLAR_STABLECOIN_CODES``), so the demo
    and the dashboards need no set-up. Tests start their own with
    :func:`reset_local_ledger`."""
    fresh = _local_ledger is None
    ledger = local_ledger()
    gateway = HorizonGateway(
        horizon_url=horizon_url,
        network_passphrase=network_passphrase,
        client=LocalHorizonClient(ledger),
        ledger=ledger,
    )
    if fresh:
        local_platform_bootstrap(
            ledger, gateway, currencies=tuple(settings.STELLAR_STABLECOIN_CODES)
        )
    return gateway


def remote_gateway(*, horizon_url: str, network_passphrase: str) -> HorizonGateway:
    """A gateway to a local network served over HTTP by another process at ``horizon_url``
    (``STELLAR_HORIZON_URL``; the fault suite's Horizon stand-in,
    ``tests/faults/conftest.py``), spoken to like a real Horizon; that process set up the
    platform's accounts. Chosen with ``STELLAR_LOCAL_NETWORK``."""
    return HorizonGateway(horizon_url=horizon_url, network_passphrase=network_passphrase)
