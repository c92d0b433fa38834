"""`mg.draw`: the SVG holds one element per record and leaf and one arrow per record input
(counted from the tape independently), scopes become bands / DOT clusters, big tapes
collapse to at most `max_boxes` boxes, and `import minigrad` stays free of the drawing
libraries."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import models
from minigrad.draw import AUTO_COLLAPSE, Graph
from minigrad.tape import tape_of

REPO = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"


def expected_counts(t: mg.Tensor) -> tuple[int, int]:
    """Nodes = records + distinct leaves read by them; edges = inputs of all records."""
    tape = tape_of(t)
    leaves = {id(s) for r in tape for s in r.inputs if type(s) is not tuple}
    return len(tape) + len(leaves), sum(len(r.inputs) for r in tape)


def parse_svg(g: Graph) -> dict[str, list[ET.Element]]:
    """The rendered SVG's node, edge and scope elements, by kind."""
    root = ET.fromstring(g.to_svg())
    assert root.tag == f"{SVG}svg"
    out: dict[str, list[ET.Element]] = {"node": [], "edge": [], "scope": []}
    for el in root.iter(f"{SVG}g"):
        kind = (el.get("id") or "").split("-")[0]
        if kind in out:
            out[kind].append(el)
    return out


def texts(el: ET.Element) -> list[str]:
    return [t.text or "" for t in el.iter(f"{SVG}text")]


def lstm_loss(T: int) -> mg.Tensor:
    m = models.LSTM(n_x=3, n_a=4, n_y=2, seed=0)
    x = np.random.default_rng(0).standard_normal((3, 1, T))
    return m(x).sum()


def test_scalar_chain_svg_counts_and_values() -> None:
    x = mg.Tensor(2.0, requires_grad=True, name="x")
    y = mg.tanh(x * x + 1.0)                   # mul reads x twice: two arrows from one node
    y.backward()
    g = mg.draw(y, values=True)
    parts = parse_svg(g)
    n_nodes, n_edges = expected_counts(y)
    assert (len(parts["node"]), len(parts["edge"])) == (n_nodes, n_edges) == (5, 5)
    by_id = {el.get("id"): texts(el) for el in parts["node"]}
    leaf_x = next(v for v in by_id.values() if v[0] == "x")
    assert leaf_x[:3] == ["x", "()", "= 2"] and leaf_x[3].startswith("∇ = ")
    assert float(leaf_x[3].split("= ")[1]) == pytest.approx(float(x.grad), rel=1e-3)
    root = next(v for v in by_id.values() if v[0].endswith("tanh"))
    assert root[2] == f"= {float(np.tanh(5.0)):.4g}"
    assert not parts["scope"]
    assert [e for e in g.edges if e[0] == "l0"] == [("l0", "r0", ""), ("l0", "r0", "")]


def test_broadcast_bias_add() -> None:
    W = mg.Tensor(np.ones((3, 2)), requires_grad=True, name="W")
    b = mg.Tensor(np.zeros((3, 1)), requires_grad=True, name="b")
    x = mg.Tensor(np.ones((2, 4)))
    J = (W @ x + b).sum()
    g = mg.draw(J)
    parts = parse_svg(g)
    assert (len(parts["node"]), len(parts["edge"])) == expected_counts(J) == (6, 5)
    labels = {tuple(texts(el)) for el in parts["node"]}
    assert {("W", "(3, 2)"), ("b", "(3, 1)"), ("const", "(2, 4)"), ("#1 add", "(3, 4)")} <= labels
    assert ("l2", "r1", "") in g.edges        # the (3, 1) bias flows into the (3, 4) add
    J.backward()
    shown = {n.label.split("\n")[0]: n.label for n in mg.draw(J, values=True).nodes.values()}
    assert shown["b"] == "b\n(3, 1)\n= [0, 0, 0]\n∇ = [4, 4, 4]"     # ∂J/∂b_i = 4 columns
    assert shown["W"] == f"W\n(3, 2)\n‖·‖ = {6 ** 0.5:.3g}\n‖∇‖ = {96 ** 0.5:.3g}"  # 6 entries of 4


def test_split_outputs_are_marked() -> None:
    a = mg.Tensor(np.arange(12.0).reshape(6, 2), requires_grad=True, name="a")
    p, q, r = mg.split(a, 3)
    J = (p * r + q).sum()
    g = mg.draw(J)
    parts = parse_svg(g)
    assert (len(parts["node"]), len(parts["edge"])) == expected_counts(J) == (5, 6)
    from_split = sorted((b, label) for a_, b, label in g.edges if a_ == "r0")
    assert from_split == [("r1", "[0]"), ("r1", "[2]"), ("r2", "[1]")]
    dot = g.to_dot()
    assert 'r0 -> r1 [label="[2]"];' in dot and 'r0 -> r2 [label="[1]"];' in dot


@pytest.fixture(scope="module")
def lstm3() -> tuple[mg.Tensor, Graph]:
    J = lstm_loss(3)
    return J, mg.draw(J)


def test_lstm_three_steps_counts_and_bands(lstm3) -> None:
    J, g = lstm3
    assert not g.collapsed and len(tape_of(J)) <= AUTO_COLLAPSE
    parts = parse_svg(g)
    assert (len(parts["node"]), len(parts["edge"])) == expected_counts(J)
    assert len(parts["scope"]) == 3 == len(g.scopes)
    assert g.scopes == ["t=1", "t=2", "t=3"]
    names = {texts(el)[0] for el in parts["node"]}
    assert {"W_c", "W_u", "W_f", "W_o", "b_c", "b_u", "b_f", "b_o", "W_y", "b_y"} <= names


