"""From LangChain's (prompt, llm_string) to semcache's (text to embed, namespace).

Pure functions, no I/O. The rules (also in docs/langchain.md):

* The namespace is a hash of the backend's own namespace, ``llm_string``
  (model, parameters, stop words) and the conversation context, so two
  requests can share an answer only if all of these are equal.
* A plain LLM prompt is embedded whole; its context is empty.
* A chat prompt (LangChain's serialised message list) is embedded as the text
  of its latest human message. Everything else goes into the context: the
  system prompt, the earlier turns, any messages after that human message
  (tool results), and the non-text parts (images, files) of the human message
  itself. Message ids, response metadata and usage metadata are left out: the
  model never sees them, and they differ between two identical conversations.
* When there is no text to embed (no human message, a human message with only
  an image, a blank prompt) or the text does not encode as UTF-8 (it holds a
  lone surrogate), a fixed marker is embedded and the whole prompt goes into
  the context, so only an exact repeat hits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from semcache.normalize import encodes_utf8

__all__ = ["NAMESPACE_PREFIX", "Key", "llm_digest", "make_key", "parse_messages"]

NAMESPACE_PREFIX = "langchain-semcache:"
_VERSION = b"langchain-semcache/1"
_NO_TEXT = "[no text to match]"
_HUMAN_CLASSES = frozenset({"HumanMessage", "HumanMessageChunk"})
# Fields of a serialised message that the model never sees.
_UNSEEN_FIELDS = frozenset({"id", "response_metadata", "usage_metadata"})


@dataclass(frozen=True, slots=True)
class Key:
    """Where a LangChain prompt lives in the SemanticCache."""

    text: str
    namespace: str
    llm: str  # digest of the llm_string, to clear one model's entries


def _digest(*parts: str) -> str:
    h = hashlib.blake2b(_VERSION, digest_size=16)
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")  # (lossless: a lone surrogate gets bytes of its own)
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def llm_digest(llm_string: str) -> str:
    """A short stable digest of ``llm_string``."""
    return _digest("llm", llm_string)


def parse_messages(prompt: str) -> list[dict[str, Any]] | None:
    """The serialised messages of a chat prompt, or None for a plain LLM prompt."""
    if not prompt.startswith("["):
        return None
    try:
        data = json.loads(prompt)
    except ValueError:
        return None
    if not isinstance(data, list) or not data:
        return None
    for item in data:
        if not (
            isinstance(item, dict)
            and item.get("lc") == 1
            and item.get("type") == "constructor"
            and isinstance(item.get("id"), list)
            and item["id"]
            and isinstance(item["id"][-1], str)
            and "Message" in item["id"][-1]
            and isinstance(item.get("kwargs"), dict)
        ):
            return None
    return data


def _is_human(message: dict[str, Any]) -> bool:
    kwargs = message["kwargs"]
    name = message["id"][-1]
    if name in _HUMAN_CLASSES or kwargs.get("type") == "human":
        return True
    return bool(name.startswith("ChatMessage") and kwargs.get("role") == "user")


def _seen(message: dict[str, Any]) -> dict[str, Any]:
    """The parts of a serialised message the model sees, in a canonical form."""
    kwargs = {k: v for k, v in message["kwargs"].items() if k not in _UNSEEN_FIELDS}
    return {"class": message["id"][-1], **kwargs}


def _split_content(content: object) -> tuple[str, list[Any]]:
    """(text of a message's content, its non-text blocks)."""
    if isinstance(content, str):
        return content, []
    texts: list[str] = []
    other: list[Any] = []
    if isinstance(content, list):
        for block in content:
            if isinstance(block, str):
                texts.append(block)
            elif (
                isinstance(block, dict)
                and block.get("type") == "text"
                and isinstance(block.get("text"), str)
            ):
                texts.append(block["text"])
            else:
                other.append(block)
    else:
        other.append(content)
    return "\n".join(texts), other


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _split_prompt(prompt: str) -> tuple[str, str]:
    """(text to embed, canonical context that must match exactly)."""
    messages = parse_messages(prompt)
    if messages is None:
        if prompt.strip() and encodes_utf8(prompt):
            return prompt, ""
        return _NO_TEXT, _canonical({"prompt": prompt})
    latest = next((i for i in range(len(messages) - 1, -1, -1) if _is_human(messages[i])), None)
    if latest is None:
        return _NO_TEXT, _canonical({"messages": [_seen(m) for m in messages]})
    human = _seen(messages[latest])
    text, other = _split_content(human.pop("content", ""))
    context = {
        "before": [_seen(m) for m in messages[:latest]],
        "human": {**human, "content": other},
        "after": [_seen(m) for m in messages[latest + 1 :]],
    }
    if not text.strip():
        return _NO_TEXT, _canonical(context)
    if not encodes_utf8(text):
        return _NO_TEXT, _canonical({**context, "text": text})
    return text, _canonical(context)


def make_key(prompt: str, llm_string: str, namespace: str = "") -> Key:
    """The text to embed and the namespace for one LangChain cache call."""
    text, context = _split_prompt(prompt)
    llm = llm_digest(llm_string)
    return Key(text=text, namespace=NAMESPACE_PREFIX + _digest(namespace, llm, context), llm=llm)
