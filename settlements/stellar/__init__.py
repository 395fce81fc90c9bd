"""PayMint on Stellar: invoice tokens, stablecoin settlement, SEP-10 wallet links.

Modules: :mod:`.local_ledger` (in-process network for tests and the demo), :mod:`.gateway`
(the one Horizon access point), :mod:`.outbox` (at-most-once submission of signed envelopes),
:mod:`.tokens` (invoice assets, funding and settlement on chain), :mod:`.sep10` and
:mod:`.api` (wallet connection), :mod:`.reconciliation`, :mod:`.tasks`.
"""
