"""The model file: what ``model.save`` and ``minigrad train --checkpoint`` write, and what
``models.load``, ``minigrad train --resume`` and ``minigrad sample`` read.

An ``.npz`` archive (written atomically, read with bounded sizes and never unpickled) holding

* ``format`` (``FORMAT``) and ``class`` (the model's kind, e.g. ``"LSTM"``);
* ``config.<name>`` scalars: the constructor's hyper-parameters (``None`` values left out);
* ``param.<name>`` arrays in SPEC.md's names and shapes;
* optionally more groups that the model itself ignores: a training checkpoint adds the
  optimizer's arrays as ``optim.<k>`` and its step, vocabulary and settings as ``meta.<k>``
  (see :mod:`models.checkpoint`). So a checkpoint is a model file, and a model file is a
  checkpoint at step 0 without optimizer state.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._io import atomic_savez, load_npz

if TYPE_CHECKING:  # pragma: no cover
    from .recurrent import RecurrentModel

__all__ = ["EXTRA_GROUPS", "FORMAT", "ModelFile", "build_model", "read_model",
           "read_model_file", "write_model_file"]

FORMAT = "minigrad.models/1"
EXTRA_GROUPS = ("optim", "meta")


@dataclass
class ModelFile:
    """The entries of a model file, checked for form but not yet built into a model."""

    kind: str
    config: dict[str, Any]
    params: dict[str, np.ndarray]
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # "optim.*", "meta.*" entries


def write_model_file(path: str | os.PathLike[str], model: RecurrentModel,
                     extra: Mapping[str, np.ndarray] | None = None,
                     what: str = "the model file") -> None:
    """Write ``model`` (and ``extra`` entries, each key in an ``EXTRA_GROUPS`` group) to
    ``path`` atomically; the exact path is used (no suffix is added)."""
    arrays: dict[str, np.ndarray] = {"format": np.array(FORMAT), "class": np.array(model.kind)}
    for key, value in model.config().items():
        if value is not None:
            arrays[f"config.{key}"] = np.array(value)
    for name, p in model.parameters().items():
        arrays[f"param.{name}"] = p.data
    for key, value in (extra or {}).items():
        if key.partition(".")[0] not in EXTRA_GROUPS:
            raise ValueError(f"write_model_file: extra entry {key!r} must start with one of "
                             f"{[g + '.' for g in EXTRA_GROUPS]}")
        arrays[key] = value
    atomic_savez(path, arrays, what)


def _scalar_str(entries: dict[str, np.ndarray], key: str) -> str | None:
    value = entries.pop(key, None)
    if value is None or value.shape != () or value.dtype.kind != "U":
        return None
    return str(value)


def read_model_file(path: str | os.PathLike[str],
                    what: str = "minigrad model file") -> ModelFile:
    """The checked entries of the model file at ``path``; ``ValueError`` naming the path if it
    is unreadable or not a model file (``FileNotFoundError`` if missing)."""
    where = os.fspath(path)
    entries = load_npz(where, what)
    fmt = _scalar_str(entries, "format")
    if fmt != FORMAT:
        raise ValueError(f"{where}: not a {what} (format entry {fmt!r}, expected {FORMAT!r})")
    kind = _scalar_str(entries, "class")
    if kind is None:
        raise ValueError(f"{where}: the class entry (a model kind such as 'LSTM') is missing")
    config, params, extra = {}, {}, {}
    for key, value in entries.items():
        group, _, name = key.partition(".")
        if group == "config" and value.shape == () and value.dtype.kind in "biufU":
            config[name] = value.item()
        elif group == "param" and value.dtype.kind == "f":
            params[name] = value
        elif group in EXTRA_GROUPS:
            extra[key] = value
        else:
            raise ValueError(f"{where}: unexpected entry {key!r} (shape {value.shape}, "
                             f"dtype {value.dtype})")
    return ModelFile(kind, config, params, extra)


def _check_sizes(where: str, kind: str, config: dict[str, Any],
                 params: dict[str, np.ndarray]) -> None:
    """Before building: n_x, n_a, n_y are positive ints whose smallest model (one gate) has no
    more entries than the file holds, so a forged config cannot allocate more than the file."""
    dims = {}
    for name in ("n_x", "n_a", "n_y"):
        value = config.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{where}: bad {kind} hyper-parameters: config.{name} must be a "
                             f"positive integer; got {value!r}")
        dims[name] = value
    n_x, n_a, n_y = dims["n_x"], dims["n_a"], dims["n_y"]
    least = n_a * (n_a + n_x + 1) + n_y * (n_a + 1)
    held = sum(p.size for p in params.values())
    if least > held:
        raise ValueError(f"{where}: config n_x={n_x}, n_a={n_a}, n_y={n_y} needs at least "
                         f"{least:,} parameter entries; the file holds {held:,}")


def build_model(mf: ModelFile, path: str | os.PathLike[str],
                expect: type[RecurrentModel] | None = None) -> RecurrentModel:
    """The model described by ``mf``, after checking its class (a registered one, and
    ``expect`` or a subclass if given), its sizes, and its parameters' names, shapes, dtypes."""
    from .recurrent import model_class

    where = os.fspath(path)
    try:
        cls = model_class(mf.kind)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if expect is not None and not issubclass(cls, expect):
        raise ValueError(f"{where} holds a {mf.kind}, not a {expect.kind}; "
                         f"use {mf.kind}.load or models.load")
    _check_sizes(where, mf.kind, mf.config, mf.params)
    try:
        model = cls(**mf.config)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{where}: bad {mf.kind} hyper-parameters {mf.config}: {exc}") from exc
    shapes = model.parameter_shapes()
    missing, extra = set(shapes) - set(mf.params), set(mf.params) - set(shapes)
    if missing or extra:
        raise ValueError(f"{where}: {model!r} needs parameters {list(shapes)}; the file lacks "
                         f"{sorted(missing)} and has unexpected {sorted(extra)}")
    for name, shape in shapes.items():
        got = mf.params[name]
        if got.shape != tuple(shape):
            raise ValueError(f"{where}: {name} must be {tuple(shape)} for {model!r}; "
                             f"got {got.shape}")
        if got.dtype != model.dtype:
            raise ValueError(f"{where}: {name} has dtype {got.dtype}; the config says "
                             f"{model.dtype.name}")
    model.load_state_dict(mf.params)
    return model


def read_model(path: str | os.PathLike[str],
               expect: type[RecurrentModel] | None = None) -> RecurrentModel:
    """Read and build the model stored at ``path`` (a model file or a checkpoint)."""
    return build_model(read_model_file(path), path, expect)
