"""A scripted model server: an offline stand-in for a Responses-API model.

This is **not a model**. It is a small HTTP server that speaks enough of the
OpenAI Responses API (``POST /v1/responses`` with a streamed, server-sent-event
answer) for the real Codex CLI to use it as a custom provider, and it answers
from scripts. Tests and the offline demo of codex-relay use it so that Codex
runs end to end with no network, no key and no cost.

Standard library only, no state per connection, starts in a few milliseconds.

Scenarios
=========
A *scenario* is a named list of *steps*. Step ``i`` answers the ``i``-th model
request of a turn. The server works ``i`` out from the request body alone, so
it needs no session state and works across resumed threads: ``i`` is the
number of tool-call rounds after the last user message of ``input``, that is
the number of distinct rounds among the tool outputs there
(``function_call_output``, ``custom_tool_call_output``, ...). The call ids
this server makes carry their step number (``call_s<step>_<n>_<hex>``) so
that several calls in one step count once; any other call id counts as a
round of its own.

The last user message picks the scenario: ``#scenario:<name>`` anywhere in
its text chooses ``<name>``; otherwise the server's default scenario answers
(built in: ``demo``, a friendly reply that says it is this stand-in and quotes
the message back). An unknown name gets a reply listing the known ones.
User messages that Codex writes itself (``<environment_context>`` and other
``<snake_case>`` blocks, ``# AGENTS.md instructions``) are not user messages
here.

Steps
-----
A step is one JSON object, one model response. A step with a tool call makes
Codex run the tool and send the result back: the next request, the next step.
A step without one ends the turn. Output keys, emitted in this order when several
are in one object (use ``items`` for another order)::

    {"reason": "summary text"}        a reasoning item with that summary
    {"web_search": "query"}           a provider-side web_search_call item
    {"say": "markdown"}               an assistant message; a string is
                                      streamed as several text deltas, a list
                                      of strings gives the deltas exactly
    {"shell": "ls -la"}               a command through the tool Codex offers
                                      (exec_command, shell_command, shell);
                                      a list is an argv; options "timeout_ms"
                                      (exec_command: yield_time_ms), "workdir",
                                      "login" (default false: no profile noise)
    {"mcp": {"server": "codex_relay", "tool": "list_run_files",
             "arguments": {}}}        a call to a tool of an MCP server
    {"patch": "*** Begin Patch..."}   a file change through apply_patch
    {"plan": [{"step": "...", "status": "pending"}]}
                                      the update_plan tool; option
                                      "explanation"
    {"call": {"name": "...", "arguments": {}, "namespace": "..."}}
                                      any other function tool

Control keys::

    {"delay": 0.5}                    sleep before answering
    {"pace": 0.05}                    seconds between the text deltas of this
                                      step's (or item's) "say" and "reason";
                                      a paced string is streamed word by word
                                      (default: the server's pace, 0 unless
                                      set with --pace)
    {"http_error": 500, "body": "...", "headers": {}}
                                      answer with that HTTP status instead
                                      (body: a string as is, an object as
                                      JSON; default an OpenAI-style error)
    {"stall": 30}                     after the response headers, send
                                      nothing for that long, then go on with
                                      the rest of the step
    {"disconnect": true}              drop the connection before
                                      response.completed
    {"fail": "message"}               end with response.failed instead of
                                      response.completed; an object gives
                                      the error's "code" too (Codex treats
                                      "context_length_exceeded",
                                      "insufficient_quota" specially)
    {"usage": {"input_tokens": 1, "output_tokens": 2, "cached_tokens": 0,
               "reasoning_tokens": 0}}
                                      usage for response.completed (default:
                                      small numbers derived from the input)
    {"items": [{...}, {...}]}         output steps in this order; inside,
                                      "stall"/"delay" pause the stream there,
                                      "disconnect" drops it there and
                                      "raw_sse" inserts events there
    {"raw_sse": [{"type": ...}, ...]} emit exactly these events and nothing
                                      else (escape hatch)

``say`` text may contain ``{{user_message}}``, ``{{quoted}}`` (the same as a
markdown quote), ``{{last_output}}`` (the text of the newest tool output in
the request, without Codex's "Wall time:" header), ``{{scenario}}`` and
``{{step}}``.
When the steps run out the answer is the message ``(scenario finished)``.

Scenarios come from :data:`BUILTIN_SCENARIOS`, a JSON file (``--scenarios``,
an object of name to step list), :meth:`DevModelServer.add_scenario`, and
``POST /_scenarios`` with ``{"name": ..., "steps": [...]}``.

Other routes: ``GET /_health``, ``GET /_scenarios`` (names), ``GET
/_requests`` (the recorded ``/v1/responses`` bodies, newest last, bounded),
``DELETE /_requests``, ``GET /v1/models``.

Run ``python -m devmodel [--host H] [--port P] [--scenarios FILE] [--pace S]``; it
prints ``devmodel listening on http://H:P/v1`` and serves until SIGTERM or
SIGINT. :func:`codex_config_overrides` gives the ``codex -c`` arguments that
point Codex at it.
"""

from __future__ import annotations

from .codex_config import codex_config_overrides, codex_model_catalog
from .scenarios import (
    BUILTIN_SCENARIOS,
    DEFAULT_MODEL,
    DEMO_ROUTES,
    FINISHED_TEXT,
    ScenarioError,
    validate_steps,
)
from .server import MAX_RECORDED_REQUESTS, DevModelServer, main

__all__ = [
    "BUILTIN_SCENARIOS",
    "DEFAULT_MODEL",
    "DEMO_ROUTES",
    "FINISHED_TEXT",
    "MAX_RECORDED_REQUESTS",
    "DevModelServer",
    "ScenarioError",
    "codex_config_overrides",
    "codex_model_catalog",
    "main",
    "validate_steps",
]
