"""`draw`: the tape behind a tensor as a picture (SVG inline in Jupyter, DOT for graphviz).

    >>> g = mg.draw(J)              # a Graph; a notebook cell shows it as SVG
    >>> g.save("tape.svg")          # or .png / .pdf (matplotlib), .dot / .gv (DOT text)
    >>> print(g.to_dot())           # for `dot -Tsvg` where graphviz is installed

One node per record (`#k op` and its output shape, k as in `show_tape`) and per leaf (a
parameter by name, a constant as `const`), one edge per record input, in data-flow direction
(input → op → consumer; `[j]` marks output j of a record with several). Records made inside a
`minigrad.scope` are drawn in one shaded box per scope (a `cluster` in DOT), so the time steps
of a model (`t=1`, `t=2`, ...) show as bands. A tape of more than `AUTO_COLLAPSE` records is
drawn collapsed: one box per scope with its op count and the leaves it reads, consecutive
boxes merged further until at most `max_boxes` remain.

Layers come from networkx (topological generations of the record graph, each leaf one row
above its first consumer, leaves shared by several scopes in a top row; `multipartite_layout`
places them); matplotlib draws (no system graphviz). Neither is imported by `import minigrad`:
they are the `draw` extra (`pip install "minigrad[draw]"`).
"""

from __future__ import annotations

import importlib
import io
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .tape import Record, tape_of

if TYPE_CHECKING:  # pragma: no cover
    from .tensor import Tensor

__all__ = ["AUTO_COLLAPSE", "Graph", "Node", "draw"]

AUTO_COLLAPSE = 150  # records above which `draw` collapses each scope into one box
SMALL = 4            # `values=True` prints tensors with at most this many elements
PALETTE = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462",
           "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f")
FILL = {"op": "#ffffff", "param": "#cfe2ff", "const": "#eeeeee"}


@dataclass
class Node:
    """One box of the picture: a record (`op`), a leaf (`param`/`const`) or a collapsed
    `group` of records; `scope` is the scope it is drawn in, `shared` marks a leaf read in
    several scopes (drawn outside them, in the top row), `outputs` counts a record's outputs."""

    key: str
    label: str
    kind: str
    scope: str | None = None
    shared: bool = False
    outputs: int = 1


