"""The JSON shapes of OpenAI's Chat Completions API, as its SDKs parse them.

Pure functions, no Flask and no Redis: a streamed answer is a series of
``chat.completion.chunk`` objects, each sent as one ``data:`` line, the
first carrying ``delta.role = "assistant"``, the last content chunk the
``finish_reason``; then, when the client asked for it
(``stream_options.include_usage``), one chunk with empty ``choices`` and
the ``usage``; then ``data: [DONE]``. A whole answer is one
``chat.completion``. Errors are ``{"error": {"message", "type", "param",
"code"}}``, also as a single ``data:`` line in the middle of a stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "DONE",
    "Completion",
    "error_body",
    "error_type",
    "model_list",
    "model_object",
    "sse_data",
    "usage_object",
]

#: The line that ends a stream.
DONE = b"data: [DONE]\n\n"

#: OpenAI's error ``type`` for each HTTP status (5xx: ``server_error``).
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def error_type(status: int) -> str:
    """OpenAI's error ``type`` for an HTTP status."""
    return _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def error_body(message: str, status: int, code: str, param: str | None = None) -> dict[str, Any]:
    """An error object in OpenAI's shape."""
    return {"error": {"message": message, "type": error_type(status), "param": param, "code": code}}


def sse_data(obj: Any) -> bytes:
    """One server-sent event carrying ``obj`` as its ``data:`` (compact JSON, one line)."""
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def usage_object(totals: Mapping[str, int]) -> dict[str, Any]:
    """OpenAI's ``usage`` from the relay's ``usage`` event fields."""
    prompt = int(totals.get("input_tokens", 0))
    completion = int(totals.get("output_tokens", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": int(totals.get("cached_input_tokens", 0))},
        "completion_tokens_details": {
            "reasoning_tokens": int(totals.get("reasoning_output_tokens", 0))
        },
    }


def model_object(model_id: str, created: int) -> dict[str, Any]:
    """One entry of ``GET /models``."""
    return {"id": model_id, "object": "model", "created": created, "owned_by": "codex-relay"}


def model_list(models: list[dict[str, Any]]) -> dict[str, Any]:
    """The answer of ``GET /models``."""
    return {"object": "list", "data": models}


@dataclass(frozen=True)
class Completion:
    """One answer's identity: every chunk and the whole completion carry the same three."""

    id: str
    model: str
    created: int
    #: The client asked for a usage chunk (``stream_options.include_usage``).
    include_usage: bool = False

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if self.include_usage:
            chunk["usage"] = None  # as OpenAI does: null on every chunk but the usage one
        return chunk

    def role_chunk(self) -> dict[str, Any]:
        """The first chunk: the assistant's role, no text yet."""
        return self._chunk({"role": "assistant", "content": ""}, None)

    def content_chunk(self, text: str) -> dict[str, Any]:
        """A chunk adding ``text`` to the answer."""
        return self._chunk({"content": text}, None)

    def finish_chunk(self, finish_reason: str = "stop") -> dict[str, Any]:
        """The last chunk with a choice: an empty delta and the ``finish_reason``."""
        return self._chunk({}, finish_reason)

    def usage_chunk(self, totals: Mapping[str, int]) -> dict[str, Any]:
        """The usage chunk: empty ``choices`` and the turn's ``usage``."""
        chunk = self._chunk({}, None)
        chunk["choices"] = []
        chunk["usage"] = usage_object(totals)
        return chunk

    def whole(
        self, content: str, totals: Mapping[str, int], finish_reason: str = "stop"
    ) -> dict[str, Any]:
        """The non-streamed answer: one ``chat.completion`` with ``usage``."""
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": usage_object(totals),
        }
