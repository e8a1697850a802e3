"""A host app with its own flask-jwt-extended login, and the relay mounted beside it.

The relay signs run tokens with its own key through PyJWT and sets nothing
app-wide for JWTs, so the host's own tokens (no ``aud``) keep working on its
routes, and a run token is never a login there: not with the host's own
secret, and not even if the host reused the relay's key pair for its logins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask, jsonify, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    get_jwt_identity,
    jwt_required,
    verify_jwt_in_request,
)
from rq.job import Job

from blueprints.extension import CodexRelay

RUN = "/runs/run-1/default/agent"


def _host_app(keypair: tuple[str, str], run_dir: Path, jwt_config: dict[str, Any]) -> Flask:
    app = Flask("host_with_jwt")
    app.config.update(
        TESTING=True,
        CODEX_RELAY_JWT_PRIVATE_KEY=keypair[0],
        CODEX_RELAY_RUNS_ROOT=str(run_dir.parent),
        **jwt_config,
    )
    JWTManager(app)
    relay = CodexRelay()

    @relay.user_loader
    def current_user() -> str | None:
        verify_jwt_in_request(optional=True)
        identity = get_jwt_identity()
        return str(identity) if identity else None

    relay.run_authorizer(lambda user, runid, config: True)
    relay.run_dir_resolver(lambda runid: str(run_dir) if runid == run_dir.name else None)
    relay.tier_loader(lambda user, runid, config: "edit")
    relay.init_app(app)

    @app.post("/login")
    def login() -> Any:
        return jsonify(token=create_access_token(identity=request.get_json()["user"]))

    @app.get("/me")
    @jwt_required()
    def me() -> Any:
        return jsonify(me=get_jwt_identity())

    return app


HOST_CONFIGS = {
    "host-secret-hs256": {"JWT_SECRET_KEY": "the-host-apps-own-secret-" + "x" * 16},
    "host-reuses-the-relays-keys": {"JWT_ALGORITHM": "EdDSA"},
}


@pytest.mark.parametrize("config", list(HOST_CONFIGS))
def test_the_hosts_logins_work_and_a_run_token_is_not_one(
    relay_env, keypair, run_dir, redis_client, config
):
    jwt_config = dict(HOST_CONFIGS[config])
    if config == "host-reuses-the-relays-keys":
        jwt_config.update(JWT_PRIVATE_KEY=keypair[0], JWT_PUBLIC_KEY=keypair[1])
    app = _host_app(keypair, run_dir, jwt_config)
    # The relay changed nothing of the host's JWT configuration.
    assert "JWT_DECODE_AUDIENCE" not in {k for k, v in jwt_config.items()}
    assert app.config.get("JWT_DECODE_AUDIENCE") is None
    client = app.test_client()
    login = client.post("/login", json={"user": "alice"}).get_json()["token"]
    bearer = {"Authorization": f"Bearer {login}"}
    # The host's own token (no aud) works on its routes and for the relay.
    assert client.get("/me", headers=bearer).get_json() == {"me": "alice"}
    chat = client.post(f"{RUN}/chat", json={"message": "#scenario:hello"}, headers=bearer)
    assert chat.status_code == 202, chat.get_json()
    # The turn's run token, as the worker gets it, is no login on the host.
    run_token = Job.fetch(chat.get_json()["job_id"], connection=redis_client).args[0]["token"]
    refused = client.get("/me", headers={"Authorization": f"Bearer {run_token}"})
    assert refused.status_code in (401, 422), refused.get_json()
    assert "alice" not in refused.get_data(as_text=True)
    sessions = client.get(f"{RUN}/sessions", headers={"Authorization": f"Bearer {run_token}"})
    assert sessions.status_code in (401, 422)  # nor on the relay's own routes
