"""Training-step benchmark: RNN, GRU and LSTM in minigrad beside NumPy, PyTorch and JAX.

Run ``python -m benchmarks.bench_models`` (``--quick`` for a short run, ``--size batch|course``).

One *training step* is: clear gradients, forward over all T_x steps, the loss, and
backpropagation through time to every parameter (no optimizer update). Two sizes:

* ``batch``  m=32, n_x=64, n_a=128, n_y=64, T_x=50; sigmoid output + the notes' binary
  cross-entropy J (summed over units and steps, divided by m); dense N(0, 1) inputs. minigrad,
  PyTorch and JAX compute it from the logits in one op (``binary_cross_entropy_with_logits``,
  ``softplus(z) - y z``), as the hand-written reference does with its ``ŷ - y`` gradient.
* ``course`` m=1, n_x=27, n_a=50, n_y=27, T_x=25; linear output + ``cross_entropy`` (softmax
  inside); one-hot characters (a token-id row runs the same model on integer ids).

Candidates, timed interleaved in one process (round-robin, median of rounds):
the hand-written NumPy LSTM (:mod:`benchmarks.reference_lstm`, the no-overhead reference);
``models.RNN/GRU/LSTM`` composed from primitives and, where ``fused=True`` is accepted, fused;
an LSTM cell written here from minigrad primitives the way a user would; and, when importable,
PyTorch (a cell composed of primitives, and ``nn.LSTM``) and JAX (``jit`` + ``lax.scan``).
Every LSTM starts from the same parameters; their first losses are compared as a sanity check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchmarks._timing import (
    fmt_ms,
    fmt_ratio,
    interleaved,
    parse_bench_args,
    print_and_save,
    table,
)
from benchmarks.reference_lstm import ReferenceLSTM, init_params

SIZES: dict[str, dict[str, int]] = {
    "batch": {"m": 32, "n_x": 64, "n_a": 128, "n_y": 64, "T_x": 50},
    "course": {"m": 1, "n_x": 27, "n_a": 50, "n_y": 27, "T_x": 25},
}
PUBLISHED_MS: dict[str, dict[str, float]] = {
    "hand-written NumPy forward+BPTT": {"batch": 56.0, "course": 2.1},
    "PyTorch eager, cell composed of primitives": {"batch": 46.0, "course": 5.6},
    "PyTorch nn.LSTM (fused C++)": {"batch": 37.0, "course": 3.8},
    "JAX jit + lax.scan": {"batch": 54.0, "course": 0.65},
}
"""Reference figures measured on these 2-core machines when the performance goals were set
(float64 LSTM training step), for context; not re-measured by this module."""

REF = "NumPy reference LSTM"
TORCH_COMPOSED = "PyTorch LSTM (composed cell)"
TORCH_LSTM = "PyTorch nn.LSTM"
JAX_SCAN = "JAX LSTM (jit + lax.scan)"
BASELINES = {REF: "NumPy ref", TORCH_COMPOSED: "torch composed", TORCH_LSTM: "nn.LSTM",
             JAX_SCAN: "JAX"}


@dataclass
class Problem:
    """One benchmark size: data in the notes' layout and SPEC-named LSTM parameters."""

    size: str
    m: int
    n_x: int
    n_a: int
    n_y: int
    T_x: int
    x: np.ndarray           # (n_x, m, T_x)
    y: np.ndarray           # (n_y, m, T_x)
    ids: np.ndarray | None  # (m, T_x) token ids (course) or None
    params: dict[str, np.ndarray]

    @property
    def loss(self) -> str:
        """Loss kind: "bce" (sigmoid output, batch) or "ce" (linear + softmax inside, course)."""
        return "bce" if self.size == "batch" else "ce"


def make_problem(size: str, seed: int = 0, T_x: int | None = None) -> Problem:
    """Random data and parameters for ``size`` (optionally with another sequence length)."""
    d = dict(SIZES[size])
    if T_x is not None:
        d["T_x"] = T_x
    m, n_x, n_y, T = d["m"], d["n_x"], d["n_y"], d["T_x"]
    rng = np.random.default_rng(seed)
    ids = None
    if size == "batch":
        x = rng.standard_normal((n_x, m, T))
        y = (rng.random((n_y, m, T)) < 0.5).astype(np.float64)
    else:
        ids = rng.integers(0, n_x, size=(m, T))
        x = np.eye(n_x)[ids].transpose(2, 0, 1).copy()
        y = np.eye(n_y)[rng.integers(0, n_y, size=(m, T))].transpose(2, 0, 1).copy()
    return Problem(size, m, n_x, d["n_a"], n_y, T, x, y, ids,
                   init_params(n_x, d["n_a"], n_y, seed=seed))


