"""The report routes: a report's edit history, and undoing one edit.

::

    GET  /runs/<runid>/<config>/agent/reports/<report_id>/history
    POST /runs/<runid>/<config>/agent/reports/<report_id>/undo     {"edit_id": "<id>"}

Both check the host's policy for the user and the run exactly as the chat
routes do (:func:`blueprints.turn_access.run_context`); undoing also needs
tier ``edit`` (403 otherwise), and the user who undoes is recorded. The
work is :mod:`mcp_tools.report_history`'s: the same lock, backup and atomic
write as the agent's edits, so an undo and an edit racing each other run
one after the other and the report is never torn. Errors: 400 a malformed
body, 403 tier ``read``, 404 an unknown report or edit (or a report id that
cannot be one), 409 ``report_changed`` / ``already_undone`` /
``backup_missing`` (nothing written) or ``busy``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Blueprint, Response, jsonify

from mcp_tools.errors import BadArgument
from mcp_tools.report_edits import EditActor
from mcp_tools.report_history import report_history, undo_report_edit
from mcp_tools.report_store import report_path
from relay.errors import BadRequest, Forbidden, NotFound

from .request_context import read_json_object
from .state import relay_state
from .turn_access import RunContext, run_context

__all__ = ["add_report_routes"]

log = logging.getLogger("codex_relay.http")

_UNDO_FIELDS = frozenset({"edit_id"})


def _context(runid: str, config: str, report_id: str) -> tuple[RunContext, str]:
    """The caller's run context and the bare report id (404 for one that cannot be a report)."""
    state = relay_state()
    ctx = run_context(state, state.policy.current_user(), runid, config)
    try:
        bare, _ = report_path(report_id)
    except BadArgument:
        raise NotFound("No such report in this run.") from None
    return ctx, bare


def history(runid: str, config: str, report_id: str) -> Response:
    """The report's recorded edits and undos, newest first; ``can_undo`` for this user."""
    ctx, _ = _context(runid, config, report_id)
    found = report_history(Path(ctx.run_dir), report_id)
    return jsonify({**found, "can_undo": ctx.tier == "edit"})


def undo(runid: str, config: str, report_id: str) -> Response:
    """Restore the report's text from before one edit (tier ``edit``)."""
    ctx, bare = _context(runid, config, report_id)
    if ctx.tier != "edit":
        raise Forbidden("Undoing an edit needs edit access to this run.")
    body = read_json_object(relay_state().settings.max_body_bytes, _UNDO_FIELDS)
    edit_id = body.get("edit_id")
    if not isinstance(edit_id, str):
        raise BadRequest("'edit_id' is required and must be a string.")
    result = undo_report_edit(Path(ctx.run_dir), report_id, edit_id, EditActor(ctx.user))
    log.info(
        "report edit undone",
        extra={
            "user": ctx.user,
            "runid": ctx.runid,
            "report": bare,
            "edit_id": edit_id,
            "undo_id": result["undo_id"],
        },
    )
    return jsonify(dict(result))


def add_report_routes(bp: Blueprint) -> None:
    """Add the report routes to the relay blueprint (``CodexRelay.init_app``)."""
    base = "/runs/<runid>/<config>/agent/reports/<report_id>"
    bp.add_url_rule(f"{base}/history", "report_history", history, methods=["GET"])
    bp.add_url_rule(f"{base}/undo", "report_undo", undo, methods=["POST"])
