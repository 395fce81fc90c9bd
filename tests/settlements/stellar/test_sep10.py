"""SEP-10 wallet connection: valid signatures link the account; everything else is refused."""

from __future__ import annotations

import base64
import os
import time

import pytest
from rest_framework.test import APIRequestFactory, force_authenticate
from stellar_sdk import Account, Keypair, Signer, TransactionBuilder, TransactionEnvelope
from stellar_sdk.operation import SetOptions

from paymint.core.errors import Conflict
from settlements.models import StellarAccount
from settlements.stellar.api import Sep10ChallengeApi, Sep10VerifyApi
from settlements.stellar.sep10 import Sep10Invalid, sep10_challenge, stellar_account_link
from tests.helpers import make_user

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture
def user(db):
    return make_user("INVESTOR", "wallet-owner@example.com")


def signed(challenge_xdr: str, passphrase: str, *signers: Keypair) -> str:
    envelope = TransactionEnvelope.from_xdr(challenge_xdr, passphrase)
    for signer in signers:
        envelope.sign(signer)
    return envelope.to_xdr()


def handmade_challenge(
    chain,
    client: Keypair,
    *,
    user_id: int,
    home_domain="paymint.local",
    server: Keypair | None = None,
    min_time=None,
    max_time=None,
) -> str:
    """A challenge built like the SDK's, with chosen domain, server key and time bounds."""
    server = server or chain.keys.sep10
    now = int(time.time())
    builder = TransactionBuilder(
        Account(server.public_key, -1), chain.gateway.network_passphrase, 100
    )
    builder.add_time_bounds(
        now if min_time is None else min_time, now + 300 if max_time is None else max_time
    )
    builder.append_manage_data_op(
        f"{home_domain} auth", base64.b64encode(os.urandom(48)), source=client.public_key
    )
    builder.append_manage_data_op("web_auth_domain", "paymint.local", source=server.public_key)
    builder.add_id_memo(user_id)
    envelope = builder.build()
    envelope.sign(server)
    return envelope.to_xdr()


def test_master_key_signature_links_an_unfunded_account(chain, user):
    client = Keypair.random()
    challenge = sep10_challenge(user=user, account_id=client.public_key)
    assert challenge["network_passphrase"] == chain.gateway.network_passphrase
    account = stellar_account_link(
        user=user,
        challenge_xdr=signed(challenge["transaction"], challenge["network_passphrase"], client),
    )
    assert (account.user, account.account_id) == (user, client.public_key)
    assert account.verified_at is not None
    # Again: the same row, verified_at refreshed.
    again = stellar_account_link(
        user=user,
        challenge_xdr=signed(
            sep10_challenge(user=user, account_id=client.public_key)["transaction"],
            challenge["network_passphrase"],
            client,
        ),
    )
    assert again.pk == account.pk and StellarAccount.objects.count() == 1


def test_funded_multisig_account_needs_its_medium_threshold(chain, user):
    owner, cosigner = chain.wallet(), Keypair.random()
    chain.submit(
        owner,
        [
            SetOptions(
                signer=Signer.ed25519_public_key(cosigner.public_key, 1),
                low_threshold=1,
                med_threshold=2,
                high_threshold=2,
            )
        ],
    )
    passphrase = chain.gateway.network_passphrase
    challenge = sep10_challenge(user=user, account_id=owner.public_key)["transaction"]
    with pytest.raises(Sep10Invalid):
        stellar_account_link(user=user, challenge_xdr=signed(challenge, passphrase, owner))
    assert StellarAccount.objects.count() == 0
    linked = stellar_account_link(
        user=user, challenge_xdr=signed(challenge, passphrase, owner, cosigner)
    )
    assert linked.account_id == owner.public_key


@pytest.mark.parametrize(
    "case",
    [
        "wrong_signer",
        "expired",
        "wrong_home_domain",
        "wrong_server_key",
        "other_users_challenge",
        "unsigned",
    ],
)
def test_invalid_challenges_are_refused_and_nothing_is_linked(chain, user, case):
    client = Keypair.random()
    passphrase = chain.gateway.network_passphrase
    now = int(time.time())
    signer = client
    if case == "expired":
        xdr = handmade_challenge(
            chain, client, user_id=user.pk, min_time=now - 1200, max_time=now - 900
        )
    elif case == "wrong_home_domain":
        xdr = handmade_challenge(chain, client, user_id=user.pk, home_domain="evil.example")
    elif case == "wrong_server_key":
        xdr = handmade_challenge(chain, client, user_id=user.pk, server=Keypair.random())
    elif case == "other_users_challenge":
        xdr = handmade_challenge(chain, client, user_id=user.pk + 1000)
    else:
        xdr = sep10_challenge(user=user, account_id=client.public_key)["transaction"]
        if case == "wrong_signer":
            signer = Keypair.random()
    signed_xdr = xdr if case == "unsigned" else signed(xdr, passphrase, signer)
    with pytest.raises(Sep10Invalid) as info:
        stellar_account_link(user=user, challenge_xdr=signed_xdr)
    assert info.value.code == "SEP10_CHALLENGE_INVALID"
    assert StellarAccount.objects.count() == 0


