"""Data for the training demos: the adding problem and a character corpus.

Everything here is NumPy only (no minigrad), so it can be tested and reused on its own.

* :func:`adding_problem` — the long-range memory benchmark of Hochreiter & Schmidhuber (1997),
  in the form used by Arjovsky, Shah & Bengio (2016), laid out as ``(n_x, m, T_x)`` sequences.
* :func:`load_corpus` / :class:`CharVocab` / :func:`char_batch` — a character-level corpus that
  needs no download: by default the English prose of Python's own documentation topics, which
  ships with every CPython in ``pydoc_data/topics.py`` (Python 3.11.7: 465,048 characters,
  466 KB of UTF-8, 103 distinct characters; the exact text follows the running Python version).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ADDING_BASELINE_MSE",
    "DEFAULT_CORPUS_NAME",
    "CharVocab",
    "adding_problem",
    "batch_rng",
    "char_batch",
    "default_corpus",
    "load_corpus",
    "one_hot",
    "split_ids",
    "unigram_entropy",
]

#: MSE of always predicting 1 on the adding problem: the target is ``u1 + u2`` with
#: ``u1, u2 ~ U[0, 1]`` independent, so ``E[(u1 + u2 - 1)^2] = Var(u1 + u2) = 2/12 = 1/6``.
ADDING_BASELINE_MSE: float = 1.0 / 6.0

#: Human-readable name of the default corpus (printed by the CLI).
DEFAULT_CORPUS_NAME = "pydoc_data.topics (Python's documentation topics, ships with CPython)"

SeedLike = int | Sequence[int] | np.random.Generator | None


def _rng(seed: SeedLike) -> np.random.Generator:
    """A Generator from a seed, a sequence of ints (hashed by SeedSequence) or a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def batch_rng(seed: int, step: int, stream: int = 0) -> np.random.Generator:
    """The generator for batch number ``step`` of a run seeded with ``seed``.

    Keying every batch by ``(seed, step, stream)`` makes a run resumable exactly from its step
    count alone: batch ``k`` is the same whether the run was interrupted before it or not.
    ``stream`` separates independent uses (training batches, printed samples, ...).
    """
    if seed < 0 or step < 0 or stream < 0:
        raise ValueError(f"batch_rng: need seed, step, stream >= 0, got {seed}, {step}, {stream}")
    return np.random.default_rng([seed, step, stream])


# --------------------------------------------------------------------------- adding problem


