"""Authorization matrix: every object route, tried by every other user with the owner's ids.

The routes are enumerated from the URL conf (``paymint.urls`` with the API, the dashboards of
``paymint/web_urls.py`` and the admin); a route whose pattern takes an argument must either be
in :data:`OBJECT_ROUTES` (with the objects to try it on), be under the admin prefix (staff only,
tried generically) or be listed in :data:`NOT_OBJECT_ROUTES` with the reason - so a new object
route fails :func:`test_every_route_with_an_argument_is_classified` until the matrix covers it.

For every route, target object, HTTP method the route supports, credential (JWT bearer token
and session cookie with a CSRF token, ``Client(enforce_csrf_checks=True)``) and user other than
the owner, the request must be denied - 401/403/404, or a redirect to a sign-in page where the
route does not accept that credential (dashboards ignore bearer tokens; the admin sends
non-staff to its login) - with nothing written to any table and none of the owner's private
identifiers in the answer. Open marketplace listings are readable by approved investors by
design (sellers, the owner included, are refused): those cells are sent too and must answer
200 without the seller's private invoice data or other investors' data. Positive controls
(the owner, or a legitimate participant, sending the same request with the same kind of
client) prove each denial comes from the ownership check, not from a broken token, CSRF or
URL.

Size (printed by the test as ``AUTHZ MATRIX ...``), measured on the tree of this commit:
7 API + 7 dashboard/download object routes and 98 admin object routes; 307 (route, target
object, supported method) triples (API 21, dashboards 21, admin 265) x 2 credentials x the
other users (3 for a user's object, all 4 for the admin's) = 2,372 cells, of which 12 are
legitimate by design and not sent (investors funding an open listing) and 2,360 were sent
(API 120, dashboards 120, admin 2,120): 2,348 had to be denied and were (404: 125, 403: 58,
redirect to sign-in: 2,165); 12 are reads of a listing by the investors allowed to read it
(9 answered 200 with nothing private, 3 carried a bearer token the dashboard ignores); plus
80 positive controls. The capability-link test adds 60 forged-token requests and the
user-scoped test 688 reads (86 routes x 4 users x 2 credentials).
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.apps import apps
from django.conf import settings
from django.test import Client, TestCase
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework_simplejwt.tokens import RefreshToken

from paymint.core import clock
from settlements.models import Settlement
from settlements.services import bank_event_apply
from tests.helpers import LISTING_DAY, bank_event

pytestmark = pytest.mark.django_db

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SAFE = ("GET",)
USER_KEYS = ("seller_a", "seller_b", "investor_a", "investor_b")

# --- Route enumeration ----------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    route: str  # the full pattern, e.g. "api/v1/invoices/<str:invoice_id>"
    name: str | None
    kwargs: tuple[str, ...]
    callback: Callable

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    @property
    def is_admin(self) -> bool:
        return self.route.startswith(settings.ADMIN_URL)


def _pattern_kwargs(pattern) -> list[str]:
    converters = getattr(pattern, "converters", None)
    if converters:
        return list(converters)
    regex = getattr(pattern, "regex", None)
    return list(regex.groupindex) if regex is not None else []


def all_routes() -> list[Route]:
    """Every URL pattern of the project with its full route and argument names."""

    def walk(patterns, prefix: str, kwargs: list[str]):
        for p in patterns:
            here = kwargs + _pattern_kwargs(p.pattern)
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern), here)
            elif isinstance(p, URLPattern):
                yield Route(prefix + str(p.pattern), p.name, tuple(here), p.callback)

    return list(walk(get_resolver().url_patterns, "", []))


def supported_methods(callback) -> tuple[str, ...]:
    """The HTTP methods a view answers (HEAD/OPTIONS aside).

    Class-based views (DRF ``APIView``, Django ``View``): the handlers they define. Function
    views: the list given to ``require_http_methods``/``require_GET``/``require_POST`` found
    in the decorators' closures. An unrestricted function view runs the same code for every
    unsafe method, so GET and POST stand for all of them.
    """
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is not None:
        return tuple(m for m in HTTP_METHODS if m.lower() in view_class.http_method_names
                     and hasattr(view_class, m.lower()))
    fn = callback
    while fn is not None:
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if (isinstance(value, list | tuple) and value
                    and all(isinstance(v, str) and v.upper() in (*HTTP_METHODS, "HEAD")
                            for v in value)):
                return tuple(m for m in HTTP_METHODS if m in {v.upper() for v in value})
        fn = getattr(fn, "__wrapped__", None)
    return ("GET", "POST")


# --- What each object route is tried on -----------------------------------------------------


@dataclass
class Target:
    """One object of a route: the URL arguments that name it, its owner, who else may use it
    legitimately (``allowed``: user keys, or "*" for every approved user) per method kind, and
    the body an attacker sends with unsafe methods (one that would succeed for the owner)."""

    label: str
    kwargs: dict
    owner: str
    allowed_read: frozenset = frozenset()
    allowed_write: frozenset = frozenset()
    payload: dict = field(default_factory=dict)
    #: Who sends the positive control for reads / writes (default: the owner; "" for none:
    #: nobody may write, e.g. fund a listing that is already funded).
    control_read: str | None = None
    control_write: str | None = None
    #: A query string the route needs to answer (``?amount=50.00`` for a quote).
    query: str = ""

    def allowed(self, user_key: str, method: str) -> bool:
        allowed = self.allowed_read if method in SAFE else self.allowed_write
        return "*" in allowed or user_key in allowed

    def controller(self, method: str) -> str:
        chosen = self.control_read if method in SAFE else self.control_write
        return self.owner if chosen is None else chosen


def _seller_invoices(w, payload: dict) -> list[Target]:
    return [
        Target("draft invoice", {"invoice_id": w.draft_a.public_id}, "seller_a", payload=payload),
        Target("listed invoice", {"invoice_id": w.open_a.invoice.public_id}, "seller_a",
               payload=payload),
        Target("funded invoice", {"invoice_id": w.funded_a.invoice.public_id}, "seller_a",
               payload=payload),
    ]


def _investments(w) -> list[Target]:
    return [
        Target("investment (open listing)", {"investment_id": w.investment_a.public_id},
               "investor_a"),
        Target("investment (funded listing)", {"investment_id": w.investment_a_funded.public_id},
               "investor_a"),
    ]


def _listings(w, payload: dict) -> list[Target]:
    """Open listings are readable by approved investors by design (they read and fund), never
    by sellers - not even the owner (seller A follows the listing on the own invoice's pages,
    ``seller/invoices/<id>/`` and ``api/v1/invoices/<id>``, tried above); a funded listing stays
    visible to its investors only."""
    return [
        Target("open listing", {"listing_id": w.open_a.public_id}, "seller_a",
               allowed_read=frozenset({"investor_a", "investor_b"}),
               allowed_write=frozenset({"investor_a", "investor_b"}),
               payload=payload, control_read="investor_b", control_write="investor_b"),
        Target("funded listing", {"listing_id": w.funded_a.public_id}, "seller_a",
               allowed_read=frozenset({"investor_a"}),
               allowed_write=frozenset({"investor_a"}), payload=payload,
               control_read="investor_a", control_write=""),
    ]


def _cancellable_invoices(w) -> list[Target]:
    """Cancelling: the listed invoice is tried by the attackers only (the owner's control
    would cancel it for the routes after this one); the draft and the funded invoice answer
    the owner 409 ``INVOICE_NOT_CANCELLABLE`` - past the ownership check."""
    draft, listed, funded = _seller_invoices(w, {})
    listed.control_write = ""
    return [draft, listed, funded]


def _settlements(w) -> list[Target]:
    """A payment on seller A's funded invoice (made here, once): the seller and investor A,
    who funded it, read it (the investor only their own share); nobody else."""
    if w.settlement_a is None:
        with TestCase.captureOnCommitCallbacks(execute=True):
            bank_event_apply(payload=bank_event(
                "evt_authz_settlement", "repayment.received",
                w.funded_a.invoice.repayment_reference, "10.00"))
        w.settlement_a = Settlement.objects.get(invoice=w.funded_a.invoice)
    return [Target("settlement", {"settlement_id": w.settlement_a.public_id}, "seller_a",
                   allowed_read=frozenset({"investor_a"}), control_read="seller_a")]


def _kyc_documents(w) -> list[Target]:
    return [Target(f"{key} KYC document", {"document_id": w.kyc_documents[key].public_id}, key)
            for key in ("seller_a", "investor_a")]


def _private_files(w) -> list[Target]:
    """Signed download links (``/files/<token>``) of the owners' documents, as the owner got
    them: a link that leaked to another user must not work for them."""
    from paymint.core.storage import private_file_token

    def link(label, kind, obj, key):
        token = private_file_token(kind=kind, object_id=obj.public_id, user=w.users[key])
        return Target(f"{label} download link", {"token": token}, key)

    return [
        link("draft invoice", "invoice", w.draft_a, "seller_a"),
        link("funded invoice", "invoice", w.funded_a.invoice, "seller_a"),
        link("seller KYB document", "kyc", w.kyc_documents["seller_a"], "seller_a"),
        link("investor KYC document", "kyc", w.kyc_documents["investor_a"], "investor_a"),
    ]


def _notifications(w) -> list[Target]:
    return [Target(f"{key} notification", {"notification_id": w.notifications[key].public_id},
                   key) for key in ("seller_a", "investor_a")]


def _devices(w) -> list[Target]:
    return [Target(f"{key} push device", {"device_id": w.devices[key].public_id}, key)
            for key in ("seller_a", "investor_a")]


HACK = "HACKED-BY-ATTACKER"

#: Object routes (full pattern) -> targets. Payloads are what an attacker would send to change
#: the object; the owner's positive control sends the same.
OBJECT_ROUTES: dict[str, Callable] = {
    # API
    "api/v1/invoices/<str:invoice_id>": lambda w: _seller_invoices(
        w, {"invoice_number": HACK}),
    "api/v1/invoices/<str:invoice_id>/submit": lambda w: _seller_invoices(w, {}),
    "api/v1/invoices/<str:invoice_id>/list": lambda w: _seller_invoices(
        w, {"advance_rate": "0.5"}),
    "api/v1/invoices/<str:invoice_id>/debtor-confirmation": lambda w: _seller_invoices(
        w, {"email": "attacker@evil.example"}),
    "api/v1/marketplace/<str:listing_id>": lambda w: _listings(w, {}),
    "api/v1/marketplace/<str:listing_id>/investments": lambda w: _listings(
        w, {"amount": "50.00"}),
    "api/v1/investments/<str:investment_id>": _investments,
    "api/v1/invoices/<str:invoice_id>/cancel": _cancellable_invoices,
    "api/v1/marketplace/<str:listing_id>/quote": lambda w: [
        Target(t.label, t.kwargs, t.owner, allowed_read=t.allowed_read,
               control_read=t.control_read, query="?amount=50.00")
        for t in _listings(w, {})],
    "api/v1/settlements/<str:settlement_id>": _settlements,
    "api/v1/notifications/<str:notification_id>/read": _notifications,
    "api/v1/me/devices/<str:device_id>": _devices,
    "api/v1/pools/<str:pool_id>/redemptions/<str:redemption_id>": lambda w: [
        Target("queued pool redemption",
               {"pool_id": w.pool.public_id, "redemption_id": w.redemption_a.public_id},
               "investor_a")],
    # Dashboards
    "seller/invoices/<uuid:invoice_id>/": lambda w: _seller_invoices(
        w, {"action": "save", "invoice_number": HACK}),
    "seller/invoices/<uuid:invoice_id>/document/": lambda w: _seller_invoices(w, {}),
    "seller/invoices/<uuid:invoice_id>/pages/<int:page>.png": lambda w: [
        Target(f"{t.label} page 1", {**t.kwargs, "page": 1}, t.owner)
        for t in _seller_invoices(w, {})],
    "investor/investments/<uuid:investment_id>/": _investments,
    "marketplace/<uuid:listing_id>/": lambda w: _listings(w, {}),
    "marketplace/<uuid:listing_id>/invest/": lambda w: _listings(
        w, {"amount": "50.00", "confirm": "1", "idempotency_key": uuid.uuid4().hex}),
    "onboarding/documents/<uuid:document_id>/": _kyc_documents,
    "notifications/<uuid:notification_id>/read/": _notifications,
    "pools/<uuid:pool_id>/redemptions/<uuid:redemption_id>/cancel/": lambda w: [
        Target("queued pool redemption",
               {"pool_id": w.pool.public_id, "redemption_id": w.redemption_a.public_id},
               "investor_a")],
    # Signed download links (bound to the user they were issued to)
    "files/<str:token>": _private_files,
}

#: Capability links: the token in the URL is the credential. Tried with the owner's object and
#: a forged token (the attacker cannot obtain the real one); tested in
#: :func:`test_capability_links_refuse_forged_tokens`.
CAPABILITY_ROUTES = (
    "debtor/confirm/<str:token>/",
    "verify-email/<str:token>/",
    "password-reset/<uidb64>/<token>/",
)

POOL_REASON = ("a liquidity pool is the platform's, open to every approved investor (KYC "
               "approved); deposits, redemptions and the position act on the caller's own "
               "holding (tests/pools/test_pool_api.py)")
#: Routes with an argument that does not name an object.
NOT_OBJECT_ROUTES = {
    "api/v1/pools/<str:pool_id>": POOL_REASON,
    "api/v1/pools/<str:pool_id>/nav-history": POOL_REASON,
    "api/v1/pools/<str:pool_id>/deposits": POOL_REASON,
    "api/v1/pools/<str:pool_id>/redemptions": POOL_REASON,
    "api/v1/pools/<str:pool_id>/position": POOL_REASON,
    "api/v1/pools/<str:pool_id>/quote": POOL_REASON,
    "pools/<uuid:pool_id>/": POOL_REASON,
    "pools/<uuid:pool_id>/deposit/": POOL_REASON,
    "pools/<uuid:pool_id>/redeem/": POOL_REASON,
    settings.ADMIN_URL + "^(?P<app_label>{labels})/$": "admin app index (a label, staff only)",
    settings.ADMIN_URL + "(?P<url>.*)$": "admin catch-all (404/redirect, staff only)",
}

ADMIN_OBJECT_KWARGS = {"object_id", "pk", "content_type_id", "id"}


def _is_not_object_route(route: Route) -> bool:
    for pattern in NOT_OBJECT_ROUTES:
        if pattern.startswith(settings.ADMIN_URL + "^(?P<app_label>"):
            if route.is_admin and route.kwargs == ("app_label",):
                return True
        elif route.route == pattern:
            return True
    return False


def test_every_route_with_an_argument_is_classified():
    """A new route with an argument fails here until the matrix (or the reasoned lists) covers
    it, so the matrix stays complete."""
    unclassified = []
    for route in all_routes():
        if not route.kwargs:
            continue
        if route.route in OBJECT_ROUTES or route.route in CAPABILITY_ROUTES:
            continue
        if _is_not_object_route(route):
            continue
        if route.is_admin and set(route.kwargs) <= ADMIN_OBJECT_KWARGS:
            continue
        unclassified.append(f"{route.route} ({route.name}): {route.kwargs}")
    assert not unclassified, "object routes missing from the authorization matrix:\n" + \
        "\n".join(unclassified)
    stale = [r for r in (*OBJECT_ROUTES, *CAPABILITY_ROUTES)
             if r not in {x.route for x in all_routes()}]
    assert not stale, f"routes in the matrix that no longer exist: {stale}"


# --- Clients, state and the verdict ---------------------------------------------------------

#: Models not compared before/after: audit trails may legitimately record access attempts.
UNTRACKED_MODEL_WORDS = ("Audit", "LogEntry")
UNTRACKED_FIELDS = {"last_login"}
DOMAIN_APPS = ("accounts", "invoices", "marketplace", "settlements", "compliance", "otp_totp",
               "core", "notifications", "pools")


def snapshot() -> dict:
    """Every row of every domain table (all concrete columns), to prove nothing was written."""
    state = {}
    for model in apps.get_models():
        meta = model._meta
        if meta.app_label not in DOMAIN_APPS or meta.proxy:
            continue
        if any(word in model.__name__ for word in UNTRACKED_MODEL_WORDS):
            continue
        columns = [f.attname for f in meta.concrete_fields if f.name not in UNTRACKED_FIELDS]
        state[meta.label] = list(model.objects.order_by("pk").values_list(*columns))
    return state


def diff_snapshots(before: dict, after: dict) -> list[str]:
    return [label for label in before if before[label] != after.get(label)]


_CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


class Caller:
    """One user with one kind of credential."""

    def __init__(self, user, auth: str):
        self.user = user
        self.auth = auth
        if auth == "jwt":
            token = RefreshToken.for_user(user).access_token
            self.client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
            self.csrf = None
        else:
            self.client = Client(enforce_csrf_checks=True)
            self.client.force_login(user)
            # A CSRF token as the browser gets it: from a rendered form.
            page = self.client.get(reverse("kyc"))
            assert page.status_code == 200, page.status_code
            self.csrf = _CSRF_INPUT.search(page.content).group(1).decode()

    def send(self, method: str, path: str, payload: dict, *, api: bool):
        headers = {}
        if self.csrf is not None and method not in SAFE:
            headers["HTTP_X_CSRFTOKEN"] = self.csrf
        if method == "GET":
            return self.client.get(path, **headers)
        if api:
            return self.client.generic(method, path, json.dumps(payload),
                                       content_type="application/json", **headers)
        data = dict(payload)
        if self.csrf is not None:
            data["csrfmiddlewaretoken"] = self.csrf
        if method == "POST":
            return self.client.post(path, data, **headers)
        return self.client.generic(method, path, json.dumps(data),
                                   content_type="application/json", **headers)


def denial_kind(response) -> str | None:
    """How the request was refused, or None if it was not."""
    if response.status_code in (401, 403, 404):
        return str(response.status_code)
    if response.status_code == 302:
        location = response["Location"].split("?")[0]
        if location == reverse("login"):
            return "302 sign-in"
        if location == reverse("admin:login"):
            return "302 admin sign-in"
    return None


def body_of(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


# --- The matrix -----------------------------------------------------------------------------


@pytest.fixture
def callers(world):
    return {(key, auth): Caller(user, auth)
            for key, user in world.users.items() for auth in ("jwt", "session")}


def _admin_targets(world, route: Route) -> list[Target]:
    """The admin's object routes are for staff only, whatever the object: try each with an
    object of the first user when the model has one (else any row, else pk 1)."""
    match = re.match(re.escape(settings.ADMIN_URL) + r"(\w+)/(\w+)/", route.route)
    pk = 1
    if match:
        try:
            model = apps.get_model(match.group(1), match.group(2))
        except LookupError:
            model = None
        if model is not None:
            owned = {"accounts.User": {"pk": world.seller_a.pk},
                     "accounts.KycProfile": {"user": world.seller_a}}
            rows = model.objects.filter(**owned.get(model._meta.label, {}))
            first = rows.order_by("pk").first() or model.objects.order_by("pk").first()
            pk = first.pk if first is not None else 1
    kwargs = {}
    for name in route.kwargs:
        kwargs[name] = 1 if name == "content_type_id" else pk
    return [Target(f"admin object {pk}", kwargs, "staff")]


def route_kind(route: Route) -> str:
    return "admin" if route.is_admin else "api" if route.is_api else "web"


def _path(route: Route, kwargs: dict) -> str:
    path = route.route
    for name, value in kwargs.items():
        path = re.sub(r"<(?:\w+:)?" + name + ">", str(value), path)
    assert "<" not in path and "(?P" not in path, path
    return "/" + path


@pytest.mark.slow  # every route x every caller: about a minute
def test_authorization_matrix(world, callers, capsys):
    """Every object route x target x supported method x (JWT, session+CSRF) x every other
    user: denied (401/403/404, or a redirect to sign-in where the credential does not apply)
    with no row written and none of the owner's private identifiers in the answer; open
    listings answer other approved users without private data; positive controls answer the
    owner (or a participant). Prints ``AUTHZ MATRIX`` with the counts."""
    markers = {key: world.private_markers_of(key) for key in USER_KEYS}
    routes = [r for r in all_routes()
              if r.route in OBJECT_ROUTES or (r.is_admin and r.kwargs
                                              and set(r.kwargs) <= ADMIN_OBJECT_KWARGS)]
    failures: list[str] = []
    denied = Counter()
    cells = Counter()  # requests sent, per kind of route
    triples = Counter()  # (route, target, method) per kind of route
    by_design = 0
    public = 0
    controls: list[tuple] = []
    route_count = Counter()
    with clock.frozen_at(LISTING_DAY, all_threads=True):
        for route in routes:
            targets = (_admin_targets(world, route) if route.is_admin
                       else OBJECT_ROUTES[route.route](world))
            methods = supported_methods(route.callback)
            route_count[route_kind(route)] += 1
            triples[route_kind(route)] += len(targets) * len(methods)
            for target in targets:
                path = _path(route, target.kwargs) + target.query
                owner_markers = markers.get(target.owner, set())
                for method in methods:
                    before = snapshot()
                    for attacker in USER_KEYS:
                        if attacker == target.owner:
                            continue
                        for auth in ("jwt", "session"):
                            caller = callers[(attacker, auth)]
                            allowed = target.allowed(attacker, method)
                            if allowed and method not in SAFE:
                                by_design += 1  # e.g. an investor funding an open listing
                                continue
                            cells[route_kind(route)] += 1
                            response = caller.send(method, path, target.payload,
                                                   api=route.is_api)
                            cell = f"{method} {path} [{target.label}] as {attacker}/{auth}"
                            body = body_of(response)
                            others = set().union(*(markers[k] for k in USER_KEYS
                                                   if k != attacker))
                            leaked = sorted(m for m in others | owner_markers if m in body)
                            kind = denial_kind(response)
                            if allowed:
                                # Public by design (an open listing): readable, nothing private.
                                if kind is None and response.status_code != 200:
                                    failures.append(f"{cell}: public read answered "
                                                    f"{response.status_code}")
                                if auth == "session" or route.is_api:
                                    if response.status_code == 200:
                                        public += 1
                                    elif kind is not None:
                                        failures.append(f"{cell}: public read denied ({kind})")
                            elif kind is None:
                                failures.append(f"{cell}: NOT DENIED ({response.status_code})")
                            else:
                                denied[kind] += 1
                            if leaked:
                                failures.append(f"{cell}: leaks {leaked}")
                    changed = diff_snapshots(before, snapshot())
                    if changed:
                        failures.append(f"{method} {path} [{target.label}]: rows changed in "
                                        f"{changed}")
                    controls.append((route, target, method, path))

        # Positive controls, after the attacks: the owner (or a participant) is not refused.
        control_count = 0
        bearer_ignored: set[str] = set()
        for route, target, method, path in controls:
            key = target.controller(method)
            if key not in USER_KEYS:
                continue  # the admin: staff with two-factor, covered by the admin's own tests
            for auth in ("jwt", "session"):
                response = callers[(key, auth)].send(method, path, target.payload,
                                                     api=route.is_api)
                control_count += 1
                if auth == "jwt" and denial_kind(response) == "302 sign-in" \
                        and not route.is_api:
                    bearer_ignored.add(route.route)  # a dashboard: session only, by design
                    continue
                if denial_kind(response) is not None:
                    failures.append(f"control {method} {path} [{target.label}] as {key}/{auth}: "
                                    f"refused {response.status_code} - the matrix proves "
                                    f"nothing for it")

    total = sum(denied.values())
    summary = (f"AUTHZ MATRIX routes={dict(route_count)} route-target-methods={dict(triples)} "
               f"x 2 credentials x other users = cells sent={dict(cells)} "
               f"(total {sum(cells.values())}; not sent by design {by_design}) "
               f"denied_cells={total} "
               f"by_answer={dict(denied)} public_reads={public} controls={control_count} "
               f"session_only_routes={len(bearer_ignored)}")
    with capsys.disabled():
        print("\n" + summary)
    assert not failures, "\n".join(failures[:60]) + f"\n({len(failures)} failures)\n{summary}"
    assert total > 0


# --- Capability links -----------------------------------------------------------------------


def test_capability_links_refuse_forged_tokens(world, callers):
    """Links whose token is the credential (debtor confirmation, email verification, password
    reset): another user (and an anonymous visitor) holding the owner's object id but a forged
    token - tampered, signed with another key, or a valid token of their own account - gets no
    effect: nothing is written and the page does not act (GET and POST, both credentials)."""
    from base64 import urlsafe_b64encode

    from django.contrib.auth.tokens import default_token_generator
    from django.core import signing
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from accounts.email_verification import SALT as EMAIL_SALT
    from accounts.email_verification import email_verification_token
    from accounts.services import user_register
    from invoices.confirmation import SALT as DEBTOR_SALT
    from invoices.confirmation import confirmation_token
    from tests.helpers import STRONG_PASSWORD

    unverified = user_register(email="late@example.com", password=STRONG_PASSWORD,
                               role="INVESTOR")
    real_debtor = confirmation_token(world.confirmation_a)
    real_email = email_verification_token(user=unverified)
    forged_key = "attacker-key-0123456789-0123456789-0123456789"
    seller_a_uid = urlsafe_base64_encode(force_bytes(world.seller_a.pk))
    paths = {
        "debtor/confirm/<str:token>/": [
            reverse("debtor-confirm", args=[real_debtor[:-2] + ("AA" if real_debtor[-2:] != "AA"
                                                                else "BB")]),
            reverse("debtor-confirm", args=[signing.TimestampSigner(
                key=forged_key, salt=DEBTOR_SALT).sign(str(world.confirmation_a.public_id))]),
        ],
        "verify-email/<str:token>/": [
            reverse("verify-email", args=[real_email[:-2] + ("AA" if real_email[-2:] != "AA"
                                                             else "BB")]),
            reverse("verify-email", args=[signing.TimestampSigner(
                key=forged_key, salt=EMAIL_SALT).sign_object(
                {"user": str(unverified.public_id), "email": unverified.email},
                compress=True)]),
        ],
        "password-reset/<uidb64>/<token>/": [
            # seller A's uid with a valid reset token of the attacker's own account
            reverse("password-reset-confirm", args=[
                seller_a_uid, default_token_generator.make_token(world.seller_b)]),
            reverse("password-reset-confirm", args=[
                seller_a_uid, urlsafe_b64encode(b"forged").decode().rstrip("=")]),
        ],
    }
    assert set(paths) == set(CAPABILITY_ROUTES)
    bodies = {"answer": "confirm", "note": "forged", "new_password1": "Attacker-pass-12345",
              "new_password2": "Attacker-pass-12345"}
    cells = 0
    failures = []
    with clock.frozen_at(LISTING_DAY, all_threads=True):
        for route, forged in paths.items():
            for path in forged:
                for method in ("GET", "POST"):
                    before = snapshot()
                    clients = [Client()] + [callers[(k, auth)] for k in ("seller_b", "investor_b")
                                            for auth in ("jwt", "session")]
                    for caller in clients:
                        if isinstance(caller, Client):
                            response = (caller.get(path) if method == "GET"
                                        else caller.post(path, bodies))
                        else:
                            response = caller.send(method, path, bodies, api=False)
                        cells += 1
                        body = body_of(response) if response.status_code == 200 else ""
                        if response.status_code == 200 and route.startswith("debtor/"):
                            failures.append(f"{method} {path}: debtor page served a forged link")
                        if "password-reset" in route and response.status_code == 302:
                            failures.append(f"{method} {path}: reset accepted a forged token")
                        if "password-reset" in route and 'name="new_password1"' in body:
                            failures.append(f"{method} {path}: reset form offered")
                    changed = diff_snapshots(before, snapshot())
                    if changed:
                        failures.append(f"{method} {path}: rows changed in {changed}")
    world.seller_a.refresh_from_db()
    unverified.refresh_from_db()
    assert world.seller_a.check_password(STRONG_PASSWORD)
    assert unverified.email_verified_at is None
    world.confirmation_a.refresh_from_db()
    assert world.confirmation_a.status == "REQUESTED"
    assert not failures, "\n".join(failures)
    # Controls: the real links work (the forged ones failed on their token alone).
    with clock.frozen_at(LISTING_DAY, all_threads=True):
        assert Client().get(reverse("debtor-confirm", args=[real_debtor])).status_code == 200
        Client().post(reverse("verify-email", args=[real_email]))
    unverified.refresh_from_db()
    assert unverified.email_verified_at is not None
    print(f"\nAUTHZ CAPABILITY LINKS forged-token cells={cells}")


# --- Pages and lists scoped to the signed-in user -------------------------------------------


@pytest.mark.slow  # every route x every caller: about a minute
def test_user_scoped_pages_show_only_own_data(world, callers):
    """Every GET route without an argument (lists, wallet, statement CSV, dashboards, the
    marketplace, the API's collections, ...) answers each user without any other user's private
    identifiers; and the pages that list a user's own things do show them (controls)."""
    routes = [r for r in all_routes()
              if not r.kwargs and "GET" in supported_methods(r.callback)]
    markers = {key: world.private_markers_of(key) for key in USER_KEYS}
    failures = []
    seen_own = Counter()
    cells = 0
    with clock.frozen_at(LISTING_DAY, all_threads=True):
        for route in routes:
            for key in USER_KEYS:
                others = set().union(*(markers[k] for k in USER_KEYS if k != key))
                for auth in ("jwt", "session"):
                    response = callers[(key, auth)].send("GET", "/" + route.route, {},
                                                         api=route.is_api)
                    cells += 1
                    body = body_of(response)
                    leaked = sorted(m for m in others if m in body)
                    if leaked:
                        failures.append(f"GET /{route.route} as {key}/{auth}: leaks {leaked}")
                    if response.status_code == 200 and markers[key] & {
                            m for m in markers[key] if m in body}:
                        seen_own[route.route] += 1
    assert not failures, "\n".join(failures)
    # Controls: the user's own data does show where it should.
    for route in ("api/v1/wallet", "api/v1/investments", "api/v1/invoices",
                  "api/v1/wallet/withdrawals", "wallet/statement.csv", "wallet/"):
        assert seen_own[route] > 0, f"/{route} showed no user their own data"
    print(f"\nAUTHZ USER-SCOPED routes={len(routes)} cells={cells}")
