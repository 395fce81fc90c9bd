"""PayMint project package: settings, URLs, the Celery app and shared core pieces."""

from .celery import app as celery_app

__all__ = ("celery_app",)
