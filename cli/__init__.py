"""The ``codex-relay`` command and the tools for people around the relay.

This package sits above the four layers (``relay`` ← ``mcp_tools`` ←
``bootstrap`` ← ``blueprints``) and may import any of them; nothing in
them imports it.

* :mod:`cli.main` – the ``codex-relay`` command line (argument parsing only);
* :mod:`cli.operations` – what the operator subcommands do (status, sessions, cleanup, check);
* :mod:`cli.report_commands` – ``codex-relay reports history``: a report's edits and undos;
* :mod:`cli.terminal` – how the operator commands print (tables, JSON, colour);
* :mod:`cli.demo_stack` – ``codex-relay demo``: the whole pipeline as child processes;
* :mod:`cli.demo_app` – the demo host app (a Flask app that mounts the relay);
* :mod:`cli.embedded_redis` – a private Redis server for the demo and the tests.
"""
