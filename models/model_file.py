"""The model file: what ``RecurrentModel.save`` writes and ``models.load`` reads.

An ``.npz`` archive (written atomically, read with ``allow_pickle=False``) holding ``format``
(``FORMAT``), ``class`` (the model's kind), ``config.<name>`` scalars (the constructor's
hyper-parameters) and ``param.<name>`` arrays in SPEC.md's names and shapes.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np

from ._io import load_npz

if TYPE_CHECKING:  # pragma: no cover
    from .recurrent import RecurrentModel

__all__ = ["FORMAT", "build_model", "read_model_file"]

FORMAT = "minigrad.models/1"


def read_model_file(path: str | os.PathLike, known: Collection[str]
                    ) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
    """Read a model file into (class name, config, parameters); ValueError if it is unreadable
    or holds a class not in ``known``."""
    where = os.fspath(path)
    entries = load_npz(where, "minigrad model file")
    fmt = entries.pop("format", None)
    if fmt is None or fmt.shape != () or str(fmt) != FORMAT:
        raise ValueError(f"{where}: not a minigrad model file (format entry {fmt!r}, "
                         f"expected {FORMAT!r})")
    kind = entries.pop("class", None)
    if kind is None or kind.shape != () or str(kind) not in known:
        raise ValueError(f"{where}: unknown model class {kind!r}; expected one of "
                         f"{sorted(known)}")
    config, params = {}, {}
    for key, value in entries.items():
        group, _, name = key.partition(".")
        if group == "config" and value.shape == ():
            config[name] = value.item()
        elif group == "param":
            params[name] = value
        else:
            raise ValueError(f"{where}: unexpected entry {key!r} (shape {value.shape})")
    return str(kind), config, params


def build_model(cls: type[RecurrentModel], path: Any, config: dict[str, Any],
                params: dict[str, np.ndarray]) -> RecurrentModel:
    """``cls(**config)`` with ``params`` loaded, after checking names, shapes and dtypes."""
    where = os.fspath(path)
    try:
        model = cls(**config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: bad {cls.kind} hyper-parameters {config}: {exc}") from exc
    shapes = model.parameter_shapes()
    missing, extra = set(shapes) - set(params), set(params) - set(shapes)
    if missing or extra:
        raise ValueError(f"{where}: {model!r} needs parameters {list(shapes)}; the file lacks "
                         f"{sorted(missing)} and has unexpected {sorted(extra)}")
    for name, shape in shapes.items():
        got = params[name]
        if got.shape != shape:
            raise ValueError(f"{where}: {name} must be {shape} for {model!r}; got {got.shape}")
        if got.dtype != model.dtype:
            raise ValueError(f"{where}: {name} has dtype {got.dtype}; the config says "
                             f"{model.dtype.name}")
    model.load_state_dict(params)
    return model
