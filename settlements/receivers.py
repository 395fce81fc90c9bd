"""How settlements listens to the layers below it, wired once by ``SettlementsConfig.ready``:

- the marketplace's :data:`~marketplace.signals.advance_disbursed` -> the on-chain mirror
  issues the invoice token and the investors' shares (outbox rows in the disbursement's
  transaction, :func:`settlements.stellar.tokens.chain_on_disbursement`);
- ``/metrics`` gets the ledger's money metrics (:mod:`settlements.metrics`).
"""

from __future__ import annotations

from marketplace.signals import advance_disbursed
from paymint.core.metrics import register_scrape_source

from .metrics import ledger_metric_families
from .stellar.tokens import chain_on_disbursement


def on_advance_disbursed(sender, *, invoice, investments, **kwargs) -> None:
    chain_on_disbursement(invoice=invoice, investments=investments)


def connect() -> None:
    advance_disbursed.connect(
        on_advance_disbursed, dispatch_uid="settlements.chain_on_disbursement"
    )
    register_scrape_source("database", ledger_metric_families)
