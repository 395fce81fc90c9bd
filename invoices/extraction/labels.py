"""Multilingual label dictionaries (English, German, French, Dutch, Italian, Spanish, Malay)
compiled to regexes.

Plain phrases are compiled tolerant of letter-spaced PDF text ("Br uttosumme"), optional dots
and flexible spaces/hyphens; entries starting with ``re:`` are raw regexes. Each label has a
*tier*: 1 = specific ("Rechnungsnummer"), 2 = generic ("Total"), 3 = weak fallback.
All patterns are case-insensitive.
"""

from __future__ import annotations

import re
from functools import cache

_LETTER = r"[^\W\d_]"


def _compile_phrase(phrase: str) -> str:
    out: list[str] = []
    chars = list(phrase)
    for i, c in enumerate(chars):
        nxt = chars[i + 1] if i + 1 < len(chars) else ""
        if c == " ":
            out.append(r"[\s.:\-/]*")
        elif c == ".":
            out.append(r"\.?")
        elif c == "-":
            out.append(r"[\s\-]?")
        elif c == "*":
            out.append(_LETTER + "*")
        elif c.isalnum():
            out.append(re.escape(c))
            if nxt.isalpha() and c.isalpha():
                out.append(" ?")
        else:
            out.append(re.escape(c))
    return "".join(out)


@cache
def compile_label(spec: str) -> re.Pattern[str]:
    """Compile one label spec to a case-insensitive regex with letter boundaries."""
    body = spec[3:] if spec.startswith("re:") else _compile_phrase(spec)
    return re.compile(r"(?<![^\W\d])(?:" + body + r")(?![^\W\d])", re.I)


def compile_labels(specs: dict[str, int]) -> list[tuple[int, re.Pattern[str]]]:
    return [(tier, compile_label(spec)) for spec, tier in specs.items()]


# Invoice number. The pattern after the label must contain a digit.
INVOICE_NUMBER = {
    "re:(?:invoice|inv|bill|receipt|rechnungs?|facture|factuur|gutschrift|beleg|credit note|"
    r"fattura|factura|avoir|creditnota|rectificativa|nota di credito|korrektur|ticket|"
    r"scontrino|bon|cn|trans(?:action)?)"
    r"[\s.\-]*(?:no|nr|nummer|number|num|n°|nº|no\.|#|id|n)\.?": 1,
    "re:(?:n[º°]|no\\.?|n\\.|num(?:ero|éro)?)\\s*(?:de\\s+)?(?:factura|fattura|facture|invois)": 1,
    "número de factura": 1,
    "numero fattura": 1,
    "n. documento": 1,
    "número": 2,
    "numero": 2,
    "numéro": 2,
    r"re:[^\W\d_]*rechnung\)?[\s(\d)]*(?:nr|no|n°)\.?": 1,
    r"re:(?:gutschrift|credit note)[^\n]{0,40}?\b(?:nr|no|n°)\.?": 1,
    "rechnungsnummer": 1,
    "rechnungsnr": 1,
    "belegnummer": 1,
    "beleg-nr": 1,
    "invoice number": 1,
    "numéro de facture": 1,
    "n° de facture": 1,
    "no de facture": 1,
    "factuurnummer": 1,
    "document no": 2,
    "re:(?:invoice|rechnung|facture|factuur|tax invoice)": 3,  # title followed by the number
    "re:^\\s*#": 3,  # "# 12345" under an INVOICE title
}
INVOICE_NUMBER_EXCLUDE = re.compile(
    r"\b(?:order|bestell|kunden|customer|client|auftrag|lieferschein|delivery|po|p\.o\.|"
    r"vertrag|contract|referenz|reference|steuer|tax id|ust|vat|page|seite)\w*",
    re.I,
)