def test_lstm_dot_clusters_hold_their_records(lstm3) -> None:
    J, g = lstm3
    dot = g.to_dot()
    tape = tape_of(J)
    clusters = re.findall(r"subgraph cluster_(\d+) \{\n    label=\"([^\"]+)\";(.*?)\n  \}", dot,
                          flags=re.S)
    assert [label for _, label, _ in clusters] == ["t=1", "t=2", "t=3"]
    for _, label, body in clusters:          # the records of a step sit in its cluster
        inside = set(re.findall(r"^\s+(r\d+) \[", body, flags=re.M))
        assert inside == {f"r{i}" for i, r in enumerate(tape) if r.scope == label}
    for name in ("W_c", "W_u", "W_f", "W_o", "b_c", "b_u", "b_f", "b_o", "W_y", "b_y"):
        assert f'label="{name}\\n' in dot
    arrows = re.findall(r"^  ([lr])(\d+) -> r(\d+)", dot, flags=re.M)
    assert len(arrows) == expected_counts(J)[1]
    assert all(kind == "l" or int(a) < int(b) for kind, a, b in arrows)   # data-flow order


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
def test_graphviz_reads_the_dot(lstm3) -> None:
    J, g = lstm3
    out = subprocess.run(["dot", "-Tsvg"], input=g.to_dot(), capture_output=True, text=True,
                         timeout=120, check=True).stdout
    classes = Counter(el.get("class") for el in ET.fromstring(out).iter(f"{SVG}g"))
    n_nodes, n_edges = expected_counts(J)
    assert (classes["node"], classes["edge"], classes["cluster"]) == (n_nodes, n_edges, 3)


def test_nested_scopes_nest_clusters_and_bands() -> None:
    x = mg.Tensor(np.ones(3), requires_grad=True, name="x")
    with mg.scope("enc"):
        with mg.scope("layer1"):
            z = mg.tanh(x)
        J = (z * 2.0).sum()
    g = mg.draw(J)
    assert g.scopes == ["enc", "enc/layer1"]
    assert len(parse_svg(g)["scope"]) == 2
    dot = g.to_dot()
    outer = dot[dot.index("  subgraph cluster_0 {"):dot.index("\n  }\n")]
    assert '\n    subgraph cluster_1 {\n      label="layer1";' in outer   # inside enc's
    assert re.findall(r"^      (r\d+) \[", outer, flags=re.M) == ["r0"]      # tanh in layer1
    assert re.findall(r"^    (r\d+) \[", outer, flags=re.M) == ["r1", "r2"]  # mul, sum in enc


def test_lstm_fifty_steps_collapses_to_one_box_per_step(tmp_path) -> None:
    J = lstm_loss(50)
    tape = tape_of(J)
    assert len(tape) > AUTO_COLLAPSE
    g = mg.draw(J)                             # collapsed automatically
    assert g.collapsed and g.scopes == [f"t={t}" for t in range(1, 51)]
    parts = parse_svg(g)
    assert len(parts["node"]) <= 60
    labels = [texts(el) for el in parts["node"]]
    ops = [int(m.group(1)) for lines in labels
           if (m := re.match(r"t=\d+: (\d+) ops", lines[0]))]
    singles = [lines for lines in labels if re.match(r"#\d+ ", lines[0])]
    assert len(ops) == 50 and sum(ops) + len(singles) == len(tape)
    assert Counter(r.scope for r in tape)["t=7"] == ops[6]
    assert ("g5", "g6", "×2") in g.edges         # a⟨6⟩ and c⟨6⟩ carried into step 7
    assert len(parts["edge"]) == len(g.edges)
    few = mg.draw(J, max_boxes=10)
    assert len(few.nodes) <= 10 and list(few.nodes.values())[0].label.startswith("t=1 … t=6:")
    assert g.save(tmp_path / "g.dot").read_text() == g.to_dot()
    assert ET.parse(g.save(tmp_path / "g.svg")).getroot().tag == f"{SVG}svg"


def test_collapse_on_request_and_off(lstm3) -> None:
    J, _ = lstm3
    small = mg.draw(J, collapse=True)
    assert len(small.nodes) == 3 + sum(r.scope is None for r in tape_of(J))
    leaf = mg.Tensor([1.0, 2.0], requires_grad=True, name="w")
    only = mg.draw(leaf, values=True)
    assert list(only.nodes.values())[0].label == "w\n(2,)\n= [1, 2]" and not only.edges
    with pytest.raises(TypeError, match="draw: t must be a Tensor"):
        mg.draw(np.ones(2))
    with pytest.raises(ValueError, match="draw: collapse must be"):
        mg.draw(J, collapse="yes")


def test_import_minigrad_does_not_import_drawing_libraries() -> None:
    code = textwrap.dedent(r"""
        import sys, minigrad as mg
        heavy = [m for m in sys.modules if m.split(".")[0] in ("networkx", "matplotlib")]
        assert not heavy, heavy
        sys.modules["networkx"] = None                 # as if it were not installed
        g = mg.draw(mg.Tensor([1.0], requires_grad=True, name="w").sum())
        assert 'label="w\\n(1,)"' in g.to_dot()         # DOT needs neither library
        try:
            g.to_svg()
        except ImportError as e:
            assert "pip install 'minigrad[draw]'" in str(e), e
        else:
            raise AssertionError("to_svg without networkx did not raise")
    """)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
