"""Contractions (einsum, tensordot, outer, inner, and dot on N-D inputs): values equal NumPy's,
float64 gradients of every operand on every element against finite differences (the
`check_grad` of test_ops_grad.py), complex inputs, and errors that name the op, the subscripts
and the shapes."""

from __future__ import annotations

import _fd as fd
import numpy as np
import pytest
import strategies as S
from _higher import check_grad2
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_ops_grad import check_grad, cotangent

import minigrad as mg
from minigrad import Tensor

# subscripts and operand shapes; NumPy's einsum is the oracle for the values
PATTERNS = [
    ("ij,jk->ik", [(3, 4), (4, 2)]),                   # matmul
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),          # batched matmul
    ("i,j->ij", [(3,), (4,)]),                         # outer
    ("i,i->", [(4,)]*2),                               # dot
    ("ij,j->i", [(3, 4), (4,)]),                       # matrix-vector
    ("ii->", [(3, 3)]),                                # trace
    ("ii->i", [(3, 3)]),                               # diagonal
    ("iii->i", [(2, 2, 2)]),                           # an index three times
    ("bii->b", [(2, 3, 3)]),                           # batched trace
    ("iij,jk->ik", [(3, 3, 2), (2, 4)]),               # diagonal inside a product
    ("ii,ij->j", [(3, 3), (3, 2)]),                    # diagonal of one operand, other full
    ("ij->", [(3, 4)]),                                # sum of all
    ("ij->i", [(3, 4)]),                               # an index only one operand has, summed
    ("ij->ji", [(3, 4)]),                              # transpose
    ("ij,ij->ij", [(3, 4)]*2),                         # Hadamard product
    ("ij,ij->", [(3, 4)]*2),                           # Frobenius inner product
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),        # three operands
    ("ij,jk,ki->", [(2, 3), (3, 4), (4, 2)]),          # trace of a product
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (3, 4, 2)]), # '...' broadcasting
    ("i...,i...->...", [(3, 2, 1), (3, 4)]),           # '...' after an index
    ("...ii->...i", [(2, 3, 3)]),                      # diagonal under '...'
    ("ij,ij->i", [(3, 1), (3, 4)]),                    # a labelled size-1 axis broadcast
    ("ij,jk->ik", [(3, 1), (4, 2)]),                   # a size-1 summed axis broadcast
    (",ij->ij", [(), (2, 3)]),                         # a scalar operand
    ("ij,jk", [(3, 4), (4, 2)]),                       # implicit output: 'ik'
    ("ba", [(3, 2)]),                                  # implicit output sorts: a transpose
    ("aB", [(2, 3)]),                                  # ... upper case first, as in NumPy
    ("ii", [(3, 3)]),                                  # implicit trace
    ("...,...", [(4,), (2, 4)]),                       # implicit '...': broadcast product
    ("i,i,i->i", [(1,), (3,), (3,)]),                  # size 1 stretched in a 3-operand sum
]
IDS = [f"{s}:{'x'.join(map(str, shapes[0]))}" for s, shapes in PATTERNS]


def arrays_for(shapes: list[tuple[int, ...]], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, len(shapes)])
    return [rng.normal(size=s) for s in shapes]


@pytest.mark.parametrize(("subscripts", "shapes"), PATTERNS, ids=IDS)
def test_einsum_values_equal_numpy_and_dispatch_records_one_op(subscripts, shapes):
    xs = arrays_for(shapes)
    want = np.einsum(subscripts, *xs)
    ts = [Tensor(x, requires_grad=True) for x in xs]
    for got in (mg.einsum(subscripts, *ts), np.einsum(subscripts, *ts),
                mg.einsum(subscripts, *ts, optimize=True)):
        assert isinstance(got, Tensor) and got.shape == np.shape(want)
        np.testing.assert_allclose(got.data, want, rtol=1e-13, atol=1e-14)
        assert [r.name for r in mg.show_tape(got, print_it=False)] == ["einsum"]


@pytest.mark.parametrize(("subscripts", "shapes"), PATTERNS, ids=IDS)
def test_einsum_gradient_of_every_operand(subscripts, shapes):
    xs = arrays_for(shapes, seed=1)
    check_grad(lambda *ts: mg.einsum(subscripts, *ts), *xs)


