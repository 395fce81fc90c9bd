"""PayMint's real traffic mix for locust (run by ``benchmarks/load_test.py``, ``make bench``).

- investors (weight 8) browse the marketplace, open a listing (its quote: rate, amounts, tenor),
  look at their investments, wallet and profile, and fund 1.00 EUR of a listing they browsed
  (``Idempotency-Key`` on every funding);
- sellers (weight 1) upload e-invoices (Factur-X XML: no OCR) and list their invoices;
- the bank (weight 1) posts signed deposit webhooks to investors' references.

Reads ``PAYMINT_LOAD_SEED`` (a JSON file written by ``load_test.py``): access tokens of the
investors and sellers, the investors' deposit references, the webhook secret and the e-invoice
to upload.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import time
import uuid

from locust import HttpUser, between, task

SEED = json.loads(open(os.environ["PAYMINT_LOAD_SEED"]).read())  # noqa: SIM115


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Investor(HttpUser):
    weight = 8
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.headers = bearer(random.choice(SEED["investor_tokens"]))  # noqa: S311
        self.listings: list[str] = []

    @task(5)
    def browse(self) -> None:
        with self.client.get(
            "/api/v1/marketplace", headers=self.headers, name="/marketplace", catch_response=True
        ) as response:
            if response.status_code == 200:
                self.listings = [
                    row["id"]
                    for row in response.json()["results"]
                    if row["remaining_amount"] != "0.00"
                ]

    @task(3)
    def quote(self) -> None:
        if self.listings:
            self.client.get(
                f"/api/v1/marketplace/{random.choice(self.listings)}",  # noqa: S311
                headers=self.headers,
                name="/marketplace/{id}",
            )

    @task(2)
    def investments(self) -> None:
        self.client.get("/api/v1/investments", headers=self.headers, name="/investments")

    @task(2)
    def wallet(self) -> None:
        self.client.get("/api/v1/wallet", headers=self.headers, name="/wallet")

    @task(1)
    def me(self) -> None:
        self.client.get("/api/v1/me", headers=self.headers, name="/me")

    @task(2)
    def fund(self) -> None:
        if not self.listings:
            return
        listing = random.choice(self.listings)  # noqa: S311
        with self.client.post(
            f"/api/v1/marketplace/{listing}/investments",
            json={"amount": "1.00"},
            headers={**self.headers, "Idempotency-Key": uuid.uuid4().hex},
            name="/marketplace/{id}/investments",
            catch_response=True,
        ) as response:
            # A listing another investor just filled or that closed is a normal refusal.
            if response.status_code == 409:
                self.listings.remove(listing)
                response.success()


class Seller(HttpUser):
    weight = 1
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.headers = bearer(random.choice(SEED["seller_tokens"]))  # noqa: S311
        self.document = SEED["einvoice_xml"].encode()

    @task(1)
    def upload(self) -> None:
        # A distinct document each time (an XML comment): the duplicate check keys on bytes.
        body = self.document + f"\n<!-- {uuid.uuid4().hex} -->\n".encode()
        self.client.post(
            "/api/v1/invoices",
            headers=self.headers,
            files={"document": ("invoice.xml", body, "application/xml")},
            name="/invoices (XML)",
        )

    @task(3)
    def invoices(self) -> None:
        self.client.get("/api/v1/invoices", headers=self.headers, name="/invoices")


class Bank(HttpUser):
    weight = 1
    wait_time = between(0.5, 1.5)

    @task
    def deposit(self) -> None:
        event = {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "deposit.received",
            "created": int(time.time()),
            "data": {
                "reference": random.choice(SEED["deposit_references"]),  # noqa: S311
                "amount": "25.00",
                "currency": "EUR",
            },
        }
        body = json.dumps(event).encode()
        stamp = int(time.time())
        digest = hmac.new(
            SEED["webhook_secret"].encode(), f"{stamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        self.client.post(
            "/api/v1/webhooks/bank",
            data=body,
            name="/webhooks/bank",
            headers={
                "Content-Type": "application/json",
                "X-PayMint-Signature": f"t={stamp},v1={digest}",
            },
        )
