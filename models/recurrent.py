"""The one time loop shared by the RNN, the GRU and the LSTM, and their common base class.

A cell (``rnn.py``, ``gru.py``, ``lstm.py``) is a pure function of (parameters, carry, x⟨t⟩)
that writes SPEC.md's equations one line each and returns the new carry and the values it
computed (its gates); this module does everything around it: parameters, the unrolled loop
over x⟨1⟩..x⟨T_x⟩, the output layer ŷ⟨t⟩ = g(W_y a⟨t⟩ + b_y), and saving/loading.
Backpropagation through time is not written anywhere: the loop records minigrad ops on the
tape and ``backward`` replays them.

The loop is JAX's ``scan`` contract written out::

    carry = initial carry                    # RNN (a⟨0⟩,), GRU (c⟨0⟩,), LSTM (a⟨0⟩, c⟨0⟩)
    for x_t in x⟨1⟩..x⟨T_x⟩:
        carry, gates = cell(parameters, carry, x_t)

Input checking and token ids (x⟨t⟩ one-hot, never built) live in ``models/inputs.py``.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, NamedTuple

import numpy as np

import minigrad as mg
from minigrad import Tensor

from .inputs import Sequence, check_sequence, check_state, positive_int
from .model_file import read_model, write_model_file

OUTPUTS = ("sigmoid", "softmax", "linear")
_DTYPES = {"float64": np.float64, "float32": np.float32}
Carry = tuple[Tensor, ...]


class States(NamedTuple):
    """Hidden states returned by ``model(x, return_states=True)``.

    ``a`` is the list a⟨1⟩..a⟨T_x⟩ of ``(n_a, m)`` Tensors, each on the tape (so
    ``minigrad.grad(J, states.a)`` gives ∂J/∂a⟨t⟩); ``c`` the cell states c⟨1⟩..c⟨T_x⟩ for the
    GRU (the same Tensors as ``a``, since a⟨t⟩ = c⟨t⟩) and the LSTM, and ``None`` for the RNN.
    """

    a: list[Tensor]
    c: list[Tensor] | None


class RecurrentModel:
    """Base class: a recurrent layer (n_x → n_a) followed by a dense output layer (n_a → n_y).

    Subclasses set ``kind``, ``recurrent_parameters`` (the notes' names of the recurrent W_* and
    b_*, in the notes' order), ``has_cell_state``, and write ``cell``. All parameters are drawn
    from U(−1/√n_a, 1/√n_a) (PyTorch's initialisation) with ``numpy.random.default_rng(seed)``,
    in ``parameters()`` order.
    """

    kind: ClassVar[str] = "RecurrentModel"
    recurrent_parameters: ClassVar[tuple[str, ...]] = ()
    has_cell_state: ClassVar[bool] = False

    def __init__(self, n_x: int, n_a: int, n_y: int, *, output: str = "sigmoid",
                 seed: int | None = None, dtype: Any = np.float64, fused: bool = False) -> None:
        if not isinstance(fused, bool | np.bool_):
            raise ValueError(f"{self.kind}: fused must be a bool; got {fused!r}")
        self.fused = bool(fused)
        self.n_x = positive_int(self.kind, "n_x", n_x)
        self.n_a = positive_int(self.kind, "n_a", n_a)
        self.n_y = positive_int(self.kind, "n_y", n_y)
        if output not in OUTPUTS:
            raise ValueError(f"{self.kind}: output must be one of {OUTPUTS}; got {output!r}")
        self.output = output
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)
                                 or seed < 0):
            raise ValueError(f"{self.kind}: seed must be a non-negative int or None; got {seed!r}")
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
        """Name → shape in the notes' order: W_* (n_a, n_a+n_x), b_* (n_a, 1); W_y, b_y."""
        shapes = {name: (self.n_a, self.n_a + self.n_x) if name.startswith("W") else (self.n_a, 1)
                  for name in self.recurrent_parameters}
        return {**shapes, "W_y": (self.n_y, self.n_a), "b_y": (self.n_y, 1)}

    def parameters(self) -> dict[str, Tensor]:
        """Ordered name → Tensor mapping (a new dict of the model's own Tensors)."""
        return dict(self._params)

    def __getattr__(self, name: str) -> Tensor:
        params = self.__dict__.get("_params", {})
        if name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        """``model.W_c = Tensor(...)`` replaces the parameter W_c that forward uses (same shape
        and dtype, a leaf); any other attribute is set as usual."""
        params = self.__dict__.get("_params", {})
        if name not in params:
            object.__setattr__(self, name, value)
            return
        old = params[name]
        if not isinstance(value, Tensor) or not value.is_leaf:
            got = "a computed Tensor" if isinstance(value, Tensor) else type(value).__name__
            raise TypeError(f"{self.kind}: parameter {name} must be replaced by a leaf Tensor of "
                            f"shape {old.shape} and dtype {old.dtype}; got {got} (to change its "
                            f"values in place: model.{name}.data[...] = array)")
        if value.shape != old.shape or value.dtype != old.dtype:
            raise ValueError(f"{self.kind}: parameter {name} must be replaced by a Tensor of "
                             f"shape {old.shape} and dtype {old.dtype}; got shape {value.shape} "
                             f"and dtype {value.dtype}")
        if value.name is None:
            value.name = name
        params[name] = value

    def zero_grad(self) -> None:
        """Forget every parameter's accumulated gradient (``p.grad = None``)."""
        for p in self._params.values():
            p.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """Name → copy of each parameter's array."""
        return {name: p.data.copy() for name, p in self._params.items()}

    def load_state_dict(self, arrays: Any) -> None:
        """Copy arrays (a mapping name → array) into the parameters, in place.

        All or nothing: names, shapes, dtypes (real numbers) and the parameters' arrays are
        checked first; if anything is wrong, ValueError and no parameter changes.
        """
        if not hasattr(arrays, "keys"):
            raise ValueError(f"{self.kind}.load_state_dict: arrays must be a mapping name → array; "
                             f"got {type(arrays).__name__}")
        names = set(arrays.keys())
        missing, extra = set(self._params) - names, names - set(self._params)
        if missing or extra:
            raise ValueError(f"{self.kind}: parameter names differ: missing {sorted(missing)}, "
                             f"unexpected {sorted(extra)}")
        staged = {}
        for name, p in self._params.items():
            value = np.asarray(arrays[name])
            if value.shape != p.shape:
                raise ValueError(f"{self.kind}: {name} must be {p.shape}; got {value.shape}")
            if not np.issubdtype(value.dtype, np.floating):
                raise ValueError(f"{self.kind}: {name} must hold floats; got {value.dtype}")
            staged[name] = value.astype(p.dtype, copy=True)
        frozen = [name for name, p in self._params.items() if not p.data.flags.writeable]
        if frozen:
            raise ValueError(f"{self.kind}.load_state_dict: the arrays of {frozen} are read-only "
                             f"(a recorded computation still holds them); nothing was loaded")
        for name, p in self._params.items():
            p.data[...] = staged[name]

    def config(self) -> dict[str, Any]:
        """The hyper-parameters: ``type(model)(**model.config())`` rebuilds the architecture."""
        return {"n_x": self.n_x, "n_a": self.n_a, "n_y": self.n_y, "output": self.output,
                "seed": self.seed, "dtype": self.dtype.name, "fused": self.fused}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "seed")
        return f"{self.kind}({args})"

    # ---- forward ----------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``model(x, ...)`` runs ``model.forward(x, ...)``."""
        return self.forward(*args, **kwargs)

    def forward(self, x: Any, a0: Any = None, c0: Any = None, *, return_states: bool = False,
                return_gates: bool = False) -> Any:
        """ŷ ``(n_y, m, T_x)`` for x ``(n_x, m, T_x)`` (array or Tensor) or token ids ``(m, T_x)``.

        ``a0``/``c0`` are the initial states ``(n_a, m)`` (zeros if omitted), arrays or Tensors.
        ``return_states=True`` adds ``States(a=[a⟨1⟩..], c=[c⟨1⟩..] or None)``;
        ``return_gates=True`` adds the cell's gates, one list per gate over t = 1..T_x of the
        ``(n_a, m)`` Tensors the forward pass computed (on the tape), e.g. for the LSTM
        ``LSTMGates(c_hat=[..], gamma_u=[..], gamma_f=[..], gamma_o=[..])``. The result is
        ŷ, ``(ŷ, states)``, ``(ŷ, gates)`` or ``(ŷ, states, gates)``.
        """
        seq = check_sequence(self.kind, self.n_x, self.dtype, x, cut=not self.fused)
        carry = self.initial_carry(a0, c0, seq.m)
        if self.fused:
            if return_gates:
                raise ValueError(f"{self.kind}.forward: return_gates needs the composed model "
                                 "(fused=False); the fused recurrence keeps no gates")
            a_all, states = self._fused_recurrence(seq, carry, return_states)
            gates = None
        else:
            carries, gates = self.unroll(self.parameters(), carry, seq.steps)
            a_list = [step[0] for step in carries]                      # a⟨t⟩
            a_all = mg.concat(a_list, axis=1) if seq.T > 1 else a_list[0]   # (n_a, T·m)
            c_list = [step[-1] for step in carries] if self.has_cell_state else None  # c⟨t⟩
            states = States(a=a_list, c=c_list)
        y_hat = self.output_layer(a_all, seq.m, seq.T)
        extra = ((states,) if return_states else ()) + ((gates,) if return_gates else ())
        return (y_hat, *extra) if extra else y_hat

    def cell(self, p: dict[str, Tensor], carry: Carry, x_t: Any) -> tuple[Carry, tuple]:
        """One time step: (parameters, carry⟨t-1⟩, x⟨t⟩) → (carry⟨t⟩, gates). Per subclass."""
        raise NotImplementedError

    def unroll(self, p: dict[str, Tensor], carry: Carry, steps: list[Any]
               ) -> tuple[list[Carry], tuple]:
        """Run ``cell`` over x⟨1⟩..x⟨T_x⟩: the carries after each step, and the gates as one
        list per gate (a NamedTuple of lists)."""
        carries, gates = [], []
        for t, x_t in enumerate(steps, start=1):
            with mg.scope(f"t={t}"):                # names step t's records on the tape
                carry, g = self.cell(p, carry, x_t)
            carries.append(carry)
            gates.append(g)
        return carries, type(gates[0])(*(list(each) for each in zip(*gates, strict=True)))

    def _fused_recurrence(self, seq: Sequence, carry: Carry,
                          return_states: bool) -> tuple[Tensor, States | None]:
        """The whole recurrence as one tape record (`minigrad.ops.fused`, Numba kernels with a
        hand-written BPTT), checked against the composed loop above to 1e-12.

        Returns a⟨1..T_x⟩ time-major ``(n_a, T·m)``. The states it can return are *values only*
        (detached): the per-step a⟨t⟩ are not records of their own, so ∂J/∂a⟨t⟩ needs the
        composed model (``fused=False``).
        """
        params = [self._params[name] for name in self.parameter_shapes()
                  if name not in ("W_y", "b_y")]
        a_all, c_all = self.fused_call(seq.source, carry, params)
        if not return_states:
            return a_all, None
        m, T = seq.m, seq.T

        def steps(z: Tensor) -> list[Tensor]:
            return [Tensor(z.data[:, t * m:(t + 1) * m]) for t in range(T)]

        c = steps(c_all) if c_all is not None else None
        return a_all, States(a=steps(a_all), c=c if self.has_cell_state else None)

    def fused_call(self, x: Any, carry: Carry,
                   params: list[Tensor]) -> tuple[Tensor, Tensor | None]:
        """Run this cell's fused recurrence: (A, C) time-major, C None without a cell state."""
        raise NotImplementedError

    def output_layer(self, a_all: Tensor, m: int, T: int) -> Tensor:
        """ŷ⟨t⟩ = g(W_y a⟨t⟩ + b_y) for all t in one matmul on a_all = [a⟨1⟩ … a⟨T_x⟩]
        ``(n_a, T·m)`` (the states side by side), returned as (n_y, m, T_x)."""
        z = self._params["W_y"] @ a_all + self._params["b_y"]
        if self.output == "sigmoid":
            z = mg.sigmoid(z)
        elif self.output == "softmax":
            z = mg.softmax(z, axis=0)
        return z.reshape(self.n_y, T, m).transpose(0, 2, 1)

    def initial_carry(self, a0: Any, c0: Any, m: int) -> Carry:
        """The carry before step 1: ``(a⟨0⟩,)`` or ``(a⟨0⟩, c⟨0⟩)``, zeros where not given."""
        shape = (self.n_a, m)
        a0 = check_state(self.kind, "a0", a0, shape, self.dtype)
        if not self.has_cell_state:
            if c0 is not None:
                raise ValueError(f"{self.kind}: has no cell state; c0 must be None (give a0)")
            return (a0,)
        return a0, check_state(self.kind, "c0", c0, shape, self.dtype)

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
