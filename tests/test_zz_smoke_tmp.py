import datetime as dt
from tests.conftest import MUSTANG_PDF, api_client_for, signed_webhook, bank_event
from paymint.core import clock
from rest_framework.test import APIClient

def test_smoke(seller, make_investor, django_capture_on_commit_callbacks):
    cb = lambda: django_capture_on_commit_callbacks(execute=True)
    c = api_client_for(seller)
    i1, i2 = make_investor(), make_investor()
    with clock.frozen_at(dt.date(2020, 11, 22)):
        with MUSTANG_PDF.open("rb") as f, cb():
            r = c.post("/api/v1/invoices", {"document": f}, format="multipart")
        iid = r.json()["id"]
        r = c.get(f"/api/v1/invoices/{iid}")
        print(r.json())
        with cb():
            r = c.post(f"/api/v1/invoices/{iid}/submit")
        print(r.status_code, r.json())
        r = c.post(f"/api/v1/invoices/{iid}/list", {}, format="json")
        print(r.status_code, r.json())
        for inv in (i1, i2):
            r = signed_webhook(APIClient(), bank_event(f"e{inv.pk}", "deposit.received", inv.deposit_reference, "1000"))
            print(r.status_code, r.json())
        lid = r.json()
