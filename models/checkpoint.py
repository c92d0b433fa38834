"""Training checkpoints: one ``.npz`` file with everything needed to resume a run exactly.

A checkpoint holds

* the model: its ``config()`` (JSON) and every parameter (``param/<name>`` arrays);
* the optimizer's ``state_dict()`` (any nesting of dicts, lists, tuples, scalars and arrays:
  the structure is stored as JSON, the arrays as ``opt/<k>`` entries);
* the step count, the vocabulary of a character model, and free-form metadata (the training
  settings, the seed: batches are keyed by ``(seed, step)``, so those two are the whole RNG state).

Files are written atomically by :func:`models._io.atomic_savez` (a temporary file in the same
directory, then ``os.replace``), so an interrupted save never leaves a half-written checkpoint
behind, and read by :func:`models._io.load_npz` (``allow_pickle=False``). Any unreadable,
corrupt or inconsistent file raises ``ValueError`` with the path and the reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models._io import atomic_savez, load_npz
from models.data import CharVocab

__all__ = ["FORMAT", "VERSION", "Checkpoint", "load_checkpoint", "model_from_config",
           "save_checkpoint"]

FORMAT = "minigrad-checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    """The contents of a checkpoint file, with the model rebuilt."""

    model: Any
    step: int
    optimizer_state: Any = None
    vocab: CharVocab | None = None
    meta: dict[str, Any] = field(default_factory=dict)


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
    """Inverse of :func:`_encode`."""
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if "__float__" in obj:
            return float(obj["__float__"])
        if "__array__" in obj:
            arr = arrays[obj["__array__"]]
            return arr[()] if obj.get("scalar") else arr
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
        if "__items__" in obj:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["__items__"]}
        raise ValueError(f"unknown entry {sorted(obj)!r} in the stored optimizer state")
    return obj


# --------------------------------------------------------------------------- models


def model_from_config(kind: str, config: Mapping[str, Any]) -> Any:
    """A freshly initialised model: class ``kind`` ("RNN", "GRU", "LSTM") built with ``config``."""
    import models

    cls = getattr(models, str(kind), None)
    if not (isinstance(cls, type) and issubclass(cls, models.RecurrentModel)):
        raise ValueError(f"unknown model class {kind!r}; expected RNN, GRU or LSTM")
    return cls(**config)


def _parameters(model: Any) -> dict[str, Any]:
    params = model.parameters()
    return dict(params.items() if isinstance(params, Mapping) else params)


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
    """Write ``model`` (config + parameters), ``optimizer.state_dict()``, ``step``, ``vocab`` and
    the JSON-able ``meta`` to ``path`` atomically (the exact path: no suffix is added)."""
    arrays: dict[str, np.ndarray] = {}
    for name, p in _parameters(model).items():
        arrays[f"param/{name}"] = np.asarray(getattr(p, "data", p))
    opt_state = None if optimizer is None else _encode(optimizer.state_dict(), arrays, "opt/")
    header = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(step),
        "kind": type(model).kind,
        "config": model.config(),
        "param_names": [k[len("param/"):] for k in arrays if k.startswith("param/")],
        "optimizer": opt_state,
        "has_optimizer": optimizer is not None,
        "vocab": None if vocab is None else list(vocab.chars),
        "meta": dict(meta or {}),
    }
    arrays["header"] = np.array(json.dumps(header, allow_nan=False, ensure_ascii=False))
    atomic_savez(path, arrays, "the checkpoint")


def _read(path: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Header and arrays of a checkpoint file; every failure becomes a ``ValueError``."""
    arrays = load_npz(path, "minigrad checkpoint")
    if "header" not in arrays:
        raise ValueError(f"{path!r} is not a minigrad checkpoint (no header entry)")
    try:
        header = json.loads(str(arrays.pop("header")[()]))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path!r}: the checkpoint header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a minigrad checkpoint (format tag missing)")
    if header.get("version") != VERSION:
        raise ValueError(
            f"{path!r} has checkpoint version {header.get('version')!r}; this minigrad reads "
            f"version {VERSION}"
        )
    return header, arrays


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` and rebuild its model.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for anything unreadable,
    corrupt or inconsistent (parameter names or shapes that do not fit the stored config, a
    vocabulary that does not fit the model's input size).
    """
    path = os.fspath(path)
    header, arrays = _read(path)
    try:
        step = int(header["step"])
        config = header["config"]
        names = list(header["param_names"])
        meta = dict(header.get("meta") or {})
        vocab = None if header.get("vocab") is None else CharVocab(tuple(header["vocab"]))
        opt_state = (
            _decode(header["optimizer"], arrays) if header.get("has_optimizer") else None
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r}: incomplete or inconsistent checkpoint ({exc!r})") from exc
    try:
        model = model_from_config(header.get("kind"), config)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r}: cannot rebuild the model from its config {config!r}: {exc}") \
            from exc
    params = _parameters(model)
    if list(params) != names:
        raise ValueError(
            f"{path!r}: stored parameters {names} do not match the model's {list(params)}"
        )
    try:
        model.load_state_dict({name: arrays[f"param/{name}"] for name in names})
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path!r}: parameters do not fit {model!r}: {exc}") from exc
    n_x = config.get("n_x") if isinstance(config, Mapping) else None
    if vocab is not None and n_x is not None and vocab.size != n_x:
        raise ValueError(f"{path!r}: vocabulary of {vocab.size} characters but model n_x = {n_x}")
    return Checkpoint(model=model, step=step, optimizer_state=opt_state, vocab=vocab, meta=meta)
