"""The hit decision: given a query and its nearest cached prompts, serve one or not.

A verifier sees the query and the best few candidates (cached prompt, cosine)
and returns the one to serve with a confidence, or None. ``min_cosine`` is
the lowest cosine it can ever accept; candidate search is tuned to find every
entry above it.

- ``CosineVerifier``: the rule of most semantic caches, nearest entry if its
  cosine passes a fixed threshold.
- ``CalibratedVerifier`` (the default): a logistic model over the cosine and
  lexical evidence (``semcache._features``) gives the probability that the
  cached answer is right for the query; a candidate is served when that
  probability reaches the operating point chosen, on held-out data, for the
  requested precision. The shipped model was fitted on Quora Question Pairs
  with all-MiniLM-L6-v2 (``benchmarks/fit_verifier.py``); ``calibrate()``
  fits or re-calibrates one on a user's own labelled pairs.

Long prompts: an embedding model reads only the first few hundred tokens, so
two long prompts that share a template look identical to it. When either
text is longer than ``long_words``, the parts outside their common prefix
and suffix must agree lexically (character-shingle Jaccard >= 0.9) for a hit.
"""

from __future__ import annotations

import base64
import json
import math
import numbers
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from itertools import pairwise
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from ._config import DEFAULT_TARGET_PRECISION
from ._errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidPromptError,
    check_text,
    describe,
)
from ._features import (
    FEATURE_NAMES,
    MISMATCH_FEATURES,
    IdfTable,
    TextProfile,
    features,
    features_reference,
    idf_table,
    linear_logit,
    logistic,
    long_mismatch,
    long_mismatch_reference,
    long_mismatch_text,
    order_swap_reference,
    profile,
    profiles,
    query_scorer,
    scoring_model,
    usable_profile,
    without_limit,
)
from ._head import PairHead
from .normalize import check_prompt

__all__ = [
    "FLAG_PRIORS",
    "FLOOR_MARGIN",
    "SWAP_PRIOR",
    "Candidate",
    "CalibratedVerifier",
    "CosineVerifier",
    "Verifier",
    "calibrate",
    "cosine_for_precision",
    "fit_logistic",
    "load_default_verifier",
]

# What a fitted floor leaves below the lowest cosine the verifier served on
# calibration data (``cosine_floors``), so that a slightly lower one is served too.
FLOOR_MARGIN = 0.02

# targets this close are one target (0.99 as a NumPy float32 is 0.99000001, which
# would otherwise read the next point up)
_TARGET_TOLERANCE = 1e-6
# the lowest threshold decide applies: a probability of 0.0 (the long-prompt guard's
# refusal) is never served, even at a threshold of 0.0
_LOWEST_TAU = 1e-300

_MODEL_FILE = "verifier_minilm.json"
_HEAD_MODEL_FILE = "verifier_minilm_head.json"


class Candidate(NamedTuple):
    """A cached prompt near the query, its cosine, its profile when known, and its
    embedding (for verifiers that read embeddings: ``reads_embeddings``)."""

    prompt: str
    cosine: float
    profile: TextProfile | None = None
    vector: np.ndarray | None = None


@runtime_checkable
class Verifier(Protocol):
    """Decides which candidate, if any, answers the query.

    A verifier may also have ``search_cosine`` (>= ``min_cosine``): the cosine
    from which candidate search must keep its full recall target, when the
    verifier seldom serves between its floor and there (see ``plan_lsh``).
    """

    @property
    def min_cosine(self) -> float: ...

    def decide(self, query: str, candidates: Sequence[Candidate]) -> tuple[int, float] | None:
        """(index into candidates, confidence in [0, 1]) of the one to serve, or None.

        A verifier whose ``reads_embeddings`` is true is also given
        ``query_vector=`` and candidates that carry their ``vector``.
        """
        ...


class _ReadOnlyDict(dict[str, float]):
    """A dict that refuses changes (``TypeError``): a verifier's IDF weights, which feed
    tables packed on its first lookup. Still a dict for ``json``, ``isinstance``,
    copying and pickling; ``dataclasses.asdict`` gives one too (``dict(...)`` of it
    is a plain dict). ``dict.__setitem__(d, ...)`` or ``d.__init__(...)`` would
    still change it, as they would any dict subclass."""

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> Any:
        raise TypeError("a verifier's idf weights are read-only; make a new verifier with replace(v, idf=...)")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple[type[_ReadOnlyDict], tuple[dict[str, float]]]:
        return (_ReadOnlyDict, (dict(self),))  # (pickle would rebuild a dict subclass item by item)


def _real(value: object, name: str) -> float:
    """``value`` as a float if it is a real number (NumPy's too; not a bool), else
    ``ArgumentTypeError`` naming it: the type check every number check here starts with."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a number, got {describe(value)}")
    return float(value)


def _check_unit(value: object, name: str, *, open_interval: bool = False) -> float:
    v = _real(value, name)
    ok = 0.0 < v < 1.0 if open_interval else 0.0 <= v <= 1.0
    if not ok:
        bounds = "(0, 1)" if open_interval else "[0, 1]"
        raise InvalidConfigError(f"{name} must be in {bounds}, got {value!r}")
    return v


def _check_finite(value: object, name: str) -> float:
    """``value`` as a float if it is a finite real number, else a named error."""
    v = _real(value, name)
    if not math.isfinite(v):
        raise InvalidArgumentError(f"{name} must be finite, got {value!r}")
    return v


def _check_cosine(value: object, name: str) -> float:
    """``value`` as a float if it is a real number in [-1, 1], else a named error."""
    v = _real(value, name)
    if not -1.0 <= v <= 1.0:
        raise InvalidConfigError(f"{name} must be a cosine in [-1, 1], got {value!r}")
    return v


def _check_table(table: object, name: str, *, cosines: bool = False) -> tuple[tuple[float, float], ...]:
    """A (target precision, value) table as float pairs: each target in (0, 1) and given
    once, each value a probability threshold in [0, 1] (``cosines``: a cosine in [-1, 1])."""
    if isinstance(table, str | bytes | Mapping) or not isinstance(table, Iterable):
        raise ArgumentTypeError(f"{name} must be a sequence of (target precision, value) pairs, got {describe(table)}")
    out: list[tuple[float, float]] = []
    seen: set[float] = set()
    for i, item in enumerate(table):
        if isinstance(item, str | bytes) or not isinstance(item, Sequence | np.ndarray) or len(item) != 2:
            raise ArgumentTypeError(f"{name}[{i}] must be a (target precision, value) pair, got {describe(item)}")
        target = _check_unit(item[0], f"{name}[{i}]'s target precision", open_interval=True)
        check = _check_cosine if cosines else _check_unit
        value = check(item[1], f"{name}[{i}]'s value")
        if target in seen:
            raise InvalidArgumentError(f"{name} gives target precision {target} twice")
        seen.add(target)
        out.append((target, value))
    return tuple(out)


def _check_idf(idf: Mapping[Any, Any]) -> _ReadOnlyDict:
    """``idf`` as a read-only dict with every key a str and every weight a finite float
    (a str or None weight would fail at the first close call, or make every lookup miss
    silently)."""
    if all(type(k) is str for k in idf) and all(type(v) is float or type(v) is int for v in idf.values()):
        weights = np.fromiter(idf.values(), dtype=np.float64, count=len(idf))
        if np.isfinite(weights).all():  # (the common case: JSON's floats, checked at C speed)
            return _ReadOnlyDict(zip(idf, weights.tolist(), strict=True))
    for k, v in idf.items():
        if type(k) is not str:
            raise ArgumentTypeError(f"idf's words must be str, got {describe(k)}")
        _check_finite(v, f"idf[{k!r}]")
    return _ReadOnlyDict({k: float(v) for k, v in idf.items()})


_COSINE_SLACK = 1e-5  # a float32 dot product of unit vectors may pass 1 by a few ulps


def _as_profile(value: object, name: str) -> TextProfile:
    """A text's profile (3-grams included), or a named error for anything else."""
    if isinstance(value, TextProfile):
        return value
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a str or a TextProfile, got {describe(value)}")
    return profile(check_text(value, name, InvalidPromptError))


