"""A small host app that mounts codex-relay: what ``codex-relay demo`` serves.

Demo-only policy: anyone who logs in with ``POST /demo/login {"user": "<name>"}``
(a signed session cookie) may use every run under the runs root with tier
``edit``, except names starting with ``reader``, which get tier ``read``; the
user named ``admin`` also sees the admin views. The OpenAI-compatible API
accepts the keys of ``codex-relay api-keys create`` and lists every run under
the runs root as ``<runid>/default``. Real hosts plug their own login and
permissions into the same callbacks.
"""

from __future__ import annotations

import os
import re
import secrets
from collections import ChainMap
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, render_template, request, session, url_for

from blueprints.extension import CodexRelay
from blueprints.openai_api import redis_api_key_loader
from relay.settings import load_settings

__all__ = ["create_app", "ensure_sample_run"]

_USER = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
SAMPLE_RUN = "sample-run"


def ensure_sample_run(root: Path) -> Path:
    """Create ``<root>/sample-run`` with inputs, logs and a report, if missing."""
    run = root / SAMPLE_RUN
    if run.exists():
        return run
    for sub in ("inputs", "outputs", "logs", "reports"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    (run / "inputs" / "config.yaml").write_text(
        "model: tiny-transformer\nlearning_rate: 0.0003\nepochs: 12\nbatch_size: 64\n"
    )
    (run / "inputs" / "dataset.csv").write_text("id,text,label\n1,good,1\n2,bad,0\n3,fine,1\n")
    (run / "outputs" / "metrics.json").write_text('{"accuracy": 0.91, "loss": 0.23}\n')
    (run / "logs" / "train.log").write_text(
        "".join(f"epoch {i} loss {1 / (i + 1):.3f}\n" for i in range(12))
    )
    (run / "reports" / "summary.md").write_text(
        "# Run summary\n\n## Introduction\n\nThis run trains a tiny transformer.\n\n"
        "## Results\n\nAccuracy reached 0.91 after 12 epochs.\n\n"
        "## Next steps\n\n- Try a larger batch size.\n"
    )
    return run


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The demo host app (flaskr-style factory)."""
    app = Flask(__name__)
    settings = load_settings(ChainMap(dict(test_config or {}), os.environ))
    app.config.from_mapping(
        SECRET_KEY=settings.demo_secret_key or secrets.token_hex(32),
        SESSION_COOKIE_SAMESITE="Lax",
    )
    if test_config:
        app.config.update(test_config)
    runs_root = Path(settings.runs_root or "runs").resolve()

    relay = CodexRelay()

    @relay.user_loader
    def current_user() -> str | None:
        user = session.get("user")
        return user if isinstance(user, str) else None

    @relay.run_authorizer
    def may_use(user: str, runid: str, config: str) -> bool:
        return True

    @relay.run_dir_resolver
    def run_dir(runid: str) -> Path | None:
        candidate = (runs_root / runid).resolve()
        return candidate if candidate.parent == runs_root and candidate.is_dir() else None

    @relay.tier_loader
    def tier(user: str, runid: str, config: str) -> str:
        return "read" if user.startswith("reader") else "edit"

    @relay.admin_authorizer
    def is_admin(user: str) -> bool:
        return user == "admin"

    relay.api_key_loader(redis_api_key_loader)

    @relay.runs_lister
    def runs_of(user: str) -> list[tuple[str, str]]:
        if not runs_root.is_dir():
            return []
        return [(p.name, "default") for p in sorted(runs_root.iterdir()) if p.is_dir()]

    relay.init_app(app)
    _add_demo_routes(app, runs_root)
    return app


def _add_demo_routes(app: Flask, runs_root: Path) -> None:
    @app.post("/demo/login")
    def login() -> tuple[Response, int]:
        body = request.get_json(silent=True)
        user = body.get("user") if isinstance(body, dict) else None
        if not isinstance(user, str) or not _USER.match(user):
            return jsonify(
                {
                    "error": {
                        "code": "bad_request",
                        "message": 'Send {"user": "<name>"} (letters, digits, ._@-).',
                    }
                }
            ), 400
        session["user"] = user
        return jsonify({"user": user}), 200

    @app.post("/demo/logout")
    def logout() -> tuple[str, int]:
        session.pop("user", None)
        return "", 204

    @app.get("/")
    def index() -> str:
        runs = (
            sorted(p.name for p in runs_root.iterdir() if p.is_dir()) if runs_root.is_dir() else []
        )
        return render_template("demo/index.html", title="codex-relay demo", runs=runs)

    @app.get("/runs/<runid>/<config>/")
    def run_page(runid: str, config: str) -> str:
        user = session.get("user")
        return render_template(
            "demo/run.html",
            title=f"Run {runid}",
            runid=runid,
            config=config,
            user=user if isinstance(user, str) else None,
            prefix=url_for("codex_relay.health").rsplit("/agent/health", 1)[0],
        )