def test_an_account_linked_to_another_user_is_refused(chain, user):
    other = make_user("INVESTOR", "someone-else@example.com")
    client = Keypair.random()
    passphrase = chain.gateway.network_passphrase
    for owner, expected in ((other, None), (user, Conflict)):
        xdr = signed(
            sep10_challenge(user=owner, account_id=client.public_key)["transaction"],
            passphrase,
            client,
        )
        if expected is None:
            stellar_account_link(user=owner, challenge_xdr=xdr)
        else:
            with pytest.raises(Conflict):
                stellar_account_link(user=owner, challenge_xdr=xdr)
    assert StellarAccount.objects.get().user == other


def test_api_challenge_then_verify(chain, user):
    factory = APIRequestFactory()
    client = Keypair.random()
    request = factory.get("/api/v1/stellar/auth", {"account": client.public_key})
    force_authenticate(request, user=user)
    response = Sep10ChallengeApi.as_view()(request)
    assert response.status_code == 200
    xdr = signed(response.data["transaction"], response.data["network_passphrase"], client)
    request = factory.post("/api/v1/stellar/auth", {"transaction": xdr}, format="json")
    force_authenticate(request, user=user)
    response = Sep10VerifyApi.as_view()(request)
    assert response.status_code == 200, response.data
    assert response.data["account_id"] == client.public_key
    bad = factory.get("/api/v1/stellar/auth", {"account": "G" + "A" * 55})
    force_authenticate(bad, user=user)
    response = Sep10ChallengeApi.as_view()(bad)
    assert response.status_code == 400 and response.data["code"] == "INVALID_STELLAR_ACCOUNT"


def test_sign_in_with_a_linked_wallet_over_http_once_per_challenge(chain, user, client):
    from django.core.cache import cache

    cache.clear()
    wallet = Keypair.random()
    passphrase = chain.gateway.network_passphrase
    link = sep10_challenge(user=user, account_id=wallet.public_key)["transaction"]
    stellar_account_link(user=user, challenge_xdr=signed(link, passphrase, wallet))

    answer = client.get("/api/v1/stellar/auth/login/challenge", {"account": wallet.public_key})
    assert answer.status_code == 200
    xdr = signed(answer.json()["transaction"], passphrase, wallet)
    tokens = client.post("/api/v1/stellar/auth/login", {"transaction": xdr},
                         content_type="application/json")
    assert tokens.status_code == 200, tokens.content
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}")
    assert me.status_code == 200 and me.json()["email"] == user.email

    replay = client.post("/api/v1/stellar/auth/login", {"transaction": xdr},
                         content_type="application/json")
    assert replay.status_code == 400 and replay.json()["code"] == "SEP10_CHALLENGE_INVALID"


def test_sign_in_is_refused_for_strangers_and_link_challenges(chain, user, client):
    passphrase = chain.gateway.network_passphrase
    stranger = Keypair.random()  # never linked
    answer = client.get("/api/v1/stellar/auth/login/challenge", {"account": stranger.public_key})
    xdr = signed(answer.json()["transaction"], passphrase, stranger)
    refused = client.post("/api/v1/stellar/auth/login", {"transaction": xdr},
                          content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "STELLAR_ACCOUNT_NOT_LINKED"

    wallet = Keypair.random()
    link = signed(sep10_challenge(user=user, account_id=wallet.public_key)["transaction"],
                  passphrase, wallet)
    stellar_account_link(user=user, challenge_xdr=link)
    # A link challenge (bound to a user) is not a login challenge, and a login challenge
    # signed by another key is refused.
    for xdr in (link, signed(client.get("/api/v1/stellar/auth/login/challenge",
                                        {"account": wallet.public_key}).json()["transaction"],
                             passphrase, stranger)):
        refused = client.post("/api/v1/stellar/auth/login", {"transaction": xdr},
                              content_type="application/json")
        assert refused.status_code == 400, refused.content
        assert refused.json()["code"] == "SEP10_CHALLENGE_INVALID"


def test_wallet_sign_in_of_a_user_with_two_factor_needs_the_code(chain, user, client):
    from django.core.cache import cache
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    cache.clear()
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    wallet = Keypair.random()
    passphrase = chain.gateway.network_passphrase
    link = sep10_challenge(user=user, account_id=wallet.public_key)["transaction"]
    stellar_account_link(user=user, challenge_xdr=signed(link, passphrase, wallet))

    answer = client.get("/api/v1/stellar/auth/login/challenge", {"account": wallet.public_key})
    xdr = signed(answer.json()["transaction"], passphrase, wallet)
    first = client.post("/api/v1/stellar/auth/login", {"transaction": xdr},
                        content_type="application/json")
    assert first.status_code == 401, first.content
    body = first.json()
    assert body["code"] == "OTP_REQUIRED" and "access" not in body

    code = f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"
    tokens = client.post("/api/v1/auth/token/otp", {"mfa_token": body["mfa_token"], "code": code},
                         content_type="application/json")
    assert tokens.status_code == 200, tokens.content
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}")
    assert me.json()["email"] == user.email
