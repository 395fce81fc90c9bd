"""Sanctions/PEP screening: official list loaders, fuzzy name matching, hits and holds.

Lists
    :func:`parse_un_xml` reads the UN Security Council consolidated list (XML) and
    :func:`parse_ofac_csv` the OFAC SDN list (``sdn.csv`` + optional ``alt.csv``);
    :func:`sanctions_list_load` upserts one source's entries by list id and deletes those no
    longer on it (``manage.py load_sanctions_list``).

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
    :func:`screen_user` raises one ``SANCTIONS_HIT`` alert per listed party matched and puts
    the account on hold (:class:`~compliance.models.AccountHold`) until ops release it; an
    alert already resolved as a false positive does not hold the account again.
    :func:`screen_debtor` raises the alert on the invoice. :func:`user_is_on_hold` and
    :func:`invoice_has_sanctions_hit` are what money services check.

Modules: :mod:`.lists` (parsers of the official formats and the loader), :mod:`.matching`
(normalization, transliteration and scoring; pure), :mod:`.services` (screening, alerts and
holds).
"""

from .lists import (
    LoadResult,
    ParsedParty,
    SanctionsListError,
    parse_ofac_csv,
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
    Match,
    account_hold_place,
    account_hold_release,
    invoice_has_sanctions_hit,
    screen_debtor,
    screen_name,
    screen_user,
    user_is_on_hold,
)

__all__ = [
    "LEGAL_FORMS",
    "NAME_VARIANTS",
    "PARTICLES",
    "LoadResult",
    "Match",
    "ParsedParty",
    "SanctionsListError",
    "account_hold_place",
    "account_hold_release",
    "invoice_has_sanctions_hit",
    "match_threshold",
    "name_score",
    "name_tokens",
    "parse_ofac_csv",
    "parse_un_xml",
    "phonetic_key",
    "sanctions_list_load",
    "screen_debtor",
    "screen_name",
    "screen_user",
    "token_score",
    "tokens_score",
    "user_is_on_hold",
]
