"""Admin views: sessions, actions, Prometheus metrics and the RQ dashboard.

Everything here sits behind the host's ``admin_authorizer`` (default deny):
no user is 401, a user without a role is 403, role ``viewer`` may look and
role ``admin`` may also act. Routes (under the relay's URL prefix)::

    GET  /agent/admin/                            sessions page (HTML)
    GET  /agent/admin/sessions.json               sessions and failed jobs (JSON)
    POST /agent/admin/sessions/<id>/stop          stop the running turn
    POST /agent/admin/sessions/<id>/delete        end the session
    POST /agent/admin/jobs/<job_id>/requeue       retry a failed turn (a new turn)
    GET  /agent/admin/runs/<runid>/reports/       the run's reports and their edit history (HTML)
    GET  /agent/admin/runs/<runid>/reports.json   the same, as JSON
    GET  /agent/admin/metrics                     Prometheus text (CODEX_RELAY_METRICS_ROUTE)
    *    /agent/admin/rq/                         the rq-dashboard blueprint

Actions are CSRF-safe: a POST must carry a JSON body (``Content-Type:
application/json``) or the ``X-Codex-Relay-Admin`` header, neither of which
a cross-site HTML form can send. The dashboard's own POSTs need jQuery's
``X-Requested-With`` header for the same reason, and its requeue buttons
are refused (see :mod:`relay.requeue` for why a turn job cannot simply be
re-run). Run tokens in the dashboard's job listings are masked.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, render_template, request

from mcp_tools.report_history import ReportHistory, report_history, run_report_ids
from relay.errors import BadRequest, Forbidden, NotAuthenticated, NotFound
from relay.logs import redact
from relay.metrics import Metrics
from relay.overview import failed_jobs, live_gauges, session_rows
from relay.requeue import requeue_failed_turn
from relay.turns import cancel_turn, delete_session

from .errors import error_response, register_error_handlers
from .state import RelayState, relay_state
from .turn_access import is_plain_name

__all__ = ["ACTION_HEADER", "make_admin_blueprint", "register_admin"]

log = logging.getLogger("codex_relay.admin")

#: Header that marks a non-JSON POST as a deliberate admin action (CSRF guard).
ACTION_HEADER = "X-Codex-Relay-Admin"
_SESSION_ID = re.compile(r"^[0-9a-f]{32}\Z")
_JOB_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}\Z")
_DASHBOARD_REFUSED = {"rq_dashboard.requeue_job_view", "rq_dashboard.requeue_all"}


def _role(act: bool) -> tuple[str, str]:
    """``(user, role)`` of the caller, or raise 401/403."""
    state = relay_state()
    user = state.policy.current_user()
    if user is None:
        raise NotAuthenticated("Log in to see the admin views.")
    role = state.policy.admin_role(user)
    if role is None:
        raise Forbidden("You may not see the codex-relay admin views.")
    if act and role != "admin":
        raise Forbidden("Your role is viewer: you may look but not act.")
    return user, role


def _action() -> str:
    """Check the caller may act and the request is not a forged form post; return the user."""
    user, _ = _role(act=True)
    if request.mimetype != "application/json" and ACTION_HEADER not in request.headers:
        raise Forbidden(
            f"Admin actions need a JSON body or the {ACTION_HEADER} header (CSRF protection)."
        )
    return user


def _record(state: RelayState, session_id: str) -> Any:
    record = state.runtime.sessions.get(session_id) if _SESSION_ID.match(session_id) else None
    if record is None:
        raise NotFound("No such session.")
    return record


def sessions_json() -> Response:
    """Every session (user, run, status, turn, job, age, last event, stalled, tokens)."""
    _, role = _role(act=False)
    rt = relay_state().runtime
    return jsonify(
        {
            "role": role,
            "generated": time.time(),
            "stale_after": rt.settings.stale_after,
            "sessions": session_rows(rt),
            "failed_jobs": failed_jobs(rt),
        }
    )


def stop(session_id: str) -> tuple[Response, int]:
    """Stop the session's running turn (it ends with ``cancelled``)."""
    user = _action()
    state = relay_state()
    record = _record(state, session_id)
    stopping = cancel_turn(state.runtime, record)
    log.info(
        "admin stop",
        extra={"admin": user, "session": record.id, "turn": record.running_turn or None},
    )
    return jsonify(
        {"session": record.id, "turn": record.running_turn or None, "stopping": stopping}
    ), 202


def delete(session_id: str) -> Response:
    """End the session: stop its turn, revoke its tokens, drop its state and log."""
    user = _action()
    state = relay_state()
    record = _record(state, session_id)
    delete_session(state.runtime, record)
    log.info("admin delete", extra={"admin": user, "session": record.id})
    return jsonify({"session": record.id, "deleted": True})


def requeue(job_id: str) -> tuple[Response, int]:
    """Retry a failed turn job: a new turn with the same message, or a clear refusal."""
    user = _action()
    if not _JOB_ID.match(job_id):
        raise BadRequest("That is not a job id.")
    state = relay_state()

    def mint(session: str, turn: int) -> str:
        record = _record(state, session)
        return state.mint_token(
            record.user, record.runid, record.config, record.id, record.tier, record.run_dir
        )

    result = requeue_failed_turn(state.runtime, job_id, mint)
    log.info(
        "admin requeue",
        extra={
            "admin": user,
            "job_id": job_id,
            "session": result.get("session"),
            "turn": result.get("turn"),
        },
    )
    return jsonify(result), 202


