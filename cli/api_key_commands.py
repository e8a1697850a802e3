"""``codex-relay api-keys create|list|revoke``: keys for the OpenAI-compatible API.

``create`` prints the new key alone on stdout (so ``KEY=$(codex-relay
api-keys create --user alice)`` works) and a note on stderr; the key is
shown this once: Redis keeps only its SHA-256 (see :mod:`relay.api_keys`).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict

# The operator commands' table and JSON printers, shared rather than copied.
from .operations import _runtime
from .terminal import print_json, table

__all__ = ["add_api_key_commands", "cmd_api_keys"]


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "never"


def cmd_api_keys(args: argparse.Namespace) -> int:
    """``codex-relay api-keys create|list|revoke``."""
    store = _runtime().api_keys
    if args.action == "create":
        key, info = store.create(args.user, args.label or "")
        print(key)
        print(
            f"API key {info.id} for user {info.user!r}: keep it now, it is not shown again.",
            file=sys.stderr,
        )
        return 0
    if args.action == "list":
        keys = store.list_keys(args.user)
        if args.json:
            print_json([asdict(info) for info in keys])
        else:
            rows = [[i.id, i.user, i.label, _when(i.created), _when(i.last_used)] for i in keys]
            print(table(["id", "user", "label", "created", "last used"], rows))
        return 0
    if store.revoke(args.key_id):
        print(f"API key {args.key_id} revoked.")
        return 0
    print(f"codex-relay: no API key with id {args.key_id!r}.", file=sys.stderr)
    return 1


def add_api_key_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``api-keys`` and its actions to the command line."""
    keys = sub.add_parser("api-keys", help="create, list or revoke keys for the OpenAI API")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a key for a user and print it (once)")
    create.add_argument("--user", required=True, help="the user the key stands for")
    create.add_argument("--label", default="", help="a note to recognise the key by")
    listing = actions.add_parser("list", help="every key: id, user, label, created, last used")
    listing.add_argument("--user", default=None, help="only this user's keys")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    revoke = actions.add_parser("revoke", help="revoke a key by its id (from list)")
    revoke.add_argument("key_id")
    keys.set_defaults(func=cmd_api_keys)
