"""Structured logs: every line of a real worker turn is JSON, with ids and without secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest
from rq.job import Job

from relay.logs import JsonFormatter, log_context, redact

API_KEY = "sk-test-0123456789abcdefSECRET"


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.codex
@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_worker_log_lines_are_json_with_ids_and_no_secrets(turns, keypair, level):
    session = turns.new_session()
    turn = turns.start(session, "#scenario:hello please say hi")
    job_id = f"turn-{session.id}-{turn}"
    token = Job.fetch(job_id, connection=turns.rt.redis).args[0]["token"]
    result = turns.work(
        {
            "OPENAI_API_KEY": API_KEY,
            # A careless deployment that gives the worker the private key too.
            "CODEX_RELAY_JWT_PRIVATE_KEY": keypair[0],
            "CODEX_RELAY_LOG_LEVEL": level,
        }
    )
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    records = _lines(output)  # every line parses
    assert records
    for record in records:
        assert {"ts", "level", "logger", "message"} <= set(record)
    assert any(r["logger"] == "codex_relay.worker" and "Codex CLI" in r["message"] for r in records)
    in_job = [r for r in records if r.get("job_id") == job_id]
    assert in_job, [r["message"] for r in records]
    assert all(r["session"] == session.id and r["turn"] == turn for r in in_job)

    private_body = "".join(keypair[0].strip().splitlines()[1:-1])
    for secret in (API_KEY, token, private_body[:40], private_body[-40:]):
        assert secret not in output
    if level == "INFO":
        assert "please say hi" not in output


def _format(message: str, *args: object, **extra: object) -> dict:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(bodies=False))
    logger = logging.getLogger("codex_relay.test_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(message, *args, extra=extra)
    finally:
        logger.removeHandler(handler)
    return json.loads(stream.getvalue())


def test_context_fields_come_from_extra_and_log_context():
    with log_context(request_id="r-1", session="s" * 32):
        record = _format("turn %s started", 3, turn=3, job_id="turn-x-3")
    assert record["message"] == "turn 3 started"
    assert record["request_id"] == "r-1" and record["session"] == "s" * 32
    assert record["turn"] == 3 and record["job_id"] == "turn-x-3"
    assert record["level"] == "warning" and record["ts"].endswith("Z")
    assert "request_id" not in _format("outside")


def test_message_bodies_are_dropped_unless_enabled():
    record = _format("chat received", body="the user's secret plan", prompt="p")
    assert "body" not in record and "prompt" not in record


@pytest.mark.parametrize(
    "secret, kept",
    [
        ("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl", ""),
        (
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIExample\n-----END PRIVATE KEY-----",
            "",
        ),
        ("sk-proj-abcdefghijklmnop1234", ""),
        ("Bearer crk_abcdefghijklmnop-_0123456789ABCDEFGHIJKLMNOPQRSTU", "Bearer "),
        ("redis://user:hunter2@db.example:6379/0", "redis://user:***@db.example:6379/0"),
        ("rediss://:hunter2@db.example:6380", "rediss://:***@db.example:6380"),
    ],
)
def test_redaction_masks_tokens_keys_and_redis_passwords(secret, kept):
    line = _format("connecting with %s", secret)["message"]
    assert "hunter2" not in line and "abcdefghijklmnop" not in line
    assert "MC4CAQAw" not in line and "c2lnbmF0dXJl" not in line
    if kept:
        assert kept in line
    assert redact("redis://localhost:6379/0") == "redis://localhost:6379/0"