def _run_reports(runid: str) -> list[ReportHistory]:
    """Every report of run ``runid`` with its history (the host resolves the run)."""
    run_dir = relay_state().policy.run_dir(runid) if is_plain_name(runid) else None
    if run_dir is None:
        raise NotFound("No such run.")
    return [report_history(Path(run_dir), name) for name in run_report_ids(Path(run_dir))]


def reports_json(runid: str) -> Response:
    """The run's reports and their edits and undos, newest first (JSON)."""
    _, role = _role(act=False)
    return jsonify({"role": role, "runid": runid, "reports": _run_reports(runid)})


def reports_page(runid: str) -> str:
    """The run's reports and their edit history (a Jinja template)."""
    user, role = _role(act=False)
    return render_template(
        "codex_relay/admin_reports.html",
        user=user,
        role=role,
        runid=runid,
        now=time.time(),
        reports=_run_reports(runid),
    )


def metrics() -> Response:
    """The relay's counters and timings plus live gauges, in Prometheus text format."""
    _role(act=False)
    rt = relay_state().runtime
    text = Metrics(rt.redis, rt.keys.metrics()).render(live_gauges(rt))
    return Response(text, mimetype="text/plain", content_type="text/plain; version=0.0.4")


def _ago(ts: float | None, now: float) -> str:
    """``ts`` for people: "40 s ago", "12 min ago", or a UTC date (the ``ago`` filter)."""
    if not ts:
        return "—"
    ago = max(0.0, now - ts)
    if ago < 120:
        return f"{ago:.0f} s ago"
    if ago < 7200:
        return f"{ago / 60:.0f} min ago"
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts)) + " UTC"


def sessions_page() -> str:
    """The sessions page (a Jinja template): a table, with action buttons for admins."""
    user, role = _role(act=False)
    rt = relay_state().runtime
    return render_template(
        "codex_relay/admin_sessions.html",
        user=user,
        role=role,
        admin=role == "admin",
        now=time.time(),
        sessions=session_rows(rt),
        failures=failed_jobs(rt),
    )


def make_admin_blueprint(metrics_route: str = "/agent/admin/metrics") -> Blueprint:
    """The admin blueprint (``codex_relay_admin``)."""
    bp = Blueprint("codex_relay_admin", __name__, template_folder="templates")
    bp.add_app_template_filter(_ago, "ago")
    base = "/agent/admin"
    bp.add_url_rule(f"{base}/", "index", sessions_page, methods=["GET"])
    bp.add_url_rule(f"{base}/sessions", "sessions", sessions_page, methods=["GET"])
    bp.add_url_rule(f"{base}/sessions.json", "sessions_json", sessions_json, methods=["GET"])
    bp.add_url_rule(f"{base}/sessions/<session_id>/stop", "stop", stop, methods=["POST"])
    bp.add_url_rule(f"{base}/sessions/<session_id>/delete", "delete", delete, methods=["POST"])
    bp.add_url_rule(f"{base}/jobs/<job_id>/requeue", "requeue", requeue, methods=["POST"])
    bp.add_url_rule(f"{base}/runs/<runid>/reports/", "reports", reports_page, methods=["GET"])
    bp.add_url_rule(
        f"{base}/runs/<runid>/reports.json", "reports_json", reports_json, methods=["GET"]
    )
    bp.add_url_rule(metrics_route, "metrics", metrics, methods=["GET"])
    register_error_handlers(bp)
    return bp


def _guard_dashboard() -> Response | None:
    """Apply the admin check to the rq-dashboard blueprint's requests."""
    if request.blueprint != "rq_dashboard":
        return None
    state = relay_state()
    user = state.policy.current_user()
    if user is None:
        return error_response(401, NotAuthenticated.code, "Log in to see the admin views.")
    role = state.policy.admin_role(user)
    if role is None:
        return error_response(403, Forbidden.code, "You may not see the codex-relay admin views.")
    if request.endpoint in _DASHBOARD_REFUSED:
        return error_response(
            409,
            "requeue_refused",
            (
                "A turn job cannot be re-run as it was; "
                "use Retry on the codex-relay sessions page, "
                "which starts a new turn with the same message."
            ),
        )
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        if role != "admin":
            return error_response(
                403, Forbidden.code, "Your role is viewer: you may look but not act."
            )
        if request.headers.get("X-Requested-With") != "XMLHttpRequest":
            return error_response(
                403, Forbidden.code, "Dashboard actions need X-Requested-With (CSRF protection)."
            )
    return None


def _mask_dashboard(response: Response) -> Response:
    """Mask run tokens in the dashboard's pages and JSON (job call strings carry them)."""
    if (
        request.blueprint == "rq_dashboard"
        and response.mimetype in ("application/json", "text/html")
        and not response.direct_passthrough
    ):
        response.set_data(redact(response.get_data(as_text=True)))
    return response


def _mount_dashboard(app: Flask, state: RelayState) -> None:
    if "rq_dashboard" in app.blueprints:
        log.warning("rq_dashboard is already registered by the host; not mounting it again")
        return
    import rq_dashboard
    from rq_dashboard.web import setup_rq_connection

    app.config.setdefault("RQ_DASHBOARD_REDIS_URL", [state.settings.redis_url])
    setup_rq_connection(app)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=f"{state.url_prefix}/agent/admin/rq")
    app.before_request(_guard_dashboard)
    app.after_request(_mask_dashboard)


def register_admin(app: Flask, state: RelayState) -> None:
    """Mount the admin blueprint and the RQ dashboard on ``app`` (``CodexRelay.init_app``)."""
    app.register_blueprint(
        make_admin_blueprint(state.settings.metrics_route), url_prefix=state.url_prefix or None
    )
    _mount_dashboard(app, state)
