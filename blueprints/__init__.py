"""The Flask side of codex-relay: the ``CodexRelay`` extension and its blueprints."""

from .extension import CodexRelay

__all__ = ["CodexRelay"]
