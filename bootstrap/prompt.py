"""The prompt Codex receives: the host's profile, the run's context, the message."""

from __future__ import annotations

from relay.turns import TurnRequest

__all__ = ["DEFAULT_PROFILE", "build_prompt"]

#: Used when the host configures no profile text (``CODEX_RELAY_PROFILE_TEXT``).
DEFAULT_PROFILE = (
    "You are the assistant in a web app's command bar. You help the user with one run: "
    "its files are in your working directory. Use the codex_relay tools to list and read "
    "the run's files and to read or replace sections of its markdown reports. Answer in "
    "concise markdown."
)


def build_prompt(request: TurnRequest, resumed: bool) -> str:
    """The text sent to Codex on stdin for this turn.

    A resumed thread already holds the profile and run context from its
    first turn, so follow-ups carry only the user's message.
    """
    if resumed:
        return request.message
    profile = request.profile.strip() or DEFAULT_PROFILE
    context = f"Run: {request.runid} (configuration {request.config}). Your access: {request.tier}."
    return f"{profile}\n\n{context}\n\nUser message:\n{request.message}\n"