@pytest.mark.parametrize(("subscripts", "shapes"), [PATTERNS[i] for i in (0, 1, 9, 12, 16, 18, 19)])
def test_einsum_gradient_with_optimize_and_sublists(subscripts, shapes):
    xs = arrays_for(shapes, seed=2)
    check_grad(lambda *ts: mg.einsum(subscripts, *ts, optimize=True), *xs)
    check_grad(lambda *ts: mg.einsum(subscripts, *ts, optimize="greedy"), *xs)
    path = np.einsum_path(subscripts, *xs, optimize="optimal")[0]  # the forward's path only
    check_grad(lambda *ts: mg.einsum(subscripts, *ts, optimize=path), *xs)


def test_sublist_form_like_numpy():
    a, b = arrays_for([(2, 3), (3, 4)])
    for args in ([0, 1], [1, 2], [0, 2]), ([Ellipsis, 1], [1, 2]):
        want = np.einsum(a, args[0], b, *args[1:])
        got = mg.einsum(Tensor(a), args[0], Tensor(b), *args[1:])
        np.testing.assert_allclose(got.data, want, rtol=1e-13)
    check_grad(lambda x, y: np.einsum(x, [0, 1], y, [1, 2], [2, 0]), a, b)


def test_repeated_index_gradient_is_on_the_diagonal():
    m = Tensor(np.arange(9.0).reshape(3, 3), requires_grad=True)
    mg.einsum("ii->", m).backward()
    np.testing.assert_array_equal(m.grad, np.eye(3))
    m.grad = None
    mg.einsum("ii->i", m).backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(m.grad, np.diag([1.0, 2.0, 3.0]))


def test_constant_operands_get_no_gradient_and_float32_stays_float32():
    a = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    b = np.ones((3, 3), np.float32)
    out = mg.einsum("ij,jj->i", a, b)
    out.sum().backward()
    assert a.grad.dtype == np.float32
    np.testing.assert_array_equal(a.grad, np.ones((2, 3)))


# -------------------------------------------------------------- hypothesis sizes and batches

HYPO_PATTERNS = ["ij,jk->ik", "ii->i", "ij->", "iij,jk->ik", "ij,jk,kl->il",
                 "...ij,...jk->...ik", "i...,i...->...", "...ii->..."]


@st.composite
def einsum_case(draw: st.DrawFn) -> tuple[str, list[np.ndarray]]:
    """A pattern, a size per index (1-4), batch shapes that broadcast for its '...' operands."""
    subscripts = draw(st.sampled_from(HYPO_PATTERNS), label="subscripts")
    terms = subscripts.split("->")[0].split(",")
    size = {c: draw(st.integers(1, S.MAX_SIDE), label=c) for c in sorted(set("".join(terms))
                                                                       - {"."})}
    batches = draw(hnp.mutually_broadcastable_shapes(num_shapes=len(terms), max_dims=2,
                                                      max_side=3)).input_shapes
    shapes = []
    for term, batch in zip(terms, batches):
        letters = tuple(size[c] for c in term.replace("...", ""))
        if "..." not in term:
            shapes.append(letters)
        else:
            at = term.index("...")
            shapes.append(letters[:at] + batch + letters[at:])
    return subscripts, [draw(S.arrays(s), label=f"x{k}") for k, s in enumerate(shapes)]


@settings(max_examples=30)
@given(case=einsum_case())
def test_einsum_gradients_over_hypothesis_sizes(case):
    subscripts, xs = case
    want = np.einsum(subscripts, *xs)
    np.testing.assert_allclose(mg.einsum(subscripts, *xs).data, want, rtol=1e-12, atol=1e-13)
    check_grad(lambda *ts: mg.einsum(subscripts, *ts), *xs)


# ------------------------------------------------------------------------ complex inputs


def holomorphic_grads(fn, *zs: np.ndarray) -> list[np.ndarray]:
    """dL/dz of L = Σ c ⊙ fn(z) for analytic fn: ∂L/∂(Re z), real and imaginary parts of L
    differenced separately (an analytic L has dL/dz = ∂L/∂x)."""
    re = [np.ascontiguousarray(z.real) for z in zs]
    im = [z.imag for z in zs]
    cot = cotangent(fn(*[Tensor(z) for z in zs]).shape)

    def part(which):
        def f():
            with mg.no_grad():
                out = fn(*[Tensor(r + 1j * i) for r, i in zip(re, im)]).data
            return float(getattr(np.sum(out * cot), which))
        return f

    return [fd.numeric_grad(part("real"), r) + 1j * fd.numeric_grad(part("imag"), r)
            for r in re]