# ---- minigrad candidates ----------------------------------------------------------------------
def numpy_reference(p: Problem) -> Callable[[], float]:
    """Hand-written forward + BPTT (stacked gates, one GEMM per step)."""
    ref = ReferenceLSTM(p.params, output="sigmoid" if p.loss == "bce" else "softmax")
    return lambda: ref.loss_and_grads(p.x, p.y)[0]


def _mg_loss(p: Problem) -> Callable[[object], object]:
    import minigrad as mg

    y = p.y
    if p.loss == "bce":  # from the logits, as the PyTorch and JAX candidates do
        return lambda logits: mg.binary_cross_entropy_with_logits(logits, y)
    return lambda logits: mg.cross_entropy(logits, y)


def minigrad_model(p: Problem, kind: str, fused: bool = False, token_ids: bool = False
                   ) -> Callable[[], float] | None:
    """``models.<kind>`` training step; None when ``fused=True`` is not supported (yet)."""
    import models

    cls = getattr(models, kind)
    kwargs = {"output": "linear", "seed": 0}  # the loss applies the sigmoid / softmax
    try:
        model = cls(p.n_x, p.n_a, p.n_y, fused=True, **kwargs) if fused else \
            cls(p.n_x, p.n_a, p.n_y, **kwargs)
    except TypeError:
        return None
    if kind == "LSTM":
        for name, t in model.parameters().items():
            t.data[...] = p.params[name]
    loss, x = _mg_loss(p), (p.ids if token_ids else p.x)

    def step() -> float:
        model.zero_grad()
        J = loss(model(x))
        J.backward()
        return J.item()

    return step


def user_written_lstm(p: Problem) -> Callable[[], float]:
    """An LSTM cell written from minigrad primitives in user code, equation by equation."""
    import minigrad as mg

    P = {k: mg.Tensor(v.copy(), requires_grad=True) for k, v in p.params.items()}
    loss = _mg_loss(p)
    x, m, n_a, T = p.x, p.m, p.n_a, p.T_x

    def step() -> float:
        for t in P.values():
            t.grad = None
        a = mg.Tensor(np.zeros((n_a, m)))
        c = mg.Tensor(np.zeros((n_a, m)))
        outs = []
        for t in range(T):
            ax = mg.concat([a, mg.Tensor(x[:, :, t])], axis=0)        # [a⟨t-1⟩; x⟨t⟩]
            c_hat = mg.tanh(P["W_c"] @ ax + P["b_c"])
            gamma_u = mg.sigmoid(P["W_u"] @ ax + P["b_u"])
            gamma_f = mg.sigmoid(P["W_f"] @ ax + P["b_f"])
            gamma_o = mg.sigmoid(P["W_o"] @ ax + P["b_o"])
            c = gamma_u * c_hat + gamma_f * c
            a = gamma_o * mg.tanh(c)
            outs.append(P["W_y"] @ a + P["b_y"])
        z = mg.stack(outs, axis=2)                                      # (n_y, m, T_x)
        J = loss(z)
        J.backward()
        return J.item()

    return step



# ---- PyTorch and JAX (optional) ---------------------------------------------------------------
Factory = tuple[Callable[[], float] | None, str]


def _import_torch() -> object | None:
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_composed(p: Problem) -> Factory:
    """The same cell from torch primitives, eager mode, float64, the notes' column layout."""
    torch = _import_torch()
    if torch is None:
        return None, "torch is not installed"
    f64 = torch.float64
    P = {k: torch.tensor(v, dtype=f64, requires_grad=True) for k, v in p.params.items()}
    X, Y = torch.tensor(p.x, dtype=f64), torch.tensor(p.y, dtype=f64)

    def step() -> float:
        for t in P.values():
            t.grad = None
        a = torch.zeros((p.n_a, p.m), dtype=f64)
        c = torch.zeros((p.n_a, p.m), dtype=f64)
        outs = []
        for t in range(p.T_x):
            ax = torch.cat([a, X[:, :, t]], dim=0)
            c_hat = torch.tanh(P["W_c"] @ ax + P["b_c"])
            gamma_u = torch.sigmoid(P["W_u"] @ ax + P["b_u"])
            gamma_f = torch.sigmoid(P["W_f"] @ ax + P["b_f"])
            gamma_o = torch.sigmoid(P["W_o"] @ ax + P["b_o"])
            c = gamma_u * c_hat + gamma_f * c
            a = gamma_o * torch.tanh(c)
            outs.append(P["W_y"] @ a + P["b_y"])
        J = _torch_loss(torch, torch.stack(outs, dim=2), Y, p, axis=0)
        J.backward()
        return float(J.item())

    return step, ""


