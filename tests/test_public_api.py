"""The public names are deliberate: each module's ``__all__`` matches what it defines."""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = [
    "relay.errors",
    "relay.events",
    "relay.keys",
    "relay.jsonl",
    "relay.normalise",
    "relay.event_log",
    "relay.session_store",
    "relay.settings",
    "relay.tokens",
    "relay.turns",
    "relay.reaper",
    "relay.runtime",
    "relay.metrics",
    "relay.api_keys",
    "relay.chat_links",
    "relay.answer_text",
    "relay.openai_request",
    "relay.openai_shapes",
    "bootstrap.codex_binary",
    "bootstrap.codex_process",
    "bootstrap.codex_home",
    "bootstrap.turn_job",
    "bootstrap.worker",
    "blueprints",
    "blueprints.openai_api",
    "blueprints.openai_errors",
    "blueprints.openai_stream",
    "blueprints.request_context",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_only_names_the_module_has(name):
    module = importlib.import_module(name)
    assert module.__all__, name
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert missing == []


@pytest.mark.parametrize("name", MODULES)
def test_every_public_callable_has_a_docstring(name):
    module = importlib.import_module(name)
    for public in module.__all__:
        obj = getattr(module, public)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert inspect.getdoc(obj), f"{name}.{public} has no docstring"


def test_every_relay_error_is_exported_and_has_a_snake_case_code():
    from relay import errors

    classes = [
        c for c in vars(errors).values() if inspect.isclass(c) and issubclass(c, errors.RelayError)
    ]
    assert sorted(c.__name__ for c in classes) == sorted(errors.__all__)
    for cls in classes:
        assert cls.code.islower() and " " not in cls.code


def test_importing_the_core_does_not_import_flask():
    import subprocess
    import sys

    code = (
        "import sys, relay.turns, relay.normalise, relay.event_log, relay.jsonl;"
        "import relay.answer_text, relay.openai_request, relay.openai_shapes;"
        "import bootstrap.turn_job; print('flask' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