class CosineVerifier:
    """The plain rule of most semantic caches: serve the nearest entry if cosine >= threshold."""

    def __init__(self, threshold: float) -> None:
        self.threshold = _check_unit(threshold, "threshold")

    @property
    def min_cosine(self) -> float:
        return self.threshold

    def __repr__(self) -> str:
        return f"CosineVerifier(threshold={self.threshold})"

    def decide(self, query: str, candidates: Sequence[Candidate]) -> tuple[int, float] | None:
        if candidates and candidates[0].cosine >= self.threshold:
            return 0, max(0.0, min(1.0, candidates[0].cosine))
        return None


# Measured with all-MiniLM-L6-v2 on held-out Quora Question Pairs (see
# shared/data/README.md): cosine 0.80 gives precision 0.74, 0.970 gives 0.95,
# 0.993 gives 0.99. Between these points the cosine is interpolated.
_PRECISION_TO_COSINE = ((0.74, 0.80), (0.95, 0.970), (0.99, 0.993))


def cosine_for_precision(target: float) -> float:
    """The fixed cosine that reached ``target`` precision on held-out QQP with MiniLM."""
    target = _check_unit(target, "target_precision", open_interval=True)
    precisions = [p for p, _ in _PRECISION_TO_COSINE]
    cosines = [c for _, c in _PRECISION_TO_COSINE]
    return float(np.interp(target, precisions, cosines))


def _sigmoid(z: np.ndarray | float) -> Any:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


# The range each feature can take (the cosine features follow from the cosine).
_FEATURE_RANGES = {
    "simhash_distance": (0.0, 1.0),
    "word_jaccard": (0.0, 1.0),
    "char_jaccard": (0.0, 1.0),
    "length_ratio": (0.0, 1.0),
    "idf_difference": (0.0, 1.0),
    "content_difference": (0.0, 5.0),
}


def _logit_upper_bound(w: np.ndarray, cosine: float) -> float:
    """The largest logit any pair at ``cosine`` can get under weights ``w``."""
    total = 0.0
    for j, name in enumerate(FEATURE_NAMES):
        if name == "bias":
            total += w[j]
        elif name == "cosine":
            total += w[j] * cosine
        elif name == "cosine_hi":
            total += w[j] * max(0.0, cosine - 0.9) * 10.0
        elif name == "cosine_top":
            total += w[j] * max(0.0, cosine - 0.95) * 20.0
        elif name == "cosine_x_word_jaccard":
            total += max(0.0, w[j] * cosine)
        else:
            lo, hi = _FEATURE_RANGES.get(name, (0.0, 1.0))
            total += max(w[j] * lo, w[j] * hi)
    return total


class _Shared:
    """The lookup path's state that depends on the model alone (weights, IDF table,
    word limit), not on the target: made once and shared by ``with_target``'s
    copies, so caches at one model do not each pack its tables (~0.7 MB, ~1 ms)."""

    __slots__ = ("fast", "scorer", "unlimited")

    def __init__(self) -> None:
        self.fast: tuple[np.ndarray, IdfTable] | None = None
        self.scorer: Callable[[str, TextProfile, float, float], float] | None = None
        # the model without the long-prompt word limit and its scorer, for long pairs that
        # passed the guard
        self.unlimited: tuple[np.ndarray, Callable[[str, TextProfile, float, float], float]] | None = None


class _Hot(NamedTuple):
    """What ``CalibratedVerifier.decide`` reads on every call (unpacked by position there);
    made once per verifier object, whose target (a frozen field) never changes."""

    threshold: float
    min_cosine: float
    model: np.ndarray  # packed by ``scoring_model``
    idf: IdfTable
    shingles: bool  # the model reads character 3-grams
    score_one: Callable[[str, TextProfile, float, float], float] | None  # no head: ``query_scorer``
    low: float  # threshold - _CLOSE: a probability below it needs no long-prompt guard
    long_words: int  # a candidate with more words has the long-prompt guard run first


