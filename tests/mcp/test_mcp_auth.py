"""One named test per attack on the run token, over memory and over HTTP.

Each forged token is refused on every call with a short ``unauthorised``
error, and nothing of the run is read.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
import redis
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import CallToolResult
from mcp_helpers import RUNID, ToolClient

from cli.embedded_redis import EmbeddedRedis, free_port
from mcp_tools.auth import RedisRevocation, RunAuthoriser
from mcp_tools.http_server import McpHttpServer, start_http_server_thread
from relay.keys import RelayKeys
from relay.tokens import generate_keypair


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "type": "codex-relay-run",
        "user": "ada",
        "runid": RUNID,
        "config": "default",
        "session": "s-1",
        "tier": "edit",
        "jti": "j-1",
        "iat": now,
        "exp": now + 60,
        "aud": "codex-relay-mcp",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"


@pytest.fixture
def refused(make_tools: Callable[..., ToolClient]) -> Callable[[str], str]:
    """``refused(token)``: assert every tool refuses ``token``; the error text."""

    def check(token: str) -> str:
        tools = make_tools(token)
        error = tools.error("read_run_file", path="inputs/config.yaml")
        assert "unauthorised: " in error and "learning_rate" not in error
        assert "unauthorised: " in tools.error(
            "replace_report_section", report_id="summary", pattern="Introduction", content="x"
        )
        return error

    return check


def test_alg_none_token_is_refused(refused: Callable[[str], str]) -> None:
    for alg in ("none", "None", "NONE"):
        refused(_unsigned({"alg": alg, "typ": "JWT"}, _claims()) + ".")


def test_hs256_signed_with_the_public_key_as_secret_is_refused(
    refused: Callable[[str], str], keypair: tuple[str, str]
) -> None:
    signing_input = _unsigned({"alg": "HS256", "typ": "JWT"}, _claims())
    for secret in (keypair[1], keypair[1].strip()):
        mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
        refused(f"{signing_input}.{_b64(mac)}")


def test_rs256_token_from_another_key_is_refused(refused: Callable[[str], str]) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused(jwt.encode(_claims(), key, algorithm="RS256"))


def test_es256_token_from_another_key_is_refused(refused: Callable[[str], str]) -> None:
    refused(jwt.encode(_claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256"))


def test_eddsa_token_signed_by_another_key_is_refused(refused: Callable[[str], str]) -> None:
    refused(jwt.encode(_claims(), generate_keypair()[0], algorithm="EdDSA"))


def test_token_carrying_its_own_jwk_in_the_header_is_refused(refused: Callable[[str], str]) -> None:
    key = Ed25519PrivateKey.generate()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    refused(jwt.encode(_claims(), key, algorithm="EdDSA", headers={"jwk": jwk}))


def test_expired_token_is_refused(refused: Callable[[str], str], keypair: tuple[str, str]) -> None:
    now = int(time.time())
    token = jwt.encode(_claims(iat=now - 120, exp=now - 60), keypair[0], algorithm="EdDSA")
    assert "The run token has expired." in refused(token)


def test_token_without_exp_is_refused(
    refused: Callable[[str], str], keypair: tuple[str, str]
) -> None:
    refused(jwt.encode(_claims(exp=None), keypair[0], algorithm="EdDSA"))


def test_token_for_another_audience_is_refused(
    refused: Callable[[str], str], keypair: tuple[str, str]
) -> None:
    refused(jwt.encode(_claims(aud="some-other-service"), keypair[0], algorithm="EdDSA"))


def test_token_without_audience_is_refused(
    refused: Callable[[str], str], keypair: tuple[str, str]
) -> None:
    refused(jwt.encode(_claims(aud=None), keypair[0], algorithm="EdDSA"))


@pytest.mark.parametrize("claim", ["user", "type", "runid", "session", "tier", "jti", "config"])
def test_token_missing_a_required_claim_is_refused(
    refused: Callable[[str], str], keypair: tuple[str, str], claim: str
) -> None:
    refused(jwt.encode(_claims(**{claim: None}), keypair[0], algorithm="EdDSA"))


def test_token_with_an_unknown_tier_is_refused(
    refused: Callable[[str], str], keypair: tuple[str, str]
) -> None:
    refused(jwt.encode(_claims(tier="admin"), keypair[0], algorithm="EdDSA"))


def test_tampered_claims_are_refused(
    refused: Callable[[str], str], mint: Callable[..., str]
) -> None:
    header, payload, signature = mint(tier="read").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    for change in ({"tier": "edit"}, {"runid": "run-2"}, {"run_dir": "/"}, {"exp": 2**40}):
        forged = _b64(json.dumps({**claims, **change}).encode())
        refused(f"{header}.{forged}.{signature}")


def test_garbage_tokens_are_refused(refused: Callable[[str], str]) -> None:
    for token in ("not-a-jwt", "a.b.c", "....", "Bearer x", "e30.e30.e30"):
        refused(token)


def test_token_of_another_run_cannot_reach_this_run(
    make_tools: Callable[..., ToolClient], mint: Callable[..., str], runs_root: Path, run: Path
) -> None:
    (runs_root / "run-2").mkdir()
    (runs_root / "run-2" / "other.txt").write_text("run two\n")
    tools = make_tools(mint(runid="run-2"))
    assert "forbidden: " in tools.error("read_run_file", path="inputs/config.yaml", runid=RUNID)
    # Without runid it sees its own run only: run-1's files are not there.
    assert "not_found" in tools.error("read_run_file", path="inputs/config.yaml")
    assert tools.ok("read_run_file", path="other.txt")["text"] == "run two\n"


def test_the_signed_run_dir_claim_names_the_run_directory(
    make_tools: Callable[..., ToolClient], mint: Callable[..., str], runs_root: Path
) -> None:
    elsewhere = runs_root / "stored" / "any-name"
    elsewhere.mkdir(parents=True)
    (elsewhere / "here.txt").write_text("found\n")
    tools = make_tools(mint(run_dir=str(elsewhere)))
    assert tools.ok("read_run_file", path="here.txt")["text"] == "found\n"


@pytest.mark.parametrize("where", ["outside", "root", "link"])
def test_a_run_dir_claim_outside_the_runs_root_is_refused(
    make_tools: Callable[..., ToolClient],
    mint: Callable[..., str],
    keypair: tuple[str, str],
    runs_root: Path,
    tmp_path: Path,
    where: str,
) -> None:
    outside = tmp_path / "not-a-run"
    outside.mkdir()
    (outside / "here.txt").write_text("secret outside the runs\n")
    (runs_root / "here.txt").write_text("the runs root itself\n")
    (runs_root / "linked-run").symlink_to(outside)
    claim = {"outside": outside, "root": runs_root, "link": runs_root / "linked-run"}[where]
    token = mint(run_dir=str(claim))
    error = make_tools(token).error("read_run_file", path="here.txt")
    assert "forbidden: The run directory named by the token is not under the runs root." in error
    # Without a configured runs root, the host's signed claim is the whole story.
    unrooted = ToolClient(RunAuthoriser(keypair[1], None, None), token)
    assert unrooted.ok("read_run_file", path="here.txt")["text"].endswith("\n")


def test_revoked_token_is_refused(
    make_tools: Callable[..., ToolClient],
    mint: Callable[..., str],
    redis_server: EmbeddedRedis,
    redis_client: redis.Redis,
) -> None:
    tools = make_tools(mint(session="s-9"), RedisRevocation(redis_server.url, "relay:"))
    tools.ok("read_run_file", path="notes.txt")
    redis_client.set(RelayKeys("relay:").revoked("s-9"), "1")
    error = tools.error("read_run_file", path="notes.txt")
    assert "unauthorised: The run token was revoked (its session was deleted)." in error


def test_revocation_uses_the_configured_key_prefix(
    make_tools: Callable[..., ToolClient],
    mint: Callable[..., str],
    redis_server: EmbeddedRedis,
    redis_client: redis.Redis,
) -> None:
    tools = make_tools(mint(session="s-9"), RedisRevocation(redis_server.url, "other:"))
    redis_client.set(RelayKeys("relay:").revoked("s-9"), "1")
    tools.ok("read_run_file", path="notes.txt")
    redis_client.set(RelayKeys("other:").revoked("s-9"), "1")
    assert "revoked" in tools.error("read_run_file", path="notes.txt")


def test_revocation_fails_closed_when_redis_is_unreachable(
    make_tools: Callable[..., ToolClient], mint: Callable[..., str]
) -> None:
    dead = RedisRevocation(f"redis://127.0.0.1:{free_port()}/0")
    error = make_tools(mint(), dead).error("read_run_file", path="notes.txt")
    assert "unauthorised: Cannot check whether the run token was revoked" in error


# ------------------------------------------------------------------ over HTTP


@pytest.fixture(scope="module")
def http_server(redis_server: EmbeddedRedis, keypair: tuple[str, str]) -> Iterator[McpHttpServer]:
    """One long-running HTTP server (runs found by the tokens' signed ``run_dir``)."""
    authoriser = RunAuthoriser(keypair[1], RedisRevocation(redis_server.url), runs_root="")
    server = start_http_server_thread(authoriser)
    yield server
    server.stop()


def _http_call(url: str, token: str, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    async def call() -> CallToolResult:
        headers = {"Authorization": f"Bearer {token}"}
        async with create_mcp_http_client(headers=headers) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                return await client.call_tool(tool, arguments)

    return asyncio.run(call())


def test_http_request_without_a_bearer_token_gets_401(http_server: McpHttpServer) -> None:
    response = httpx2.post(http_server.url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorised"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_http_request_with_a_forged_bearer_token_gets_401(http_server: McpHttpServer) -> None:
    forged = _unsigned({"alg": "none"}, _claims()) + "."
    response = httpx2.post(
        http_server.url,
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers={"Authorization": f"Bearer {forged}"},
    )
    assert response.status_code == 401


def test_http_health_needs_no_token(http_server: McpHttpServer) -> None:
    response = httpx2.get(http_server.url.replace("/mcp", "/healthz"))
    assert response.json() == {"status": "ok", "server": "codex_relay"}


def test_http_tools_answer_with_the_turns_bearer_token_and_check_revocation(
    http_server: McpHttpServer, mint: Callable[..., str], run: Path, redis_client: redis.Redis
) -> None:
    token = mint(session="s-http", run_dir=str(run))
    result = _http_call(http_server.url, token, "read_run_file", {"path": "notes.txt"})
    assert not result.is_error and result.structured_content is not None
    assert result.structured_content["text"] == "top-level note\n"
    redis_client.set(RelayKeys().revoked("s-http"), "1")
    result = _http_call(http_server.url, token, "read_run_file", {"path": "notes.txt"})
    assert result.is_error and "revoked" in result.content[0].text  # type: ignore[union-attr]


def test_http_tier_is_taken_from_each_requests_token(
    http_server: McpHttpServer, mint: Callable[..., str], run: Path
) -> None:
    arguments = {"report_id": "summary", "pattern": "Introduction", "content": "x"}
    reader = mint(tier="read", run_dir=str(run))
    editor = mint(tier="edit", run_dir=str(run))
    denied = _http_call(http_server.url, reader, "replace_report_section", arguments)
    assert denied.is_error and "forbidden" in denied.content[0].text  # type: ignore[union-attr]
    assert not _http_call(http_server.url, editor, "replace_report_section", arguments).is_error