ISSUE_DATE = {
    "invoice date": 1,
    "date of invoice": 1,
    "invoice dated": 1,
    "rechnungsdatum": 1,
    "belegdatum": 1,
    "beleg-datum": 1,
    "date de facture": 1,
    "date de facturation": 1,
    "date d'émission": 1,
    "factuurdatum": 1,
    "factuur datum": 1,
    "issue date": 1,
    "date of issue": 1,
    "issued on": 1,
    "issued at": 1,
    "émise le": 1,
    "fecha de emisión": 1,
    "fecha de factura": 1,
    "fecha factura": 1,
    "data documento": 1,
    "data fattura": 1,
    "data emissione": 1,
    "tarikh invois": 1,
    "issued": 2,
    "fecha": 2,
    "data": 2,
    "tarikh": 2,
    "ausstellungsdatum": 1,
    "datum": 2,
    "date": 2,
    "re:dated?": 2,
    "order date": 3,
    "bestelldatum": 3,
    "s/o date": 3,
}
ISSUE_DATE_EXCLUDE = re.compile(
    r"due|fällig|faellig|échéance|echeance|verval|leistung|liefer|delivery|bestell-?datum|"
    r"auftrag|lieferschein|payment|zahl|vertrag|contract|service|period|zeitraum|geburt|"
    r"expir|until|bis|vencimiento|scadenza|vervaldatum|entrega|consegna",
    re.I,
)

DUE_DATE = {
    "due date": 1,
    "date due": 1,
    "payment due": 1,
    "due on": 1,
    "due by": 1,
    "pay by": 1,
    "payable by": 1,
    "please remit until": 1,
    "fälligkeitsdatum": 1,
    "fällig am": 1,
    "fälligkeit": 1,
    "zahlungsziel": 1,
    "zahlbar bis": 1,
    "zahlbar ohne abschlag bis": 1,
    "netto bis": 1,
    "bitte überweisen sie bis zum": 1,
    "date d'échéance": 1,
    "date d’échéance": 1,
    "échéance": 1,
    "à payer avant le": 1,
    "vervaldatum": 1,
    "uiterste betaaldatum": 1,
    "te betalen voor": 1,
    "fecha de vencimiento": 1,
    "vencimiento": 1,
    "data scadenza": 1,
    "scadenza": 1,
    "tarikh akhir": 1,
    "re:(?<!amount )(?<!balance )due(?=\\s*:?\\s*(?:\\d|$))": 2,
    "re:(?:remit|pay(?:ment)?|zahlbar|überweisen)[^\n]{0,30}?\b(?:until|by|bis zum|bis)": 2,
}
DUE_DATE_EXCLUDE = re.compile(r"skonto|discount|escompte|korting|rabatt", re.I)

TOTAL = {
    "grand total": 1,
    "invoice total": 1,
    "total amount": 1,
    "amount total": 1,
    "total incl": 1,
    "total including": 1,
    "total due": 2,
    "total ttc": 1,
    "montant ttc": 1,
    "montant total ttc": 1,
    "net à payer": 2,
    "gesamtbetrag": 1,
    "gesamtsumme": 1,
    "bruttobetrag": 1,
    "bruttosumme": 1,
    "rechnungsbetrag": 1,
    "rechnungssumme brutto": 1,
    "re:rechnungssumme[^\\n]{0,12}(?:brutto|inkl)": 1,
    "endbetrag": 1,
    "re:summe\\s*(?:inkl|incl|brutto)": 1,
    "factuur totaal": 1,
    "totaalbedrag": 1,
    "totaal incl": 1,
    "factuurbedrag": 1,
    "total factura": 1,
    "importe total": 1,
    "totale documento": 1,
    "totale fattura": 1,
    "re:total\\s*\\(?\\s*incl": 1,
    "totale": 2,
    "jumlah": 2,
    "re:tota[l1|I]?": 2,
    "summe": 2,
    "totaal": 2,
    "montant total": 2,
    "amount": 3,
    "betrag": 3,
    "montant": 3,
}
TOTAL_EXCLUDE = re.compile(
    r"sub\s?-?tota|zwischen|netto|\bnet\b|\bht\b|excl|exkl|ohne|before tax|hors|"
    r"\btax\b|\bvat\b|mwst|ust\b|u\.?st\.|umsatzsteuer|steuer|\btva\b|\bbtw\b|gst|"
    r"discount|rabatt|skonto|remise|korting|qty|quantity|menge|items|weight|gewicht|paid|"
    r"bezahlt|anzahlung|payé|saving|zuschl|abschl|positionssumme|warenwert|"
    r"\bunit\b|einzel|price|preis|basis|grundbetrag|teilzahlung|imponibile|\biva\b|\bsst\b|"
    r"a pagar|da pagare|acconto|anticipo|pagado|aanbetaling|reeds betaald",
    re.I,
)
TOTAL_INCLUDE_OVERRIDE = re.compile(r"inkl|incl|ttc|brutto|gross|including", re.I)