@pytest.mark.parametrize(("subscripts", "shapes"), [PATTERNS[i] for i in (0, 5, 9, 16, 18)])
def test_einsum_complex_inputs(subscripts, shapes):
    rng = np.random.default_rng(4)
    zs = [rng.normal(size=s) + 1j * rng.normal(size=s) for s in shapes]
    ts = [Tensor(z, requires_grad=True) for z in zs]
    out = mg.einsum(subscripts, *ts)
    np.testing.assert_allclose(out.data, np.einsum(subscripts, *zs), rtol=1e-13)
    out.backward(cotangent(out.shape))
    for t, num in zip(ts, holomorphic_grads(lambda *a: mg.einsum(subscripts, *a), *zs)):
        assert t.grad.dtype == np.complex128
        assert fd.rel_error(t.grad, num) < 1e-8


def test_tensordot_outer_inner_complex():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4))
    b = rng.normal(size=(4, 2)) + 1j * rng.normal(size=(4, 2))
    c = rng.normal(size=(5, 4)) + 1j * rng.normal(size=(5, 4))
    for fn, x, y in [(lambda p, q: mg.tensordot(p, q, 1), a, b), (mg.outer, a, b),
                     (mg.inner, a, c)]:
        tx, ty = Tensor(x, requires_grad=True), Tensor(y, requires_grad=True)
        out = fn(tx, ty)
        out.backward(cotangent(out.shape))
        for t, num in zip((tx, ty), holomorphic_grads(fn, x, y)):
            assert fd.rel_error(t.grad, num) < 1e-8


# ------------------------------------------------------------- tensordot, outer, inner

TENSORDOT = [((3, 4), (4, 2), 1), ((2, 3, 4), (3, 4, 2), 2), ((2, 3), (3, 2), 0),
             ((3, 4), (3, 4), 2), ((2, 3, 4), (4, 3, 2), ([1, 2], [1, 0])),
             ((2, 3, 4), (2, 5), ([0], [0])), ((3,), (3,), 1), ((2, 3), (2, 3), (-1, -1)),
             ((), (2, 3), 0)]


@pytest.mark.parametrize(("sa", "sb", "axes"), TENSORDOT)
def test_tensordot(sa, sb, axes):
    a, b = arrays_for([sa, sb], seed=6)
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    for out in (mg.tensordot(ta, tb, axes), np.tensordot(ta, tb, axes)):
        np.testing.assert_allclose(out.data, np.tensordot(a, b, axes), rtol=1e-13, atol=1e-14)
        assert mg.show_tape(out, print_it=False)[-1].name == "tensordot"
    check_grad(lambda x, y: mg.tensordot(x, y, axes), a, b)
    if axes == 2:
        check_grad(mg.tensordot, a, b)


OUTER = [((3,), (4,)), ((2, 3), (4,)), ((), (3,)), ((2, 2), (3, 1, 2)), ((), ())]
INNER = [((4,), (4,)), ((2, 3), (4, 3)), ((3,), (2, 3)), ((), ()), ((), (2, 3)),
         ((2, 1, 3), (3,)), ((2, 2), (3, 1, 2))]


@pytest.mark.parametrize(("op", "sa", "sb"), [("outer", *s) for s in OUTER]
                         + [("inner", *s) for s in INNER])
def test_outer_and_inner(op, sa, sb):
    a, b = arrays_for([sa, sb], seed=7)
    fn, ref = getattr(mg, op), getattr(np, op)
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    for out in (fn(ta, tb), ref(ta, tb)):
        np.testing.assert_allclose(out.data, ref(a, b), rtol=1e-13, atol=1e-14)
        assert out.shape == np.shape(ref(a, b))
        assert mg.show_tape(out, print_it=False)[-1].name == op
    check_grad(fn, a, b)


