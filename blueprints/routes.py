"""The relay's HTTP routes: they translate HTTP to :mod:`relay` calls and back."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, request, url_for
from rq import Worker

from bootstrap.codex_binary import locate_codex, probe_codex
from relay.errors import BadRequest, CodexBinaryError, MessageTooLong
from relay.turns import cancel_turn, delete_session

from .approvals import answer_approval
from .errors import register_app_error_handlers, register_error_handlers
from .request_context import bind_request_id, read_json_object, unbind_request_id
from .sse import event_stream
from .state import RelayState, relay_state
from .turn_access import RunContext, owned_session, run_context, start_chat_turn

__all__ = ["REQUEST_HEADER", "make_blueprint"]

log = logging.getLogger("codex_relay.http")

_CHAT_FIELDS = frozenset({"message", "session_id"})
#: Header that marks a POST without a JSON body as the panel's or an API client's own.
REQUEST_HEADER = "X-Codex-Relay-Request"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
if not STATIC_DIR.is_dir():  # installed from a wheel: static files ship inside relay/
    STATIC_DIR = Path(__file__).resolve().parent.parent / "relay" / "_static"


def _run_context(state: RelayState, runid: str, config: str) -> RunContext:
    return run_context(state, state.policy.current_user(), runid, config)


def _read_chat_body(max_bytes: int, max_chars: int) -> tuple[str, str | None]:
    body = read_json_object(max_bytes, _CHAT_FIELDS)
    message = body.get("message")
    if not isinstance(message, str):
        raise BadRequest("'message' is required and must be a string.")
    if not message.strip():
        raise BadRequest("'message' must not be empty.")
    if "\x00" in message:
        raise BadRequest("'message' must not contain NUL characters.")
    if len(message) > max_chars:
        raise MessageTooLong(f"The message is longer than {max_chars} characters.")
    session_id = body.get("session_id")
    if session_id is not None and not isinstance(session_id, str):
        raise BadRequest("'session_id' must be a string.")
    return message, session_id


def _urls(ctx: RunContext, session_id: str) -> dict[str, str]:
    args: dict[str, Any] = {"runid": ctx.runid, "config": ctx.config, "session_id": session_id}
    return {
        "events_url": url_for("codex_relay.events", **args),
        "cancel_url": url_for("codex_relay.cancel", **args),
    }


def chat(runid: str, config: str) -> tuple[Response, int]:
    """Start a turn (a new session when no ``session_id`` is given)."""
    state = relay_state()
    settings = state.settings
    ctx = _run_context(state, runid, config)
    message, session_id = _read_chat_body(settings.max_body_bytes, settings.max_message_chars)
    started = start_chat_turn(state, ctx, message, session_id)
    record, turn, job_id = started.session, started.turn, started.job_id
    body: dict[str, Any] = {"session_id": record.id, "turn": turn, "job_id": job_id}
    body.update(_urls(ctx, record.id))
    return jsonify(body), 202


def events(runid: str, config: str, session_id: str) -> Response:
    """SSE: replay the session's events after the client's last id, then follow live."""
    state = relay_state()
    ctx = _run_context(state, runid, config)
    record = owned_session(state, ctx, session_id)
    after = request.headers.get("Last-Event-ID") or request.args.get("after") or None
    return event_stream(state.fanout, record.id, after, ctx.user, request.environ)


def cancel(runid: str, config: str, session_id: str) -> tuple[Response, int]:
    """Ask the running turn to stop; the stream then ends it with ``cancelled``."""
    state = relay_state()
    record = owned_session(state, _run_context(state, runid, config), session_id)
    cancelled = cancel_turn(state.runtime, record)
    log.info(
        "cancel requested",
        extra={"session": record.id, "turn": record.running_turn, "cancelling": cancelled},
    )
    return jsonify({"session_id": record.id, "cancelling": cancelled}), 202


def session_state(runid: str, config: str, session_id: str) -> Response:
    """The session's state: status, turns, whether a Codex thread exists."""
    state = relay_state()
    record = owned_session(state, _run_context(state, runid, config), session_id)
    return jsonify(record.public())