@dataclass
class Graph:
    """The picture of a tape: `nodes` by key, `edges` as (source, target, label)."""

    nodes: dict[str, Node]
    edges: list[tuple[str, str, str]]
    collapsed: bool

    @property
    def scopes(self) -> list[str]:
        """The scopes drawn as boxes, in recording order; an enclosing scope (`a` of `a/b`)
        comes before the scopes inside it."""
        out: dict[str, None] = {}
        for n in self.nodes.values():
            parts = n.scope.split("/") if n.scope is not None else []
            out.update(dict.fromkeys("/".join(parts[:d]) for d in range(1, len(parts) + 1)))
        return list(out)

    def __repr__(self) -> str:
        how = ", collapsed" if self.collapsed else ""
        return (f"<Graph: {len(self.nodes)} nodes, {len(self.edges)} edges, "
                f"{len(self.scopes)} scopes{how}>")

    def to_networkx(self) -> Any:
        """A networkx `MultiDiGraph` (node attributes: label, kind, scope; edges: label)."""
        g = _need("networkx").MultiDiGraph()
        g.add_nodes_from((k, {"label": n.label, "kind": n.kind, "scope": n.scope})
                         for k, n in self.nodes.items())
        g.add_edges_from((a, b, {"label": label}) for a, b, label in self.edges)
        return g

    def to_dot(self) -> str:
        """Graphviz DOT text: one `subgraph cluster_i` per scope, data flowing top to bottom."""
        colour = self._colours()

        def node(n: Node, pad: str) -> str:
            fill = colour[n.scope] if n.kind == "group" else FILL[n.kind]
            shape = "ellipse" if n.kind == "op" else "box"
            return f'{pad}{n.key} [label={_q(n.label)}, shape={shape}, fillcolor="{fill}"];'

        lines = ["digraph tape {", "  rankdir=TB;",
                 '  node [fontname="Helvetica", fontsize=10, style="rounded,filled"];']
        lines += [node(n, "  ") for n in self.nodes.values() if n.scope is None]

        def cluster(i: int, s: str, pad: str) -> list[str]:   # nested scopes nest clusters
            out = [f"{pad}subgraph cluster_{i} {{", f"{pad}  label={_q(s.split('/')[-1])};",
                   f'{pad}  style="rounded,filled"; fillcolor="{colour[s]}40"; color="#999999";']
            out += [node(n, pad + "  ") for n in self.nodes.values() if n.scope == s]
            for j, inner in enumerate(self.scopes):
                if inner.rpartition("/")[0] == s:
                    out += cluster(j, inner, pad + "  ")
            return [*out, pad + "}"]

        for i, s in enumerate(self.scopes):
            if "/" not in s:
                lines += cluster(i, s, "  ")
        lines += [f"  {a} -> {b}" + (f" [label={_q(label)}];" if label else ";")
                  for a, b, label in self.edges]
        return "\n".join([*lines, "}"]) + "\n"

    def layers(self) -> dict[int, list[str]]:
        """Row of each node, top to bottom: records and groups by topological generation
        (cycles among collapsed groups condensed), a leaf one row above its first consumer,
        leaves shared by several scopes in row 0."""
        nx = _need("networkx")
        g = self.to_networkx()
        core = nx.DiGraph(g.subgraph(k for k, n in self.nodes.items()
                                     if n.kind in ("op", "group")))
        dag = nx.condensation(core)
        row: dict[str, int] = {}
        for i, gen in enumerate(nx.topological_generations(dag)):
            for c in gen:
                row.update(dict.fromkeys(dag.nodes[c]["members"], i + 2))
        scopes_in: dict[float, set[str | None]] = {}
        for k, r in row.items():
            scopes_in.setdefault(r, set()).add(self.nodes[k].scope)
        place: dict[str, float] = dict(row)
        for k, n in self.nodes.items():
            if k not in row:
                below = min((row[v] for v in g.successors(k)), default=2)
                # a row of its own when the row above its reader holds another scope's ops
                clash = scopes_in.get(below - 1, {n.scope}) != {n.scope}
                place[k] = 0 if n.shared else below - (0.5 if clash else 1)
        number = {r: i for i, r in enumerate(sorted(set(place.values())))}
        out: dict[int, list[str]] = {}
        for k in self.nodes:                       # insertion (recording) order within a row
            out.setdefault(number[place[k]], []).append(k)
        return out

    def figure(self) -> Any:
        """The picture as a matplotlib `Figure` (not registered with pyplot)."""
        nx = _need("networkx")
        _need("matplotlib")
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyBboxPatch

        rows = self.layers()
        pos = nx.multipartite_layout(self.to_networkx(), subset_key=rows, align="horizontal")
        widest = max(len(r) for r in rows.values())
        unit = _unit(pos, rows)                    # data units between neighbouring slots
        lines = [n.label.split("\n") for n in self.nodes.values()]
        slot = max(1.6, 0.062 * max(len(s) for ls in lines for s in ls) + 0.3)   # inches
        fig = Figure(figsize=(max(3.0, slot * widest + 1.2),
                              max(1.5, (0.14 * max(map(len, lines)) + 0.3) * len(rows))))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
        ax.set_xlim(min(xs) - 1.1 * unit, max(xs) + 0.6 * unit)
        ax.set_ylim(max(ys) + 0.6 * unit, min(ys) - 0.6 * unit)   # row 0 at the top
        colour = self._colours()
        deepest = max((s.count("/") for s in self.scopes), default=0)
        for i, s in enumerate(self.scopes):        # one shaded band per scope, nested
            inside = [pos[k] for k, n in self.nodes.items()
                      if n.scope is not None and (n.scope + "/").startswith(s + "/")]
            if self.collapsed or not inside:
                continue
            x0, x1 = min(p[0] for p in inside), max(p[0] for p in inside)
            y0, y1 = min(p[1] for p in inside), max(p[1] for p in inside)
            px, py = (unit * (c + 0.1 * (deepest - s.count("/"))) for c in (0.48, 0.42))
            box = FancyBboxPatch((x0 - px, y0 - py), x1 - x0 + 2 * px, y1 - y0 + 2 * py,
                                 fc=colour[s], ec="#999999", alpha=0.35, lw=0.8,
                                 boxstyle=f"round,pad=0,rounding_size={0.2 * unit}",
                                 zorder=0.1 * s.count("/"))
            box.set_gid(f"scope-{i}")
            ax.add_patch(box)
            name = s.split("/")[-1]
            if any(c.startswith(s + "/") for c in self.scopes):    # an enclosing scope
                ax.text(x0 - px, y0 - py, name, ha="left", va="bottom", fontsize=8,
                        color="#555555", fontweight="bold")
            else:
                ax.text(x0 - px - 0.04 * unit, (y0 + y1) / 2, name, ha="right", va="center",
                        fontsize=8, color="#555555", fontweight="bold")
        text = {}
        for k, n in self.nodes.items():
            fill = colour[n.scope] if n.kind == "group" else FILL[n.kind]
            style = "round,pad=0.3" if n.kind != "op" else "round4,pad=0.3"
            t = ax.text(*pos[k], n.label, ha="center", va="center", fontsize=7, zorder=3,
                        family="monospace" if n.kind != "group" else "sans-serif",
                        bbox={"boxstyle": style, "fc": fill, "ec": "#444444", "lw": 0.7})
            t.set_gid(f"node-{k}")
            text[k] = t
        where = {k: r for r, ks in rows.items() for k in ks}
        twins: Counter[tuple[str, str, str]] = Counter()   # the same arrow drawn again
        for i, (a, b, label) in enumerate(self.edges):
            far, nth = abs(where[b] - where[a]) > 1, twins[a, b, label]
            twins[a, b, label] += 1
            rad = (0.25 if far else 0) + 0.3 * nth * (-1) ** nth
            outs = self.nodes[a].outputs             # output j leaves from port j of n
            port = (int(label[1:-1]) + 0.5) / outs if outs > 1 else 0.5
            arrow = ax.annotate(
                "", xy=(0.5, 1), xycoords=text[b], xytext=(port, 0), textcoords=text[a],
                zorder=2, arrowprops={"arrowstyle": "-|>", "lw": 0.6, "mutation_scale": 9,
                                      "color": "#999999" if far else "#444444", "shrinkA": 0,
                                      "shrinkB": 0, "connectionstyle": f"arc3,rad={rad}"})
            arrow.arrow_patch.set_gid(f"edge-{i}")
            if label and not nth:                  # `[j]` or `×n` under the port
                ax.annotate(label, xy=(port, 0), xycoords=text[a], xytext=(2, -8),
                            textcoords="offset points", fontsize=6, color="#aa3333", zorder=4)
        return fig

    def to_svg(self) -> str:
        """The picture as SVG text (each node an element `id="node-<key>"`, each edge
        `id="edge-<i>"`, each scope band `id="scope-<i>"`)."""
        import matplotlib

        buf = io.StringIO()
        with matplotlib.rc_context({"svg.fonttype": "none"}):   # labels stay <text>
            self.figure().savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.05)
        return buf.getvalue()

    def _repr_svg_(self) -> str:
        return self.to_svg()

    def save(self, path: str | Path) -> Path:
        """Write the picture: `.dot`/`.gv` as DOT text, `.svg` as `to_svg()`, anything else
        through matplotlib (`.png`, `.pdf`, ...). Returns the path."""
        path = Path(path)
        if path.suffix in (".dot", ".gv", ".svg"):
            path.write_text(self.to_dot() if path.suffix != ".svg" else self.to_svg())
        else:
            self.figure().savefig(path, dpi=150, bbox_inches="tight", pad_inches=0.05)
        return path

    def _colours(self) -> dict[str | None, str]:
        out: dict[str | None, str] = {None: "#ffffff"}
        out.update({s: PALETTE[i % len(PALETTE)] for i, s in enumerate(self.scopes)})
        return out


