"""The op set against PyTorch (skipped where torch is not installed): values, gradients and
Hessian-vector products of each op, float64, including the kinks where both choose a value."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(3)
X = RNG.uniform(-0.9, 0.9, size=(3, 4))
Y = RNG.uniform(0.5, 2.0, size=(4,))
POS = RNG.uniform(1.2, 2.5, size=(3, 4))

# name -> (minigrad f, torch f, inputs); every f maps its inputs to a tensor
CASES = {
    "sin": (mg.sin, torch.sin, (X,)), "cos": (mg.cos, torch.cos, (X,)),
    "tan": (mg.tan, torch.tan, (X,)), "arcsin": (mg.arcsin, torch.asin, (X,)),
    "arccos": (mg.arccos, torch.acos, (X,)), "arctan": (mg.arctan, torch.atan, (X,)),
    "arctan2": (mg.arctan2, torch.atan2, (X, Y)), "sinh": (mg.sinh, torch.sinh, (X,)),
    "cosh": (mg.cosh, torch.cosh, (X,)), "arcsinh": (mg.arcsinh, torch.asinh, (X,)),
    "arccosh": (mg.arccosh, torch.acosh, (POS,)), "arctanh": (mg.arctanh, torch.atanh, (X,)),
    "sqrt": (mg.sqrt, torch.sqrt, (POS,)), "square": (mg.square, torch.square, (X,)),
    "abs": (mg.abs, torch.abs, (X,)), "sign": (lambda a: mg.sign(a) * a, lambda a:
                                               torch.sign(a) * a, (X,)),
    "floor": (lambda a: mg.floor(a * 3) * a, lambda a: torch.floor(a * 3) * a, (X,)),
    "ceil": (lambda a: mg.ceil(a * 3) * a, lambda a: torch.ceil(a * 3) * a, (X,)),
    "clip": (lambda a: mg.clip(a, -0.5, 0.5) ** 2, lambda a: a.clamp(-0.5, 0.5) ** 2, (X,)),
    "minimum": (mg.minimum, torch.minimum, (X, Y - 1.2)),
    "mod": (mg.mod, torch.remainder, (POS, Y)),
    "expm1": (mg.expm1, torch.expm1, (X,)), "log1p": (mg.log1p, torch.log1p, (X,)),
    "logaddexp": (mg.logaddexp, torch.logaddexp, (X, Y)),
    "softplus": (mg.softplus, torch.nn.functional.softplus, (X * 5,)),
    "sigmoid": (mg.sigmoid, torch.sigmoid, (X,)), "tanh": (mg.tanh, torch.tanh, (X,)),
    "max": (lambda a: mg.max(a, axis=1), lambda a: torch.amax(a, 1), (X,)),
    "min": (lambda a: a.min(axis=0), lambda a: torch.amin(a, 0), (X,)),
    "prod": (lambda a: mg.prod(a, axis=1), lambda a: torch.prod(a, 1), (X,)),
    "cumsum": (lambda a: mg.cumsum(a, axis=1), lambda a: torch.cumsum(a, 1), (X,)),
    "var": (lambda a: mg.var(a, axis=1, ddof=1), lambda a: torch.var(a, 1), (X,)),
    "std": (lambda a: a.std(axis=0), lambda a: torch.std(a, 0, correction=0), (X,)),
    "logsumexp": (lambda a: mg.logsumexp(a, axis=0), lambda a: torch.logsumexp(a, 0), (X,)),
    "norm2": (lambda a: mg.norm(a, axis=1), lambda a: torch.linalg.vector_norm(a, 2, 1), (X,)),
    "norm1": (lambda a: mg.norm(a, ord=1, axis=1) ** 2,
              lambda a: torch.linalg.vector_norm(a, 1, 1) ** 2, (X,)),
    "norminf": (lambda a: mg.norm(a, ord=np.inf, axis=1) ** 2,
                lambda a: torch.linalg.vector_norm(a, float("inf"), 1) ** 2, (X,)),
    "fro": (lambda a: mg.norm(a, "fro") ** 3, lambda a: torch.linalg.matrix_norm(a) ** 3, (X,)),
    "einsum": (lambda a, b: mg.einsum("ij,j->i", a, b) ** 2,
               lambda a, b: torch.einsum("ij,j->i", a, b) ** 2, (X, Y)),
    "tensordot": (lambda a: mg.tensordot(a, a, ([1], [1])) ** 2,
                  lambda a: torch.tensordot(a, a, ([1], [1])) ** 2, (X,)),
    "outer": (lambda b: mg.outer(b, b * b), lambda b: torch.outer(b, b * b), (Y,)),
    "inner": (lambda a, b: mg.inner(a, b) ** 2, lambda a, b: torch.inner(a, b) ** 2, (X, Y)),
    "flip": (lambda a: mg.flip(a * a, axis=1), lambda a: torch.flip(a * a, (1,)), (X,)),
    "roll": (lambda a: mg.roll(a * a, 2, axis=1), lambda a: torch.roll(a * a, 2, 1), (X,)),
    "tril": (lambda a: mg.tril(a * a), lambda a: torch.tril(a * a), (X,)),
    "trace": (lambda a: mg.trace(a[:, :3] @ a[:, :3]) ** 2,
              lambda a: torch.trace(a[:, :3] @ a[:, :3]) ** 2, (X,)),
    "diagonal": (lambda a: mg.diagonal(a * a, 1), lambda a: torch.diagonal(a * a, 1), (X,)),
    "tile": (lambda a: mg.tile(a * a, (2, 1)), lambda a: (a * a).tile((2, 1)), (X,)),
    "repeat": (lambda a: mg.repeat(a * a, 2, axis=0),
               lambda a: torch.repeat_interleave(a * a, 2, 0), (X,)),
    "pad": (lambda a: mg.pad(a * a, ((1, 0), (0, 2))),
            lambda a: torch.nn.functional.pad(a * a, (0, 2, 1, 0)), (X,)),
    "gather": (lambda a: a[:, np.array([0, 2, 2])] ** 3,
               lambda a: a[:, torch.tensor([0, 2, 2])] ** 3, (X,)),
    "softmax": (lambda a: mg.softmax(a, axis=1), lambda a: torch.softmax(a, 1), (X,)),
}


def _mg_derivatives(f, arrays, u, v):
    ts = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = f(*ts)
    grads = mg.grad(out, ts, u, create_graph=True, allow_unused=True)
    s = sum(((g * w).sum() for g, w in zip(grads, v) if g is not None), Tensor(0.0))
    hv = mg.grad(s, ts, allow_unused=True) if s.requires_grad else [None] * len(ts)
    return out.data, [g.data for g in grads], [np.zeros_like(a) if h is None else h
                                               for h, a in zip(hv, arrays)]


def _torch_derivatives(f, arrays, u, v):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = f(*ts)
    grads = torch.autograd.grad(out, ts, torch.tensor(u), create_graph=True)
    s = sum((g * torch.tensor(w)).sum() for g, w in zip(grads, v))
    hv = torch.autograd.grad(s, ts, allow_unused=True) if s.requires_grad else [None] * len(ts)
    return (out.detach().numpy(), [g.detach().numpy() for g in grads],
            [np.zeros_like(a) if h is None else h.numpy(force=True) for h, a in zip(hv, arrays)])


@pytest.mark.parametrize("name", list(CASES))
def test_values_gradients_and_hvps_match_pytorch(name):
    f_mg, f_torch, arrays = CASES[name]
    out_shape = np.shape(f_mg(*[Tensor(a) for a in arrays]).data)
    u = RNG.normal(size=out_shape)
    v = [RNG.normal(size=a.shape) for a in arrays]
    ours, theirs = _mg_derivatives(f_mg, arrays, u, v), _torch_derivatives(f_torch, arrays, u, v)
    for what, a, b in zip(("value", "gradient", "hvp"), ours, theirs):
        for x, y in zip(*(([a], [b]) if what == "value" else (a, b))):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-13, err_msg=f"{name} {what}")


def test_kinks_match_pytorch():
    z = np.array([0.0, 1.0, -1.0, 0.5])
    for f_mg, f_torch in ((mg.abs, torch.abs), (lambda a: mg.clip(a, -1.0, 0.5),
                                                lambda a: a.clamp(-1.0, 0.5)),
                          (lambda a: mg.maximum(a, 0.5 * a ** 0), lambda a: torch.maximum(
                              a, torch.full_like(a, 0.5))),
                          (lambda a: mg.max(a), torch.amax), (lambda a: mg.norm(a * 0), lambda a:
                                                               torch.linalg.vector_norm(a * 0))):
        t = Tensor(z.copy(), requires_grad=True)
        f_mg(t).sum().backward()
        r = torch.tensor(z, requires_grad=True)
        f_torch(r).sum().backward()
        np.testing.assert_array_equal(t.grad, r.grad.numpy())


@pytest.mark.parametrize(("x", "lo", "hi"), [
    ([-2.0, -1.0, 0.0, 1.0, 2.0], [-1.0] * 5, [1.0] * 5),
    ([-3.0, 0.0, 3.0], [2.0] * 3, [-2.0] * 3),
    ([-1.0, 0.0, 1.0], [0.0] * 3, [0.0] * 3),
])
def test_clip_with_tensor_bounds_matches_torch_clamp_at_ties(x, lo, hi):
    ours = [Tensor(np.array(v), requires_grad=True) for v in (x, lo, hi)]
    mg.clip(*ours).sum().backward()
    theirs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x, lo, hi)]
    torch.clamp(*theirs).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.grad, b.grad.numpy())