@settings(max_examples=25)
@given(data=st.data())
def test_tensordot_over_hypothesis_shapes(data):
    free_a = data.draw(S.shapes(max_dims=2), label="free a")
    summed = data.draw(S.shapes(max_dims=2), label="summed")
    free_b = data.draw(S.shapes(max_dims=2), label="free b")
    perm = data.draw(st.permutations(range(len(summed))), label="order in b")
    a = data.draw(S.arrays(free_a + summed))
    b = data.draw(S.arrays(tuple(summed[i] for i in perm) + free_b))
    axes = (list(range(len(free_a), a.ndim)), [perm.index(i) for i in range(len(summed))])
    np.testing.assert_allclose(mg.tensordot(a, b, axes).data, np.tensordot(a, b, axes),
                               rtol=1e-12, atol=1e-13)
    check_grad(lambda x, y: mg.tensordot(x, y, axes), a, b)


# ------------------------------------------------------------------ dot: np.dot semantics

DOT_SHAPES = [(), (3,), (2, 3), (3, 2), (2, 2, 3), (4, 3, 2), (2, 1, 3, 2)]


@pytest.mark.parametrize("sa", DOT_SHAPES)
@pytest.mark.parametrize("sb", DOT_SHAPES)
def test_dot_matches_np_dot_on_nd_inputs(sa, sb):
    a, b = arrays_for([sa, sb], seed=8)
    try:
        want = np.dot(a, b)
    except ValueError:
        with pytest.raises(ValueError, match="dot|matmul"):
            mg.dot(a, b)
        return
    ta = Tensor(a, requires_grad=True)
    for out in (mg.dot(ta, b), np.dot(ta, b), ta.dot(b)):
        assert out.shape == np.shape(want)
        np.testing.assert_allclose(out.data, want, rtol=1e-13, atol=1e-14)
    check_grad(mg.dot, a, b)


# ------------------------------------------------------------------------------ errors

ERRORS = [
    ("ij,jk->ik", [(3, 4), (5, 6)], r"einsum: 'ij,jk->ik' on \(3×4\)\(5×6\): index 'j' has "
     r"size 4 in operand 0 and 5 in operand 1"),
    ("ij->k", [(3, 4)], r"index 'k' appears in the output but in no operand"),
    ("ij->ii", [(3, 3)], r"index 'i' appears in the output more than once"),
    ("ijk", [(3, 4)], r"on \(3×4\): operand 0 has 2 axes but its subscripts 'ijk' name 3"),
    ("ii->i", [(3, 4)], r"index 'i' labels axes of sizes 3 and 4 in operand 0"),
    ("i,j->ij", [(3,)], r"the subscripts name 2 operand\(s\) but 1 were given"),
    ("i1->i", [(3, 3)], r"invalid subscript\(s\) '1'"),
    ("i.j", [(3, 3)], r"invalid subscript\(s\) '\.'"),
    ("ij->i,j", [(3, 3)], r"the output has the invalid subscript\(s\) ','"),
    ("...i->i", [(2, 3)], r"'\.\.\.' stands for 1 axis here, which the output must keep"),
    ("...i,...i->...", [(2, 3), (4, 3)], r"an axis under '\.\.\.' has size 2 in operand 0 and "
     r"4 in operand 1"),
    ("i......->i", [(3, 2)], r"'\.\.\.' more than once"),
]


@pytest.mark.parametrize(("subscripts", "shapes", "message"), ERRORS)
def test_einsum_errors_name_the_subscripts_and_shapes(subscripts, shapes, message):
    xs = [Tensor(np.ones(s)) for s in shapes]
    with pytest.raises(ValueError, match=message):
        mg.einsum(subscripts, *xs)
    with pytest.raises(ValueError):  # NumPy refuses them too
        np.einsum(subscripts, *[x.data for x in xs])