def draw(t: Tensor, *, values: bool = False, collapse: bool | None = None,
         max_boxes: int = 60) -> Graph:
    """The tape behind `t` as a `Graph` (shows as SVG in Jupyter; `to_dot()`, `save()`).

    values: print the values and `.grad` of leaves and of `t` (their norms above 4 elements).
    collapse: one box per scope (True), every record (False), or collapse when the tape has
        more than `AUTO_COLLAPSE` records (None).
    max_boxes: when collapsed, consecutive scope boxes are merged until at most this many.
    """
    from .tensor import Tensor

    if not isinstance(t, Tensor):
        raise TypeError(f"draw: t must be a Tensor; got {type(t).__name__}")
    if collapse not in (None, True, False):
        raise ValueError(f"draw: collapse must be True, False or None; got {collapse!r}")
    if not isinstance(max_boxes, int) or max_boxes < 1:
        raise ValueError(f"draw: max_boxes must be a positive int; got {max_boxes!r}")
    tape = tape_of(t)
    if not tape:                                   # a leaf: one node
        return Graph({"l0": _leaf("l0", t, values, {None})}, [], False)
    if collapse is None:
        collapse = len(tape) > AUTO_COLLAPSE
    return _collapsed(tape, t, values, max_boxes) if collapse else _full(tape, t, values)