def session_delete(runid: str, config: str, session_id: str) -> tuple[str, int]:
    """End the session: cancel any turn, revoke its tokens, drop its state."""
    state = relay_state()
    record = owned_session(state, _run_context(state, runid, config), session_id)
    delete_session(state.runtime, record)
    log.info("session deleted", extra={"session": record.id})
    return "", 204


def session_list(runid: str, config: str) -> Response:
    """The current user's sessions of this run, most recent first."""
    state = relay_state()
    ctx = _run_context(state, runid, config)
    records = state.runtime.sessions.list_for(ctx.user, ctx.runid)
    return jsonify([r.public() for r in records])


def health() -> tuple[Response, int]:
    """Redis reachable, queue depth, live workers, the runner and the Codex CLI's version.

    503 when something needed is down.
    """
    state = relay_state()
    rt = state.runtime
    report: dict[str, Any] = {"redis": False, "queue_depth": None, "workers": 0}
    try:
        rt.redis.ping()
        report["redis"] = True
        report["queue_depth"] = rt.queue().count
        report["workers"] = Worker.count(connection=rt.redis)
        report["running_turns"] = len(rt.sessions.running_turns())
    except (redis.ConnectionError, redis.TimeoutError):
        pass
    report["runner"] = state.settings.runner
    report["codex"] = _codex_probe(state.settings.codex_bin, state.settings.runner == "app-server")
    report["ok"] = bool(report["redis"] and report["workers"] and report["codex"]["ok"])
    return jsonify(report), 200 if report["ok"] else 503


def _codex_probe(configured: str | None, app_server: bool) -> dict[str, Any]:
    """The Codex CLI as this host sees it: its version (the probe is cached per process)."""
    try:
        info = probe_codex(locate_codex(configured), app_server=app_server)
    except CodexBinaryError as exc:
        return {"ok": False, "error": exc.message}
    return {"ok": True, "version": info.version}


def make_blueprint() -> Blueprint:
    """The relay blueprint (routes, static files, error handlers)."""
    bp = Blueprint(
        "codex_relay",
        __name__,
        static_folder=str(STATIC_DIR),
        static_url_path="/agent/static",
    )
    run = "/runs/<runid>/<config>/agent"
    bp.add_url_rule(f"{run}/chat", "chat", chat, methods=["POST"])
    bp.add_url_rule(f"{run}/sessions", "sessions", session_list, methods=["GET"])
    sid = f"{run}/sessions/<session_id>"
    bp.add_url_rule(sid, "session", session_state, methods=["GET"])
    bp.add_url_rule(sid, "delete", session_delete, methods=["DELETE"])
    bp.add_url_rule(f"{sid}/events", "events", events, methods=["GET"])
    bp.add_url_rule(f"{sid}/cancel", "cancel", cancel, methods=["POST"])
    bp.add_url_rule(f"{sid}/approvals/<approval_id>", "approval", answer_approval, methods=["POST"])
    bp.add_url_rule("/agent/health", "health", health, methods=["GET"])
    bp.before_request(_refuse_cross_site_posts)
    bp.before_request(bind_request_id)
    bp.teardown_request(unbind_request_id)
    register_error_handlers(bp)
    register_app_error_handlers(bp)
    return bp


def _refuse_cross_site_posts() -> None:
    """A POST must carry JSON or :data:`REQUEST_HEADER` (CSRF protection).

    An HTML form on another site can POST ``text/plain``, form-encoded or
    multipart bodies with the user's cookies, but neither a JSON body nor a
    custom header without the browser asking this server first (CORS). The
    other methods (DELETE) cannot be sent by a form at all.
    """
    if request.method != "POST" or request.mimetype == "application/json":
        return
    if REQUEST_HEADER in request.headers:
        return
    raise BadRequest(
        f"Send a JSON body (Content-Type: application/json) or the {REQUEST_HEADER} header "
        "with this request (protection against cross-site requests)."
    )
