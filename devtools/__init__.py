"""Development and test tools - never part of what PayMint runs against the real world.

- :mod:`devtools.stellar_local` - an in-process Stellar network behind a Horizon-speaking
  client (``STELLAR_NETWORK = "local"``: the tests and the demo), plugged into the production
  gateway by the ``STELLAR_LOCAL_NETWORK`` setting, never imported by it.

Production code imports nothing from here (an import-linter contract, ``.importlinter``).
"""