def _full(tape: list[Record], root: Tensor, values: bool) -> Graph:
    row = {id(r): i for i, r in enumerate(tape)}
    readers: dict[int, set[str | None]] = {}       # scopes of the records reading each leaf
    for r in tape:
        for s in r.inputs:
            if type(s) is not tuple:
                readers.setdefault(id(s), set()).add(r.scope)
    nodes: dict[str, Node] = {}
    edges = []
    leaf_key: dict[int, str] = {}
    for i, r in enumerate(tape):
        for s in r.inputs:
            if type(s) is tuple:
                src, j = s
                mark = f"[{j}]" if len(src.out_shapes) > 1 else ""
                edges.append((f"r{row[id(src)]}", f"r{i}", mark))
                continue
            if id(s) not in leaf_key:
                k = leaf_key[id(s)] = f"l{len(leaf_key)}"
                nodes[k] = _leaf(k, s, values, readers[id(s)])
            edges.append((leaf_key[id(s)], f"r{i}", ""))
        label = f"#{i} {r.name}\n{_shapes(r)}"
        if r is root.record:
            label += _value_lines(root, values)
        nodes[f"r{i}"] = Node(f"r{i}", label, "op", r.scope, outputs=len(r.out_shapes))
    return Graph(nodes, edges, False)


