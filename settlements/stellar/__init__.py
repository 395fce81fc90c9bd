"""PayMint on Stellar: invoice tokens, stablecoin settlement, SEP-10 wallet links.

Modules: :mod:`.protocol` (units and flags), :mod:`.gateway` (the one Horizon access point;
on ``STELLAR_NETWORK = "local"`` the in-process network of :mod:`devtools.stellar_local`),
:mod:`.outbox` (at-most-once submission of signed envelopes), :mod:`.submission` (its state
machine), :mod:`.tokens` (invoice assets, funding and settlement on chain), :mod:`.sep10` and
:mod:`.api` (wallet connection), :mod:`.reconciliation`, :mod:`.tasks`.
"""