def adding_problem(
    n: int, T: int, seed: SeedLike = None, dtype: type = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` examples of the adding problem with sequences of length ``T``.

    Returns ``(x, y)``: ``x`` has shape ``(2, n, T)``; ``x[0]`` holds values drawn from U[0, 1] and
    ``x[1]`` is a mask with exactly two ones per example, one at a position in the first half
    ``[0, T/2)`` and one in the second half ``[T/2, T)`` (for odd ``T`` the middle position
    ``(T-1)/2`` belongs to the first half, since it is ``< T/2``). ``y`` has shape ``(1, n)`` and
    holds the sum of the two marked values. Predicting 1 always scores
    ``MSE = 1/6 ≈ 0.167`` (:data:`ADDING_BASELINE_MSE`).
    """
    if int(n) != n or n < 1:
        raise ValueError(f"adding_problem: n must be a positive integer, got {n!r}")
    if int(T) != T or T < 2:
        raise ValueError(f"adding_problem: T must be an integer >= 2 (two halves), got {T!r}")
    n, T = int(n), int(T)
    rng = _rng(seed)
    half = (T + 1) // 2  # first index with t >= T/2
    values = rng.uniform(0.0, 1.0, size=(n, T))
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, T, size=n)
    mask = np.zeros((n, T))
    rows = np.arange(n)
    mask[rows, first] = 1.0
    mask[rows, second] = 1.0
    x = np.stack([values, mask]).astype(dtype, copy=False)
    y = (values[rows, first] + values[rows, second]).reshape(1, n).astype(dtype, copy=False)
    return x, y


# --------------------------------------------------------------------------- character corpus


def default_corpus() -> str:
    """The default corpus: every topic of ``pydoc_data.topics``, by name, blank-line separated.

    Raises ``RuntimeError`` if this Python was installed without ``pydoc_data`` (some trimmed
    distributions); pass a UTF-8 file with ``--corpus`` then.
    """
    try:
        from pydoc_data.topics import topics
    except ImportError as exc:  # pragma: no cover - only on trimmed Python installations
        raise RuntimeError(
            "the default corpus needs the standard-library module pydoc_data, which this Python "
            "lacks; pass any UTF-8 text file instead (e.g. --corpus book.txt)"
        ) from exc
    return "\n\n".join(topics[name].strip("\n") for name in sorted(topics)) + "\n"


def load_corpus(path: str | os.PathLike[str] | None = None) -> str:
    """The text of the UTF-8 file at ``path``, or :func:`default_corpus` when ``path`` is None.

    Raises ``ValueError`` for a file that is not UTF-8 or holds fewer than 2 characters.
    """
    if path is None:
        return default_corpus()
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise ValueError(f"corpus {os.fspath(path)!r} is not valid UTF-8 text ({exc})") from exc
    if len(text) < 2:
        raise ValueError(f"corpus {os.fspath(path)!r} has {len(text)} characters; need at least 2")
    return text


@dataclass(frozen=True)
class CharVocab:
    """A character vocabulary: ids ``0 .. size-1`` for ``chars`` in order.

    ``CharVocab.from_text(text)`` sorts the distinct characters by code point, so the same text
    always gives the same ids.
    """

    chars: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        chars = tuple(self.chars)
        if not chars:
            raise ValueError("CharVocab: the vocabulary is empty")
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError("CharVocab: every entry must be a single character")
        if len(set(chars)) != len(chars):
            raise ValueError("CharVocab: characters must be distinct")
        object.__setattr__(self, "chars", chars)
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(chars)})

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The vocabulary of every distinct character of ``text``, sorted by code point."""
        return cls(tuple(sorted(set(text))))

    @property
    def size(self) -> int:
        """Number of characters (``n_x = n_y`` of a character model)."""
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, ch: object) -> bool:
        return ch in self._index

    def encode(self, text: str) -> np.ndarray:
        """Token ids (int64 array of ``len(text)``); ``ValueError`` names any unknown characters."""
        try:
            return np.fromiter((self._index[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError:
            unknown = sorted({c for c in text if c not in self._index})
            shown = ", ".join(repr(c) for c in unknown[:10])
            raise ValueError(
                f"text contains {len(unknown)} character(s) outside the vocabulary of "
                f"{self.size}: {shown}"
            ) from None

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        """The text of a sequence of token ids."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= self.size):
            raise ValueError(f"token ids must be in [0, {self.size}), got {ids.min()}..{ids.max()}")
        return "".join(self.chars[i] for i in ids)


def unigram_entropy(ids: np.ndarray, vocab_size: int | None = None) -> float:
    """Entropy in nats of the character frequencies: ``H = -Σ_c p_c log p_c``.

    This is the cross-entropy per character of the best model that ignores context, the
    baseline a language model must beat.
    """
    ids = np.asarray(ids).ravel()
    if ids.size == 0:
        raise ValueError("unigram_entropy: no tokens")
    counts = np.bincount(ids, minlength=vocab_size or 0)
    p = counts[counts > 0] / ids.size
    return float(-(p * np.log(p)).sum())


def split_ids(
    ids: np.ndarray, val_fraction: float = 0.05, min_len: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Split a token stream into a training head and a held-out tail of ``val_fraction``.

    The tail is empty when the corpus is too short to spare ``min_len`` tokens for it.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    n_val = int(math.floor(len(ids) * val_fraction))
    if n_val < min_len or len(ids) - n_val < min_len:
        return ids, ids[:0]
    return ids[: len(ids) - n_val], ids[len(ids) - n_val :]


def char_batch(
    ids: np.ndarray, m: int, T: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A batch of ``m`` random windows of the token stream ``ids``.

    Returns ``(x, y)``, both int64 of shape ``(m, T_x)`` with ``T_x = T``: ``x[i]`` is
    ``ids[s_i : s_i + T]`` and ``y[i]`` the next characters ``ids[s_i + 1 : s_i + T + 1]``, for
    start offsets ``s_i`` drawn uniformly. If the stream is shorter than ``T + 1``, the windows are
    shortened to the whole stream.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1 or len(ids) < 2:
        raise ValueError(f"char_batch: need a 1-D stream of >= 2 tokens, got shape {ids.shape}")
    if m < 1 or T < 1:
        raise ValueError(f"char_batch: batch size and length must be >= 1, got m={m}, T={T}")
    T = min(T, len(ids) - 1)
    starts = rng.integers(0, len(ids) - T, size=m)
    idx = starts[:, None] + np.arange(T)[None, :]
    return ids[idx], ids[idx + 1]


def one_hot(ids: np.ndarray, n: int, dtype: type = np.float64) -> np.ndarray:
    """One-hot encoding in the project's layout: ids ``(m, T_x)`` -> ``(n, m, T_x)``.

    ``out[k, i, t] = 1`` iff ``ids[i, t] == k`` (the class axis comes first, like ``n_x``).
    """
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        raise ValueError(f"one_hot: ids must lie in [0, {n}), got {ids.min()}..{ids.max()}")
    out = np.zeros((n, *ids.shape), dtype=dtype)
    np.put_along_axis(out, ids[None].astype(np.intp), 1, axis=0)
    return out