AMOUNT_DUE = {
    "amount due": 1,
    "balance due": 1,
    "total due": 1,
    "due payable": 1,
    "amount payable": 1,
    "payable amount": 1,
    "amount to pay": 1,
    "zahlbetrag": 1,
    "zu zahlen": 1,
    "zu zahlender betrag": 1,
    "offener betrag": 1,
    "restbetrag": 1,
    "noch zu zahlen": 1,
    "net à payer": 1,
    "montant dû": 1,
    "reste à payer": 1,
    "solde dû": 1,
    "te betalen": 1,
    "openstaand": 1,
    "total a pagar": 1,
    "importe pendiente": 1,
    "pendiente": 1,
    "netto a pagare": 1,
    "da pagare": 1,
    "please pay": 1,
    "balance": 2,
}
AMOUNT_DUE_EXCLUDE = re.compile(r"previous|vorherig|opening|brought forward", re.I)

CURRENCY = {
    "währung": 1,
    "currency": 1,
    "devise": 1,
    "beträge in": 1,
    "amounts in": 1,
    "valuta": 1,
    "monnaie": 1,
}

SELLER = {
    "verkäufer": 1,
    "rechnungsersteller": 1,
    "rechnungssteller": 1,
    "lieferant": 1,
    "seller": 1,
    "sold by": 1,
    "supplier": 1,
    "vendor": 1,
    "payable to": 1,
    "pay to": 1,
    "remit to": 1,
    "from": 2,
    "vendeur": 1,
    "fournisseur": 1,
    "émetteur": 1,
    "leverancier": 1,
    "verkoper": 1,
    "emisor": 1,
    "proveedor": 1,
    "fornitore": 1,
    "cedente": 1,
}

BUYER = {
    "bill to": 1,
    "billed to": 1,
    "invoice to": 1,
    "invoiced to": 1,
    "sold to": 1,
    "billing address": 1,
    "customer": 2,
    "client": 2,
    "buyer": 1,
    "käufer": 1,
    "rechnungsempfänger": 1,
    "leistungsempfänger": 1,
    "kunde": 2,
    "rechnungsadresse": 1,
    "facturé à": 1,
    "adresse de facturation": 1,
    "destinataire": 2,
    "factuuradres": 1,
    "facturar a": 1,
    "facturado a": 1,
    "spett.le": 1,
    "spettabile": 1,
    "cliente": 2,
    "herrn": 2,
    "aan": 2,
    "klant": 2,
    "to": 2,
    "an": 3,
}
# Lines under a party heading that are not the party's name.
PARTY_NOISE = re.compile(
    r"^(?:gln|nummer|number|nr\b|no\b|lief-nr|kunden-?nr|customer (?:no|id|number)|iln|"
    r"globale|id\b|ust|vat|tax|steuer|attn|z\.?\s?hd|t\.a\.v|c/o|tel|phone|fax|e-?mail|www|http|"
    r"anschrift|address|adresse|po box|p\.o\. box|postfach|ship to|shipping|deliver|"
    r"lieferadresse|lieferanschrift|warenempfänger|afleveradres|livraison)",
    re.I,
)

LEGAL_FORMS = re.compile(
    r"(?<![^\W\d_])(?:gmbh|ag|kg|ohg|ug|e\.\s?k\.|gbr|mbh|ltd|limited|llc|l\.l\.c|inc|"
    r"incorporated|corp|corporation|plc|llp|lp|co\.|s\.?a\.?r\.?l|sarl|sas|s\.a\.s|s\.a\.|sa|"
    r"b\.v\.|bv|n\.v\.|nv|pvt|private limited|pty|s\.r\.l|srl|spa|s\.p\.a|oy|ab|as|a/s|"
    r"sdn\.?\s?bhd|bhd|berhad|s\.\s?l\.|s\.\s?l\.\s?u\.|s\.\s?coop|s\.\s?com|s\.\s?c\.\s?p)"
    r"(?![^\W\d_])",
    re.I,
)

