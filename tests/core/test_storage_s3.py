"""Private uploads on S3, for real, against moto's server mode (a local S3 over HTTP).

The fixture starts ``moto.server.ThreadedMotoServer`` on a free loopback port, creates a
private bucket and points ``STORAGES["default"]`` at django-storages' ``S3Storage`` with the
options production uses (private ACL, query-string auth, SigV4, presigned URLs that live
``PRIVATE_FILE_URL_MAX_AGE`` seconds).

moto (5.x) does not check the expiry of presigned URLs; the server here is wrapped with S3's
rule for query-string SigV4 (``X-Amz-Date`` + ``X-Amz-Expires`` in the past -> 403
``AccessDenied``, "Request has expired") so that an expired URL is refused as S3 would.
"""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.auth
import botocore.compat
import pytest
from botocore.config import Config
from django.urls import reverse
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from invoices.selectors import invoice_private_file
from invoices.services import invoice_upload
from paymint.core.storage import presigned_url
from tests.helpers import MUSTANG_PDF, uploaded

BUCKET = "paymint-private-test"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def s3_expiry_rule(app):
    """WSGI wrapper: refuse presigned (SigV4 query) requests whose validity has passed."""

    def wrapped(environ, start_response):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if "X-Amz-Signature" in query:
            signed_at = dt.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(
                tzinfo=dt.UTC
            )
            expires = dt.timedelta(seconds=int(query["X-Amz-Expires"][0]))
            if dt.datetime.now(dt.UTC) > signed_at + expires:
                start_response("403 Forbidden", [("Content-Type", "application/xml")])
                return [b"<Error><Code>AccessDenied</Code>"
                        b"<Message>Request has expired</Message></Error>"]
        return app(environ, start_response)

    return wrapped


class LocalS3(ThreadedMotoServer):
    """moto's threaded server on 127.0.0.1 with S3's presigned URL expiry enforced."""

    def _server_entry(self) -> None:
        app = s3_expiry_rule(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True)
        self._server_ready_event.set()
        self._server.serve_forever()


@pytest.fixture
def s3(settings):
    server = LocalS3(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET, ACL="private")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": endpoint,
                "region_name": "us-east-1",
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "default_acl": "private",
                "querystring_auth": True,
                "querystring_expire": settings.PRIVATE_FILE_URL_MAX_AGE,
                "file_overwrite": False,
                # As paymint/settings/base.py builds it for S3.
                "client_config": Config(
                    signature_version="s3v4", s3={"addressing_style": "path"},
                    connect_timeout=3, read_timeout=20,
                    retries={"max_attempts": 3, "mode": "standard"},
                ),
            },
        },
    }
    state = {"running": True}

    def stop() -> None:
        if state["running"]:
            server.stop()
            state["running"] = False

    yield {"endpoint": endpoint, "client": client, "stop": stop}
    if state["running"]:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset",
                                                      method="POST"), timeout=5)
    stop()


def http_get(url: str):
    """A plain HTTP GET (no AWS credentials): ``(status, headers, body)``."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_an_uploaded_invoice_is_stored_privately_in_the_bucket(s3, seller):
    data = MUSTANG_PDF.read_bytes()
    invoice = invoice_upload(seller=seller, uploaded_file=uploaded(data))
    key = invoice.document.name
    assert key == f"invoices/{seller.public_id}/{invoice.public_id}.pdf"

    stored = s3["client"].get_object(Bucket=BUCKET, Key=key)
    assert stored["Body"].read() == data
    grants = s3["client"].get_object_acl(Bucket=BUCKET, Key=key)["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]  # the owner only
    assert all(g["Grantee"].get("URI", "").endswith("AllUsers") is False for g in grants)

    # Anyone asking for the object without a signature is refused.
    status, _, body = http_get(f"{s3['endpoint']}/{BUCKET}/{key}")
    assert status == 403
    assert data not in body


def test_the_seller_gets_a_presigned_attachment_url(s3, seller, client, settings):
    data = MUSTANG_PDF.read_bytes()
    invoice = invoice_upload(seller=seller, uploaded_file=uploaded(data))
    client.force_login(seller)

    response = client.get(reverse("invoice-document", args=[invoice.public_id]))
    assert response.status_code == 302
    url = response["Location"]
    assert url.startswith(f"{s3['endpoint']}/{BUCKET}/")
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == [str(settings.PRIVATE_FILE_URL_MAX_AGE)]
    assert query["response-content-disposition"][0].startswith("attachment")
    assert "no-store" in response["Cache-Control"]

    status, headers, body = http_get(url)
    assert status == 200
    assert body == data
    assert headers["Content-Disposition"] == (
        f'attachment; filename="invoice-{invoice.public_id}.pdf"'
    )
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Cache-Control"] == "private, no-store"

    # A tampered URL (another object, same signature) is not a way in either.
    other_key = url.replace(f"{invoice.public_id}.pdf", "someone-else.pdf")
    assert http_get(other_key)[0] in (403, 404)

    # The API answers the same kind of URL.
    from tests.helpers import api_client_for

    api = api_client_for(seller).get(f"/api/v1/invoices/{invoice.public_id}")
    assert api.status_code == 200
    assert api.json()["document_url"].startswith(f"{s3['endpoint']}/{BUCKET}/")
    assert http_get(api.json()["document_url"])[2] == data


def test_an_expired_presigned_url_is_refused(s3, seller, monkeypatch):
    invoice = invoice_upload(seller=seller, uploaded_file=uploaded(MUSTANG_PDF.read_bytes()))
    # Signed ten seconds ago, valid for one: expired now (rather than sleeping past it).
    signed_at = botocore.compat.get_current_datetime() - dt.timedelta(seconds=10)
    with monkeypatch.context() as patch:
        patch.setattr(botocore.auth, "get_current_datetime", lambda **kwargs: signed_at)
        url = presigned_url(invoice_private_file(invoice), expires_in=1)
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["1"]
    assert query["X-Amz-Date"] == [signed_at.strftime("%Y%m%dT%H%M%SZ")]
    status, _, body = http_get(url)
    assert status == 403
    assert b"Request has expired" in body


def test_readyz_checks_the_bucket_and_fails_when_s3_is_down(s3, client):
    def keys() -> set[str]:
        listing = s3["client"].list_objects_v2(Bucket=BUCKET)
        return {item["Key"] for item in listing.get("Contents", [])}

    before = keys()  # what earlier tests stored in the stand-in's bucket stays
    ready = client.get("/readyz")
    assert ready.json()["checks"]["storage"]["status"] == "ok"
    assert ready.status_code in (200, 503)  # other dependencies are not this test's business
    # The probe cleaned up after itself.
    assert keys() == before

    s3["stop"]()
    down = client.get("/readyz")
    assert down.status_code == 503
    storage = down.json()["checks"]["storage"]
    assert storage["status"] == "fail"
    assert storage["error"]  # the exception's class only, never the endpoint or credentials
    assert s3["endpoint"] not in down.content.decode()