@dataclass(frozen=True)
class CalibratedVerifier:
    """Logistic model over cosine + lexical features, with a calibrated operating point.

    ``points`` maps target precisions to probability thresholds chosen on
    held-out data; ``target_precision`` picks one (between two, the higher one's).
    With a ``head`` (``semcache._head.PairHead``, fitted for one embedding
    model) the logit also reads the two embeddings, scaled by ``head_scale``;
    such a verifier needs the vectors (``reads_embeddings``) and serves no
    candidate below the cosine in ``cosine_floors`` for its target.
    ``served_cosines`` (the lowest cosine each target served on calibration
    data) sets ``search_cosine``, from which candidate search keeps full recall.
    ``idf`` (word -> weight for the IDF-weighted features) is kept as a read-only
    dict of its own, as the other fields are frozen.
    """

    weights: tuple[float, ...]
    points: tuple[tuple[float, float], ...]
    floor: float
    target_precision: float = 0.95
    idf: Mapping[str, float] | None = None
    long_words: int = 160
    source: str = ""
    head: PairHead | None = None
    head_scale: float = 1.0
    cosine_floors: tuple[tuple[float, float], ...] = ()
    served_cosines: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        weights = self.weights
        if isinstance(weights, str | bytes) or not isinstance(weights, Iterable):
            raise ArgumentTypeError(f"weights must be a sequence of numbers, got {describe(weights)}")
        weights = tuple(_check_finite(w, f"weights[{i}]") for i, w in enumerate(weights))
        if len(weights) != len(FEATURE_NAMES):
            raise InvalidArgumentError(
                f"weights must have {len(FEATURE_NAMES)} entries ({', '.join(FEATURE_NAMES)}), "
                f"got {len(weights)}"
            )
        # (tuples of floats, as the field types say: a list edited after the first
        # lookup would leave the packed model stale)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(
            self, "target_precision", _check_unit(self.target_precision, "target_precision", open_interval=True)
        )
        object.__setattr__(self, "points", _check_table(self.points, "points"))
        if not self.points:
            raise InvalidArgumentError("points must hold at least one (target precision, threshold) pair")
        for field in ("cosine_floors", "served_cosines"):  # (a served cosine may be below 0)
            object.__setattr__(self, field, _check_table(getattr(self, field), field, cosines=True))
        object.__setattr__(self, "floor", _check_cosine(self.floor, "floor"))
        object.__setattr__(self, "head_scale", _check_finite(self.head_scale, "head_scale"))
        if not isinstance(self.source, str):
            raise ArgumentTypeError(f"source must be a str, got {describe(self.source)}")
        if self.head is not None and not isinstance(self.head, PairHead):
            raise ArgumentTypeError(f"head must be None or a PairHead, got {describe(self.head)}")
        words = self.long_words
        if isinstance(words, bool) or not isinstance(words, numbers.Integral):
            raise ArgumentTypeError(f"long_words must be a whole number >= 0, got {describe(words)}")
        if words < 0:  # (the kernels read a negative limit as "no guard", the Python paths as "guard every pair")
            raise InvalidArgumentError(f"long_words must be a whole number >= 0, got {describe(words)}")
        object.__setattr__(self, "long_words", int(words))  # (a NumPy integer would not go into JSON)
        idf = self.idf
        if idf is not None and type(idf) is not _ReadOnlyDict:
            if not isinstance(idf, Mapping):
                raise ArgumentTypeError(f"idf must be None or a mapping of words to weights, got {describe(idf)}")
            # read-only, like the frozen fields: the packed tables made from it on the first
            # lookup would not see a change (copies by ``with_target`` share it)
            object.__setattr__(self, "idf", _check_idf(idf))
        object.__setattr__(self, "_w", np.asarray(self.weights, dtype=np.float64))

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the lookup path's state (``_hot`` and the shared ``_shared`` hold
        a closure, which pickle cannot carry); ``decide`` makes it again on first use.
        ``idf`` goes as a plain dict."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_hot", "_shared")}
        if state.get("idf") is not None:
            state["idf"] = dict(state["idf"])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("idf") is not None:
            state = {**state, "idf": _ReadOnlyDict(state["idf"])}
        self.__dict__.update(state)

    @property
    def reads_embeddings(self) -> bool:
        """Whether ``decide`` needs the query's and the candidates' vectors."""
        return self.head is not None

    @property
    def reads_shingles(self) -> bool:
        """Whether the candidates' profiles need their character 3-grams (the head
        reads ``char_jaccard``; the linear model only with a non-zero weight)."""
        return self.head is not None or bool(self._w[FEATURE_NAMES.index("char_jaccard")] != 0.0)  # type: ignore[attr-defined]

    @property
    def min_cosine(self) -> float:
        """The lowest cosine this verifier may serve at its target (never below ``floor``).

        Without a head, the lowest cosine at which even the most favourable lexical
        evidence can reach the threshold; with ``cosine_floors`` (fitted with the
        operating points), at least the floor fitted for the target. Candidate
        search looks no lower, and ``decide`` serves nothing below it.
        """
        cached = self.__dict__.get("_min_cos")  # (made once: the target is a frozen field)
        if cached is not None:
            return float(cached)
        value = self.floor
        if self.head is None:
            tau = min(max(self.threshold, 1e-9), 1 - 1e-9)
            need = math.log(tau / (1 - tau))
            found = 1.0
            for c in np.arange(max(0.0, self.floor), 1.0005, 0.0025):
                if _logit_upper_bound(self._w, float(c)) >= need:  # type: ignore[attr-defined]
                    found = float(c)
                    break
            value = max(value, found - 0.0025)
        if self.cosine_floors:
            value = max(value, self._per_target(self.cosine_floors))
        object.__setattr__(self, "_min_cos", value)
        return value

    def _per_target(self, table: Sequence[tuple[float, float]]) -> float:
        """A (target precision, value) table read at ``target_precision``: the entry of
        the lowest target at or above it (the nearest point measured to reach it). Not
        interpolated: two points that each just reach their own target do not make a
        point between them reach its own. A target above every point of the table was
        never measured: 1.0 (a threshold out of reach, a floor no candidate passes)."""
        if self.target_precision > max(t for t, _ in table) + _TARGET_TOLERANCE:
            return 1.0
        return float(dict(table)[target_read(table, self.target_precision)])

    @property
    def search_cosine(self) -> float:
        """Where candidate search keeps its full recall target (``plan_lsh``'s ``recall_at``).

        With ``served_cosines`` (fitted with the operating points): the lowest cosine
        the verifier served at its target on calibration data (0.957 at 0.95 for the
        shipped verifier, whose floor is 0.955), within [``min_cosine``, 1]; search
        keeps at least 0.98 modelled recall down to ``min_cosine``. Else ``min_cosine``.
        """
        low = self.min_cosine
        if not self.served_cosines:
            return low
        return max(low, min(1.0, self._per_target(self.served_cosines)))

    @property
    def threshold(self) -> float:
        """The probability a candidate needs at ``target_precision``."""
        cached = self.__dict__.get("_tau")  # (made once, as min_cosine)
        if cached is not None:
            return float(cached)
        value = self._per_target(self.points)
        object.__setattr__(self, "_tau", value)
        return value

    def with_target(self, target_precision: float) -> CalibratedVerifier:
        """The same model at another target precision (sharing its packed tables)."""
        out = replace(self, target_precision=target_precision)
        object.__setattr__(out, "_shared", self._model_state())
        return out

    def __repr__(self) -> str:
        return (
            f"CalibratedVerifier(target_precision={self.target_precision}, threshold={self.threshold:.3f}, "
            f"min_cosine={self.min_cosine:.3f}{', head' if self.head is not None else ''}"
            f"{', ' + self.source if self.source else ''})"
        )

    def probability(
        self,
        query: TextProfile | str,
        cached: TextProfile | str,
        cosine: float,
        query_vector: np.ndarray | None = None,
        cached_vector: np.ndarray | None = None,
    ) -> float:
        """Modelled chance that the answer cached for ``cached`` is right for ``query``
        (a verifier with a head also needs both vectors). ``query`` and ``cached`` are
        profiles (``semcache._features.profile``) or texts, profiled here."""
        q = query if type(query) is TextProfile else _as_profile(query, "query")
        c = cached if type(cached) is TextProfile else _as_profile(cached, "cached")
        try:
            ok = -1.0 - _COSINE_SLACK <= cosine <= 1.0 + _COSINE_SLACK  # (NaN too: it read as "guard failed")
        except TypeError:
            ok = False
        if not ok or isinstance(cosine, bool):
            raise InvalidArgumentError(f"cosine must be a number in [-1, 1], got {describe(cosine)}")
        model, idf = self._fast_state()
        if self.head is None:
            return logistic(q, c, cosine, model, idf)
        p = self._head_probabilities(q, [c], [cosine], query_vector, [cached_vector], model, idf)
        return float(p[0])

    def _vectors(self, query: np.ndarray | None, cached: Sequence[np.ndarray | None] | None) -> tuple[Any, Any]:
        head = self.head
        assert head is not None
        if query is None or cached is None or any(v is None for v in cached):
            raise InvalidArgumentError(
                f"this verifier reads embeddings (its head was fitted for {head.embedder}): "
                "pass the query's vector and every candidate's vector, got none"
            )
        q = np.asarray(query, np.float32).reshape(-1)
        v = np.stack([np.asarray(c, np.float32).reshape(-1) for c in cached])  # type: ignore[arg-type]
        if q.shape[0] != head.dim or v.shape[1] != head.dim:
            raise InvalidArgumentError(
                f"the head reads {head.dim}-dim vectors of {head.embedder}, got {q.shape[0]} and {v.shape[1]}"
            )
        return q, v

    def _reference_probability(
        self,
        query: TextProfile,
        cached: TextProfile,
        cosine: float,
        query_vector: np.ndarray | None = None,
        cached_vector: np.ndarray | None = None,
    ) -> float:
        """``probability`` by the pure-Python reference features (the fast path's oracle)."""
        q, c = query.reference(), cached.reference()
        if long_mismatch_reference(q, c, self.long_words):
            return 0.0
        w = self._w  # type: ignore[attr-defined]
        x = features_reference(q, c, cosine, self.idf)
        logit = float(x @ w)
        if order_swap_reference(q, c):
            logit += SWAP_PRIOR
        if self.head is not None:
            qv, v = self._vectors(query_vector, None if cached_vector is None else [cached_vector])
            logit += self.head_scale * float(self.head.logits(qv, v, x[None, :])[0])
        return float(_sigmoid(logit))

    def _hot_state(self) -> _Hot:
        """What ``decide`` reads on every call, made once per target."""
        model, idf = self._fast_state()
        # a threshold of 1.0 marks a target out of reach: nothing is served, not even
        # a probability that rounds to 1.0 (a logit above ~37)
        tau = max(self.threshold, _LOWEST_TAU) if self.threshold < 1.0 else math.inf
        one = None
        if self.head is None:
            shared = self._model_state()
            one = shared.scorer
            if one is None:
                one = shared.scorer = query_scorer(model, idf)
        hot = _Hot(tau, self.min_cosine, model, idf, self.reads_shingles, one, tau - _CLOSE, self.long_words)
        object.__setattr__(self, "_hot", hot)
        return hot

    def _fast_state(self) -> tuple[np.ndarray, IdfTable]:
        """The packed model and the IDF table of the fast path, made once per model."""
        shared = self._model_state()
        if shared.fast is None:
            w = self._w  # type: ignore[attr-defined]
            shared.fast = (scoring_model(w, SWAP_PRIOR, self.long_words), idf_table(self.idf))
        return shared.fast

    def _unlimited_scorer(self) -> tuple[np.ndarray, Callable[[str, TextProfile, float, float], float]]:
        """The packed model without its word limit and its ``query_scorer``, made once per model."""
        shared = self._model_state()
        if shared.unlimited is None:
            model, idf = self._fast_state()
            unlimited = without_limit(model)
            shared.unlimited = (unlimited, query_scorer(unlimited, idf))
        return shared.unlimited

    def _model_state(self) -> _Shared:
        """This model's shared state, made on first use (and after unpickling)."""
        shared: _Shared | None = self.__dict__.get("_shared")
        if shared is None:
            shared = _Shared()
            object.__setattr__(self, "_shared", shared)
        return shared

    def decide(
        self, query: str, candidates: Sequence[Candidate], query_vector: np.ndarray | None = None
    ) -> tuple[int, float] | None:
        """See ``Verifier.decide``; ``query`` must be a str that encodes as UTF-8
        (``ArgumentTypeError``, ``InvalidPromptError`` naming a lone surrogate)."""
        tau, floor, model, idf, shingles, one, low, long_words = self.__dict__.get("_hot") or self._hot_state()
        if type(query) is not str or not query.isascii():
            # every path then treats it alike (the kernels read a lone surrogate as bytes,
            # the profile and the reference could not encode it)
            check_text(query, "query", InvalidPromptError)
        if len(candidates) == 1:  # the common case (no comprehension)
            if not candidates[0].cosine >= floor:
                return None
            passing = [0]
        else:
            passing = [i for i, cand in enumerate(candidates) if cand.cosine >= floor]
            if not passing:
                return None
        if one is not None and len(passing) == 1:  # one candidate to score, one kernel call
            i = passing[0]
            cand = candidates[i]
            cp = usable_profile(cand.profile, cand.prompt, shingles)
            if cp.n_words > long_words:
                # A long candidate: the long-prompt guard applies whatever the query's length,
                # so it runs first, on the query's words alone (two requests behind one
                # template, say), at a fraction of the query's profile. Failing, the pair's
                # probability is 0.0; passing, the pair is scored without the word limit, as
                # ``logistic`` would after the guard.
                if long_mismatch_text(query, cp, long_words):
                    return None
                model, one = self._unlimited_scorer()
            # (a pair whose probability stays below tau needs no long-prompt guard)
            p = one(query, cp, cand.cosine, low)
            if p >= 0.0 and abs(p - tau) > _CLOSE:
                return (i, p) if p >= tau else None
            cps = [cp]
        else:
            cps = [usable_profile(candidates[i].profile, candidates[i].prompt, shingles) for i in passing]
        cosines = [candidates[i].cosine for i in passing]
        qp = profile(query, shingles=shingles)  # (3-grams only when the model reads them)
        if one is not None:
            # a probability that stays below tau needs no long-prompt guard (see logistic)
            probs = [logistic(qp, cp, c, model, idf, at_least=low) for cp, c in zip(cps, cosines, strict=True)]
        else:
            vectors = [candidates[i].vector for i in passing]
            probs = self._head_probabilities(qp, cps, cosines, query_vector, vectors, model, idf).tolist()
        if _close_call(probs, tau, _CLOSE if one is not None else _CLOSE_HEAD):
            # The fast path agrees with the reference to rounding (~1e-15; ~1e-6 with
            # a head): only a probability this close to the threshold or to a rival
            # could be decided otherwise, so such calls are made by the reference.
            probs = [
                self._reference_probability(qp, cp, c, query_vector, candidates[i].vector)
                for i, cp, c in zip(passing, cps, cosines, strict=True)
            ]
        best: tuple[int, float] | None = None
        for i, p in zip(passing, probs, strict=True):
            if p >= tau and (best is None or p > best[1]):
                best = (i, p)
        return best

    def _head_probabilities(
        self,
        qp: TextProfile,
        cps: Sequence[TextProfile],
        cosines: Sequence[float],
        query_vector: np.ndarray | None,
        vectors: Sequence[np.ndarray | None],
        model: np.ndarray,
        idf: IdfTable,
    ) -> np.ndarray:
        """Probabilities of k candidates with the head: the linear logit of each (one
        kernel call), then the head for all of them at once; 0.0 where the
        long-prompt guard rejects the pair."""
        assert self.head is not None
        qv, v = self._vectors(query_vector, vectors)
        x = np.zeros((len(cps), len(FEATURE_NAMES)))  # a row the guard rejects stays 0
        z = np.empty(len(cps))
        for r, (cp, c) in enumerate(zip(cps, cosines, strict=True)):
            lin = linear_logit(qp, cp, c, model, idf, x[r])
            z[r] = -np.inf if lin is None else lin
        z += self.head_scale * self.head.logits(qv, v, x)
        p: np.ndarray = _sigmoid(z)
        p[np.isneginf(z)] = 0.0
        return p

    def _long_mismatch(self, a: TextProfile, b: TextProfile) -> bool:
        return long_mismatch(a, b, self.long_words)

    # -- persistence -----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "features": list(FEATURE_NAMES),
            "weights": list(self.weights),
            "points": [list(p) for p in self.points],
            "floor": self.floor,
            "target_precision": self.target_precision,
            "long_words": self.long_words,
            "source": self.source,
            "idf": dict(self.idf) if self.idf else None,
        }
        if self.cosine_floors:
            out["cosine_floors"] = [list(p) for p in self.cosine_floors]
        if self.served_cosines:
            out["served_cosines"] = [list(p) for p in self.served_cosines]
        if self.head is not None:
            out["head"] = base64.b64encode(self.head.to_bytes()).decode("ascii")
            out["head_scale"] = self.head_scale
        return out

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], target_precision: float | None = None, head: PairHead | None = None
    ) -> CalibratedVerifier:
        """The verifier ``to_dict`` wrote, at its own target precision unless
        ``target_precision`` is given (0.95 for a dict without one); ``head`` when the
        head is kept elsewhere (the shipped model keeps it in an .npz file beside its JSON)."""
        if not isinstance(data, Mapping):
            raise ArgumentTypeError(f"data must be a mapping (what to_dict wrote), got {describe(data)}")
        missing = [k for k in ("weights", "points", "floor") if k not in data]
        if missing:
            raise InvalidArgumentError(f"a verifier's dict needs {', '.join(missing)} (what to_dict writes)")
        if list(data.get("features", [])) != list(FEATURE_NAMES):
            raise InvalidArgumentError(
                f"verifier features must be {list(FEATURE_NAMES)}, got {data.get('features')!r}"
            )
        encoded = data.get("head")
        if head is None and encoded:
            if not isinstance(encoded, str):
                raise ArgumentTypeError(f"head must be base64 text (what to_dict wrote), got {describe(encoded)}")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except ValueError as exc:  # (binascii.Error)
                raise InvalidArgumentError(f"head is not base64 text: {exc}") from None
            head = PairHead.from_bytes(raw)
        if target_precision is None:
            target_precision = data.get("target_precision", DEFAULT_TARGET_PRECISION)
        return cls(
            weights=data["weights"],
            points=data["points"],
            floor=data["floor"],
            target_precision=target_precision,  # type: ignore[arg-type]
            idf=data.get("idf") or None,
            long_words=data.get("long_words", 160),
            source=data.get("source", ""),
            head=head,
            head_scale=data.get("head_scale", 1.0),
            cosine_floors=data.get("cosine_floors", ()),
            served_cosines=data.get("served_cosines", ()),
        )


