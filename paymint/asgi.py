"""ASGI entry point (uvicorn): the same site as ``paymint.wsgi``, plus long-lived responses -
the live event stream ``GET /api/v1/events`` (notifications/stream.py) holds a coroutine per
open page instead of a worker thread."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paymint.settings.production")

application = get_asgi_application()
