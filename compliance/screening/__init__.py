"""Sanctions/PEP screening: list loaders, fuzzy name matching, hits and holds.

Lists
    :func:`parse_un_xml` reads the UN Security Council consolidated list (XML),
    :func:`parse_ofac_csv` the OFAC SDN list (``sdn.csv`` + optional ``alt.csv``) and
    :func:`parse_opensanctions_csv` an OpenSanctions "simple CSV" (``targets.simple.csv``),
    used for the politically exposed persons of OpenSanctions' ``peps`` dataset (source
    ``PEP``); :func:`sanctions_list_load` upserts one source's entries by list id and deletes
    those no longer on it (``manage.py load_sanctions_list``, which then re-screens every
    user and open invoice's debtor when the list changed, whatever the source). All sources
    live in :class:`~compliance.models.SanctionedParty` and go through one matching path.

Matching (:func:`name_score`, 0-100)
    Both names are transliterated to ASCII (anyascii: Cyrillic, Arabic, accents), lower-cased,
    stripped of punctuation, particles (al, el, bin, van, de, ...) and legal forms (Ltd, GmbH,
    LLC, ...); common transliteration variants of given names are folded (Mohammed/Muhammad,
    Youssef/Yusuf, Alexander/Aleksandr, ...). Tokens are then aligned one-to-one, best pairs
    first, in any order (lists write "LAST, First"); a pair scores 1 when equal, 0.98 when
    their phonetic keys are (kh/h, c/k, z/s, w/v, y/i, doubled letters), else the mean of
    Jaro-Winkler and normalized Levenshtein (Indel) similarity. The name score is the mean
    over the tokens of the shorter name, weighted by token length, so that a listed name
    with extra middle names still matches. A single token against a longer name is compared
    as whole strings (one shared given name is never a hit).

    A hit is a score at or above ``settings.SANCTIONS_MATCH_THRESHOLD`` (default 90): at 90,
    spelling and transliteration variants of the same name match (Ivan Petrov/Иван Петров,
    Victor Kusnetsov/Viktor Kuznetsov) while a different surname (Ivan Petrenko/Ivan Petrov,
    87.5) does not.

Hits
    :func:`screen_user` raises one ``SANCTIONS_HIT`` alert per sanctioned party matched and
    puts the account on hold (:class:`~compliance.models.AccountHold`) until ops release it;
    an alert already resolved as a false positive does not hold the account again.
    :func:`screen_debtor` raises the alert on the invoice, which blocks its listing.
    :func:`compliance.holds.user_is_on_hold` and :func:`~compliance.holds.invoice_has_sanctions_hit`
    are what money services check; :func:`~compliance.holds.user_has_screening_hold` is what
    KYC approval checks.

PEP matches are not sanctions hits
    Being a politically exposed person is not a prohibition: FATF Recommendation 12 and
    Directive (EU) 2015/849 art. 20 require enhanced due diligence (source of wealth and of
    funds) and senior-management approval, not a refusal. A user matching a PEP entry gets
    one ``PEP_MATCH`` alert (HIGH; title and evidence say PEP, the entry, the score and the
    EDD required) and, as the issue demands ("a hit blocks the account pending review"), a
    ``PEP_REVIEW`` hold: no money moves and KYC approval is refused (``SANCTIONS_HOLD_OPEN``)
    until the hold is released. Releasing it is the senior-management approval
    (:func:`account_hold_release`): only active staff holding the permission
    ``compliance.approve_pep_relationship`` (:data:`PEP_APPROVAL_PERMISSION`) may, with a
    note and the EDD findings (source of wealth, source of funds, stored on the hold), and
    not the staff member the alert is assigned to (four eyes); refusals are
    ``SENIOR_APPROVAL_REQUIRED``, ``EDD_REQUIRED``, ``FOUR_EYES_REQUIRED``. A debtor
    matching a PEP entry (a person, or a company the PEP dataset lists) gets a MEDIUM
    ``PEP_MATCH`` alert for review but its invoice can still be listed: a company owned by or
    linked to a PEP is not itself prohibited. Only a sanctions hit blocks a listing.

Modules: :mod:`.lists` (parsers of the official formats and the loader), :mod:`.matching`
(normalization, transliteration and scoring; pure), :mod:`.services` (screening, alerts and
holds). Sample (fictional) lists of every format: ``compliance/sanctions_data/``.
"""

from .lists import (
    LoadResult,
    ParsedParty,
    SanctionsListError,
    parse_ofac_csv,
    parse_opensanctions_csv,
    parse_un_xml,
    sanctions_list_load,
)
from .matching import (
    LEGAL_FORMS,
    NAME_VARIANTS,
    PARTICLES,
    match_threshold,
    name_score,
    name_tokens,
    phonetic_key,
    token_score,
    tokens_score,
)
from .services import (
    EDD_MAX_LENGTH,
    PEP_APPROVAL_PERMISSION,
    PEP_REQUIRED_ACTION,
    Match,
    account_hold_place,
    account_hold_release,
    can_approve_pep_relationship,
    screen_debtor,
    screen_name,
    screen_user,
)

__all__ = [
    "EDD_MAX_LENGTH",
    "LEGAL_FORMS",
    "NAME_VARIANTS",
    "PARTICLES",
    "PEP_APPROVAL_PERMISSION",
    "PEP_REQUIRED_ACTION",
    "LoadResult",
    "Match",
    "ParsedParty",
    "SanctionsListError",
    "account_hold_place",
    "account_hold_release",
    "can_approve_pep_relationship",
    "match_threshold",
    "name_score",
    "name_tokens",
    "parse_ofac_csv",
    "parse_opensanctions_csv",
    "parse_un_xml",
    "phonetic_key",
    "sanctions_list_load",
    "screen_debtor",
    "screen_name",
    "screen_user",
    "token_score",
    "tokens_score",
]