# "convert PDF to Word" and "convert Word to PDF" share every word: a bag of
# words (and often the embedding) cannot tell them apart. When two texts have
# the same content words in another order around a direction word, the odds
# are divided by 20, like the other meaning-flip flags.
# (the test: ``_features.order_swap_reference``, run by a kernel on the fast path)
SWAP_PRIOR = -3.0
_CLOSE = 1e-9  # far above the fast path's rounding differences, far below any real margin
# with a head: its first layer is one BLAS call over all candidates, whose float32
# rounding depends on how many there are (up to ~1e-6 in probability measured)
_CLOSE_HEAD = 1e-5


def _close_call(probs: list[float], tau: float, close: float = _CLOSE) -> bool:
    """Whether rounding could matter: a probability within ``close`` of ``tau``, or two
    passing ones within ``close`` of each other."""
    passing = [p for p in probs if p >= tau - close]
    if not passing:
        return False
    if min(passing) <= tau + close:
        return True
    passing.sort()
    return any(b - a <= close for a, b in pairwise(passing))


_DEFAULT: dict[str, CalibratedVerifier] = {}


def _read_model(folder: Any, name: str) -> CalibratedVerifier:
    """The model file ``name`` in ``folder`` (a Path or an importlib Traversable), with
    the head's weights from the file its ``head_file`` names, if any."""
    data = json.loads((folder / name).read_text(encoding="utf-8"))
    head_file = data.get("head_file")
    head = PairHead.from_bytes((folder / head_file).read_bytes()) if head_file else None
    return CalibratedVerifier.from_dict(data, head=head)


