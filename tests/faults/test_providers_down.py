"""The outside providers down: the mail server (SMTP), the push provider (the FCM stand-in) and
Horizon (a Horizon node in front of the local Stellar network), each really stopped and started
on 127.0.0.1. What is to be sent waits in its outbox row, is retried while the provider is down
(the task's backoff), goes out once the provider is back - and only once, however often the
delivery runs again.

SMTP and push: a real Celery worker (not eager, the fault suite's Redis as broker) delivers a
``deposit.received`` notification by email and push while both providers are stopped.
Horizon: the chain outbox's submission, the envelope built, Horizon stopped just before it is
sent (the outcome unknown), then still down on the next run, then back.
"""

from __future__ import annotations

import subprocess
import sys
import time
from decimal import Decimal

import pytest
import redis
from django.db import connection, transaction
from stellar_sdk.client.requests_client import RequestsClient

from devtools.fcm_local import FakeFcmServer
from settlements.models import ChainTransaction
from settlements.stellar.enums import ChainPurpose, ChainTxStatus
from settlements.stellar.gateway import HorizonGateway
from settlements.stellar.outbox import ChainRetryLater, chain_tx_enqueue
from settlements.stellar.submission import chain_tx_submit
from tests.faults.conftest import (
    ROOT,
    HorizonHttpServer,
    load_schema,
    manage,
    server_env,
    wait_until,
)
from tests.settlements.stellar.conftest import chain  # noqa: F401 - the local network fixture

pytestmark = [pytest.mark.faults, pytest.mark.slow]

FCM_TOKEN = "fcm-token-faults-0123456789abcdef"  # noqa: S105 - a device token, not a secret
ACCESS_TOKEN = "faults-access-token"  # noqa: S105 - the stand-in's test token

NOTIFY = """
from django.db import transaction
from accounts.services import user_register
from notifications.services import push_device_register
from paymint.core.events import EventName, event_emit
user = user_register(email="faults-notify@example.com", password="Correct-Horse-Battery-9",
                     role="INVESTOR")
push_device_register(user=user, platform="android", token="{token}")
with transaction.atomic():
    event_emit(name=EventName.DEPOSIT_RECEIVED, key="deposit.received:faults",
               recipients={{user: {{"amount": "1234.50", "currency": "EUR"}}}})
"""

REDELIVER = """
import datetime as dt
from notifications.models import NotificationDelivery
from notifications.tasks import notification_deliver_task
from paymint.core.models import OutboundMessage
from paymint.core.outbox import outbox_pending_sweep
from paymint.core.tasks import outbox_deliver_task
for pk in OutboundMessage.objects.values_list("pk", flat=True):
    outbox_deliver_task.delay(pk)
for pk in NotificationDelivery.objects.values_list("pk", flat=True):
    notification_deliver_task.delay(pk)
print(outbox_pending_sweep(idle_for=dt.timedelta(0)))
"""


ALL_STATUSES = (
    "SELECT status FROM core_outboundmessage "
    "UNION ALL SELECT status FROM notifications_notificationdelivery"
)


def rows(pg, sql: str) -> list[list[str]]:
    return [line.split("|") for line in pg.psql(sql, db="paymint").split()]


def retried_while_down(pg, table: str, where: str = "TRUE") -> bool:
    """Every row of ``table`` (there is one) still PENDING after two attempts or more."""
    found = rows(pg, f"SELECT status, attempts FROM {table} WHERE {where}")  # noqa: S608
    return bool(found) and all(status == "PENDING" and int(n) >= 2 for status, n in found)


