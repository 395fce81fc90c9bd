"""Transaction monitoring (AML): rules over a user's recent ledger movements.

A *movement* is one journal entry seen from a user: the net change of the user's cash
accounts (``INVESTOR_CASH``, ``SELLER_CASH``) in that entry, in its currency, with the entry's
real posting time (``created_at``; AML windows use real time, not the business clock).
A withdrawal counts when it is requested (``WITHDRAWAL_HOLD``: cash moves to the hold
account); its payout (``WITHDRAWAL_PAID``, hold only) and a failed withdrawal's release are
not movements.

*External* movements are those crossing the platform's boundary: deposits and withdrawals.
*User-initiated* ones add investments (``FUNDING``).

Rules (pure functions over movements; thresholds in ``settings.AML_MONITORING``, amounts in
the movement's own currency, one threshold per currency, EUR's for a currency not listed):

``LARGE_MOVEMENT``
    one external movement >= ``LARGE_MOVEMENT`` (EUR 10,000).
``STRUCTURING``
    >= 3 deposits within 7 days, each in [80 %, 100 %) of ``LARGE_MOVEMENT``.
``RAPID_IN_OUT``
    a withdrawal requested within 48 h of a deposit, of >= 80 % of that deposit, with no
    investment in between.
``VELOCITY``
    more than 10 external movements, or more than ``VELOCITY_MAX_AMOUNT`` (EUR 50,000) of
    them, within 24 h (per currency).
``LINKED_PARTY``
    an investor funds an invoice of a seller they are linked to: same tax id, same legal
    name (normalized as in screening), or same company email domain (public mail providers
    and reserved example domains excluded).
``DORMANT_REACTIVATION``
    a user-initiated movement >= ``DORMANT_REACTIVATION_AMOUNT`` (EUR 5,000) after at least
    180 days without any movement (an account that never moved is new, not dormant).

Every rule's window ends at a movement, so a new movement can only cause the hits of the
windows that end at it: :func:`monitor_movement` (after each deposit, investment and
withdrawal commits) evaluates just those, from only as much of the user's history as they
look back over (:func:`history_needed`: none for an investment below the dormant amount, 24 h
for a small deposit), so its cost does not grow with the user's history. The scheduled
:func:`monitoring_sweep` runs :func:`monitor_user` - every rule over the whole look-back period
(``LOOKBACK_DAYS``) - for recently active users, catching windows that only close with time and
anything a missed hook skipped. Both raise one ``AML_RULE`` alert per hit, deduplicated by rule,
user and window (the entry, or the first entry of the window), with the movements as evidence.

Modules: :mod:`.rules` (pure: movements in, hits out), :mod:`.ledger` (reads the ledger,
raises alerts).
"""

from .ledger import (
    entry_movements,
    monitor_movement,
    monitor_user,
    monitoring_sweep,
    party_identity,
    user_movements,
)
from .rules import (
    CASH_KINDS,
    EXTERNAL_KINDS,
    IN,
    NOT_MOVEMENTS,
    OUT,
    RULE_SEVERITY,
    USER_INITIATED_KINDS,
    AmlConfig,
    FundingLink,
    Movement,
    PartyIdentity,
    Rule,
    RuleHit,
    evaluate_rules,
    history_needed,
    hits_ending_at,
    link_reasons,
    rule_dormant_reactivation,
    rule_large_movement,
    rule_linked_party,
    rule_rapid_in_out,
    rule_structuring,
    rule_velocity,
)

__all__ = [
    "CASH_KINDS",
    "EXTERNAL_KINDS",
    "IN",
    "NOT_MOVEMENTS",
    "OUT",
    "RULE_SEVERITY",
    "USER_INITIATED_KINDS",
    "AmlConfig",
    "FundingLink",
    "Movement",
    "PartyIdentity",
    "Rule",
    "RuleHit",
    "entry_movements",
    "evaluate_rules",
    "history_needed",
    "hits_ending_at",
    "link_reasons",
    "monitor_movement",
    "monitor_user",
    "monitoring_sweep",
    "party_identity",
    "rule_dormant_reactivation",
    "rule_large_movement",
    "rule_linked_party",
    "rule_rapid_in_out",
    "rule_structuring",
    "rule_velocity",
    "user_movements",
]
