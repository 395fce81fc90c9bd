"""Name normalization, transliteration and scoring (pure: no database).

See the package docstring (:mod:`compliance.screening`) for how names are compared and the
match threshold.
"""

from __future__ import annotations

import re

from anyascii import anyascii
from django.conf import settings
from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler

# --- Name normalization and scoring ---------------------------------------------------------

#: Name particles dropped before matching.
# fmt: off
PARTICLES = frozenset([
    "al", "el", "ul", "bin", "ibn", "bint", "ben", "van", "von", "der", "den", "de", "da", "di",
    "du", "la", "le", "dos", "das", "del",
])
# fmt: on
#: Legal forms and filler words dropped from entity names (kept if nothing else remains).
# fmt: off
LEGAL_FORMS = frozenset([
    "ltd", "limited", "llc", "inc", "incorporated", "corp", "corporation", "co", "company",
    "gmbh", "mbh", "ag", "sa", "sarl", "sas", "srl", "spa", "bv", "nv", "plc", "llp", "lp",
    "kg", "ohg", "ug", "oy", "ab", "as", "asa", "jsc", "ojsc", "pjsc", "cjsc", "ooo", "zao",
    "oao", "fze", "fzco", "fzc", "pte", "pvt", "private", "pty", "sl", "kft", "sro", "doo",
    "ad", "eood", "bhd", "sdn", "tbk", "group", "holding", "holdings", "the", "and", "of", "et",
    "und",
])
# fmt: on
#: Transliteration variants of common given names, folded to one spelling.
NAME_VARIANTS = {
    "muhammad": "mohammed mohamed mohammad muhammed mohamad muhamad mehmet mehmed mohd "
    "mohamud mukhammad mukhamed",
    "yusuf": "youssef yousef yusef youssouf yousif yousuf jusuf",
    "ahmad": "ahmed akhmad akhmed",
    "husayn": "hussein hussain husain husein hossein",
    "hasan": "hassan khasan",
    "abd": "abdul abdel abdal abdoul",
    "abdullah": "abdallah abdulla abdalla",
    "aleksandr": "alexander aleksander alexandre alexandr oleksandr",
    "sergei": "sergey serguei serhiy",
    "yuri": "yury yuriy iouri yurii",
    "osama": "usama",
    "omar": "umar",
    "mustafa": "mostafa moustafa mustapha",
    "ibrahim": "ebrahim ibragim",
    "khalid": "khaled",
    "jamal": "gamal djamal",
    "qasim": "kasim qassem kassem",
    "dmitri": "dmitry dmitriy dimitri",
    "mikhail": "michail mykhailo",
    "nikolai": "nikolay mykola",
}
_CANONICAL = {
    variant: canon for canon, variants in NAME_VARIANTS.items() for variant in variants.split()
}
_PHONETIC = (
    ("kh", "h"),
    ("ph", "f"),
    ("ck", "k"),
    ("q", "k"),
    ("c", "k"),
    ("x", "ks"),
    ("w", "v"),
    ("z", "s"),
    ("dh", "d"),
    ("th", "t"),
    ("gh", "g"),
    ("ou", "u"),
    ("oo", "u"),
    ("ee", "i"),
    ("y", "i"),
    ("j", "i"),
)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_REPEATS = re.compile(r"(.)\1+")


def name_tokens(name: str) -> tuple[str, ...]:
    """Normalized tokens of a name: transliterated, lower-case, no punctuation, particles or
    legal forms, given-name variants folded."""
    text = _NON_ALNUM.sub(" ", anyascii(name or "").lower())
    tokens = [t for t in text.split() if t not in PARTICLES]
    without_forms = [t for t in tokens if t not in LEGAL_FORMS]
    return tuple(_CANONICAL.get(t, t) for t in (without_forms or tokens))


def phonetic_key(token: str) -> str:
    for old, new in _PHONETIC:
        token = token.replace(old, new)
    return _REPEATS.sub(r"\1", token)


def _similarity(a: str, b: str) -> float:
    return (JaroWinkler.normalized_similarity(a, b) + fuzz.ratio(a, b) / 100) / 2


def token_score(a: str, b: str) -> float:
    """Similarity of two normalized tokens, 0-1."""
    if a == b:
        return 1.0
    pa, pb = phonetic_key(a), phonetic_key(b)
    if pa == pb:
        return 0.98
    return max(_similarity(a, b), _similarity(pa, pb))


def tokens_score(query: tuple[str, ...], candidate: tuple[str, ...]) -> float:
    """Score (0-100) of two token tuples; see the module docstring."""
    if not query or not candidate:
        return 0.0
    short, long_ = (query, candidate) if len(query) <= len(candidate) else (candidate, query)
    if len(short) == 1 and len(long_) > 1:
        return round(fuzz.ratio(" ".join(query), " ".join(candidate)), 1)
    pairs = sorted(
        ((token_score(a, b), i, j) for i, a in enumerate(short) for j, b in enumerate(long_)),
        reverse=True,
    )
    used_short: set[int] = set()
    used_long: set[int] = set()
    total = weight = 0.0
    for score, i, j in pairs:
        if i in used_short or j in used_long:
            continue
        used_short.add(i)
        used_long.add(j)
        pair_weight = (len(short[i]) + len(long_[j])) / 2
        total += score * pair_weight
        weight += pair_weight
    return round(100 * total / weight, 1)


def name_score(a: str, b: str) -> float:
    """How alike two names are, 0-100 (100: the same name after normalization)."""
    return tokens_score(name_tokens(a), name_tokens(b))


def match_threshold() -> float:
    return float(getattr(settings, "SANCTIONS_MATCH_THRESHOLD", 90))
