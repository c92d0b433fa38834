"""The tape's switches, per thread as in PyTorch: grad mode (`no_grad`) and anomaly mode.

Inside `no_grad()` ops compute values and record nothing. Inside `detect_anomaly()` every op
remembers the user's line that recorded it, and the first non-finite forward output or backward
gradient raises `AnomalyError` naming the op and that line.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .tape import Record

__all__ = ["AnomalyError", "check_finite", "detect_anomaly", "is_anomaly_enabled",
           "is_grad_enabled", "keeping_inputs", "no_grad", "note", "refuse_value_read", "scope",
           "tracing", "TracingValueError"]


class _Modes(threading.local):
    """The switches of the current thread (every thread starts with these defaults)."""

    grad_enabled: bool = True
    anomaly: bool = False
    scope: str | None = None   # the names of the open `scope()`s, outermost first: "LSTM/t=3"
    keep_inputs: bool = False  # records keep copies of their input arrays (for `audit`)
    tracer: Any = None         # minigrad.compile's tracer: sees every op a traced function runs
    noting: bool = False       # any of the above: ops call `note` on their records
    noting_more: bool = False  # any but the scope: `note` does more than name the scope


STATE = _Modes()


def _update_noting() -> None:
    STATE.noting_more = STATE.anomaly or STATE.keep_inputs or STATE.tracer is not None
    STATE.noting = STATE.noting_more or STATE.scope is not None


class AnomalyError(RuntimeError):
    """A non-finite value appeared inside `detect_anomaly()`."""


def is_grad_enabled() -> bool:
    """True unless this thread is inside `no_grad()`."""
    return STATE.grad_enabled


def is_anomaly_enabled() -> bool:
    """True inside `detect_anomaly()` (in this thread)."""
    return STATE.anomaly


class no_grad:  # noqa: N801 - named like the PyTorch context manager it mirrors
    """Record nothing: use as `with minigrad.no_grad():` or as a decorator `@minigrad.no_grad()`.

    Decorating a generator function turns grad mode off inside the generator's own steps (not
    in the code that consumes it), as PyTorch does.
    """

    def __enter__(self) -> None:
        self.__dict__.setdefault("_prev", []).append(STATE.grad_enabled)
        STATE.grad_enabled = False

    def __exit__(self, *exc: object) -> None:
        STATE.grad_enabled = self._prev.pop()

    def __call__(self, func: Any) -> Any:
        if inspect.isgeneratorfunction(func):
            return _generator_without_grad(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with no_grad():
                return func(*args, **kwargs)

        return wrapper


def _generator_without_grad(func: Any) -> Any:
    """Wrap a generator function so each of its steps runs under `no_grad()`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        gen = func(*args, **kwargs)
        try:
            with no_grad():
                value = next(gen)
            while True:
                try:
                    sent = yield value
                except GeneratorExit:
                    gen.close()
                    raise
                except BaseException as exc:  # thrown into us: throw it into the generator
                    with no_grad():
                        value = gen.throw(exc)
                else:
                    with no_grad():
                        value = gen.send(sent)
        except StopIteration as stop:
            return stop.value

    return wrapper


@contextmanager
def _switched(name: str, value: Any) -> Iterator[None]:
    """Set the switch `name` of this thread for the block, then restore it."""
    prev = getattr(STATE, name)
    setattr(STATE, name, value)
    _update_noting()
    try:
        yield
    finally:
        setattr(STATE, name, prev)
        _update_noting()


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Check every forward output and backward gradient for NaN/inf; raise naming op and line."""
    with _switched("anomaly", True), np.errstate(all="ignore"):
        yield


@contextmanager
def scope(name: str) -> Iterator[None]:
    """Name a group of ops: records made inside carry the name (`show_tape`, `draw` show it).

    Scopes nest (`"LSTM/t=3"`); the models' time loop opens `t=1`, `t=2`, ... (JAX's
    `named_scope`, PyTorch's `record_function`). Use as `with minigrad.scope("encoder"):`.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"scope: name must be a non-empty string; got {name!r}")
    with _switched("scope", name if STATE.scope is None else f"{STATE.scope}/{name}"):
        yield


@contextmanager
def tracing(tracer: Any) -> Iterator[None]:
    """`minigrad.compile` traces a function: every op calls `tracer(record, arrays, outs,
    options)` (see `note`), and reading a traced value in Python (`bool(t)`, `t.item()`,
    comparisons) raises `TracingValueError` (see `refuse_value_read`)."""
    with _switched("tracer", tracer):
        yield


class TracingValueError(RuntimeError):
    """A traced tensor's value was read in Python while `minigrad.compile` traced a function."""


def refuse_value_read(t: Any, what: str) -> None:
    """While tracing: raise if the Tensor `t` is a traced value, since Python control flow on it
    would be frozen at trace time (the compiled code would take the same branch for any input)."""
    tracer = STATE.tracer
    if tracer is not None and tracer.is_traced(t):
        raise TracingValueError(
            f"compile: {what} reads the value of a traced tensor of shape {t.shape} while "
            f"'{tracer.function_name}' is being traced. Control flow is frozen at trace time: "
            "the compiled code runs the ops recorded on this first call, whatever the values "
            "of later calls. Express the choice with ops (minigrad.where with a mask argument, "
            "minigrad.maximum, relu), pass the decision as a static keyword option, or call "
            "the function without compile.")


@contextmanager
def keeping_inputs() -> Iterator[None]:
    """Records made inside keep copies of their input arrays and the user's source line."""
    with _switched("keep_inputs", True):
        yield


# ----------------------------------------------------------------------------------------------
# what the modes note on a record


def note(record: Record, arrays: list[np.ndarray], outs: tuple, options: dict[str, Any]
         ) -> None:
    """What the modes ask a record to remember: its scope; the user's line (anomaly mode and
    audits); copies of its inputs and its forward's keyword options (audits, which re-run
    forward). Anomaly mode also checks the outputs are finite."""
    modes = STATE
    record.scope = modes.scope
    if not modes.noting_more:  # (a scope only: the models' time steps, on every op)
        return
    if STATE.anomaly or STATE.keep_inputs or STATE.tracer is not None:
        record.where = _user_line()
    if STATE.keep_inputs:
        record.input_arrays = tuple(np.array(a, copy=True) for a in arrays)
        record.options = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v
                          for k, v in options.items()}
    if STATE.anomaly:
        for o in outs:
            check_finite(record, np.asarray(o), "output")
    if STATE.tracer is not None:  # minigrad.compile names every array the traced function made
        STATE.tracer(record, arrays, outs, options)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _user_line() -> str:
    """The innermost stack frame outside the minigrad package: where user code recorded an op."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE_DIR):
            return f'File "{frame.filename}", line {frame.lineno}, in {frame.name}: {frame.line}'
    return "<unknown>"


def check_finite(record: Record, arr: np.ndarray, what: str) -> None:
    """In anomaly mode: raise at the first non-finite forward output or backward gradient."""
    if not np.all(np.isfinite(np.asarray(arr))):
        where = record.where or "<recorded outside detect_anomaly()>"
        raise AnomalyError(
            f"{record.name} produced a non-finite {what} (shape {arr.shape}). "
            f"The op was recorded at {where}"
        )
