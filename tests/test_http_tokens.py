"""Run tokens minted by the web app, and the attacks the verifier must refuse.

The token under test is the one the app really minted for a turn (read back
from the RQ job). Every forged token is built with PyJWT and cryptography;
each attack is one named test and must raise :class:`relay.errors.InvalidToken`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from rq.job import Job

from mcp_tools.auth import RedisRevocation, RunAuthoriser
from mcp_tools.errors import Unauthorised
from relay.errors import InvalidToken, TokenRevoked
from relay.tokens import AUDIENCE, generate_keypair, verify_run_token

RUN = "/runs/run-1/default/agent"
#: DESIGN's claims, with the user in ``user`` rather than ``sub`` and a ``type`` (README).
DESIGN_CLAIMS = {"user", "type", "runid", "config", "session", "tier", "jti", "iat", "exp", "aud"}
#: The signed run directory the MCP side reads.
TOLERATED_EXTRA = {"run_dir"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _minted(client: Any, redis_client: Any, user: str = "alice") -> tuple[str, str]:
    """``(token, session_id)`` of a turn the app just queued."""
    client.post("/demo/login", json={"user": user})
    response = client.post(f"{RUN}/chat", json={"message": "#scenario:hello"})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    job = Job.fetch(body["job_id"], connection=redis_client)
    return job.args[0]["token"], body["session_id"]


def _payload(token: str) -> dict[str, Any]:
    return json.loads(_unb64(token.split(".")[1]))


def _valid_payload(session: str = "a" * 32, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    payload = {
        "type": "codex-relay-run",
        "user": "alice",
        "runid": "run-1",
        "config": "default",
        "session": session,
        "tier": "edit",
        "jti": "j" * 32,
        "iat": now,
        "exp": now + 600,
        "aud": AUDIENCE,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


@pytest.fixture
def minted(client, redis_client):
    return _minted(client, redis_client)


# -- the real token --------------------------------------------------------------


def test_the_app_mints_a_token_the_public_key_verifies(minted, keypair, settings):
    token, session = minted
    claims = verify_run_token(token, keypair[1])
    assert (claims.sub, claims.runid, claims.config) == ("alice", "run-1", "default")
    assert claims.session == session and claims.tier == "edit" and claims.jti
    header = json.loads(_unb64(token.split(".")[0]))
    assert header["alg"] == "EdDSA"


def test_the_token_carries_the_design_claims_and_nothing_secret(minted, run_dir):
    token, session = minted
    payload = _payload(token)
    assert DESIGN_CLAIMS <= set(payload)
    assert set(payload) - DESIGN_CLAIMS <= TOLERATED_EXTRA, set(payload) - DESIGN_CLAIMS
    assert payload["aud"] == "codex-relay-mcp" and payload["type"] == "codex-relay-run"
    assert "sub" not in payload  # so flask-jwt-extended never takes it for a login
    assert payload["session"] == session and payload["runid"] == "run-1"
    assert payload.get("run_dir", str(run_dir)) == str(run_dir)


def test_the_token_lives_one_turn_plus_a_margin_not_a_day(minted, settings):
    from relay.tokens import TOKEN_MARGIN

    payload = _payload(minted[0])
    lifetime = payload["exp"] - payload["iat"]
    assert abs(lifetime - (settings.turn_timeout + TOKEN_MARGIN)) <= 2
    assert lifetime < 3600
    assert abs(payload["iat"] - time.time()) < 30


def test_each_turn_gets_its_own_token_id(client, redis_client):
    first, _ = _minted(client, redis_client)
    second, _ = _minted(client, redis_client)
    assert _payload(first)["jti"] != _payload(second)["jti"]


# -- attacks ----------------------------------------------------------------------


def test_alg_none_token_is_refused(keypair):
    token = jwt.encode(_valid_payload(), None, algorithm="none")
    with pytest.raises(InvalidToken):
        verify_run_token(token, keypair[1])


def test_alg_none_with_the_real_tokens_claims_is_refused(minted, keypair):
    token = minted[0]
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    forged = f"{header}.{token.split('.')[1]}."
    with pytest.raises(InvalidToken):
        verify_run_token(forged, keypair[1])


def test_hs256_signed_with_the_public_key_as_hmac_secret_is_refused(keypair):
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_valid_payload()).encode())
    signing_input = f"{header}.{body}".encode()
    signature = hmac.new(keypair[1].encode(), signing_input, hashlib.sha256).digest()
    forged = f"{header}.{body}.{_b64(signature)}"
    with pytest.raises(InvalidToken):
        verify_run_token(forged, keypair[1])


def test_rs256_token_signed_by_another_key_is_refused(keypair):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_valid_payload(), key, algorithm="RS256")
    with pytest.raises(InvalidToken):
        verify_run_token(token, keypair[1])


def test_es256_token_signed_by_another_key_is_refused(keypair):
    key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(_valid_payload(), key, algorithm="ES256")
    with pytest.raises(InvalidToken):
        verify_run_token(token, keypair[1])


def test_es256_token_checked_against_its_own_public_key_is_still_refused():
    # Even a caller that passes the wrong kind of key must not fall back to ES256.
    key = ec.generate_private_key(ec.SECP256R1())
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    token = jwt.encode(_valid_payload(), key, algorithm="ES256")
    with pytest.raises(InvalidToken):
        verify_run_token(token, public)


def test_expired_token_is_refused(keypair):
    now = int(time.time())
    token = jwt.encode(_valid_payload(iat=now - 700, exp=now - 100), keypair[0], algorithm="EdDSA")
    with pytest.raises(InvalidToken, match="expired"):
        verify_run_token(token, keypair[1])


def test_token_without_exp_is_refused(keypair):
    token = jwt.encode(_valid_payload(exp=None), keypair[0], algorithm="EdDSA")
    assert "exp" not in _payload(token)
    with pytest.raises(InvalidToken):
        verify_run_token(token, keypair[1])


@pytest.mark.parametrize("aud", ["codex-relay-web", "", ["other"]])
def test_token_for_a_wrong_audience_is_refused(keypair, aud):
    token = jwt.encode(_valid_payload(aud=aud), keypair[0], algorithm="EdDSA")
    with pytest.raises(InvalidToken):
        verify_run_token(token, keypair[1])


def test_token_without_audience_is_refused(keypair):
    token = jwt.encode(_valid_payload(aud=None), keypair[0], algorithm="EdDSA")
    with pytest.raises(InvalidToken):
        verify_run_token(token, keypair[1])


@pytest.mark.parametrize(
    "claim, value",
    [
        ("runid", "run-2"),
        ("tier", "edit"),
        ("user", "mallory"),
        ("exp", 9_999_999_999),
    ],
)
def test_tampered_claims_with_the_original_signature_are_refused(minted, keypair, claim, value):
    token = minted[0]
    header, body, signature = token.split(".")
    payload = _payload(token)
    payload[claim] = value if payload.get(claim) != value else "read"
    forged = f"{header}.{_b64(json.dumps(payload).encode())}.{signature}"
    with pytest.raises(InvalidToken):
        verify_run_token(forged, keypair[1])


@pytest.mark.parametrize("kind", ["access", "refresh", None])
def test_a_login_token_signed_with_the_same_key_is_not_a_run_token(keypair, kind):
    # What flask-jwt-extended mints (sub, type access/refresh), had a host reused the key.
    login = _valid_payload(type=kind, user=None, sub="alice", fresh=False)
    token = jwt.encode(login, keypair[0], algorithm="EdDSA")
    with pytest.raises(InvalidToken):
        verify_run_token(token, keypair[1])


@pytest.mark.parametrize("skew", [-8, 8])
def test_a_few_seconds_of_clock_skew_are_allowed_by_the_leeway(keypair, skew):
    now = int(time.time()) + skew  # the web host's clock runs ahead or behind
    ahead = _valid_payload(iat=now, exp=now + 600 if skew > 0 else int(time.time()) - 4)
    token = jwt.encode(ahead, keypair[0], algorithm="EdDSA")
    with pytest.raises(InvalidToken):
        verify_run_token(token, keypair[1])
    assert verify_run_token(token, keypair[1], leeway=10).sub == "alice"
    with pytest.raises(InvalidToken):
        verify_run_token(token, keypair[1], leeway=2)


def test_token_signed_by_another_ed25519_key_is_refused(keypair):
    other_private, _ = generate_keypair()
    token = jwt.encode(_valid_payload(), other_private, algorithm="EdDSA")
    with pytest.raises(InvalidToken):
        verify_run_token(token, keypair[1])


def test_token_missing_a_run_claim_is_refused(keypair):
    for claim in ("runid", "config", "session", "tier", "jti", "user", "type", "iat"):
        token = jwt.encode(_valid_payload(**{claim: None}), keypair[0], algorithm="EdDSA")
        with pytest.raises(InvalidToken):
            verify_run_token(token, keypair[1])


def test_token_of_session_a_cannot_be_relabelled_for_session_b(client, redis_client, keypair):
    token_a, session_a = _minted(client, redis_client)
    _, session_b = _minted(client, redis_client)
    assert verify_run_token(token_a, keypair[1]).session == session_a != session_b
    header, _, signature = token_a.split(".")
    payload = _payload(token_a)
    payload["session"] = session_b
    forged = f"{header}.{_b64(json.dumps(payload).encode())}.{signature}"
    with pytest.raises(InvalidToken):
        verify_run_token(forged, keypair[1])


def test_token_of_session_a_is_refused_by_mcp_once_a_is_deleted_while_b_lives(
    client, redis_client, redis_server, keypair
):
    token_a, session_a = _minted(client, redis_client)
    token_b, session_b = _minted(client, redis_client)
    assert client.delete(f"{RUN}/sessions/{session_a}").status_code == 204
    authoriser = RunAuthoriser(keypair[1], is_revoked=RedisRevocation(redis_server.url))
    with pytest.raises(Unauthorised):
        authoriser.verify(token_a)
    assert authoriser.verify(token_b).session == session_b


def test_revoked_token_is_refused_after_the_session_is_deleted(
    minted, client, redis_client, keypair
):
    token, session = minted

    def is_revoked(claims: Any) -> bool:
        return bool(redis_client.exists(f"relay:revoked:{claims.session}"))

    assert verify_run_token(token, keypair[1], is_revoked=is_revoked).session == session
    assert client.delete(f"{RUN}/sessions/{session}").status_code == 204
    with pytest.raises(TokenRevoked):
        verify_run_token(token, keypair[1], is_revoked=is_revoked)
    assert redis_client.ttl(f"relay:revoked:{session}") > 0
