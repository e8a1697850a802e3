"""The OpenAI-compatible facade: ``GET /models`` and ``POST /chat/completions``.

Mounted at ``CODEX_RELAY_OPENAI_PREFIX`` (default ``/openai/v1``) under the
relay's URL prefix, so Open WebUI, LibreChat and the ``openai`` SDKs can
use the relay as a model provider. A model is a run (``<runid>/<config>``);
a chat completion is a turn, started through
:func:`~blueprints.turn_access.start_chat_turn` exactly as the panel starts
one (host policy, tier, rate limits), in an ordinary relay session that the
panel and the admin views see too.

Who is asking: ``Authorization: Bearer <key>``, mapped to a user by the
host's ``api_key_loader`` (default: no key is accepted);
:func:`redis_api_key_loader` is a ready-made one for the keys of
``codex-relay api-keys``. Which session: ``X-Session-Id`` continues that
session (the key's user's, on this run; else 404); else
``X-OpenWebUI-Chat-Id`` continues the session linked to that chat; else a
new session starts, given the request's earlier messages as context. Every
answer carries ``X-Session-Id``.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, NoReturn

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import NotFound as HttpNotFound

from relay.chat_links import MAX_CHAT_ID_CHARS
from relay.errors import BadParameter, Forbidden, InvalidApiKey, NotFound, UnknownModel
from relay.openai_request import ChatRequest, parse_chat_request, parse_model_id
from relay.openai_shapes import Completion, model_list, model_object

from .client_socket import disconnect_probe
from .openai_errors import register_openai_error_handlers
from .openai_stream import collect_answer, end_stream, stream_chunks, turn_failure
from .request_context import bind_request_id, read_json_object, unbind_request_id
from .state import RelayState, relay_state
from .turn_access import RunContext, run_context, start_chat_turn

__all__ = ["CHAT_ID_HEADER", "SESSION_HEADER", "make_openai_blueprint", "redis_api_key_loader"]

log = logging.getLogger("codex_relay.openai")

#: Request and response header naming the relay session.
SESSION_HEADER = "X-Session-Id"
#: Open WebUI's conversation id (sent with ``ENABLE_FORWARD_USER_INFO_HEADERS=true``).
CHAT_ID_HEADER = "X-OpenWebUI-Chat-Id"
#: Most models ``GET /models`` lists.
_MAX_MODELS = 1000


def redis_api_key_loader(key: str) -> str | None:
    """A ready-made ``api_key_loader``: the keys made by ``codex-relay api-keys create``."""
    return relay_state().runtime.api_keys.user_for(key)


def _caller(state: RelayState) -> str:
    """The user the request's bearer key stands for; :class:`InvalidApiKey` otherwise."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise InvalidApiKey("No API key: send 'Authorization: Bearer <key>'.")
    user = state.policy.user_for_key(key.strip())
    if user is None:
        raise InvalidApiKey("Invalid API key.")
    return user


def _model_context(state: RelayState, user: str, runid: str, config: str) -> RunContext:
    """The run behind a model id; an unknown run and a refused one look the same (404)."""
    try:
        return run_context(state, user, runid, config)
    except (NotFound, Forbidden):
        raise UnknownModel(
            f"The model '{runid}/{config}' does not exist or you do not have access to it."
        ) from None


def _created(state: RelayState, runid: str) -> int | None:
    """The run directory's modification time, or ``None`` for an unknown run."""
    run_dir = state.policy.run_dir(runid)
    if run_dir is None:
        return None
    try:
        return int(os.stat(run_dir).st_mtime)
    except OSError:
        return None


def list_models() -> Response:
    """The runs the key's user may use, as OpenAI models."""
    state = relay_state()
    user = _caller(state)
    models = []
    for runid, config in state.policy.runs_for(user)[:_MAX_MODELS]:
        try:
            parse_model_id(f"{runid}/{config}")
        except UnknownModel:
            continue  # a name the routes could never reach
        created = _created(state, runid)
        if created is not None and state.policy.authorize(user, runid, config):
            models.append(model_object(f"{runid}/{config}", created))
    return jsonify(model_list(models))


def get_model(model: str) -> Response:
    """One model, if the key's user may use it."""
    state = relay_state()
    user = _caller(state)
    runid, config = parse_model_id(model)
    if (runid, config) not in state.policy.runs_for(user):
        raise UnknownModel(f"The model '{model}' does not exist or you do not have access to it.")
    ctx = _model_context(state, user, runid, config)
    return jsonify(model_object(f"{runid}/{config}", _created(state, ctx.runid) or 0))