def _collapsed(tape: list[Record], root: Tensor, values: bool, max_boxes: int) -> Graph:
    units: dict[Any, int] = {}                     # a scope, or one unscoped record: a unit
    unit_of = [units.setdefault(r.scope if r.scope is not None else (i,), len(units))
               for i, r in enumerate(tape)]
    per = math.ceil(len(units) / max_boxes)        # consecutive units merged into one box
    box_of = [u // per for u in unit_of]
    members: dict[int, list[int]] = {}
    for i, b in enumerate(box_of):
        members.setdefault(b, []).append(i)
    row = {id(r): i for i, r in enumerate(tape)}
    nodes: dict[str, Node] = {}
    for b, rows in members.items():
        recs = [tape[i] for i in rows]
        names = list(dict.fromkeys(r.scope or f"#{i} {r.name}" for i, r in zip(rows, recs)))
        leaves = {id(s): s for r in recs for s in r.inputs if type(s) is not tuple}
        params = sorted({s.name or "leaf" for s in leaves.values() if s.requires_grad})
        consts = sum(not s.requires_grad for s in leaves.values())
        reads = " ".join(params[:8] + (["…"] if len(params) > 8 else []))
        reads += f"{' + ' if params else ''}{consts} const" if consts else ""
        scope = next((r.scope for r in recs if r.scope is not None), None)
        if len(recs) == 1 and scope is None:
            label, kind = f"{names[0]}\n{_shapes(recs[0])}", "op"
        else:
            title = names[0] if len(names) == 1 else f"{names[0]} … {names[-1]}"
            counts = Counter(r.name for r in recs).most_common(4)
            ops = ", ".join(f"{c} {op}" for op, c in counts)
            n = len(recs)
            label, kind = f"{title}: {n} op{'s' if n != 1 else ''} ({ops})", "group"
        label += f"\n← {reads}" if reads else ""
        if root.record in recs:
            label += _value_lines(root, values)
        nodes[f"g{b}"] = Node(f"g{b}", label, kind, scope)
    flow: Counter[tuple[int, int]] = Counter()
    for i, r in enumerate(tape):
        for s in r.inputs:
            if type(s) is tuple and box_of[row[id(s[0])]] != box_of[i]:
                flow[box_of[row[id(s[0])]], box_of[i]] += 1
    edges = [(f"g{a}", f"g{b}", f"×{n}" if n > 1 else "") for (a, b), n in flow.items()]
    return Graph(nodes, edges, True)


def _leaf(key: str, leaf: Tensor, values: bool, readers: set[str | None]) -> Node:
    """A leaf's node: drawn in the scope of its readers if they share one, else shared."""
    name = leaf.name or ("leaf" if leaf.requires_grad else "const")
    label = f"{name}\n{tuple(leaf.shape)}" + _value_lines(leaf, values)
    scope = next(iter(readers)) if len(readers) == 1 else None
    return Node(key, label, "param" if leaf.requires_grad else "const", scope,
                shared=len(readers) > 1)


def _value_lines(t: Tensor, values: bool) -> str:
    """With `values` on: `= value` and `∇ = grad` of a small tensor, the norms ‖·‖ and ‖∇‖
    (Frobenius) of a larger one."""
    if not values:
        return ""
    if t.data.size > SMALL:
        out = f"\n‖·‖ = {np.linalg.norm(t.data):.3g}"
        return out + (f"\n‖∇‖ = {np.linalg.norm(t.grad):.3g}" if t.grad is not None else "")
    out = f"\n= {_fmt(t.data)}"
    return out + (f"\n∇ = {_fmt(t.grad)}" if t.grad is not None else "")


def _fmt(a: np.ndarray) -> str:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return f"{float(a):.4g}"
    return "[" + ", ".join(f"{v:.3g}" for v in a.ravel()) + "]"


def _shapes(r: Record) -> str:
    return ", ".join(str(tuple(s)) for s in r.out_shapes)


def _unit(pos: dict[str, Any], rows: dict[int, list[str]]) -> float:
    """One grid step of the layout (networkx rescales its grid): the distance between two
    rows, or between two neighbours in the only row."""
    first = next(iter(rows.values()))
    if len(rows) > 1:
        return abs(float(pos[next(iter(rows[1]))][1] - pos[first[0]][1]))
    return abs(float(pos[first[1]][0] - pos[first[0]][0])) if len(first) > 1 else 1.0


def _q(text: str) -> str:
    """A DOT string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _need(module: str) -> Any:
    """Import `module` (networkx, matplotlib) when a picture is asked for."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"draw: needs {module}; pip install 'minigrad[draw]'") from err