def _torch_loss(torch: object, z: object, y: object, p: Problem, axis: int) -> object:
    """The notes' J from logits: BCE (sigmoid inside) or softmax cross-entropy, / m."""
    if p.loss == "bce":
        return torch.nn.functional.binary_cross_entropy_with_logits(  # type: ignore[attr-defined]
            z, y, reduction="sum") / p.m
    return -(y * torch.log_softmax(z, dim=axis)).sum() / p.m  # type: ignore[attr-defined]


def torch_nn_lstm(p: Problem) -> Factory:
    """``torch.nn.LSTM`` + ``nn.Linear`` with SPEC's weights mapped to torch's i, f, g, o order."""
    torch = _import_torch()
    if torch is None:
        return None, "torch is not installed"
    f64, n_a = torch.float64, p.n_a
    lstm = torch.nn.LSTM(p.n_x, n_a, dtype=f64)
    out = torch.nn.Linear(n_a, p.n_y, dtype=f64)
    order = ("u", "f", "c", "o")                     # torch's i, f, g, o
    with torch.no_grad():
        W = np.concatenate([p.params[f"W_{g}"] for g in order])
        lstm.weight_hh_l0.copy_(torch.tensor(W[:, :n_a]))
        lstm.weight_ih_l0.copy_(torch.tensor(W[:, n_a:]))
        lstm.bias_ih_l0.copy_(torch.tensor(np.concatenate([p.params[f"b_{g}"] for g in order])
                                           .ravel()))
        lstm.bias_hh_l0.zero_()
        out.weight.copy_(torch.tensor(p.params["W_y"]))
        out.bias.copy_(torch.tensor(p.params["b_y"].ravel()))
    X = torch.tensor(p.x.transpose(2, 1, 0).copy())  # (T_x, m, n_x)
    Y = torch.tensor(p.y.transpose(2, 1, 0).copy())  # (T_x, m, n_y)

    def step() -> float:
        lstm.zero_grad()
        out.zero_grad()
        J = _torch_loss(torch, out(lstm(X)[0]), Y, p, axis=2)
        J.backward()
        return float(J.item())

    return step, ""