def _shipped(name: str) -> CalibratedVerifier:
    found = _DEFAULT.get(name)
    if found is None:
        found = _DEFAULT[name] = _read_model(resources.files("semcache") / "data", name)
    return found


def embedder_name(embedder: object) -> str | None:
    """The model name an embedder declares (``model_name``), if any."""
    name = getattr(embedder, "model_name", None)
    return name if isinstance(name, str) else None


def load_default_verifier(
    target_precision: float = 0.95, embedder: object = None, *, head: bool = False
) -> CalibratedVerifier:
    """The verifier shipped with semcache, fitted on Quora Question Pairs.

    By default the model over cosine and lexical features (any embedder). With
    ``head=True``, the one whose head also reads the embeddings; it was fitted
    for all-MiniLM-L6-v2 and needs that ``embedder`` (matched by its
    ``model_name`` and ``dim``). On held-out QQP the head ranks candidates
    better (benchmarks/RESULTS.md) and costs more per lookup that reaches the verifier
    (p99 135 against 37 us in benchmarks/hit_rate.py's QQP warm stream).
    """
    _check_unit(target_precision, "target_precision", open_interval=True)
    if not head:
        return _shipped(_MODEL_FILE).with_target(target_precision)
    with_head = _shipped(_HEAD_MODEL_FILE)
    check_head_embedder(with_head, embedder)
    return with_head.with_target(target_precision)


