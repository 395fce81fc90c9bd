"""The Celery application.

Queues: ``extraction`` (document reading, OCR), ``risk`` (scoring), ``settlement`` (money
movements that are driven by tasks) and ``default``. In the embedded default
(``CELERY_TASK_ALWAYS_EAGER=True``) tasks run in-process; with a broker they run on workers.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paymint.settings.local")

app = Celery("paymint")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Request ids into tasks (logging) and task outcome counters (metrics) on workers.
import paymint.core.logging  # noqa: E402,F401
import paymint.core.metrics  # noqa: E402,F401
