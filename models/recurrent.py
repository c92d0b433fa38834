"""The one time loop shared by the RNN, the GRU and the LSTM, and their common base class.

A cell (``rnn.py``, ``gru.py``, ``lstm.py``) writes one line of code per equation of SPEC.md; this
module does everything around it: parameters, input checking, token ids, the unrolled loop, the
output layer ŷ⟨t⟩ = g(W_y a⟨t⟩ + b_y), and saving/loading. Backpropagation through time is not
written anywhere: the loop records minigrad ops on the tape and ``backward`` replays them.

How the loop evaluates ``W [a⟨t-1⟩; x⟨t⟩] + b``. By the notes' block-matrix identity,

    W [a; x] = [W_a· | W_x·] [a; x] = W_a· a + W_x· x,

where ``W_a· = W[:, :n_a]`` (state columns) and ``W_x· = W[:, n_a:]`` (input columns). The input
half does not depend on the recurrence, so it is computed for all T_x steps at once (in chunks
of ``PROJECT_ELEMS`` per gate on long sequences, so that used projections are freed), bias included
(one matmul on ``(n_x, T_x·m)``, or for token ids one column gather ``W[:, n_a + ids]``, which is
the product with one-hot columns without building them); the cell receives it as ``px.<gate>``
and only multiplies the state half ``w.W_<gate><state> @ a⟨t-1⟩`` inside the loop. The output
layer likewise runs once on all the stacked a⟨t⟩ ``(n_a, T_x·m)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, ClassVar, NamedTuple

import numpy as np

import minigrad as mg
from minigrad import Tensor

from .model_file import read_model, write_model_file

OUTPUTS = ("sigmoid", "softmax", "linear")
PROJECT_ELEMS = 1 << 18  # elements per gate of the input projection done at once (2 MiB float64)
_DTYPES = {"float64": np.float64, "float32": np.float32}


class States(NamedTuple):
    """Hidden states returned by ``model(x, return_states=True)``.

    ``a`` is the list a⟨1⟩..a⟨T_x⟩ of ``(n_a, m)`` Tensors, each on the tape (so
    ``minigrad.grad(J, states.a)`` gives ∂J/∂a⟨t⟩); ``c`` the cell states c⟨1⟩..c⟨T_x⟩ for the
    GRU (the same Tensors as ``a``, since a⟨t⟩ = c⟨t⟩) and the LSTM, and ``None`` for the RNN.
    """

    a: list[Tensor]
    c: list[Tensor] | None


class _Sequence(NamedTuple):
    """A checked input sequence: dense columns ``(n_x, T_x·m)`` (time-major) or flat token ids."""

    dense: Tensor | None
    ids: np.ndarray | None
    m: int
    T: int
    source: Any = None  # x as the fused path takes it: (n_x, m, T_x) Tensor/array, or ids (m, T_x)




def _split_steps(z: Tensor, T: int) -> list[Tensor]:
    """Cut the time-major ``(n, T_x·m)`` into T_x pieces ``(n, m)`` (one split record)."""
    return [z] if T == 1 else mg.split(z, T, axis=1)


def _positive_int(kind: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{kind}: {name} must be a positive integer; got {value!r}")
    return int(value)


class RecurrentModel:
    """Base class: a recurrent layer (n_x → n_a) followed by a dense output layer (n_a → n_y).

    Subclasses set ``kind``, ``gates`` (the letters g of the recurrent weights W_g, b_g, in the
    notes' parameter order), ``state`` (the letter of the state the cell multiplies: ``a`` or
    ``c``), ``has_cell_state``, and write ``cell``. All parameters are drawn from
    U(−1/√n_a, 1/√n_a) (PyTorch's initialisation) with ``numpy.random.default_rng(seed)``, in
    ``parameters()`` order.
    """

    kind: ClassVar[str] = "RecurrentModel"
    gates: ClassVar[tuple[str, ...]] = ()
    state: ClassVar[str] = "a"
    has_cell_state: ClassVar[bool] = False

    def __init__(self, n_x: int, n_a: int, n_y: int, *, output: str = "sigmoid",
                 seed: int | None = None, dtype: Any = np.float64, fused: bool = False) -> None:
        if not isinstance(fused, bool | np.bool_):
            raise ValueError(f"{self.kind}: fused must be a bool; got {fused!r}")
        self.fused = bool(fused)
        self.n_x = _positive_int(self.kind, "n_x", n_x)
        self.n_a = _positive_int(self.kind, "n_a", n_a)
        self.n_y = _positive_int(self.kind, "n_y", n_y)
        if output not in OUTPUTS:
            raise ValueError(f"{self.kind}: output must be one of {OUTPUTS}; got {output!r}")
        self.output = output
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
            raise ValueError(f"{self.kind}: seed must be an int or None; got {seed!r}")
        self.seed = None if seed is None else int(seed)
        name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
        if name not in _DTYPES:
            raise ValueError(f"{self.kind}: dtype must be float64 or float32; got {dtype!r}")
        self.dtype = np.dtype(_DTYPES[name])
        rng = np.random.default_rng(self.seed)
        k = 1.0 / np.sqrt(self.n_a)
        self._params: dict[str, Tensor] = {
            p: Tensor(rng.uniform(-k, k, size=shape).astype(self.dtype), requires_grad=True,
                      name=p)
            for p, shape in self.parameter_shapes().items()
        }

    # ---- parameters -------------------------------------------------------------------------
    def parameter_shapes(self) -> dict[str, tuple[int, int]]:
        """Name → shape in the notes' order: W_g (n_a, n_a+n_x), b_g (n_a, 1) per gate; W_y, b_y."""
        shapes: dict[str, tuple[int, int]] = {}
        for g in self.gates:
            shapes[f"W_{g}"] = (self.n_a, self.n_a + self.n_x)
            shapes[f"b_{g}"] = (self.n_a, 1)
        shapes["W_y"] = (self.n_y, self.n_a)
        shapes["b_y"] = (self.n_y, 1)
        return shapes

    def parameters(self) -> dict[str, Tensor]:
        """Ordered name → Tensor mapping (a new dict of the model's own Tensors)."""
        return dict(self._params)

    def __getattr__(self, name: str) -> Tensor:
        params = self.__dict__.get("_params", {})
        if name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def zero_grad(self) -> None:
        """Forget every parameter's accumulated gradient (``p.grad = None``)."""
        for p in self._params.values():
            p.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """Name → copy of each parameter's array."""
        return {name: p.data.copy() for name, p in self._params.items()}

    def load_state_dict(self, arrays: Any) -> None:
        """Copy arrays (a mapping name → array) into the parameters, in place, after checking."""
        names = set(arrays.keys())
        missing, extra = set(self._params) - names, names - set(self._params)
        if missing or extra:
            raise ValueError(f"{self.kind}: parameter names differ: missing {sorted(missing)}, "
                             f"unexpected {sorted(extra)}")
        for name, p in self._params.items():
            value = np.asarray(arrays[name])
            if value.shape != p.shape:
                raise ValueError(f"{self.kind}: {name} must be {p.shape}; got {value.shape}")
            if not np.issubdtype(value.dtype, np.floating):
                raise ValueError(f"{self.kind}: {name} must hold floats; got {value.dtype}")
        for name, p in self._params.items():
            p.data[...] = np.asarray(arrays[name])

    def config(self) -> dict[str, Any]:
        """The hyper-parameters: ``type(model)(**model.config())`` rebuilds the architecture."""
        return {"n_x": self.n_x, "n_a": self.n_a, "n_y": self.n_y, "output": self.output,
                "seed": self.seed, "dtype": self.dtype.name, "fused": self.fused}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "seed")
        return f"{self.kind}({args})"

    # ---- forward ----------------------------------------------------------------------------
    def __call__(self, x: Any, a0: Any = None, c0: Any = None, *,
                 return_states: bool = False) -> Tensor | tuple[Tensor, States]:
        """ŷ ``(n_y, m, T_x)`` for x ``(n_x, m, T_x)`` (array or Tensor) or token ids ``(m, T_x)``.

        ``a0``/``c0`` are the initial states ``(n_a, m)`` (zeros if omitted), arrays or Tensors.
        With ``return_states=True`` returns ``(ŷ, States(a=[a⟨1⟩..], c=[c⟨1⟩..] or None))``.
        """
        seq = self._check_input(x)
        a0, c0 = self._initial_states(a0, c0, seq.m)
        if self.fused:
            a_all, states = self._fused_recurrence(seq, a0, c0, return_states)
        else:
            a_list, c_list = self._recurrence(seq, a0, c0)
            a_all = mg.concat(a_list, axis=1) if seq.T > 1 else a_list[0]   # (n_a, T·m)
            states = States(a=a_list, c=c_list if self.has_cell_state else None)
        y_hat = self._output_layer(a_all, seq.m, seq.T)
        return (y_hat, states) if return_states else y_hat

    def forward(self, x: Any, a0: Any = None, c0: Any = None, *,
                return_states: bool = False) -> Tensor | tuple[Tensor, States]:
        """Same as calling the model."""
        return self(x, a0, c0, return_states=return_states)

    def cell(self, w: SimpleNamespace, px: SimpleNamespace, a_prev: Tensor,
             c_prev: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """One time step: (a⟨t-1⟩, c⟨t-1⟩) → (a⟨t⟩, c⟨t⟩). Written by each subclass."""
        raise NotImplementedError

    def _recurrence(self, seq: _Sequence, a0: Tensor, c0: Tensor | None
                    ) -> tuple[list[Tensor], list[Tensor | None]]:
        """The composed time loop: a⟨1⟩..a⟨T_x⟩ and c⟨1⟩..c⟨T_x⟩ (a fused path can replace this)."""
        w = self._state_blocks()
        px = self._project_inputs(seq)
        a, c = a0, c0
        a_list, c_list = [], []
        for px_t in px:
            a, c = self.cell(w, px_t, a, c)
            a_list.append(a)
            c_list.append(c)
        return a_list, c_list

    def _fused_recurrence(self, seq: _Sequence, a0: Tensor, c0: Tensor | None,
                          return_states: bool) -> tuple[Tensor, States | None]:
        """The whole recurrence as one tape record (`minigrad.ops.fused`, Numba kernels with a
        hand-written BPTT), checked against the composed loop above to 1e-12.

        Returns a⟨1..T_x⟩ time-major ``(n_a, T·m)``. The states it can return are *values only*
        (detached): the per-step a⟨t⟩ are not records of their own, so ∂J/∂a⟨t⟩ needs the
        composed model (``fused=False``).
        """
        params = [p for name, p in self._params.items() if name not in ("W_y", "b_y")]
        a_all, c_all = self.fused_call(seq.source, a0, c0, params)
        if not return_states:
            return a_all, None
        m, T = seq.m, seq.T

        def steps(z: Tensor) -> list[Tensor]:
            return [Tensor(z.data[:, t * m:(t + 1) * m]) for t in range(T)]

        c = steps(c_all) if c_all is not None else None
        return a_all, States(a=steps(a_all), c=c if self.has_cell_state else None)

    def fused_call(self, x: Any, a0: Tensor, c0: Tensor | None,
                   params: list[Tensor]) -> tuple[Tensor, Tensor | None]:
        """Run this cell's fused recurrence: (A, C) time-major, C None without a cell state."""
        raise NotImplementedError

    def _state_blocks(self) -> SimpleNamespace:
        """``w.W_<g><s> = W_g[:, :n_a]``: the state columns of each recurrent weight."""
        w = SimpleNamespace()
        for g in self.gates:
            block = mg.contiguous(self._params[f"W_{g}"][:, : self.n_a])  # 2x faster products
            block.name = f"W_{g}{self.state}"              # shown by minigrad.show_tape
            setattr(w, block.name, block)
        return w

    def _project_inputs(self, seq: _Sequence) -> Iterator[SimpleNamespace]:
        """Per step t, ``px.<g> = W_g[:, n_a:] x⟨t⟩ + b_g`` (n_a, m), computed for all t at once
        — or for chunks of ``PROJECT_ELEMS // (n_a m)`` steps on long sequences, so that a
        chunk's projections are freed once the loop has used them."""
        n_a, T, m = self.n_a, seq.T, seq.m
        chunk = max(1, PROJECT_ELEMS // (n_a * m))
        for t0 in range(0, T, chunk):
            t1 = min(t0 + chunk, T)
            cols = slice(t0 * m, t1 * m)
            if seq.ids is None:
                x = seq.dense if t1 - t0 == T else seq.dense[:, cols]
            steps: dict[str, list[Tensor]] = {}
            for g in self.gates:
                W, b = self._params[f"W_{g}"], self._params[f"b_{g}"]
                if seq.ids is not None:     # W_x· one_hot(ids) = columns n_a + ids of W
                    z = W[:, n_a + seq.ids[cols]] + b
                else:
                    z = W[:, n_a:] @ x + b
                steps[g] = _split_steps(z, t1 - t0)
            for t in range(t1 - t0):
                yield SimpleNamespace(**{g: steps[g][t] for g in self.gates})

    def _output_layer(self, a_all: Tensor, m: int, T: int) -> Tensor:
        """ŷ⟨t⟩ = g(W_y a⟨t⟩ + b_y) for all t in one matmul on a_all = [a⟨1⟩ … a⟨T_x⟩]
        ``(n_a, T·m)``, returned as (n_y, m, T_x)."""
        z = self._params["W_y"] @ a_all + self._params["b_y"]
        if self.output == "sigmoid":
            z = mg.sigmoid(z)
        elif self.output == "softmax":
            z = mg.softmax(z, axis=0)
        return z.reshape(self.n_y, T, m).transpose(0, 2, 1)

    # ---- input checking ---------------------------------------------------------------------
    def _check_input(self, x: Any) -> _Sequence:
        expected = f"{self.kind}: x must be (n_x, m, T_x) = ({self.n_x}, m, T_x)"
        if isinstance(x, Tensor):
            arr = x.data
        else:
            arr = np.asarray(x)
            if arr.dtype == object:
                raise ValueError(f"{expected}; got a non-numeric {type(x).__name__}")
        if arr.ndim == 2 and not isinstance(x, Tensor):
            return self._check_ids(arr)
        if arr.ndim != 3:
            raise ValueError(f"{expected} or integer token ids (m, T_x) with values in "
                             f"[0, {self.n_x}); got shape {arr.shape}")
        if arr.shape[0] != self.n_x or arr.shape[1] < 1 or arr.shape[2] < 1:
            raise ValueError(f"{expected}; got {arr.shape}")
        n_x, m, T = arr.shape
        if not isinstance(x, Tensor) and not np.iscomplexobj(arr):
            arr = arr.astype(self.dtype, copy=False)
        if self.fused:  # the fused kernels read (n_x, m, T_x) as it is: no time-major copy
            dense = None
        elif isinstance(x, Tensor):
            dense = x.transpose(0, 2, 1).reshape(n_x, T * m)
        else:
            dense = Tensor(np.ascontiguousarray(arr.transpose(0, 2, 1)).reshape(n_x, T * m))
        source = x if isinstance(x, Tensor) else arr
        return _Sequence(dense=dense, ids=None, m=m, T=T, source=source)

    def _check_ids(self, ids: np.ndarray) -> _Sequence:
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{self.kind}: a 2-D x must be integer token ids (m, T_x); got dtype "
                             f"{ids.dtype} and shape {ids.shape} (dense input is (n_x, m, T_x) = "
                             f"({self.n_x}, m, T_x))")
        m, T = ids.shape
        if m < 1 or T < 1:
            raise ValueError(f"{self.kind}: token ids must be (m, T_x) with m, T_x ≥ 1; "
                             f"got {ids.shape}")
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= self.n_x:
            raise ValueError(f"{self.kind}: token ids must lie in [0, n_x) = [0, {self.n_x}); "
                             f"got values in [{lo}, {hi}] (ids shape {ids.shape})")
        return _Sequence(dense=None, ids=ids.T.reshape(T * m).astype(np.intp), m=m, T=T,
                         source=ids)

    def _initial_states(self, a0: Any, c0: Any, m: int) -> tuple[Tensor, Tensor | None]:
        if not self.has_cell_state and c0 is not None:
            raise ValueError(f"{self.kind}: has no cell state; c0 must be None (give a0)")
        a0 = self._state("a0", a0, m)
        return a0, (self._state("c0", c0, m) if self.has_cell_state else None)

    def _state(self, name: str, value: Any, m: int) -> Tensor:
        shape = (self.n_a, m)
        if value is None:
            return Tensor(np.zeros(shape, dtype=self.dtype))
        got = value.shape if isinstance(value, Tensor) else np.shape(value)
        if tuple(got) != shape:
            raise ValueError(f"{self.kind}: {name} must be (n_a, m) = {shape}; got {tuple(got)}")
        if isinstance(value, Tensor):
            return value
        arr = np.asarray(value)
        return Tensor(arr if np.iscomplexobj(arr) else arr.astype(self.dtype))

    # ---- save / load ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write hyper-parameters and parameters to ``path`` (the ``.npz`` model file of
        ``models.model_file``, at exactly that path)."""
        write_model_file(path, self)

    @classmethod
    def load(cls, path: str | os.PathLike) -> RecurrentModel:
        """Rebuild a model saved by ``save`` (or a ``minigrad train`` checkpoint); ValueError
        on a malformed file or one holding another kind than ``cls``."""
        return read_model(path, None if cls is RecurrentModel else cls)


#: The model classes by kind ("RNN", "GRU", "LSTM"): the one registry, filled by ``register``.
_REGISTRY: dict[str, type[RecurrentModel]] = {}


def register(cls: type[RecurrentModel]) -> type[RecurrentModel]:
    """Class decorator: make ``cls`` loadable by ``models.load`` and known to the CLI."""
    _REGISTRY[cls.kind] = cls
    return cls


def model_kinds() -> list[str]:
    """The registered kinds, e.g. ``["GRU", "LSTM", "RNN"]``."""
    return sorted(_REGISTRY)


def model_class(name: str) -> type[RecurrentModel]:
    """The registered class of kind ``name``, in any case ("LSTM" in files, "lstm" on the
    command line); ValueError naming the known kinds otherwise."""
    for kind, cls in _REGISTRY.items():
        if isinstance(name, str) and kind.lower() == name.lower():
            return cls
    raise ValueError(f"unknown model class {name!r}; expected one of {sorted(_REGISTRY)}")


def load(path: str | os.PathLike) -> RecurrentModel:
    """Load any model saved by ``save`` or ``minigrad train``: the class is read from the file."""
    return RecurrentModel.load(path)
