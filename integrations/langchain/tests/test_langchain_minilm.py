"""SemcacheCache with the real default embedder, all-MiniLM-L6-v2."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_semcache import SemcacheCache

from semcache import SemanticCache

pytestmark = pytest.mark.model


def conversation(subject: str, answer: str, follow_up: str) -> list[BaseMessage]:
    return [HumanMessage(f"Tell me about {subject}."), AIMessage(answer), HumanMessage(follow_up)]


def test_paraphrased_follow_up_hits_only_in_its_conversation() -> None:
    # The default embedder, with a plain cosine rule so the test does not
    # depend on how the default verifier is calibrated.
    backend = SemcacheCache(SemanticCache(threshold=0.9))
    model = FakeListChatModel(
        responses=["int, float, str and more.", "Vipers, pythons and boas.", "It is easy to read."],
        cache=backend,
    )
    python_intro = ("Python", "Python is a programming language.")
    assert model.invoke(conversation(*python_intro, "What are its types?")).content == (
        "int, float, str and more."
    )
    # A paraphrase of the follow-up, same conversation: served from the cache.
    assert model.invoke(conversation(*python_intro, "What are its different types?")).content == (
        "int, float, str and more."
    )
    assert backend.cache.stats().semantic_hits == 1
    # The same follow-up about another subject: a new answer from the model.
    snakes = conversation("snakes", "Snakes are legless reptiles.", "What are its different types?")
    assert model.invoke(snakes).content == "Vipers, pythons and boas."
    # Another question in the first conversation: not served.
    assert (
        model.invoke(conversation(*python_intro, "What are its benefits?")).content
        == "It is easy to read."
    )


def test_default_cache_and_clear() -> None:
    backend = SemcacheCache()  # a SemanticCache with the default embedder, owned by the backend
    model = FakeListChatModel(responses=["one", "two"], cache=backend)
    assert model.invoke("What is the capital of France?").content == "one"
    assert model.invoke("What is the capital of France?").content == "one"
    backend.clear()
    assert len(backend.cache) == 0
    assert model.invoke("What is the capital of France?").content == "two"