@pytest.mark.django_db
def test_smtp_and_push_down_wait_in_the_outbox_then_go_once(
    local_postgres, local_redis, smtp_server, tmp_path
):
    s = connection.settings_dict
    source = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    url = load_schema(source, local_postgres)
    fcm = FakeFcmServer(access_token=ACCESS_TOKEN).start()
    fcm_port = fcm.httpd.server_address[1]
    env = server_env(
        url,
        REDIS_URL="",
        MEDIA_ROOT=str(tmp_path),
        CELERY_BROKER_URL=f"{local_redis.url}/0",
        CELERY_TASK_ALWAYS_EAGER="false",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_server.port),
        EMAIL_TIMEOUT="5",
        PUSH_BACKEND="notifications.push.FcmHttpV1Backend",
        PUSH_FCM_ENDPOINT=fcm.url,
        PUSH_FCM_ACCESS_TOKEN=ACCESS_TOKEN,
        PUSH_TIMEOUT_SECONDS="5",
        NOTIFICATION_DELIVERY_MAX_ATTEMPTS="12",
    )
    worker = None
    try:
        smtp_server.stop()
        fcm.stop()
        manage("shell", "-c", NOTIFY.format(token=FCM_TOKEN), env=env)
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "paymint", "worker", "-c", "1", "-Q",
             "default", "--without-gossip", "--without-mingle", "-l", "WARNING"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Both providers down: each delivery is tried, fails, keeps its row and is retried.
        wait_until(
            lambda: retried_while_down(local_postgres, "core_outboundmessage"),
            timeout=90,
            what="the email retried while SMTP is down",
        )
        wait_until(
            lambda: retried_while_down(
                local_postgres, "notifications_notificationdelivery", "channel = 'PUSH'"
            ),
            timeout=90,
            what="the push retried while the provider is down",
        )
        (message,) = rows(
            local_postgres, "SELECT status, dedupe_key FROM core_outboundmessage"
        )
        assert message[0] == "PENDING"
        assert smtp_server.messages == [] and fcm.messages == []

        smtp_server.start()
        fcm = FakeFcmServer(access_token=ACCESS_TOKEN, port=fcm_port).start()
        wait_until(
            lambda: {status for (status,) in rows(local_postgres, ALL_STATUSES)} == {"SENT"},
            timeout=600,  # the next retry comes after its backoff (2**n s, jittered)
            what="the email and the push sent once the providers are back",
        )
        # Delivered again (a redelivered task, the sweep): nothing goes out a second time.
        manage("shell", "-c", REDELIVER, env=env)
        queue = redis.Redis.from_url(f"{local_redis.url}/0")
        wait_until(lambda: queue.llen("default") == 0, timeout=60, what="the redeliveries taken")
        time.sleep(3)  # ... and run
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
        fcm.stop()
    assert len(smtp_server.messages) == 1
    assert "Subject: PayMint: Deposit received" in smtp_server.messages[0]
    assert "faults-notify@example.com" in smtp_server.messages[0]
    assert [m["token"] for m in fcm.messages] == [FCM_TOKEN]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK on set_flags
@pytest.mark.django_db  # the test's transaction never commits: its submission task never runs
def test_horizon_down_the_envelope_waits_and_lands_once_when_back(chain):  # noqa: F811
    wallet = chain.wallet()
    chain.trust(wallet, chain.eurc)
    with transaction.atomic():
        row = chain_tx_enqueue(
            purpose=ChainPurpose.OTHER,
            idempotency_key="faults-horizon-down",
            source=chain.keys.distribution.public_key,
            operations=[
                {
                    "type": "payment",
                    "destination": wallet.public_key,
                    "asset": f"EURC:{chain.eurc.issuer}",
                    "amount": "25.5",
                }
            ],
        )
    horizon = HorizonHttpServer(chain.ledger).start()
    try:
        gateway = HorizonGateway(
            horizon_url=horizon.url,
            network_passphrase=chain.gateway.network_passphrase,
            client=RequestsClient(num_retries=0, request_timeout=5, post_timeout=5),
            ledger=chain.ledger,
        )
        send = gateway.submit

        def down_before_sending(envelope_xdr):
            horizon.stop()  # built and marked SUBMITTED; Horizon goes away before the send
            return send(envelope_xdr)

        submissions = chain.ledger.submissions
        gateway.submit = down_before_sending
        with pytest.raises(ChainRetryLater) as unknown:
            chain_tx_submit(chain_tx_id=row.pk, gateway=gateway)
        gateway.submit = send
        row.refresh_from_db()
        assert row.status == ChainTxStatus.SUBMITTED and row.attempts == 1
        assert row.last_error.startswith("unknown outcome")
        assert unknown.value.countdown == 10  # 5 s x 2**attempts: backoff, capped at 300 s

        with pytest.raises(ChainRetryLater, match="Horizon unavailable"):
            chain_tx_submit(chain_tx_id=row.pk, gateway=gateway)  # still down
        assert chain.ledger.submissions == submissions  # nothing reached the network

        horizon.start()
        row = chain_tx_submit(chain_tx_id=row.pk, gateway=gateway)
        assert row.status == ChainTxStatus.CONFIRMED and row.attempts == 2
        row = chain_tx_submit(chain_tx_id=row.pk, gateway=gateway)  # a redelivered task
    finally:
        horizon.stop()
    assert chain.ledger.submissions == submissions + 1  # sent once
    assert chain.ledger.balance(wallet.public_key, chain.eurc) == Decimal("25.5")
    assert ChainTransaction.objects.get(pk=row.pk).status == ChainTxStatus.CONFIRMED
