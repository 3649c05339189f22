"""A local OpenAI-compatible server for the tests (its own module: ``conftest`` is ambiguous).

The server answers ``POST /v1/chat/completions`` with JSON or, for
``stream=True``, server-sent events, and records every request it gets, so a
test can tell whether the model was called. Each answer carries the request's
number ("#3"), so a fresh answer never equals a cached one. Special cases:

* ``tools`` given: the answer is a call of the first tool;
* ``n``: that many choices;
* model ``"broken"``: HTTP 500;
* a user message containing "forbidden": finish_reason ``content_filter``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAI(ThreadingHTTPServer):
    """The server: ``requests`` holds the JSON body of every chat request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    @property
    def calls(self) -> int:
        with self.lock:
            return len(self.requests)


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return " ".join(p.get("text", "") for p in content or [] if isinstance(p, dict))
    return ""


def _answer(body: dict[str, Any], number: int) -> dict[str, Any]:
    """The ChatCompletion JSON for a request."""
    text = _last_user_text(body)
    choices = []
    for index in range(body.get("n") or 1):
        if body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{number}_{index}",
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps({"q": text})},
                    }
                ],
            }
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": f"Answer #{number}.{index} to: {text}"}
            finish = "content_filter" if "forbidden" in text else "stop"
        choices.append(
            {"index": index, "message": message, "finish_reason": finish, "logprobs": None}
        )
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": 1_700_000_000 + number,
        "model": body.get("model", ""),
        "system_fingerprint": "fp_test",
        "choices": choices,
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def _chunks(answer: dict[str, Any], include_usage: bool) -> Iterator[dict[str, Any]]:
    """The ChatCompletionChunk JSON objects a streamed answer is sent as."""
    base = {k: answer[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"
    if include_usage:
        base["usage"] = None

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}

    for choice in answer["choices"]:
        i, message = choice["index"], choice["message"]
        yield chunk(i, {"role": "assistant", "content": ""})
        content = message.get("content") or ""
        words = content.split(" ")
        for w, word in enumerate(words):
            yield chunk(i, {"content": word if w == len(words) - 1 else word + " "})
        for t, call in enumerate(message.get("tool_calls") or []):
            args = call["function"]["arguments"]
            half = len(args) // 2
            first = {"index": t, "id": call["id"], "type": "function"}
            yield chunk(
                i,
                {
                    "tool_calls": [
                        {
                            **first,
                            "function": {
                                "name": call["function"]["name"],
                                "arguments": args[:half],
                            },
                        }
                    ]
                },
            )
            yield chunk(i, {"tool_calls": [{"index": t, "function": {"arguments": args[half:]}}]})
        yield chunk(i, {}, choice["finish_reason"])
    if include_usage:
        yield {**base, "choices": [], "usage": answer["usage"]}


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        if self.path != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.requests.append(body)
            number = len(self.server.requests)
        if body.get("model") == "broken":
            self._json(500, {"error": {"message": "the model is broken", "type": "server_error"}})
            return
        answer = _answer(body, number)
        if not body.get("stream"):
            self._json(200, answer)
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for item in _chunks(answer, include_usage):
            self.wfile.write(f"data: {json.dumps(item)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def _json(self, status: int, data: dict[str, Any]) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