def check_head_embedder(verifier: object, embedder: object) -> None:
    """Raise InvalidConfigError when ``verifier`` has an embedding head fitted for
    another embedding model than ``embedder`` (by ``model_name`` and ``dim``)."""
    head = getattr(verifier, "head", None)
    if not isinstance(head, PairHead):
        return
    name, dim = embedder_name(embedder), getattr(embedder, "dim", None)
    if name != head.embedder or dim != head.dim:
        raise InvalidConfigError(
            f"the verifier's embedding head reads {head.dim}-dim vectors of {head.embedder}; "
            f"pass that embedder (e.g. SentenceTransformerEmbedder()), got {describe(embedder)} "
            f"(model_name={name!r}, dim={dim!r})"
        )


# -- fitting ---------------------------------------------------------------------
def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = 1e-3,
    nonpositive: Sequence[int] = (),
    upper: Mapping[int, float] | None = None,
    fixed: Mapping[int, float] | None = None,
    iterations: int = 50,
) -> np.ndarray:
    """L2-regularised logistic regression by Newton steps (IRLS).

    Bounds are kept with an active set: a column whose weight would pass its
    bound is pinned there and the rest refitted. Columns in ``nonpositive``
    stay <= 0 (evidence of a mismatch can only lower the probability);
    ``upper`` gives other bounds (a prior the data may strengthen but not
    weaken); columns in ``fixed`` keep the given weight.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, f = x.shape
    bounds = {j: 0.0 for j in nonpositive}
    for j, v in (upper or {}).items():
        bounds[j] = min(v, bounds.get(j, v))
    pinned: dict[int, float] = dict(fixed or {})
    while True:
        free = [j for j in range(f) if j not in pinned]
        w = np.zeros(f)
        for j, v in pinned.items():
            w[j] = v
        offset = x @ w
        xf = x[:, free]
        wf = np.zeros(len(free))
        reg = l2 * n * np.eye(len(free))
        if free and free[0] == 0:
            reg[0, 0] = 0.0  # the bias is not shrunk
        for _ in range(iterations):
            p = _sigmoid(xf @ wf + offset)
            grad = xf.T @ (p - y) + reg @ wf
            hess = (xf * (p * (1 - p))[:, None]).T @ xf + reg + 1e-9 * np.eye(len(free))
            step = np.linalg.solve(hess, grad)
            wf -= step
            if np.abs(step).max() < 1e-8:
                break
        w[free] = wf
        over = [j for j in free if j in bounds and w[j] > bounds[j]]
        if not over:
            return w
        worst = max(over, key=lambda j: w[j] - bounds[j])
        pinned[worst] = bounds[worst]


def _check_scored(scores: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    """Scores (finite) and whether each is right, as 1-D arrays of one length."""
    s = np.asarray(scores, dtype=np.float64)
    c = np.asarray(correct)
    if s.ndim != 1 or c.shape != s.shape or not len(s):
        raise InvalidArgumentError(
            f"scores and correct must be 1-D, of one length (> 0), got shapes {s.shape} and {c.shape}"
        )
    if not np.isfinite(s).all():
        at = int(np.argmin(np.isfinite(s)))
        raise InvalidArgumentError(f"scores must be finite, got {float(s[at])!r} at {at}")
    return s, c.astype(bool)


def operating_points(
    scores: np.ndarray, correct: np.ndarray, targets: Sequence[float], *, min_hits: int = 20
) -> list[tuple[float, float]]:
    """For each target precision, the lowest score threshold whose accepted set
    (score >= threshold, at least ``min_hits`` of them) reaches that precision,
    moved up past trailing wrong ones (they would add no correct hit).

    A threshold accepts every score equal to it, so the precision is read only where
    a run of equal scores ends: a cut inside the run would count fewer of them than
    are served. Thresholds never fall as the target rises (1.0 where a target is out
    of reach).
    """
    scores, correct = _check_scored(scores, correct)
    targets = [_check_unit(t, "target", open_interval=True) for t in targets]
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    c = correct[order].astype(np.float64)
    k = np.arange(1, len(c) + 1)
    prec = np.cumsum(c) / k
    run_end = np.append(s[1:] != s[:-1], True)  # the last of each run of equal scores
    points = []
    for t in targets:
        ok = np.nonzero((prec >= t) & (k >= min_hits) & run_end)[0]
        if not len(ok):
            points.append((float(t), 1.0))
            continue
        last = int(ok[-1])
        while last > 0 and not c[last]:
            last -= 1  # wrong ones past the last right one add no correct hits
        while not run_end[last]:
            last += 1  # (a run is served whole: its end, as precise as the cut it ends before)
        tau = float(s[last])
        if last + 1 < len(s) and 0.0 < s[last + 1] < tau < 1.0:
            mid = _halfway(float(s[last + 1]), tau)  # to the first rejected score, not on the edge
            tau = mid if s[last + 1] < mid <= tau else tau  # (adjacent floats have none between)
        points.append((float(t), tau))
    return _non_decreasing(points)


def _halfway(lo: float, hi: float) -> float:
    """The probability halfway in log-odds between ``lo`` and ``hi`` (both in (0, 1))."""
    return float(_sigmoid((math.log(lo / (1 - lo)) + math.log(hi / (1 - hi))) / 2))


def _non_decreasing(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """``points`` (by rising target) with every threshold at least the one before it."""
    for i in range(1, len(points)):
        if points[i][1] < points[i - 1][1]:
            points[i] = (points[i][0], points[i - 1][1])
    return points


# Upper bounds of the weights of the meaning-flip flags when fitting: on QQP
# these flags are rare and its labels noisy, so a fit gives them little weight,
# yet a changed number, year, negation, unit or direction changes the answer.
# -3 divides the odds by 20 at least (data may make it stronger); on QQP's
# 'choose' half it cost no hits.
FLAG_PRIORS = {
    "number_mismatch": -3.0,
    "year_mismatch": -3.0,
    "negation_mismatch": -3.0,
    "unit_mismatch": -3.0,
    "polarity_mismatch": -3.0,
}

TARGET_GRID = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995)


def _unanswered_needed(target: float) -> int:
    """Lookups without a right candidate needed to bound their share served at
    ``1 - target`` (3 / (1 - target), the rule of three: 60 at 0.95)."""
    return math.ceil(3.0 / (1.0 - target) - 1e-9)


def points_per_lookup(
    scores: np.ndarray, correct: np.ndarray, lookups: np.ndarray, targets: Sequence[float], *, min_hits: int = 10
) -> tuple[list[tuple[float, float]], list[float]]:
    """Operating points on what the cache serves (``served_per_lookup``), each chosen
    among the lookups served above the point where at most ``1 - target`` of the
    lookups without a right candidate (a query whose answer is not cached) would be
    served: the target precision on the labelled lookups, and a bounded share of wrong
    hits for queries without a cached answer, however many more of them the traffic
    has. A target with fewer than ``3 / (1 - target)`` such lookups (too few to bound
    that share) takes its point per pair instead. Returns the points and the targets
    that fell back."""
    served, ok = served_per_lookup(scores, correct, lookups)
    has_right = np.isin(np.unique(lookups), lookups[correct.astype(bool)])
    unanswered = np.sort(served[~has_right])[::-1]  # their served scores, highest first
    by_pair = operating_points(scores, correct, targets, min_hits=min_hits)
    out: list[tuple[float, float]] = []
    fell: list[float] = []
    n = len(unanswered)
    for t, tau_pair in by_pair:
        k = math.floor((1.0 - t) * n + 1e-9)  # how many of them may be served (0.1 * 100 is 9.99...)
        if n < _unanswered_needed(t) or not unanswered[k] < 1.0:
            out.append((t, tau_pair))  # too few to bound (or a bound no threshold can keep)
            fell.append(float(t))
            continue
        # the point chosen among the lookups served above the (k+1)-th of those without
        # a right candidate (so the precision is that of what is served)...
        keep = served > unanswered[k]
        tau = operating_points(served[keep], ok[keep], [t], min_hits=min_hits)[0][1]
        if tau < 1.0:  # ...and kept clear of it: halfway in log-odds to the lowest one served,
            # as a close call is scored again by the reference (a hair off the fast path)
            low = float(served[keep][served[keep] >= tau].min())  # (< 1.0, as tau is)
            tau = max(tau, _halfway(max(float(unanswered[k]), 1e-12), low))
        out.append((t, tau))
    return _non_decreasing(out), fell


def target_read(table: Sequence[tuple[float, float]], target: float) -> float:
    """The target of a (target precision, value) table that a verifier at ``target``
    reads: the lowest at or above it, else the highest (``CalibratedVerifier._per_target``)."""
    ordered = sorted(t for t, _ in table)
    return next((t for t in ordered if t >= target - _TARGET_TOLERANCE), ordered[-1])


def lookup_ids(queries: Sequence[str]) -> np.ndarray:
    """One id per distinct query text, in order of first appearance: labelled pairs that
    share their query are one lookup's candidates."""
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(q, len(ids)) for q in queries], dtype=np.int64)


