"""The Flask side of codex-relay: the ``CodexRelay`` extension and its blueprints.

``CodexRelay`` is imported on first use, so that loading
:mod:`blueprints.gunicorn_conf` in gunicorn's master process imports
neither Flask nor Redis nor ``ssl`` before a gevent worker monkey-patches them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .extension import CodexRelay

__all__ = ["CodexRelay"]


def __getattr__(name: str) -> Any:
    if name == "CodexRelay":
        from .extension import CodexRelay

        return CodexRelay
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
