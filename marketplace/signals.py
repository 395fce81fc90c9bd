"""What the marketplace tells the layers above it (``docs/architecture.md``).

A lower layer never imports a workflow; when a workflow must act inside the marketplace's
transaction (the on-chain mirror writes its outbox rows with the money movement), the
marketplace sends a signal and the workflow's app connects its receiver in
``AppConfig.ready``.
"""

from django.dispatch import Signal

#: Sent inside the disbursement's transaction, after the advance was posted and the invoice
#: moved to ``DISBURSED``. Arguments: ``invoice`` (the ``Invoice``) and ``investments``
#: (the listing's investments, in id order). Receivers write only into that transaction
#: (e.g. outbox rows) and must be idempotent.
advance_disbursed = Signal()
