"""Tax identifier detection (EU VAT, Indian GSTIN, Australian ABN; with a tax label: US EIN,
Malaysian SST registration, French SIREN, German Steuernummer) with python-stdnum.

A number counts when it has the exact national format and either a tax label nearby or a
valid check digit. The labelled-only kinds (EIN, SST, SIREN, Steuernummer) need the label:
their formats alone are too common (dates, phone numbers, article numbers).
The role (issuer/buyer) comes from the label ("Ihre USt-IdNr", "Your VAT") or from the
nearest party heading above it in the same column; the default is the issuer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum.au import abn as au_abn
from stdnum.de import stnr as de_stnr
from stdnum.eu import vat as eu_vat
from stdnum.fr import siren as fr_siren
from stdnum.in_ import gstin as in_gstin
from stdnum.us import ein as us_ein

from . import labels as L
from .layout import Document, Segment
from .parsing import find_amounts

# national VAT formats after the country prefix (EU + GB/CH/NO)
_VAT_FORMATS = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[0-9A-Z]\d{7}[0-9A-Z]",
    "FI": r"\d{8}",
    "FR": r"[0-9A-Z]{2}\d{9}",
    "GB": r"\d{9}|\d{12}|GD\d{3}|HA\d{3}",
    "HR": r"\d{11}",
    "HU": r"\d{8}",
    "IE": r"\d{7}[A-Z]{1,2}|\d[A-Z]\d{5}[A-Z]",
    "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"\d{2,10}",
    "SE": r"\d{12}",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
    "XI": r"\d{9}|\d{12}",
    "CHE": r"\d{9}(?:MWST|TVA|IVA)?",
    "NO": r"\d{9}(?:MVA)?",
}
_VAT_RE = re.compile(
    r"(?<![A-Z0-9])(" + "|".join(sorted(_VAT_FORMATS, key=len, reverse=True)) + r")"
    r"[\s.\-]?((?:[0-9A-Z][\s.\-]?){2,14}[0-9A-Z])(?![0-9A-Z])"
)
_GSTIN_RE = re.compile(r"(?<![0-9A-Z])\d{2}[A-Z]{5}\d{4}[A-Z][0-9A-Z]Z[0-9A-Z](?![0-9A-Z])")
_ABN_RE = re.compile(r"\bABN\b[\s:.#]*((?:\d\s?){10}\d)(?!\d)")

#: OCR confusions between digits and letters, for repairing a GSTIN read from an image whose
#: shape (2 digits, 5 letters, 4 digits, a letter, an alphanumeric, "Z", a check character)
#: says which one was printed; a repair counts only when the check character then agrees.
_AS_DIGIT = str.maketrans("OoDQIl|iZzSsBGbTg", "00001111225588679")
_AS_LETTER = str.maketrans("01258647}])|", "OIZSBGATJJJI")
_GSTIN_DIGITS, _GSTIN_LETTERS = (0, 1, 7, 8, 9, 10), (2, 3, 4, 5, 6, 11)
_ALNUM_SWAP = str.maketrans("0OIJ1}])", "O001JJJJ")
_GSTIN_LOOSE_RE = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z|}\])]{15}(?![0-9A-Za-z])")


def repair_gstin(token: str) -> str | None:
    """The valid GSTIN an OCR'd ``token`` (15 characters) stands for, or None: each position
    is read as the digit or letter its place requires ("O7APHCF3178B1ZY" -> "07APHCF3178B1ZY",
    a closing "}" for "J"), the free positions both ways; returned only when exactly one
    reading passes the check character."""
    if len(token) != 15:
        return None
    chars = list(token)
    for i in _GSTIN_DIGITS:
        chars[i] = chars[i].translate(_AS_DIGIT)
    for i in _GSTIN_LETTERS:
        chars[i] = chars[i].upper().translate(_AS_LETTER)
    chars[13] = "Z" if chars[13] in "Z2z" else chars[13]
    readings = set()
    for a in {chars[12], chars[12].translate(_ALNUM_SWAP)}:
        for b in {chars[14], chars[14].translate(_ALNUM_SWAP)}:
            value = "".join(chars[:12]) + a + "Z" + b
            if value.isalnum() and value.isupper() and in_gstin.is_valid(value):
                readings.add(value)
    return readings.pop() if len(readings) == 1 else None


#: Labelled-only national numbers: (kind, label before the number, number, validator).
#: Sources: IRS EIN format NN-NNNNNNN (stdnum.us.ein checks the campus prefix); Royal
#: Malaysian Customs SST registration numbers, printed "W10-1808-31000123" (no published
#: check digit); INSEE SIREN, 9 digits with a Luhn check (stdnum.fr.siren); German
#: Steuernummer in its regional form, e.g. "21/815/08150" (stdnum.de.stnr).
_LABELLED_IDS: tuple[tuple[str, re.Pattern[str], re.Pattern[str], object], ...] = (
    (
        "ein",
        re.compile(r"\b(?:EIN|FEIN|TIN|Tax\s*ID|Employer\s+ID)\b", re.I),
        re.compile(r"(?<![\d-])\d{2}-\d{7}(?![\d-])"),
        us_ein.is_valid,
    ),
    (
        "sst",
        re.compile(r"\b(?:SST|GST|Tax|Cukai)\b", re.I),
        re.compile(r"(?<![0-9A-Z-])[A-Z]\d{2}-\d{4}-\d{8}(?![0-9-])"),
        lambda v: False,
    ),
    (
        "siren",
        re.compile(r"\b(?:SIREN|SIRET|RCS)\b", re.I),
        re.compile(r"(?<![\d ])\d{3}\s?\d{3}\s?\d{3}(?![\d])"),
        lambda v: fr_siren.is_valid(re.sub(r"\s", "", v)),
    ),
    (
        "stnr",
        re.compile(r"\b(?:Steuer-?\s?(?:nummer|nr)|St\.?-?\s?Nr)\b", re.I),
        re.compile(r"(?<![\d/])\d{2,3}/\d{3,4}/\d{4,5}(?![\d/])"),
        lambda v: de_stnr.is_valid(v),
    ),
)


#: Kinds that are a second, national number where a VAT number is usually printed too.
NATIONAL_TAX_ID_KINDS = frozenset({"siren", "stnr"})


@dataclass(frozen=True)
class TaxIdMatch:
    value: str  # compact, e.g. "DE136695976", "11119159741"
    kind: str  # "vat" | "gstin" | "abn" | "ein" | "sst" | "siren" | "stnr"
    valid: bool  # check digit verified
    labelled: bool  # a tax label on the same line / just before
    role: str  # "issuer" | "buyer"
    segment: Segment
    order: int


def _vat_ok(country: str, body: str) -> tuple[bool, bool] | None:
    """(format_ok, checksum_ok) or None when the format does not fit the country."""
    body = re.sub(r"[\s.\-]", "", body)
    fmt = _VAT_FORMATS.get(country)
    if not fmt or not re.fullmatch(fmt, body):
        return None
    code = ("EL" if country == "GR" else country) + body
    try:
        valid = eu_vat.is_valid(code)
    except Exception:  # noqa: BLE001 - stdnum raises assorted errors for exotic input
        valid = False
    return True, valid


def _role(doc: Document, seg: Segment, context: str) -> str:
    if L.BUYER_TAX_CONTEXT.search(context):
        return "buyer"
    line = doc.lines[seg.line_no]
    anchor = line.segments[0] if line.segments else seg
    page = doc.pages[line.page]
    lines = page.lines
    idx = lines.index(line)
    seller = L.compile_labels(L.SELLER)
    buyer = L.compile_labels(L.BUYER)
    for above in reversed(lines[max(0, idx - 12) : idx]):
        if any(a.has_decimals for a in find_amounts(above.text)):
            break  # an item or totals row: a party block above it is not this id's heading
        for s in above.segments:
            if not s.overlaps_x(anchor, slack=2 * anchor.height):
                continue
            head = s.text.strip().rstrip(":").strip()
            if len(head) > 40:
                continue
            if ":" in head:
                continue  # "Label: value" lines are not headings
            # a specific heading ("Bill to") or a generic one standing alone ("Kunde:")
            if any(
                (t == 1 and rx.match(head)) or (t == 2 and rx.fullmatch(head)) for t, rx in buyer
            ):
                return "buyer"
            if any(t == 1 and rx.match(head) for t, rx in seller):
                return "issuer"
    return "issuer"


def find_tax_ids(doc: Document) -> list[TaxIdMatch]:
    """All tax ids in the document with validity, labelling and issuer/buyer role."""
    out: list[TaxIdMatch] = []
    order = 0
    for line in doc.lines:
        for si, seg in enumerate(line.segments):
            text = seg.text
            prev = line.segments[si - 1].text if si else ""
            for m in _VAT_RE.finditer(text):
                res = _vat_ok(m.group(1), m.group(2))
                if res is None:
                    continue
                _, valid = res
                context = prev + " " + text[: m.start()]
                labelled = bool(L.TAX_ID_LABEL.search(context))
                if not (labelled or valid):
                    continue
                if re.search(r"iban|konto|account|bic|swift", context, re.I):
                    continue
                value = m.group(1) + re.sub(r"[\s.\-]", "", m.group(2))
                order += 1
                role = _role(doc, seg, context)
                out.append(TaxIdMatch(value, "vat", valid, labelled, role, seg, order))
            gstins = [(m.start(), m.group(0)) for m in _GSTIN_RE.finditer(text)]
            for m in _GSTIN_LOOSE_RE.finditer(text):
                repaired = None if _GSTIN_RE.fullmatch(m.group(0)) else repair_gstin(m.group(0))
                if repaired:
                    gstins.append((m.start(), repaired))
            for start, value in sorted(gstins):
                order += 1
                context = prev + " " + text[:start]
                out.append(
                    TaxIdMatch(
                        value,
                        "gstin",
                        in_gstin.is_valid(value),
                        bool(L.TAX_ID_LABEL.search(context)),
                        _role(doc, seg, context),
                        seg,
                        order,
                    )
                )
            for kind, label_rx, number_rx, is_valid in _LABELLED_IDS:
                for m in number_rx.finditer(text):
                    context = prev + " " + text[: m.start()]
                    if not label_rx.search(context[-40:]):
                        continue
                    value = m.group(0)
                    if kind == "siren":
                        value = re.sub(r"\s", "", value)
                    valid = bool(is_valid(value))
                    if kind in ("ein", "siren") and not valid:
                        continue
                    order += 1
                    out.append(
                        TaxIdMatch(value, kind, valid, True, _role(doc, seg, context), seg, order)
                    )
            for m in _ABN_RE.finditer(prev + " " + text if not _ABN_RE.search(text) else text):
                digits = re.sub(r"\s", "", m.group(1))
                order += 1
                out.append(
                    TaxIdMatch(
                        digits,
                        "abn",
                        au_abn.is_valid(digits),
                        True,
                        _role(doc, seg, prev + " " + text[: m.start()]),
                        seg,
                        order,
                    )
                )
    return out
