"""Training checkpoints: a model file (:mod:`models.model_file`) plus what resuming needs.

A checkpoint holds the model file's ``format``, ``class``, ``config.*`` and ``param.*`` entries
(so ``models.load`` reads it), and two more groups that the model ignores:

* ``optim.<k>`` — the arrays of the optimizer's ``state_dict()`` (Adam's moments, ...);
* ``meta.checkpoint`` — one JSON string: the step count, the structure of the optimizer state
  (any nesting of dicts, lists, tuples and scalars, with references to the ``optim`` arrays),
  the vocabulary of a character model and free-form metadata (the training settings and the
  seed: batches are keyed by ``(seed, step)``, so those two are the whole RNG state).

A plain model file (``model.save``) reads as a checkpoint at step 0 without optimizer state,
vocabulary or metadata. Reading is bounded (see :func:`models._io.load_npz`) and every
malformed entry raises ``ValueError`` naming the path and the entry.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data import CharVocab
from .model_file import build_model, read_model_file, write_model_file

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint"]

VERSION = 1
META_KEY = "meta.checkpoint"
MAX_META_CHARS = 1 << 24  # the JSON entry: settings, vocabulary, optimizer skeleton


@dataclass
class Checkpoint:
    """The contents of a checkpoint file, with the model rebuilt.

    ``has_training_state`` is False for a plain model file (step 0, nothing else stored)."""

    model: Any
    step: int
    optimizer_state: Any = None
    vocab: CharVocab | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    has_training_state: bool = True


# --------------------------------------------------------------------------- nested state <-> JSON


def _encode(obj: Any, arrays: dict[str, np.ndarray], prefix: str) -> Any:
    """JSON-able skeleton of ``obj``; its arrays (and NumPy scalars) move to ``arrays``."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return {"__float__": repr(obj)}  # exact, and NaN/inf survive strict JSON
    if isinstance(obj, (np.ndarray, np.generic)):
        arr = np.asarray(obj)
        if arr.dtype.hasobject:
            raise TypeError("checkpoint: object arrays cannot be stored without pickle")
        key = f"{prefix}{len(arrays)}"
        arrays[key] = arr
        return {"__array__": key, "scalar": isinstance(obj, np.generic)}
    if isinstance(obj, list):
        return [_encode(v, arrays, prefix) for v in obj]
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays, prefix) for v in obj]}
    if isinstance(obj, Mapping):
        return {"__items__": [[_encode(k, arrays, prefix), _encode(v, arrays, prefix)]
                              for k, v in obj.items()]}
    if hasattr(obj, "data") and isinstance(getattr(obj, "data", None), np.ndarray):
        return _encode(obj.data, arrays, prefix)  # a Tensor: keep its values
    raise TypeError(f"checkpoint: cannot store a {type(obj).__name__} in optimizer state")


def _decode(obj: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """Inverse of :func:`_encode`; ValueError for a reference to a missing array."""
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if "__float__" in obj:
            return float(obj["__float__"])
        if "__array__" in obj:
            if obj["__array__"] not in arrays:
                raise ValueError(f"the optimizer state refers to a missing entry "
                                 f"{obj['__array__']!r}")
            arr = arrays[obj["__array__"]]
            return arr[()] if obj.get("scalar") else arr
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
        if "__items__" in obj:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["__items__"]}
        raise ValueError(f"unknown entry {sorted(obj)!r} in the stored optimizer state")
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_meta(where: str, entry: np.ndarray) -> dict[str, Any]:
    """The JSON of ``meta.checkpoint``: bounded, strict (no NaN/Infinity), an object."""
    if entry.shape != () or entry.dtype.kind != "U":
        raise ValueError(f"{where}: {META_KEY} must be one string; got shape {entry.shape}, "
                         f"dtype {entry.dtype}")
    text = str(entry)
    if len(text) > MAX_META_CHARS:
        raise ValueError(f"{where}: {META_KEY} has {len(text):,} characters (at most "
                         f"{MAX_META_CHARS:,})")
    try:
        header = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"{where}: {META_KEY} is nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"{where}: {META_KEY} is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{where}: {META_KEY} must be a JSON object")
    if header.get("version") != VERSION:
        raise ValueError(f"{where} has checkpoint version {header.get('version')!r}; this "
                         f"minigrad reads version {VERSION}")
    return header


def _fields(where: str, header: dict[str, Any], arrays: Mapping[str, np.ndarray]
            ) -> tuple[int, Any, CharVocab | None, dict[str, Any]]:
    """(step, optimizer state, vocabulary, meta) of a parsed header, each checked."""
    step = header.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"{where}: the step must be an integer >= 0; got {step!r}")
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: the metadata must be a JSON object; got {type(meta).__name__}")
    chars = header.get("vocab")
    try:
        vocab = None if chars is None else CharVocab(tuple(chars))
        opt_state = _decode(header["optimizer"], arrays) if header.get("optimizer") else None
    except RecursionError:
        raise ValueError(f"{where}: the optimizer state is nested too deeply") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: incomplete or inconsistent checkpoint ({exc})") from None
    return step, opt_state, vocab, meta


# --------------------------------------------------------------------------- save / load


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Any,
    *,
    step: int,
    optimizer: Any = None,
    vocab: CharVocab | None = None,
    meta: Mapping[str, Any] | None = None,
) -> None:
    """Write ``model``, ``optimizer.state_dict()``, ``step``, ``vocab`` and the JSON-able
    ``meta`` to ``path`` atomically (the exact path: no suffix is added)."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"save_checkpoint: step must be an integer >= 0; got {step!r}")
    arrays: dict[str, np.ndarray] = {}
    opt_state = None if optimizer is None else _encode(optimizer.state_dict(), arrays, "optim.")
    header = {"version": VERSION, "step": step, "optimizer": opt_state,
              "vocab": None if vocab is None else list(vocab.chars), "meta": dict(meta or {})}
    arrays[META_KEY] = np.array(json.dumps(header, allow_nan=False, ensure_ascii=False))
    write_model_file(path, model, arrays, "the checkpoint")


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (or a plain model file) and rebuild
    its model.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for anything unreadable,
    corrupt or inconsistent (parameters that do not fit the stored config, a vocabulary that
    does not fit the model's input size, a negative step, ...).
    """
    where = os.fspath(path)
    mf = read_model_file(where, "minigrad checkpoint or model file")
    model = build_model(mf, where)
    if META_KEY not in mf.extra:
        if mf.extra:
            raise ValueError(f"{where}: entries {sorted(mf.extra)} without {META_KEY}")
        return Checkpoint(model=model, step=0, has_training_state=False)
    header = _parse_meta(where, mf.extra[META_KEY])
    step, opt_state, vocab, meta = _fields(where, header, mf.extra)
    if vocab is not None and vocab.size != model.n_x:
        raise ValueError(f"{where}: vocabulary of {vocab.size} characters but model "
                         f"n_x = {model.n_x}")
    return Checkpoint(model=model, step=step, optimizer_state=opt_state, vocab=vocab, meta=meta)
