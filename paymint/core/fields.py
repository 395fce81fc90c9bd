"""Encrypted model fields and the key rotation over them.

``EncryptedCharField``/``EncryptedTextField``/``EncryptedDateField`` behave like their plain
counterparts in Python (forms, admin, serializers see plaintext) but store a Fernet token
(:mod:`paymint.core.crypto`) in a ``text`` column. Blank strings are stored as ``""`` and
``None`` as ``NULL`` (only whether a value is present is visible in the database).

Encrypted columns cannot be filtered on: every lookup but ``isnull`` is refused
(``FieldError: Unsupported lookup``), so a query that would silently never match fails
loudly instead. Keep a keyed hash beside the column where a lookup is needed
(``hash_field=`` names it; :func:`field_encryption_rotate` re-hashes it under the newest key).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.apps import apps
from django.db import connection, models, transaction

from . import crypto


class EncryptedFieldMixin:
    """Encrypts on the way to the database, decrypts on the way back (``from_db_value``).

    ``to_python`` never decrypts, so model forms and ``full_clean`` work on plaintext.
    """

    encrypted = True

    def __init__(self, *args, hash_field: str = "", **kwargs) -> None:
        self.hash_field = hash_field
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.hash_field:
            kwargs["hash_field"] = self.hash_field
        return name, path, args, kwargs

    def get_internal_type(self) -> str:
        return "TextField"

    def plaintext(self, value) -> str:
        return str(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return None
        text = self.plaintext(value)
        return crypto.encrypt_text(text) if text != "" else ""

    def get_db_prep_value(self, value, connection, prepared=False):
        return value if prepared else self.get_prep_value(value)

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        try:
            return self.to_python(crypto.decrypt_text(value))
        except crypto.FieldDecryptionError:
            raise crypto.FieldDecryptionError(
                f"Cannot decrypt {self.model._meta.label}.{self.name}: no key of "
                "FIELD_ENCRYPTION_KEYS matches (was a key removed before "
                "rotate_field_encryption_keys ran?)."
            ) from None

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        return None

    def get_transform(self, lookup_name):
        return None


class EncryptedCharField(EncryptedFieldMixin, models.CharField):
    """A ``CharField`` stored encrypted; ``max_length`` limits the plaintext."""


class EncryptedTextField(EncryptedFieldMixin, models.TextField):
    """A ``TextField`` stored encrypted."""


class EncryptedDateField(EncryptedFieldMixin, models.DateField):
    """A ``DateField`` stored encrypted (the token of its ISO date)."""

    def plaintext(self, value) -> str:
        return value.isoformat() if isinstance(value, dt.date) else str(value)


# --- Key rotation ---------------------------------------------------------------------------


@dataclass
class RotationReport:
    """What :func:`field_encryption_rotate` did: per ``app_label.Model.field``, the stored
    values seen and those re-encrypted (``hashes`` counts re-computed lookup hashes)."""

    seen: dict[str, int] = field(default_factory=dict)
    rotated: dict[str, int] = field(default_factory=dict)
    hashes: dict[str, int] = field(default_factory=dict)

    @property
    def total_rotated(self) -> int:
        return sum(self.rotated.values()) + sum(self.hashes.values())


def encrypted_fields() -> dict[type[models.Model], list[models.Field]]:
    """Every concrete model with encrypted fields -> those fields."""
    found: dict[type[models.Model], list[models.Field]] = {}
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        fields = [f for f in model._meta.concrete_fields if getattr(f, "encrypted", False)]
        if fields:
            found[model] = fields
    return found


def field_encryption_rotate(*, batch_size: int = 500) -> RotationReport:
    """Re-encrypt every stored encrypted value under the newest key of
    ``FIELD_ENCRYPTION_KEYS`` and re-compute lookup hashes under it.

    Works on the raw column values in primary-key order, ``batch_size`` rows per transaction
    (rows locked ``FOR UPDATE`` while their batch is rewritten, so a concurrent edit is never
    overwritten with the old value). Idempotent: a value already under the newest key is not
    written again, so a second run reports nothing rotated.

    Raises:
        FieldDecryptionError: a stored value no configured key decrypts (nothing of its batch
            is written; earlier batches stay rotated, a re-run continues).
    """
    report = RotationReport()
    quote = connection.ops.quote_name
    for model, fields in encrypted_fields().items():
        table, pk = model._meta.db_table, model._meta.pk.column
        columns = [f.column for f in fields]
        hash_columns = {
            f.column: model._meta.get_field(f.hash_field).column for f in fields if f.hash_field
        }
        selected = [pk, *columns, *hash_columns.values()]
        # Table and column names come from the models' metadata, quoted; values are parameters.
        head = f"SELECT {', '.join(quote(c) for c in selected)} FROM {quote(table)} "  # noqa: S608  # nosec B608
        tail = f" ORDER BY {quote(pk)} LIMIT %s FOR UPDATE"
        for f in fields:
            label = f"{model._meta.label}.{f.name}"
            report.seen.setdefault(label, 0)
            report.rotated.setdefault(label, 0)
        last = None
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                if last is None:
                    cursor.execute(head + tail, [batch_size])
                else:
                    cursor.execute(f"{head}WHERE {quote(pk)} > %s{tail}", [last, batch_size])
                rows = cursor.fetchall()
                for row in rows:
                    values = dict(zip(selected, row, strict=True))
                    changes = _row_changes(model, fields, hash_columns, values, report)
                    if changes:
                        assignments = ", ".join(f"{quote(c)} = %s" for c in changes)
                        cursor.execute(
                            f"UPDATE {quote(table)} SET {assignments} WHERE {quote(pk)} = %s",  # noqa: S608, E501  # nosec B608
                            [*changes.values(), values[pk]],
                        )
            if len(rows) < batch_size:
                break
            last = rows[-1][0]
    return report


def _row_changes(model, fields, hash_columns, values, report: RotationReport) -> dict:
    changes: dict[str, str] = {}
    for f in fields:
        label = f"{model._meta.label}.{f.name}"
        token = values[f.column]
        if not token:
            continue
        report.seen[label] += 1
        if not crypto.is_encrypted_under_newest_key(token):
            changes[f.column] = crypto.rotate_token(token)
            report.rotated[label] += 1
        if f.column in hash_columns:
            hash_column = hash_columns[f.column]
            wanted = crypto.lookup_hash(crypto.decrypt_text(changes.get(f.column, token)))
            if values[hash_column] != wanted:
                changes[hash_column] = wanted
                report.hashes[label] = report.hashes.get(label, 0) + 1
    return changes
