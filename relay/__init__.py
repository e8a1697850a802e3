"""codex-relay's core: no Flask here, and nothing heavy at import time.

Modules:

* :mod:`relay.settings` – every setting, its default and meaning; :func:`load_settings`;
* :mod:`relay.errors` – the one exception tree;
* :mod:`relay.keys` – Redis key and channel names;
* :mod:`relay.events` – the event envelope and types;
* :mod:`relay.jsonl` – incremental JSON Lines decoding of Codex's stdout;
* :mod:`relay.normalise` – Codex ``exec --json`` events to relay events;
* :mod:`relay.event_log` – the durable event log and live channel (one Lua call per batch);
* :mod:`relay.event_fanout` – live events for every stream of a process, one pub/sub connection;
* :mod:`relay.stream_slots` – the per-user cap on open event streams, across processes;
* :mod:`relay.session_store` – sessions and the one-running-turn lock;
* :mod:`relay.turns` – start, cancel and end turns; :mod:`relay.reaper` – the watchdog sweep;
* :mod:`relay.tokens` – run tokens (EdDSA JWT) and their verification;

What is not core lives above it: the MCP tools (``mcp_tools``), the RQ job
(``bootstrap``), the Flask extension (``blueprints``), and the tools for
people (``cli``, ``devmodel``). Nothing here imports any of them.
"""

__version__ = "0.1.0"
