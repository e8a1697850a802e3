"""The OpenAI-compatible API through the real ``openai`` SDK, against the whole stack.

Real processes: the demo host app under gunicorn (started through
``web_server_argv``, as deployed), two RQ workers running the real Codex
CLI, the MCP tools over HTTP, a real Redis (database 3), and the scripted
model standing in for the model provider. The SDK is the client, sync and
async, streaming and not, exactly as a script or a chat UI would use it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from blueprints.web_server import web_server_argv
from cli.embedded_redis import free_port
from relay.runtime import RelayRuntime
from relay.settings import load_settings

pytestmark = pytest.mark.codex

ROOT = Path(__file__).resolve().parent.parent
MODEL = "sample-run/default"
_USERS = itertools.count(1)


class LiveStack:
    """Where the stack serves, and its Redis seen through the relay's own runtime."""

    def __init__(self, port: int, env: dict[str, str]) -> None:
        self.base_url = f"http://127.0.0.1:{port}"
        self.api_url = f"{self.base_url}/openai/v1"
        self.env = env
        self.rt = RelayRuntime.from_settings(load_settings(env))

    def key(self, user: str) -> str:
        """A new API key for ``user`` (what ``codex-relay api-keys create`` makes)."""
        return self.rt.api_keys.create(user)[0]

    def client(self, user: str, **options: Any) -> openai.OpenAI:
        options.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=self.api_url, api_key=self.key(user), **options)

    def events(self, session: str, turn: int | None = None) -> list[dict[str, Any]]:
        stored = self.rt.events.read(session, count=100_000)
        decoded = [orjson.loads(e.data) for e in stored]
        return [e for e in decoded if turn is None or e["turn"] == turn]

    def wait_final(self, session: str, turn: int, timeout: float = 30) -> dict[str, Any]:
        """Poll the log until the turn's ``turn.completed`` is stored."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events(session, turn):
                if event["type"] == "turn.completed":
                    return event
            time.sleep(0.05)
        raise AssertionError(f"turn {turn} of {session} did not end: {self.events(session)}")


def _user() -> str:
    return f"sdk{next(_USERS)}-{os.getpid()}"


def _wait_healthy(port: int, web: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until ``/agent/health`` says 200: web up, Redis reachable, a worker seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if web.poll() is not None:
            raise AssertionError(f"gunicorn exited ({web.returncode})")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/agent/health", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the stack did not become healthy")


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def stack(
    stack_env: Any,
    keypair: tuple[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveStack]:
    runs = tmp_path_factory.mktemp("openai-runs")
    env = stack_env(3, runs)
    env["CODEX_RELAY_LOG_LEVEL"] = "WARNING"
    port = free_port()
    log = tempfile.TemporaryFile(prefix="openai-stack-")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        worker = [sys.executable, "-m", "cli", "worker"]
        for _ in range(2):
            procs.append(
                subprocess.Popen(worker, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
            )
        web_env = env | {"CODEX_RELAY_JWT_PRIVATE_KEY": keypair[0]}
        argv = web_server_argv(
            "cli.demo_app:create_app()", f"127.0.0.1:{port}", log_level="warning"
        )
        procs.append(subprocess.Popen(argv, env=web_env, stdout=log, stderr=subprocess.STDOUT,
                                      cwd=ROOT))  # fmt: skip
        _wait_healthy(port, procs[-1])
        live = LiveStack(port, env)
        yield live
        live.rt.redis.close()
    finally:
        for proc in reversed(procs):
            _stop(proc)
        log.close()


def _ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _content(stream: Any) -> tuple[str, list[Any]]:
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def _message_texts(stack: LiveStack, session: str, turn: int) -> list[str]:
    return [e["text"] for e in stack.events(session, turn) if e["type"] == "message"]


# -- models and plain answers ----------------------------------------------------------


def test_models_are_the_runs_the_user_may_use(stack):
    models = stack.client(_user()).models.list()
    assert [m.id for m in models] == [MODEL]
    assert models.data[0].owned_by == "codex-relay"
    assert stack.client(_user()).models.retrieve(MODEL).id == MODEL


def test_a_plain_answer_is_one_chat_completion_in_an_ordinary_session(stack):
    user = _user()
    client = stack.client(user)
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=_ask("#scenario:hello hi")
    )
    completion = raw.parse()
    session = raw.headers["x-session-id"]
    answer = completion.choices[0].message.content
    assert completion.object == "chat.completion" and completion.model == MODEL
    assert completion.choices[0].finish_reason == "stop"
    assert answer == _message_texts(stack, session, 1)[0]
    assert "plain markdown" in answer
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    # An ordinary relay session: the panel lists it for the same user.
    record = stack.rt.sessions.get(session)
    assert (record.user, record.runid, record.status) == (user, "sample-run", "completed")
    assert session in [r.id for r in stack.rt.sessions.list_for(user, "sample-run")]


def test_a_streamed_answer_assembles_from_chunks_with_usage_last(stack):
    client = stack.client(_user())
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=_ask("#scenario:hello hi"),
        stream=True,
        stream_options={"include_usage": True},
    )
    session = raw.headers["x-session-id"]
    assert raw.headers["content-type"].startswith("text/event-stream")
    text, chunks = _content(raw.parse())
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert text == _message_texts(stack, session, 1)[0]
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage.total_tokens > 0
    assert len({c.id for c in chunks}) == 1


def test_the_async_client_streams_and_answers_too(stack):
    async def talk() -> tuple[str, str]:
        client = openai.AsyncOpenAI(base_url=stack.api_url, api_key=stack.key(_user()),
                                    max_retries=0)  # fmt: skip
        async with client:
            whole = await client.chat.completions.create(
                model=MODEL, messages=_ask("#scenario:hello")
            )
            stream = await client.chat.completions.create(
                model=MODEL, messages=_ask("#scenario:hello"), stream=True
            )
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            return whole.choices[0].message.content, "".join(parts)

    whole, streamed = asyncio.run(talk())
    assert whole == streamed and "plain markdown" in whole


# -- continuity ------------------------------------------------------------------------


def test_a_follow_up_with_x_session_id_continues_the_same_codex_thread(stack):
    client = stack.client(_user())
    first = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=_ask("#scenario:hello first")
    )
    session = first.headers["x-session-id"]
    second = client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=_ask("#scenario:hello second"),
        extra_headers={"X-Session-Id": session},
    )
    assert second.headers["x-session-id"] == session
    assert second.parse().choices[0].message.content
    started = [e for e in stack.events(session) if e["type"] == "turn.started"]
    assert [e["turn"] for e in started] == [1, 2]
    assert started[0]["thread_id"] and started[0]["thread_id"] == started[1]["thread_id"]
    queued = [e for e in stack.events(session) if e["type"] == "turn.queued"]
    assert queued[1]["message"] == "#scenario:hello second"


def test_open_webuis_chat_id_continues_its_session_and_only_for_its_user(stack):
    alice, bob = stack.client(_user()), stack.client(_user())
    chat = {"X-OpenWebUI-Chat-Id": "4d6b2c1e-chat"}
    one = alice.chat.completions.with_raw_response.create(
        model=MODEL, messages=_ask("#scenario:hello one"), extra_headers=chat
    )
    session = one.headers["x-session-id"]
    history = [
        {"role": "user", "content": "#scenario:hello one"},
        {"role": "assistant", "content": one.parse().choices[0].message.content},
        {"role": "user", "content": "#scenario:hello two"},
    ]
    two = alice.chat.completions.with_raw_response.create(
        model=MODEL, messages=history, extra_headers=chat
    )
    assert two.headers["x-session-id"] == session
    queued = [e for e in stack.events(session) if e["type"] == "turn.queued"]
    assert [q["message"] for q in queued] == ["#scenario:hello one", "#scenario:hello two"]
    other = bob.chat.completions.with_raw_response.create(
        model=MODEL, messages=_ask("#scenario:hello"), extra_headers=chat
    )
    assert other.headers["x-session-id"] != session


def test_earlier_turns_sent_without_a_session_become_the_new_sessions_context(stack):
    client = stack.client(_user())
    messages = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "#scenario:hello What is the run about?"},
        {"role": "assistant", "content": "It trains a tiny transformer."},
        {"role": "user", "content": "#scenario:hello And its accuracy?"},
    ]
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages)
    session = raw.headers["x-session-id"]
    assert raw.parse().choices[0].message.content
    queued = [e for e in stack.events(session) if e["type"] == "turn.queued"][0]["message"]
    assert "<earlier_conversation>" in queued
    assert "[assistant] It trains a tiny transformer." in queued
    assert queued.endswith("The user's new message:\n#scenario:hello And its accuracy?")


# -- what the agent did, in the content ------------------------------------------------------


def test_a_shell_command_shows_in_the_content_with_its_exit_code(stack):
    client = stack.client(_user())
    stream = client.chat.completions.create(
        model=MODEL, messages=_ask("#scenario:shell_ls"), stream=True
    )
    text, _ = _content(stream)
    command_line = re.search(r"^> `\$ [^`\n]*ls -la[^`\n]*` — exit 0$", text, re.M)
    assert command_line, text
    assert "Here is the listing" in text and "reports" in text


def test_a_report_edit_shows_a_diff_summary(stack):
    client = stack.client(_user())
    answer = client.chat.completions.create(
        model=MODEL, messages=_ask("#scenario:demo_fix_intro fix the intro")
    )
    text = answer.choices[0].message.content
    assert "> tool `read_report_section` — ok" in text
    assert re.search(r"> tool `replace_report_section` — edited `reports/summary.md` "
                     r"§ Run summary/Introduction: \+1 −1 lines", text), text  # fmt: skip


def test_with_activity_off_only_the_agents_words_remain(stack, keypair):
    """A second web process with CODEX_RELAY_OPENAI_SHOW_ACTIVITY=0, on the same stack."""
    port = free_port()
    env = stack.env | {"CODEX_RELAY_JWT_PRIVATE_KEY": keypair[0],
                       "CODEX_RELAY_OPENAI_SHOW_ACTIVITY": "0"}  # fmt: skip
    argv = web_server_argv("cli.demo_app:create_app()", f"127.0.0.1:{port}", log_level="warning")
    web = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, cwd=ROOT)
    try:
        _wait_healthy(port, web)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/openai/v1",
                               api_key=stack.key(_user()), max_retries=0)  # fmt: skip
        text = client.chat.completions.create(model=MODEL, messages=_ask("#scenario:shell_ls"))
        content = text.choices[0].message.content
        assert "exit 0" not in content and "`$" not in content
        assert content.startswith("I'll list the files") and "Here is the listing" in content
    finally:
        _stop(web)


# -- errors ------------------------------------------------------------------------------


def test_a_model_failure_raises_the_sdks_error_and_is_not_retried(stack):
    user = _user()
    client = stack.client(user, max_retries=2)  # the SDK's default: it retries a 5xx
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model=MODEL, messages=_ask("#scenario:http_500"))
    sessions = stack.rt.sessions.list_for(user, "sample-run")
    assert len(sessions) == 1  # one turn: the SDK did not retry it
    errors = [e["message"] for e in stack.events(sessions[0].id) if e["type"] == "error"]
    assert raised.value.status_code == 502 and raised.value.code == "turn_failed"
    assert raised.value.body["message"] == errors[-1]  # Codex's own words for the failure

    stream = client.chat.completions.create(
        model=MODEL, messages=_ask("#scenario:http_500"), stream=True
    )
    with pytest.raises(openai.APIError) as mid_stream:
        list(stream)
    assert mid_stream.value.body["code"] == "turn_failed"
    assert mid_stream.value.message == errors[-1]


def test_a_bad_key_is_an_authentication_error(stack):
    client = openai.OpenAI(base_url=stack.api_url, api_key="crk_not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model=MODEL, messages=_ask("hi"))


def test_an_unknown_model_is_not_found(stack):
    client = stack.client(_user())
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="no-such-run/default", messages=_ask("hi"))
    assert raised.value.code == "model_not_found"


def test_another_users_session_is_not_found_and_stays_untouched(stack):
    owner, intruder = stack.client(_user()), stack.client(_user())
    raw = owner.chat.completions.with_raw_response.create(
        model=MODEL, messages=_ask("#scenario:hello")
    )
    session = raw.headers["x-session-id"]
    before = stack.events(session)
    with pytest.raises(openai.NotFoundError):
        intruder.chat.completions.create(
            model=MODEL, messages=_ask("hi"), extra_headers={"X-Session-Id": session}
        )
    assert stack.events(session) == before


# -- disconnects and concurrency ------------------------------------------------------------


def _sleepers(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            if marker.encode() in argv:  # `sleep N` as bash's argument or as its own argv
                found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def test_a_client_that_disconnects_mid_stream_cancels_its_turn(stack, devmodel):
    marker = f"{31 + os.getpid() % 1000 / 1000:.3f}"  # this test's own sleep duration
    devmodel.add_scenario(
        "openai_sleep",
        [{"say": "Sleeping.", "shell": f"sleep {marker}", "timeout_ms": 120000}, {"say": "Woke."}],
    )
    client = stack.client(_user())
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=_ask("#scenario:openai_sleep"), stream=True
    )
    session = raw.headers["x-session-id"]
    stream = raw.parse()
    seen = ""
    for chunk in stream:
        seen += (chunk.choices[0].delta.content or "") if chunk.choices else ""
        if f"sleep {marker}" in seen:
            break
    deadline = time.monotonic() + 10  # Codex reports the command just before it spawns it
    while not _sleepers(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sleepers(f"sleep {marker}"), "the command was not running when the client left"
    stream.close()  # the client goes away mid-turn
    final = stack.wait_final(session, 1)
    assert final["status"] == "cancelled"
    deadline = time.monotonic() + 10
    while _sleepers(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _sleepers(f"sleep {marker}") == []
    assert "Woke." not in _message_texts(stack, session, 1)


def test_concurrent_streams_each_get_their_own_answer(stack):
    words = [f"marker{i}x{os.getpid()}" for i in range(3)]
    clients = [stack.client(_user()) for _ in words]
    answers: dict[str, str] = {}
    errors: list[BaseException] = []

    def ask(client: openai.OpenAI, word: str) -> None:
        try:
            stream = client.chat.completions.create(
                model=MODEL, messages=_ask(f"tell me about {word}"), stream=True
            )
            answers[word], _ = _content(stream)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=pair) for pair in zip(clients, words, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    for word in words:
        assert word in answers[word]  # the demo model quotes the user's message back
        assert not [other for other in words if other != word and other in answers[word]]


# -- the README's example ---------------------------------------------------------------


def _readme_curl_block() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- openai-curl-example -->\n```sh\n(.*?)```", readme, re.S)
    assert match, "the README's OpenAI curl example is missing"
    return match.group(1)


def test_the_readmes_curl_example_streams_an_answer(stack):
    block = _readme_curl_block().replace("http://127.0.0.1:5000", stack.base_url)
    env = stack.env | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], env=env, capture_output=True,
                            text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [orjson.loads(line[6:]) for line in lines[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert "ls -la" in text and "exit 0" in text
