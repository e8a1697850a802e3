"""The ``codex-relay`` command line.

Subcommands: ``demo`` (the whole stack on embedded defaults), ``worker``,
``web`` (a host app under gunicorn), ``install-codex``, ``devmodel`` (the
scripted model server), ``settings`` (the configuration reference),
``status``, ``sessions``, ``usage``, ``reports``, ``cleanup``, ``check`` and
``api-keys`` (keys for the OpenAI-compatible API). Settings come from the
environment (see :mod:`relay.settings`). Exit codes: 0 success, 1 failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import redis

from relay.errors import RelayError
from relay.logs import configure_logging, redact
from relay.settings import Settings, load_settings, settings_table

from . import operations as cli_ops
from . import report_commands
from .api_key_commands import add_api_key_commands

__all__ = ["main"]


def _configure_logging(settings: Settings) -> None:
    configure_logging(
        settings.log_level, json=settings.log_format == "json", bodies=settings.log_bodies
    )


def _cmd_install_codex(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bootstrap.codex_binary import (
        CODEX_VERSION,
        SUPPORTED_VERSIONS,
        install_codex,
        probe_codex,
    )

    if args.supported and (args.version or args.prefix):
        print("install-codex: --supported installs every release; give no --version or --prefix")
        return 2
    versions = SUPPORTED_VERSIONS if args.supported else (args.version or CODEX_VERSION,)
    for version in versions:
        path = install_codex(Path(args.prefix) if args.prefix else None, version)
        info = probe_codex(str(path))
        print(f"Codex CLI {info.version} at {info.path}")
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from bootstrap.worker import run_worker

    settings = load_settings()
    _configure_logging(settings)
    run_worker(settings, args.queues or None, burst=args.burst, simple=args.simple)
    return 0


def _cmd_web(args: argparse.Namespace) -> int:
    from blueprints.web_server import web_server_argv

    settings = load_settings()  # a bad setting stops here, with its name, not inside gunicorn
    app = args.app or settings.web_app
    if not app:
        print(
            "codex-relay web: name the host app to serve, e.g. "
            "codex-relay web 'yourapp:create_app()', or set CODEX_RELAY_WEB_APP "
            "(the demo app is cli.demo_app:create_app(), for trying codex-relay out only).",
            file=sys.stderr,
        )
        return 2
    argv = web_server_argv(app, args.bind, log_level=args.log_level)
    os.execv(argv[0], argv)
    return 1  # pragma: no cover - execv does not return


def _cmd_settings(args: argparse.Namespace) -> int:
    from .readme import update_settings_table

    if args.readme:
        changed = update_settings_table(args.readme)
        print(f"{args.readme}: {'updated' if changed else 'already up to date'}")
    else:
        print(settings_table(), end="")
    return 0


def _cmd_devmodel(args: argparse.Namespace) -> int:
    import devmodel

    argv = ["--host", args.host, "--port", str(args.port)]
    if args.scenarios:
        argv += ["--scenarios", args.scenarios]
    return int(devmodel.main(argv) or 0)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo_stack import run_demo

    _configure_logging(load_settings())
    return run_demo(host=args.host, port=args.port, runs_root=args.runs_root)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codex-relay", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole stack locally (embedded Redis, worker, app)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=5000)
    demo.add_argument("--runs-root", default=None, help="directory of runs (default: a sample)")
    demo.set_defaults(func=_cmd_demo)

    worker = sub.add_parser("worker", help="run an RQ worker for codex-relay turns")
    worker.add_argument("queues", nargs="*", help="queue names (default: codex-relay)")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.add_argument("--simple", action="store_true", help="run jobs in-process (no fork)")
    worker.set_defaults(func=_cmd_worker)

    web = sub.add_parser("web", help="serve a host app with the relay under gunicorn")
    web.add_argument(
        "app",
        nargs="?",
        default=None,
        help="the host app, e.g. 'yourapp:create_app()' (default: CODEX_RELAY_WEB_APP)",
    )
    web.add_argument("--bind", default="127.0.0.1:8000", help="host:port (default 127.0.0.1:8000)")
    web.add_argument("--log-level", default="info", help="gunicorn's log level (default info)")
    web.set_defaults(func=_cmd_web)

    install = sub.add_parser("install-codex", help="install the pinned Codex CLI with npm")
    install.add_argument("--prefix", default=None, help="install directory")
    install.add_argument(
        "--version",
        default=None,
        help="another release than the pinned one (installed beside it, in .codex-cli-<version>)",
    )
    install.add_argument(
        "--supported",
        action="store_true",
        help="every release the relay is tested with (the pinned one and the newer ones)",
    )
    install.set_defaults(func=_cmd_install_codex)

    table = sub.add_parser("settings", help="print every setting as a markdown table")
    table.add_argument("--readme", default=None, help="rewrite the table in this README instead")
    table.set_defaults(func=_cmd_settings)

    dev = sub.add_parser("devmodel", help="run the scripted model server (offline stand-in)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=0)
    dev.add_argument("--scenarios", default=None, help="JSON file of extra scenarios")
    dev.set_defaults(func=_cmd_devmodel)
    _add_operator_commands(sub)
    add_api_key_commands(sub)
    return parser


def _add_operator_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser("status", help="queues, workers, running turns and recent failures")
    status.add_argument("--json", action="store_true", help="print JSON instead of tables")
    status.set_defaults(func=cli_ops.cmd_status)

    sessions = sub.add_parser("sessions", help="list, show, stop or delete sessions")
    actions = sessions.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every live session, most recent first")
    listing.add_argument("--user", default=None, help="only this user's sessions")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show = actions.add_parser("show", help="one session's record and its last events")
    show.add_argument("session_id")
    show.add_argument("--events", type=int, default=20, help="how many events (default 20)")
    show.add_argument("--json", action="store_true", help="print JSON")
    stop = actions.add_parser("stop", help="stop the session's running turn")
    stop.add_argument("session_id")
    delete = actions.add_parser("delete", help="end the session and drop its state")
    delete.add_argument("session_id")
    sessions.set_defaults(func=cli_ops.cmd_sessions)

    usage = sub.add_parser(
        "usage", help="each user's sessions, stored bytes and tokens today against the limits"
    )
    usage.add_argument("--user", default=None, help="only this user")
    usage.add_argument("--json", action="store_true", help="print JSON instead of a table")
    usage.set_defaults(func=cli_ops.cmd_usage)

    reports = sub.add_parser("reports", help="what the agent changed in a run's reports")
    report_actions = reports.add_subparsers(dest="action", required=True)
    history = report_actions.add_parser(
        "history", help="a report's edits and undos, newest first (who, when, what, state)"
    )
    history.add_argument("run", help="the run id (a directory under the runs root)")
    history.add_argument("report", help="the report id: 'summary' for reports/summary.md")
    history.add_argument("--runs-root", default=None, help="default: CODEX_RELAY_RUNS_ROOT")
    history.add_argument("--json", action="store_true", help="print JSON instead of a table")
    reports.set_defaults(func=report_commands.cmd_reports)

    cleanup = sub.add_parser(
        "cleanup", help="reap stale turns, drop expired sessions, old backups and Codex homes"
    )
    cleanup.add_argument(
        "--backup-days",
        type=float,
        default=30,
        help="remove report backups older than this many days (default 30)",
    )
    cleanup.add_argument("--dry-run", action="store_true", help="say what would be removed")
    cleanup.set_defaults(func=cli_ops.cmd_cleanup)

    check = sub.add_parser(
        "check", help="check configuration, Redis, Codex, keys and the MCP server"
    )
    check.set_defaults(func=cli_ops.cmd_check)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``codex-relay`` console script."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except RelayError as exc:
        print(f"codex-relay: {exc.message}", file=sys.stderr)
        return 1
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        print(f"codex-relay: Redis is unreachable: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
