"""Per-user upload quota: files and bytes over the last 24 hours.

Counts every stored upload of the user - invoice documents and KYC/KYB documents together
(:data:`~paymint.core.registries.UPLOAD_SOURCES`) - against
``settings.UPLOAD_QUOTA_FILES_PER_DAY`` and
``settings.UPLOAD_QUOTA_BYTES_PER_DAY`` (0 = no limit). The services that store uploads call
:func:`upload_quota_reserve` inside their transaction, before writing the file: it locks the
user's row, so two concurrent uploads of one user are counted one after the other and cannot
both slip under the limit.
"""

from __future__ import annotations

import datetime as dt

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from .error_codes import CoreError
from .errors import ApplicationError
from .registries import UPLOAD_SOURCES


def sniff_binary_type(data: bytes) -> str | None:
    """The type of an uploaded document from its first bytes (never from its name):
    ``"application/pdf"``, ``"image/png"``, ``"image/jpeg"``, or ``None`` for anything else.
    Every upload (invoices, KYC/KYB documents) is checked by content with this."""
    head = data[:1024]
    if head.lstrip(b"\x00\t\r\n ")[:5] == b"%PDF-" and b"%PDF-" in head:
        return "application/pdf"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    return None


WINDOW = dt.timedelta(hours=24)


class UploadQuotaExceeded(ApplicationError):
    """The user uploaded too many files or bytes in the last 24 hours (429)."""

    code = CoreError.UPLOAD_QUOTA_EXCEEDED
    http_status = 429


def upload_usage(*, user, now: dt.datetime | None = None) -> tuple[int, int]:
    """``(files, bytes)`` the user stored in the 24 hours before ``now``."""
    since = (now or timezone.now()) - WINDOW
    files = size = 0
    for label, user_field, size_field, time_field in UPLOAD_SOURCES:
        row = (
            apps.get_model(label)
            .objects.filter(**{user_field: user, f"{time_field}__gte": since})
            .aggregate(n=Count("pk"), total=Sum(size_field))
        )
        files += row["n"]
        size += row["total"] or 0
    return files, size


def upload_quota_reserve(*, user, size: int) -> None:
    """Check that ``user`` may store one more upload of ``size`` bytes now.

    Must run inside the transaction that records the upload (it locks the user's row until
    that transaction ends).

    Raises:
        UploadQuotaExceeded: ``UPLOAD_QUOTA_EXCEEDED`` (429) on the ``document`` field.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("upload_quota_reserve must run inside the upload's transaction")
    max_files = settings.UPLOAD_QUOTA_FILES_PER_DAY
    max_bytes = settings.UPLOAD_QUOTA_BYTES_PER_DAY
    if not max_files and not max_bytes:
        return
    get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk").first()
    files, used = upload_usage(user=user)
    if max_files and files + 1 > max_files:
        message = f"You can upload {max_files} files per 24 hours. Please try again later."
    elif max_bytes and used + size > max_bytes:
        message = (
            f"You can upload {max_bytes // (1024 * 1024)} MB per 24 hours "
            f"({used // (1024 * 1024)} MB used). Please try again later."
        )
    else:
        return
    raise UploadQuotaExceeded(message, fields={"document": [message]})