def _continuation(state: RelayState, ctx: RunContext) -> tuple[str | None, str | None]:
    """``(session to continue or None, client chat id to link or None)`` from the headers."""
    session_id = request.headers.get(SESSION_HEADER, "").strip()
    if session_id:
        return session_id, None  # start_chat_turn checks it is this user's, on this run
    chat_id = request.headers.get(CHAT_ID_HEADER)
    if chat_id is None:
        return None, None
    chat_id = chat_id.strip()
    if not chat_id or len(chat_id) > MAX_CHAT_ID_CHARS or not chat_id.isprintable():
        raise BadParameter(
            f"{CHAT_ID_HEADER} must be 1-{MAX_CHAT_ID_CHARS} printable characters.",
            CHAT_ID_HEADER,
        )
    rt = state.runtime
    linked = rt.chat_links.session_for(ctx.user, ctx.runid, chat_id)
    if linked is not None and rt.sessions.get(linked) is not None:
        return linked, chat_id
    return None, chat_id


def chat_completions() -> Response:
    """Start a turn with the last user message; answer it streamed or whole."""
    state = relay_state()
    rt, settings = state.runtime, state.settings
    user = _caller(state)
    req = parse_chat_request(
        read_json_object(settings.openai_max_body_bytes), settings.max_message_chars
    )
    ctx = _model_context(state, user, req.runid, req.config)
    session_id, chat_id = _continuation(state, ctx)
    after = rt.events.last_id(session_id) if session_id else None
    message = req.turn_message(settings.max_message_chars, with_history=session_id is None)
    # The stream slot first: a user over the stream cap gets 429 with no turn started.
    slot = state.fanout.take_slot(ctx.user)
    try:
        started = start_chat_turn(state, ctx, message, session_id)
    except BaseException:
        state.fanout.free_slot(slot)
        raise
    subscription = state.fanout.follow(
        started.session.id, after, connected=disconnect_probe(request.environ), slot=slot
    )
    session, turn = started.session.id, started.turn
    g.codex_relay_session = session
    if chat_id is not None:
        rt.chat_links.link(ctx.user, ctx.runid, chat_id, session)
    shape = _completion(req, session, turn)
    if req.stream:
        response = Response(stream_chunks(rt, subscription, turn, shape), 200)
        # The server calls this when the response ends, even if the body was never read.
        response.call_on_close(lambda: end_stream(rt, subscription, turn))
        response.mimetype = "text/event-stream"
        response.headers["Cache-Control"] = "no-cache, no-transform"
        response.headers["X-Accel-Buffering"] = "no"
        return response
    answer = collect_answer(rt, subscription, turn)
    failure = turn_failure(rt, subscription.session, answer)
    if failure is not None:
        raise failure
    return jsonify(shape.whole(answer.text, answer.usage))


def _completion(req: ChatRequest, session: str, turn: int) -> Completion:
    return Completion(
        id=f"chatcmpl-{session}-{turn}",
        model=req.model,
        created=int(time.time()),
        include_usage=req.stream and req.include_usage,
    )


def unknown_endpoint(path: str = "") -> NoReturn:
    """Any other path under the prefix: 404 in OpenAI's shape, not the host's HTML page."""
    raise HttpNotFound(f"Unknown endpoint: {request.method} /{path[:200]}.")


def _session_header(response: Response) -> Response:
    session = g.get("codex_relay_session")
    if session:
        response.headers[SESSION_HEADER] = session
    return response


def make_openai_blueprint() -> Blueprint:
    """The facade's blueprint (routes, the session header, OpenAI-shaped errors)."""
    bp = Blueprint("codex_relay_openai", __name__)
    bp.add_url_rule("/models", "models", list_models, methods=["GET"])
    bp.add_url_rule("/models/<path:model>", "model", get_model, methods=["GET"])
    bp.add_url_rule("/chat/completions", "chat_completions", chat_completions, methods=["POST"])
    every: Any = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    bp.add_url_rule("/", "unknown_root", unknown_endpoint, methods=every)
    bp.add_url_rule("/<path:path>", "unknown", unknown_endpoint, methods=every)
    bp.before_request(bind_request_id)
    bp.after_request(_session_header)
    bp.teardown_request(unbind_request_id)
    register_openai_error_handlers(bp)
    return bp