DOCUMENT_TITLES = re.compile(
    r"^(?:tax\s+)?(?:invoice|rechnung|facture|factuur|bill|receipt|gutschrift|credit note|"
    r"retail invoices?(?:/bill)?|kopie factuur|copy|original|duplicate|rechnungskorrektur|"
    r"proforma|quittung|devis|avoir|factura(?: rectificativa)?|fattura|nota di credito|abono|"
    r"creditnota|creditfactuur|kassenbon|kassabon|bon(?=\s*$)|ticket(?: de caisse)?(?=\s*$)|"
    r"tique|scontrino|"
    r"ricevuta|reçu|resit|(?:sales |cash )?receipt|simplified tax invoice|rechnungs-?korrektur)\b",
    re.I,
)

LEGAL_FOOTER = re.compile(
    r"siège social|capital|rcs\b|siret|siren|hrb\b|hra\b|registergericht|amtsgericht|"
    r"handelsregister|geschäftsführ|vorstand|registered office|company (?:no|number)|kvk|"
    r"regd\. office|cin\b",
    re.I,
)

PAYMENT_TERMS_DAYS = re.compile(
    r"(?:net|netto|payment terms?:?|zahlbar innerhalb(?: von)?|payable within|within|"
    r"innerhalb(?: von)?|à|sous|binnen)\s*(\d{1,3})\s*(?:days?|tage[n]?|jours?|dagen)"
    r"|\bnet\s*(\d{1,3})\b"
    r"|(\d{1,3})\s*(?:days?|tage[n]?|jours?|dagen)\s*(?:net|netto)",
    re.I,
)

TAX_ID_LABEL = re.compile(
    r"ust|vat|tva|btw|mwst|uid|steuer|tax|iva|gst|abn|ident|id-?nr|nif|cif|p\.?iva|"
    r"n° tva|siren|\bein\b|\btin\b|\bsst\b|st\.?-?nr",
    re.I,
)
BUYER_TAX_CONTEXT = re.compile(
    r"\b(?:ihre|your|uw|votre|customer|kunden?|client|buyer|käufer|acheteur|afnemer)\b", re.I
)

PAID_HINT = re.compile(
    r"\bpaid\b|bezahlt|vooruitbetaald|betaald|payé|acquitté|paid in full|prepaid", re.I
)
PAYMENT_REQUEST = re.compile(
    r"zahlbar|überweisen|zahlung|payment|payable|please pay|remit|due date|fällig|"
    r"échéance|à payer|règlement|betaling|te betalen|pay by|vencimiento|a pagar|scadenza|"
    r"da pagare|vervaldatum",
    re.I,
)

#: Titles of a till receipt (the merchant is the issuer; there is no buyer or due date).
RECEIPT_TITLE = re.compile(
    r"^\s*(?:(?:sales |cash |payment )?receipt|kassenbon|kassabon|kassenbeleg|quittung|bon|"
    r"ticket(?: de caisse)?|tique|ticket de compra|scontrino(?: fiscale)?|ricevuta|reçu|resit|"
    r"simplified tax invoice|cash bill)\s*$",
    re.I,
)
#: The lines a till prints under the total: cash tendered and change given.
TILL_CHANGE = re.compile(
    r"^\s*(?:change(?: due)?|rückgeld|zurück|rendu|monnaie rendue|resto|cambio|wisselgeld|"
    r"baki)\b",
    re.I,
)

#: Titles of a credit note: its amounts are reported as positive magnitudes (the document kind
#: says the direction). Not credit notes: a self-billed invoice ("Gutschrift (Selbst
#: ausgestellte Rechnung)", type code 389) and a corrected invoice ("Rechnungskorrektur", type
#: code 380 in the shared set's ZUGFeRD sample), which keeps its printed sign.
CREDIT_NOTE_TITLE = re.compile(
    r"^\s*(?:credit\s*note|gutschrift(?!\s*\(?\s*selbst)|avoir|facture d'avoir|"
    r"nota di credito|abono|factura rectificativa|creditnota|creditfactuur|nota kredit)\b",
    re.I,
)
