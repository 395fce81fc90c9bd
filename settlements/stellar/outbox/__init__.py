"""At-most-once submission of Stellar transactions through the outbox.

The rules, in the order the submission service applies them:

1. The intent (:class:`~settlements.models.ChainTransaction`, unique ``idempotency_key``) is
   written in the same database transaction as the business change
   (:func:`chain_tx_enqueue`); its task is enqueued after commit.
2. Before anything is sent, the envelope is built (source sequence from the network, time
   bounds ``[0, network time + STELLAR_TX_TIMEOUT_SECONDS]``), signed with the platform keys of
   every source account, and saved with its hash: a crash after sending leaves the hash on
   record.
3. An unknown outcome (timeout, connection error, 5xx) is resolved by looking the hash up
   (current and every superseded envelope). Not found while the time bounds are open: the
   *same* envelope is sent again (the network applies one envelope at most once).
4. A new envelope (new sequence, new hash) is built only when the old one can no longer land:
   its ``max_time`` has passed (``EXPIRED``), or the network rejected it without applying it
   (``tx_bad_seq``, ``tx_too_late``, ``tx_insufficient_fee``). Rebuilding happens under the
   row lock, after the look-up.
5. Every Horizon result code has a handling (:data:`TX_CODE_HANDLING`,
   :data:`OP_CODE_HANDLING`): retry later, rebuild, raise the fee and rebuild, or stop
   (``FAILED``) and raise a compliance alert (kind ``RECONCILIATION``). Unknown codes stop.

Modules: :mod:`.enqueue` (writing intents, the staff requeue), :mod:`.status` (the one status
writer, the row lock, stop with an alert), :mod:`.envelopes` (operation specs -> SDK operations,
build and sign), :mod:`.codes` (Horizon result codes -> handling, :class:`ChainRetryLater`),
:mod:`settlements.stellar.submission` (the submission state machine, which uses these and the
token steps of :mod:`settlements.stellar.tokens`).
"""

from .codes import OP_CODE_HANDLING, TX_CODE_HANDLING, ChainRetryLater, Handling, handling_for
from .enqueue import chain_tx_enqueue, chain_tx_requeue
from .envelopes import asset_from_str, asset_str
from .status import chain_tx_alert, chain_tx_fail, chain_tx_lock, chain_tx_transition

__all__ = [
    "OP_CODE_HANDLING",
    "TX_CODE_HANDLING",
    "ChainRetryLater",
    "Handling",
    "asset_from_str",
    "asset_str",
    "chain_tx_alert",
    "chain_tx_enqueue",
    "chain_tx_fail",
    "chain_tx_lock",
    "chain_tx_requeue",
    "chain_tx_transition",
    "handling_for",
]
