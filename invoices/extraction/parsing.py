"""Value parsers: amounts, dates, currencies (pure functions, multilingual).

Amounts come back as ``Decimal`` with the printed precision, dates as ``datetime.date``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

# --- currencies -----------------------------------------------------------------------------

ISO_CODES = frozenset(
    [
        "EUR",
        "USD",
        "GBP",
        "INR",
        "CHF",
        "AUD",
        "CAD",
        "JPY",
        "CNY",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "CZK",
        "HUF",
        "RON",
        "BGN",
        "HRK",
        "NZD",
        "SGD",
        "HKD",
        "ZAR",
        "AED",
        "SAR",
        "BRL",
        "MXN",
        "TRY",
        "RUB",
        "KRW",
        "MYR",
    ]
)
SYMBOLS = {"€": "EUR", "£": "GBP", "₹": "INR", "¥": "JPY", "$": "USD"}
_CODE_ALT = "|".join(sorted(ISO_CODES))
_SYMBOL_RE = (
    r"(?:US\$|A\$|C\$|[$€£₹¥]|Rs\.?|RM(?=\s?\d)|INR|(?:" + _CODE_ALT + r")(?![A-Za-z]))"
)

WORD_CURRENCIES = (
    (re.compile(r"\bUS\s*dollars?\b|\bU\.S\.\s*dollars?\b", re.I), "USD"),
    (re.compile(r"\beuros?\b", re.I), "EUR"),
    (re.compile(r"\brupees?\b", re.I), "INR"),
    (re.compile(r"\bringgit\b", re.I), "MYR"),
    (re.compile(r"\bpounds?\s+sterling\b", re.I), "GBP"),
)


def currency_from_token(token: str | None) -> str | None:
    """Map a currency symbol or code (``€``, ``$``, ``Rs.``, ``eur``) to ISO 4217, else None."""
    if not token:
        return None
    t = token.strip().rstrip(".").upper()
    if t in ISO_CODES:
        return t
    if t in ("RS", "INR", "₹"):
        return "INR"
    if t == "RM":  # Malaysian ringgit, as printed on receipts
        return "MYR"
    if t == "A$":
        return "AUD"
    if t == "C$":
        return "CAD"
    if t == "US$":
        return "USD"
    return SYMBOLS.get(t)


# --- amounts --------------------------------------------------------------------------------

_NUM = (
    r"(?:\d{1,3}(?:[.,'’\u00a0\u202f]\d{3})+(?:[.,]\d{1,2})?"  # grouped: 1.234,56 / 1,234.56
    r"|\d{1,3}(?:\s\d{3})+[.,]\d{2}"  # space grouped: 1 234,56
    r"|\d+(?:[.,]\d{1,2})?)"  # plain: 1234,56 / 319.00 / 319
)
AMOUNT_RE = re.compile(
    r"(?<![\w.,/:-])"
    r"(?P<neg1>[-−–]\s?)?"
    r"(?:(?P<cur1>" + _SYMBOL_RE + r")\s?)?"
    r"(?P<neg2>[-−–]\s?)?"
    r"(?P<num>" + _NUM + r")"
    r"(?![\d])(?![.,]\d)(?![/:])"
    r"(?:\s?(?P<cur2>" + _SYMBOL_RE + r"))?"
    r"(?P<neg3>-(?!\d))?"
)


@dataclass(frozen=True)
class AmountMatch:
    value: Decimal
    currency: str | None
    start: int
    end: int
    has_decimals: bool


def _normalize_number(num: str) -> Decimal | None:
    num = re.sub(r"[\s'’\u00a0\u202f]", "", num)
    dots, commas = num.count("."), num.count(",")
    if dots and commas:
        dec = "." if num.rfind(".") > num.rfind(",") else ","
        thousands = "," if dec == "." else "."
        num = num.replace(thousands, "").replace(dec, ".")
    elif dots or commas:
        sep = "." if dots else ","
        head, _, tail = num.rpartition(sep)
        if (dots + commas) > 1 or (len(tail) == 3 and head not in ("0", "")):
            num = num.replace(sep, "")  # thousands grouping
        else:
            num = num.replace(sep, ".")
    try:
        return Decimal(num)
    except InvalidOperation:
        return None


def find_amounts(text: str) -> list[AmountMatch]:
    """All money-looking numbers in ``text`` with sign and currency hints, left to right."""
    out: list[AmountMatch] = []
    for m in AMOUNT_RE.finditer(text):
        value = _normalize_number(m.group("num"))
        if value is None:
            continue
        if m.group("neg1") or m.group("neg2") or m.group("neg3"):
            value = -value
        currency = currency_from_token(m.group("cur1") or m.group("cur2"))
        has_decimals = bool(re.search(r"[.,]\d{1,2}$", m.group("num")))
        out.append(AmountMatch(value, currency, m.start(), m.end(), has_decimals))
    return out


def parse_amount(text: str) -> Decimal | None:
    """Parse the first amount in ``text``: "1.234,56", "1,234.56", "€ 1 234,56", "-8,79".

    Returns a ``Decimal`` (sign kept, printed precision) or None when no number is present.
    """
    found = find_amounts(text)
    return found[0].value if found else None


def parse_money_value(text: str) -> AmountMatch | None:
    """Strict variant for label values: the text must be essentially one amount.

    Accepts currency symbols/codes around the number and trailing punctuation; rejects
    percentages, dates and values mixed with words (so "19 %" or "Seite 1" are not amounts).
    """
    text = text.strip().strip(":").strip()
    if not text or "%" in text:
        return None
    found = find_amounts(text)
    if not found:
        return None
    if len(found) == 1 and found[0].end >= len(text.rstrip(" .")) - 1 and found[0].start <= 6:
        # OCR junk before the value ("[sas $2,978,666.00"): accept a trailing lone amount
        lead = text[: found[0].start]
        if not re.search(r"[A-Za-z]{5,}", lead) and (found[0].currency or found[0].has_decimals):
            return found[0]
    first = found[0]
    if first.start <= 2 and first.currency and first.has_decimals and len(found) == 1:
        return first  # "$2,978,666.00 <OCR noise>"
    rest = (text[: first.start] + text[first.end :]).strip(" :*=|")
    if re.search(r"[A-Za-zÄÖÜäöüß]{2,}", rest) and not currency_from_token(rest):
        return None
    if looks_like_date(text):
        return None
    return first


# --- dates ----------------------------------------------------------------------------------

MONTHS: dict[str, int] = {}
_MONTH_NAMES = {
    1: "january jan januar jänner janvier janv janvier januari enero ene gennaio gen",
    2: "february feb februar fevrier février fevr févr februari febrero febbraio",
    3: "march mar märz maerz marz mars mrt maart marzo mac",
    4: "april apr avril avr abril abr aprile",
    5: "may mai mei mayo maggio mag",
    6: "june jun juni juin junio giugno giu",
    7: "july jul juli juillet juil julio luglio lug julai",
    8: "august aug august aout août augustus agosto ago ogos",
    9: "september sep sept septembre septiembre setiembre settembre set",
    10: "october oct oktober okt octobre octubre ottobre ott",
    11: "november nov novembre noviembre",
    12: "december dec dezember dez decembre décembre diciembre dic dicembre disember dis",
}
for _num, _names in _MONTH_NAMES.items():
    for _n in _names.split():
        MONTHS[_n] = _num
_MONTH_ALT = "|".join(sorted((re.escape(n) for n in MONTHS), key=len, reverse=True))

_DATE_PATTERNS = (
    ("ymd", re.compile(r"(?<![\d.,/-])(\d{4})[-./](\d{1,2})[-./](\d{1,2})(?![\d/])")),
    ("num", re.compile(r"(?<![\d.,/-])(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})(?![\d/]|[.,]\d)")),
    (
        "d_mon_y",
        re.compile(
            r"(?<!\d)(\d{1,2})(?:\.|st|nd|rd|th|er)?\s*(?:de\s+)?(" + _MONTH_ALT + r")\.?,?\s*"
            r"(?:de\s+)?(\d{4}|'?\d{2})(?!\d)",
            re.I,
        ),
    ),
    (
        "mon_d_y",
        re.compile(
            r"(?<![A-Za-z])(" + _MONTH_ALT + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)",
            re.I,
        ),
    ),
)


@dataclass(frozen=True)
class DateMatch:
    value: date
    start: int
    end: int
    ambiguous: bool  # numeric d/m order could not be decided from the digits


def _year(y: str) -> int:
    y = y.lstrip("'")
    n = int(y)
    if len(y) == 2:
        n += 2000 if n < 70 else 1900
    return n


def _mk(y: int, m: int, d: int) -> date | None:
    if not 1970 <= y <= 2100:
        return None
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def find_dates(text: str, order: str = "DMY") -> list[DateMatch]:
    """All dates in ``text`` (numeric, ISO, and month names in en/de/fr/nl), left to right.

    ``order`` ("DMY" or "MDY") resolves numeric dates like 03/04/2023 when both parts are <= 12.
    """
    found: list[DateMatch] = []
    taken: list[tuple[int, int]] = []

    def overlaps(s: int, e: int) -> bool:
        return any(s < te and e > ts for ts, te in taken)

    for kind, rx in _DATE_PATTERNS:
        for m in rx.finditer(text):
            if overlaps(m.start(), m.end()):
                continue
            ambiguous = False
            value = None
            if kind == "ymd":
                value = _mk(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            elif kind == "num":
                a, b, y = int(m.group(1)), int(m.group(3)), _year(m.group(4))
                sep_order = "DMY" if m.group(2) == "." else order  # dotted dates are D.M.Y
                if a > 12 >= b:
                    value = _mk(y, b, a)
                elif b > 12 >= a:
                    value = _mk(y, a, b)
                else:
                    ambiguous = a != b
                    value = _mk(y, a, b) if sep_order == "MDY" else _mk(y, b, a)
            elif kind == "d_mon_y":
                month = MONTHS.get(_strip_accents(m.group(2).lower())) or MONTHS.get(
                    m.group(2).lower()
                )
                if month:
                    value = _mk(_year(m.group(3)), month, int(m.group(1)))
            else:
                month = MONTHS.get(_strip_accents(m.group(1).lower())) or MONTHS.get(
                    m.group(1).lower()
                )
                if month:
                    value = _mk(int(m.group(3)), month, int(m.group(2)))
            if value is not None:
                found.append(DateMatch(value, m.start(), m.end(), ambiguous))
                taken.append((m.start(), m.end()))
    found.sort(key=lambda d: d.start)
    return found


def parse_date(text: str, order: str = "DMY") -> date | None:
    """Parse the first date in ``text``; falls back to dateparser for unusual spellings.

    ``order`` is "DMY" (European default) or "MDY" (US documents). Returns None when no date.
    """
    found = find_dates(text, order)
    if found:
        return found[0].value
    text = text.strip()
    if not text or len(text) > 40 or not re.search(r"\d", text):
        return None
    try:
        import dateparser  # why: lazy, loading its language data takes ~0.5 s

        parsed = dateparser.parse(
            text,
            languages=["en", "de", "fr", "nl"],
            settings={
                "DATE_ORDER": order,
                "STRICT_PARSING": True,
                "REQUIRE_PARTS": ["day", "month", "year"],
                "PREFER_LOCALE_DATE_ORDER": False,
            },
        )
    except Exception:  # noqa: BLE001 - dateparser raises assorted errors on odd input
        return None
    if parsed is None:
        return None
    return _mk(parsed.year, parsed.month, parsed.day)


def looks_like_date(text: str) -> bool:
    return bool(find_dates(text))