def test_other_errors():
    with pytest.raises(TypeError, match=r"einsum: subscripts must be a string, or after each "
                       r"operand a sublist of integers in \[0, 52\)"):
        mg.einsum(np.ones(3), [0, 60])
    with pytest.raises(ValueError, match="einsum: 'ij' was given no operands"):
        mg.einsum("ij")
    a, b = np.ones((3, 4)), np.ones((5, 6))
    with pytest.raises(ValueError, match=r"tensordot: \(3×4\)\(5×6\): axis 1 of a \(size 4\) "
                       r"and axis 0 of b \(size 5\) are summed together"):
        mg.tensordot(a, b, 1)
    with pytest.raises(ValueError, match=r"tensordot: axes=3 on \(3×4\)\(5×6\): an integer "
                       r"axes must be in \[0, 2\]"):
        mg.tensordot(a, b, 3)
    with pytest.raises(ValueError, match="the two sequences must name as many axes"):
        mg.tensordot(a, b, ([0], [0, 1]))
    with pytest.raises(ValueError, match="axis 5 is out of range for a, which has 2 axes"):
        mg.tensordot(a, b, ([5], [0]))
    with pytest.raises(ValueError, match="names an axis of b twice"):
        mg.tensordot(a, a, ([0, 1], [1, -1]))
    with pytest.raises(TypeError, match="tensordot: axes must be an integer or a pair"):
        mg.tensordot(a, b, "x")
    with pytest.raises(ValueError, match=r"inner: \(3×4\)\(5×6\): the last axes \(sizes 4 and "
                       r"6\) are summed together"):
        mg.inner(a, b)


# ------------------------------------------------------------------------- second order
# The gradient of a contraction is a contraction of g with the other operands, so its own
# derivatives (w.r.t. every operand) are again contractions: checked on the recorded backward.


@pytest.mark.parametrize(("subscripts", "shapes"), PATTERNS, ids=IDS)
def test_einsum_second_order_every_element(subscripts, shapes):
    check_grad2(lambda *ts: mg.einsum(subscripts, *ts), *arrays_for(shapes, seed=9))


SECOND_ORDER_OTHERS = [
    (lambda a, b: mg.tensordot(a, b, 1), [(3, 2), (2, 3)]),
    (lambda a, b: mg.tensordot(a, b, ([1, 0], [0, 2])), [(2, 3, 2), (3, 2, 2)]),
    (mg.outer, [(2, 2), (3,)]),
    (mg.inner, [(2, 3), (2, 1, 3)]),
    (mg.dot, [(2, 3), (2, 3, 2)]),
    (mg.dot, [(3,), (2, 3, 2)]),
    (lambda a, b: mg.einsum("ij,jk->ik", mg.tanh(a), b) * a.sum(), [(2, 3), (3, 2)]),
]


@pytest.mark.parametrize(("fn", "shapes"), SECOND_ORDER_OTHERS)
def test_tensordot_outer_inner_dot_second_order_every_element(fn, shapes):
    check_grad2(fn, *arrays_for(shapes, seed=10))


@settings(max_examples=20)
@given(case=einsum_case())
def test_einsum_second_order_directional_over_hypothesis_sizes(case):
    subscripts, xs = case
    check_grad2(lambda *ts: mg.einsum(subscripts, *ts), *xs, directional=True)


def test_third_order_through_einsum():
    # s = Σ_i x_i³ as einsum('i,i,i->', x, x, x): ∇s = 3x², then 6x, then 6
    x = Tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)
    (g,) = mg.grad(mg.einsum("i,i,i->", x, x, x), x, create_graph=True)
    (h,) = mg.grad(mg.einsum("i->", g), x, create_graph=True)
    (t,) = mg.grad(h.sum(), x)
    np.testing.assert_allclose(g.data, 3 * x.data**2, rtol=1e-15)
    np.testing.assert_allclose(h.data, 6 * x.data, rtol=1e-15)
    np.testing.assert_allclose(t, [6.0, 6.0, 6.0], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_audit_checks_every_contraction_by_complex_step(dtype):
    rng = np.random.default_rng(12)
    A, B, M = (Tensor(rng.normal(size=s).astype(dtype), requires_grad=True)
               for s in [(3, 4), (4, 3), (2, 3, 3)])

    def f() -> Tensor:
        out = mg.einsum("ij,jk->ik", A, B).sum() + mg.einsum("...ii->...", M).sum()
        out = out + mg.einsum("bii,ij,jk->bk", M, A, B).sum() + mg.tensordot(A, B, 1).sum()
        return out + mg.outer(A, B).sum() + mg.inner(A, B.T).sum()

    report = mg.audit(f)
    assert report.ok, report
    mine = [c for c in report if c.op in ("einsum", "tensordot", "outer", "inner")]
    assert len(mine) == 6
    assert all(c.checked and c.method.split()[0] == "complex" for c in mine), report
