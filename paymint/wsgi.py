"""WSGI entry point (gunicorn paymint.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paymint.settings.production")

application = get_wsgi_application()
