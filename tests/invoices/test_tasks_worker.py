"""The extraction task on a real Celery worker with the Redis broker (not eager)."""

from __future__ import annotations

import time

import kombu.pools
import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.uploadedfile import SimpleUploadedFile

from invoices.enums import InvoiceStatus
from invoices.models import Invoice
from invoices.services import invoice_upload
from paymint.celery import app
from tests.helpers import MUSTANG_PDF

REDIS_URL = "redis://127.0.0.1:6379/15"


def _reset_connections():
    """Drop connection/producer pools and the result backend bound to the previous URLs
    (Celery caches them on first use, e.g. by eager tasks earlier in the session)."""
    app._local.__dict__.pop("backend", None)
    app._pool = None
    app.amqp._producer_pool = None
    kombu.pools.reset()  # kombu's process-wide producer pools, keyed by broker URL


@pytest.fixture
def redis_celery():
    previous = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager")}
    _reset_connections()
    app.conf.update(broker_url=REDIS_URL, result_backend=REDIS_URL, task_always_eager=False)
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # pragma: no cover - only without Redis
        app.conf.update(previous)
        pytest.fail(f"Redis is required for this test: {exc}")
    app.control.purge()
    with start_worker(app, pool="solo", perform_ping_check=False,
                      queues=["extraction", "risk", "default"], shutdown_timeout=10):
        yield app
    _reset_connections()
    app.conf.update(previous)
    # start_worker swaps Celery's current app; shared tasks must resolve to ours again.
    app.set_current()
    app.set_default()


@pytest.mark.django_db(transaction=True)
def test_upload_is_extracted_by_a_worker_consuming_from_redis(redis_celery, seller):
    upload = SimpleUploadedFile("invoice.pdf", MUSTANG_PDF.read_bytes())
    invoice = invoice_upload(seller=seller, uploaded_file=upload)
    # The task was enqueued after commit to Redis; the worker thread consumes it.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        invoice.refresh_from_db()
        if invoice.status != InvoiceStatus.UPLOADED:
            break
        time.sleep(0.2)
    assert invoice.status == InvoiceStatus.EXTRACTED
    assert invoice.invoice_number == "RE-20201121/508"
    assert invoice.extraction_method == "einvoice-cii"
    # Running the task again (a redelivery) changes nothing.
    from invoices.tasks import invoice_extract_task

    result = invoice_extract_task.delay(invoice.pk)
    assert result.get(timeout=20) == InvoiceStatus.EXTRACTED
    assert Invoice.objects.get(pk=invoice.pk).events.count() == 2
