"""Django in a benchmark's seeding process: set up with the media under ``media`` on the local
disk, no upload quota (a benchmark's one seller uploads hundreds of invoices) and quiet task
logs. Imported by the benchmarks; it changes no environment variable itself."""

from __future__ import annotations

import logging


def setup_django(media: str) -> None:
    """``django.setup()``, then local media storage under ``media`` and no upload quota."""
    import django  # the calling script sets the environment first
    from django.conf import settings

    django.setup()
    settings.MEDIA_ROOT = media
    settings.UPLOAD_QUOTA_FILES_PER_DAY = 0
    settings.UPLOAD_QUOTA_BYTES_PER_DAY = 0
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": media},
        },
    }
    logging.getLogger("celery").setLevel(logging.WARNING)
    # Eager tasks still open a kombu connection object: one warning per client otherwise.
    logging.getLogger("kombu").setLevel(logging.ERROR)