def served_per_lookup(scores: np.ndarray, correct: np.ndarray, lookups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per lookup (``lookup_ids``), the score of the candidate a verifier would serve, the
    most probable (the first of equals, as ``decide`` takes it), and whether it is right:
    what the cache's precision is made of once a lookup has several candidates."""
    order = np.lexsort((np.arange(len(scores)), -scores, lookups))  # by lookup, best first, then first given
    first = order[np.r_[True, lookups[order][1:] != lookups[order][:-1]]]
    return scores[first], correct[first]


def _lowest_accepted(scores: np.ndarray, cosines: np.ndarray, tau: float) -> float | None:
    """The lowest cosine among the pairs whose score reaches ``tau`` (None: none does, or
    ``tau`` is 1.0, a target out of reach, where a calibrated verifier serves nothing)."""
    if tau >= 1.0:
        return None
    accepted = cosines[scores >= tau]
    return float(accepted.min()) if accepted.size else None


def served_minima(
    scores: np.ndarray, cosines: np.ndarray, points: Sequence[tuple[float, float]]
) -> tuple[tuple[float, float], ...]:
    """Per target precision, the lowest cosine among the pairs its threshold accepts
    (1.0 where it accepts none): where the verifier really serves (``served_cosines``)."""
    out: list[tuple[float, float]] = []
    for target, tau in points:
        lowest = _lowest_accepted(scores, cosines, tau)
        out.append((float(target), 1.0 if lowest is None else lowest))
    return tuple(out)


def cosine_floors(
    scores: np.ndarray,
    cosines: np.ndarray,
    points: Sequence[tuple[float, float]],
    *,
    margin: float = FLOOR_MARGIN,
    lowest: Mapping[float, float] | None = None,
) -> tuple[tuple[float, float], ...]:
    """Per target precision, the cosine below which the verifier serves nothing:
    the lowest cosine among the pairs its threshold accepts, less ``margin``
    (1.0 where it accepts none), and at least ``lowest[target]`` where given.
    Floors never fall as the target rises; candidate search need not look below them."""
    out: list[tuple[float, float]] = []
    for target, tau in points:
        served = _lowest_accepted(scores, cosines, tau)
        floor = 1.0 if served is None else served - margin
        floor = max(floor, (lowest or {}).get(target, 0.0), out[-1][1] if out else 0.0)
        out.append((float(target), floor))
    return tuple(out)


def _pair_features(
    pairs: Sequence[tuple[str, str, Any]], embedder: Any, base: CalibratedVerifier
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[tuple[TextProfile, TextProfile, Any, Any]]]:
    """Features, labels, cosines and the head's term of each pair, and what
    ``CalibratedVerifier.probability`` reads of it (both profiles and vectors)."""
    from .embedders import check_embeddings

    texts = list(dict.fromkeys([a for a, _, _ in pairs] + [b for _, b, _ in pairs]))
    vecs = check_embeddings(embedder.embed(texts), len(texts), embedder.dim)
    row = {t: i for i, t in enumerate(texts)}
    profs = dict(zip(texts, profiles(texts), strict=True))
    x = np.empty((len(pairs), len(FEATURE_NAMES)))
    cos = np.empty(len(pairs))
    y = np.empty(len(pairs))
    for k, (a, b, label) in enumerate(pairs):
        cos[k] = float(vecs[row[a]] @ vecs[row[b]])
        x[k] = features(profs[a], profs[b], cos[k], base.idf)
        y[k] = 1.0 if label else 0.0
    head_term = np.zeros(len(pairs))
    if base.head is not None:
        ia = [row[a] for a, _, _ in pairs]
        ib = [row[b] for _, b, _ in pairs]
        head_term = base.head.logits(vecs[ia], vecs[ib], x)
    views = [(profs[a], profs[b], vecs[row[a]], vecs[row[b]]) for a, b, _ in pairs]
    return x, y, cos, head_term, views


def _check_label(label: object, i: int) -> bool:
    """A pair's label as a bool: True/False or a number that is 1 or 0 (NumPy types
    too). Anything else is refused: "0" or NaN is truthy, and would count a different
    answer as the same."""
    if isinstance(label, bool | np.bool_):
        return bool(label)
    if isinstance(label, numbers.Real) and label in (0, 1):
        return bool(label)
    raise ArgumentTypeError(f"pairs[{i}]'s label must be True/False (or 1/0), got {describe(label)}")


def calibrate(
    pairs: Sequence[tuple[str, str, Any]],
    *,
    embedder: Any = "auto",
    target_precision: float = 0.95,
    base: CalibratedVerifier | None = None,
    refit: bool | None = None,
    points: str = "pairs",
) -> CalibratedVerifier:
    """A verifier for your domain from labelled pairs (text, text, same answer?).

    ``points``: ``"pairs"`` (the default) chooses the operating points as if every
    pair were served, every wrong candidate counted: cautious, and it holds however
    many of your queries find their answer cached. ``"lookups"`` reads pairs that
    share their query (a lookup's nearest cached prompts, nearest first) as one
    lookup, of which the cache serves the most probable, and chooses the points on
    what it would serve: more hits where your labelled lookups have your traffic's
    share of queries whose answer is not cached, wrong hits where the traffic has
    more of them. So each point is also raised until at most ``1 - target`` of the
    lookups without a right candidate are served; a target with too few of them
    (``3 / (1 - target)``: 60 at 0.95) takes its point per pair, with a warning for
    yours (``points_per_lookup``, ``benchmarks/calibrate_domain.py``).
    With few labels (``refit=None`` and fewer than 200 of either class) the
    base model's weights are kept and only its operating points are chosen
    again on your pairs; with enough, the weights are refitted too (on one
    half of the lookups, then their operating points chosen on the other half).
    A base with an embedding head (``load_default_verifier(head=True, ...)``)
    keeps its head; a refit learns how much to trust it on your data (``head_scale``).
    Pass the result as ``SemanticCache(verifier=...)``.
    """
    from .embedders import resolve_embedder

    if isinstance(pairs, str | bytes) or not isinstance(pairs, Sequence):
        raise ArgumentTypeError(f"pairs must be a list of (text, text, label) tuples, got {describe(pairs)}")
    labels: list[bool] = []
    for i, item in enumerate(pairs):
        ok = isinstance(item, tuple | list) and len(item) == 3
        if not (ok and isinstance(item[0], str) and isinstance(item[1], str)):
            raise ArgumentTypeError(f"pairs[{i}] must be (str, str, label), got {describe(item)}")
        check_prompt(item[0], f"pairs[{i}][0]")  # (as a cache takes them: no blank prompt is cached)
        check_prompt(item[1], f"pairs[{i}][1]")
        labels.append(_check_label(item[2], i))
    if refit is not None and not isinstance(refit, bool | np.bool_):
        raise ArgumentTypeError(f"refit must be None, True or False, got {describe(refit)}")
    if base is not None and not isinstance(base, CalibratedVerifier):
        raise ArgumentTypeError(
            f"base must be None or a CalibratedVerifier (load_default_verifier(), a calibrate() result), "
            f"got {describe(base)}"
        )
    pairs = [(a, b, label) for (a, b, _), label in zip(pairs, labels, strict=True)]
    positives = sum(labels)
    negatives = len(pairs) - positives
    if positives < 10 or negatives < 10:
        raise InvalidArgumentError(
            f"calibrate needs at least 10 pairs of each label, got {positives} positive and {negatives} negative"
        )
    target_precision = _check_unit(target_precision, "target_precision", open_interval=True)
    if points not in ("pairs", "lookups"):
        raise InvalidArgumentError(f"points must be 'pairs' or 'lookups', got {describe(points)}")
    emb = resolve_embedder(embedder)
    if base is None:
        base = load_default_verifier(target_precision)
    x, y, cos, head_term, views = _pair_features(pairs, emb, base)
    do_refit = refit if refit is not None else min(positives, negatives) >= 200
    nonpos = [FEATURE_NAMES.index(f) for f in MISMATCH_FEATURES]
    priors = {FEATURE_NAMES.index(f): v for f, v in FLAG_PRIORS.items()}
    # the head's term is one more column, its weight the head's scale
    xh = np.column_stack([x, head_term])
    pick = np.arange(len(pairs))
    lookups = lookup_ids([p[0] for p in pairs])
    if do_refit:
        order = np.random.default_rng(0).permutation(int(lookups.max()) + 1)
        # weights from one half of the lookups, operating points from the other: the
        # points then describe exactly the model that ships
        in_fit = np.zeros(len(order), dtype=bool)
        in_fit[order[: len(order) // 2]] = True
        fit_idx, pick = np.nonzero(in_fit[lookups])[0], np.nonzero(~in_fit[lookups])[0]
        for half, name in ((fit_idx, "the weights"), (pick, "the points")):
            if not 0 < int(y[half].sum()) < len(half):  # (a fit on one label gives no model)
                raise InvalidArgumentError(
                    f"refit needs pairs of both labels in each half of the lookups (distinct first texts: "
                    f"{int(lookups.max()) + 1}); the half for {name} has {int(y[half].sum())} positive "
                    f"of {len(half)}. Label more queries, or pass refit=False"
                )
        fixed = {len(FEATURE_NAMES): 0.0} if base.head is None else None
        wh = fit_logistic(xh[fit_idx], y[fit_idx], l2=1e-4, nonpositive=nonpos, upper=priors, fixed=fixed)
    else:
        wh = np.append(base._w, base.head_scale)  # type: ignore[attr-defined]
    # points on the probability decide() computes (the swap prior and the guard included)
    model = replace(base, weights=tuple(float(v) for v in wh[:-1]), head_scale=float(wh[-1]))
    scores = np.array([model.probability(a, b, c, u, v) for (a, b, u, v), c in zip(views, cos.tolist(), strict=True)])
    per = "points per pair"
    if points == "lookups":  # on what the cache would serve, bounded where the answer is not cached
        chosen, fell = points_per_lookup(scores[pick], y[pick], lookups[pick], TARGET_GRID, min_hits=10)
        per = "points per lookup"
        at = target_read(chosen, target_precision)
        if at in fell:
            warnings.warn(
                f"calibrate: too few labelled queries without a right candidate to bound how often such a "
                f"query is served at target {at} (it needs {_unanswered_needed(at)} "
                "among the lookups that choose the points); its point is chosen per pair (cautious). Label "
                "lookups whose answer was not cached too.",
                UserWarning,
                stacklevel=2,
            )
            per = "points per lookup, per pair at this target"
    else:  # every pair as if it were served (cautious: every wrong candidate counts)
        chosen = operating_points(scores[pick], y[pick], TARGET_GRID, min_hits=10)
    lowest = _lowest_accepted(scores, cos, min((t for _, t in chosen), default=-math.inf))
    floor = max(0.0, (0.5 if lowest is None else lowest) - FLOOR_MARGIN)
    floor = min(floor, base.floor) if not do_refit else floor
    return CalibratedVerifier(
        weights=tuple(float(v) for v in wh[:-1]),
        points=tuple(chosen),
        floor=floor,
        target_precision=target_precision,
        idf=base.idf,
        long_words=base.long_words,
        source=f"calibrated on {len(pairs)} pairs ({'refitted' if do_refit else 'operating points only'}, {per})",
        head=base.head,
        head_scale=float(wh[-1]) if base.head is not None else 1.0,
        cosine_floors=cosine_floors(scores, cos, chosen) if base.head is not None else (),
        served_cosines=served_minima(scores, cos, chosen) if base.head is not None else (),
    )
