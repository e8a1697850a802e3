"""Pointing the Codex CLI at the server: its model catalog and ``-c`` overrides."""

from __future__ import annotations

import json

from .scenarios import DEFAULT_MODEL, Json


def codex_model_catalog(model: str = DEFAULT_MODEL) -> Json:
    """A Codex ``model_catalog_json`` document describing the stand-in model.

    Without it Codex 0.169.0 uses fallback metadata for an unknown model name:
    it adds an ``error`` item to every run, offers no ``apply_patch`` tool and
    sends its long default instructions with every request.
    """
    return {
        "models": [
            {
                "slug": model,
                "display_name": model,
                "description": "Scripted offline stand-in (devmodel), not a model.",
                "default_reasoning_level": "low",
                "supported_reasoning_levels": [{"effort": "low", "description": "scripted"}],
                "shell_type": "unified_exec",
                "visibility": "list",
                "supported_in_api": True,
                "priority": 1,
                "apply_patch_tool_type": "freeform",
                "supports_search_tool": False,
                "support_verbosity": False,
                "context_window": 128000,
                "truncation_policy": {"mode": "tokens", "limit": 10000},
                "input_modalities": ["text"],
                "experimental_supported_tools": [],
                "base_instructions": "You are devmodel, a scripted offline stand-in.",
            }
        ]
    }


def codex_config_overrides(
    base_url: str,
    *,
    provider: str = "devmodel",
    catalog_path: str | None = None,
    retries: int = 0,
) -> list[str]:
    """``codex`` arguments (``-c key=value`` pairs) that use the server at ``base_url``.

    Pass ``catalog_path``, a file holding :func:`codex_model_catalog`, to
    give Codex the model's metadata. ``retries`` sets the provider's request
    and stream retries (Codex's defaults retry a 500 for about 25 s).
    """
    pairs = [
        f"model_provider={provider}",
        f"model_providers.{provider}.name={provider}",
        f"model_providers.{provider}.base_url={json.dumps(base_url)}",
        f"model_providers.{provider}.wire_api=responses",
        f"model_providers.{provider}.request_max_retries={retries}",
        f"model_providers.{provider}.stream_max_retries={retries}",
        "tools.update_plan.enabled=true",
    ]
    if catalog_path is not None:
        pairs.append(f"model_catalog_json={json.dumps(catalog_path)}")
    return [arg for pair in pairs for arg in ("-c", pair)]