def jax_scan(p: Problem) -> Factory:
    """The same cell in JAX: ``jit(value_and_grad(loss))`` with ``lax.scan`` over time, float64."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None, "jax is not installed"
    jax.config.update("jax_enable_x64", True)
    n_a, m = p.n_a, p.m

    def loss(P: dict, X: object, Y: object) -> object:
        def cell(carry: tuple, x_t: object) -> tuple:
            a, c = carry
            ax = jnp.concatenate([a, x_t], axis=0)
            c_hat = jnp.tanh(P["W_c"] @ ax + P["b_c"])
            gamma_u = jax.nn.sigmoid(P["W_u"] @ ax + P["b_u"])
            gamma_f = jax.nn.sigmoid(P["W_f"] @ ax + P["b_f"])
            gamma_o = jax.nn.sigmoid(P["W_o"] @ ax + P["b_o"])
            c = gamma_u * c_hat + gamma_f * c
            a = gamma_o * jnp.tanh(c)
            return (a, c), a

        zeros = jnp.zeros((n_a, m), dtype=jnp.float64)
        _, A = jax.lax.scan(cell, (zeros, zeros), X)                   # (T_x, n_a, m)
        Z = jnp.einsum("ya,tam->tym", P["W_y"], A) + P["b_y"]
        if p.loss == "bce":
            return jnp.sum(jax.nn.softplus(Z) - Y * Z) / m
        return -jnp.sum(Y * jax.nn.log_softmax(Z, axis=1)) / m

    f = jax.jit(jax.value_and_grad(loss))
    P = {k: jnp.asarray(v) for k, v in p.params.items()}
    X = jnp.asarray(p.x.transpose(2, 0, 1))                            # (T_x, n_x, m)
    Y = jnp.asarray(p.y.transpose(2, 0, 1))

    def step() -> float:
        J, g = f(P, X, Y)
        jax.block_until_ready(g)
        return float(J)

    return step, ""


def candidates(p: Problem) -> tuple[dict[str, Callable[[], float]], list[str], list[str]]:
    """Name → step function for size ``p``; also the LSTM names and the notes on skips."""
    cands: dict[str, Callable[[], float]] = {REF: numpy_reference(p)}
    notes: list[str] = []
    lstm_names = [REF]
    for kind in ("LSTM", "GRU", "RNN"):
        for fused in (False, True):
            name = f"minigrad {kind} ({'fused' if fused else 'composed'})"
            step = minigrad_model(p, kind, fused=fused)
            if step is None:
                notes.append(f"{name}: skipped, models.{kind} does not accept fused=True yet")
                continue
            cands[name] = step
            if kind == "LSTM":
                lstm_names.append(name)
        if kind == "LSTM":
            cands["minigrad LSTM (user-written cell)"] = user_written_lstm(p)
            lstm_names.append("minigrad LSTM (user-written cell)")
            if p.ids is not None:
                name = "minigrad LSTM (composed, token ids)"
                cands[name] = minigrad_model(p, "LSTM", token_ids=True)  # type: ignore[assignment]
                lstm_names.append(name)
    for name, factory in ((TORCH_COMPOSED, torch_composed), (TORCH_LSTM, torch_nn_lstm),
                          (JAX_SCAN, jax_scan)):
        step, why = factory(p)
        if step is None:
            notes.append(f"{name}: skipped ({why})")
        else:
            cands[name] = step
            lstm_names.append(name)
    return cands, lstm_names, notes


def run_size(size: str, quick: bool = False) -> dict[str, object]:
    """Benchmark one size; returns medians, ratios to each baseline, notes and the sanity check."""
    p = make_problem(size)
    cands, lstm_names, notes = candidates(p)
    first = {n: float(cands[n]()) for n in lstm_names}           # also warms everything up
    j_ref = first[REF]
    agree = max(abs(v - j_ref) / abs(j_ref) for v in first.values())
    timings = interleaved(cands, rounds=3 if quick else 15, sample_s=0.005 if quick else 0.02)
    rows = []
    for name, tm in timings.items():
        ratios = {}
        for base in BASELINES:
            if base in timings and name in lstm_names:
                ratios[BASELINES[base]] = tm.ratio_to(timings[base])
        rows.append({"name": name, "ms": tm.median * 1e3, "iqr_rel": tm.spread,
                     "lstm": name in lstm_names, "ratios": ratios, "timing": tm.to_json()})
    return {"size": size, "dims": SIZES[size], "loss": p.loss, "rows": rows, "notes": notes,
            "first_loss": first, "loss_max_rel_diff": agree,
            "baselines_present": [BASELINES[b] for b in BASELINES if b in timings]}


def run(quick: bool = False, sizes: tuple[str, ...] = ("batch", "course")) -> dict[str, object]:
    """Both sizes (each interleaved on its own), plus the published figures."""
    return {"sizes": {s: run_size(s, quick) for s in sizes}, "published_ms": PUBLISHED_MS}


def render(res: dict[str, object]) -> str:
    """Tables of ms/step and ratios, one per size, then the published figures."""
    out = []
    for size, r in res["sizes"].items():  # type: ignore[union-attr]
        bases = r["baselines_present"]
        d = r["dims"]
        title = (f"[{size}] m={d['m']} n_x={d['n_x']} n_a={d['n_a']} T_x={d['T_x']} "
                 f"({'sigmoid + BCE' if r['loss'] == 'bce' else 'softmax cross-entropy'}), "
                 "training step, median of interleaved rounds")
        rows = [[row["name"], fmt_ms(row["ms"] / 1e3)]
                + [fmt_ratio(row["ratios"].get(b)) for b in bases]
                + [f"±{row['iqr_rel'] * 50:.0f}%" if row["iqr_rel"] == row["iqr_rel"] else "—"]
                for row in r["rows"]]
        out.append(table(["implementation", "ms/step"] + [f"× {b}" for b in bases]
                         + ["noise"], rows, title))
        out.append(f"  first-step losses of all LSTMs agree to {r['loss_max_rel_diff']:.1e} "
                   "(relative)")
        out += [f"  note: {n}" for n in r["notes"]]
        out.append("")
    pub = res["published_ms"]
    out.append(table(["reference figures when the goals were set (not measured here)",
                      "batch ms", "course ms"],
                     [[k, f"{v['batch']:g}", f"{v['course']:g}"]
                      for k, v in pub.items()]))  # type: ignore[union-attr]
    return "\n".join(out)


def main() -> None:
    """Command-line entry point."""
    a = parse_bench_args(__doc__, "few rounds (smoke run)", lambda ap: ap.add_argument(
        "--size", choices=tuple(SIZES), action="append",
        help="only this size (repeatable); default both"))
    print_and_save(run(quick=a.quick, sizes=tuple(a.size or SIZES)), render, a.json)


if __name__ == "__main__":
    main()
