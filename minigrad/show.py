"""`show_tape`: print the Wengert list that `backward()` will replay.

    #  op       inputs                output
    0  matmul   W_a(4, 7), const(7, 2) -> (4, 2)
    1  add      #0, b_a(4, 1)         -> (4, 2)
    2  tanh     #1                    -> (4, 2)

Each row is one record: its index, the op, where its inputs come from (`#k` is the output of
row k; named leaves print their name, other leaves `leaf` if they require grad, else `const`),
and the output's shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .tape import Record, parent_of, records_leading_to

if TYPE_CHECKING:  # pragma: no cover
    from .tensor import Tensor

__all__ = ["TapeView", "show_tape"]


def _source(t: Any, rows: dict[int, int]) -> str:
    """Where an input comes from: `#k` (row k's output), or the leaf's name and shape."""
    rec, j = parent_of(t)
    if rec is not None and id(rec) in rows:
        k = rows[id(rec)]
        return f"#{k}[{j}]" if rec.n_out != 1 else f"#{k}"
    kind = t.name or ("leaf" if t.requires_grad else "const")  # a leaf Tensor
    return f"{kind}{tuple(t.shape)}"


class TapeView(list):
    """The records that led to a tensor, in recording order; `str()` is a numbered table."""

    def __str__(self) -> str:
        if not self:
            return "(empty tape: this tensor is a leaf, or was computed under no_grad())"
        rows_of = {id(rec): i for i, rec in enumerate(self)}
        rows = []
        for i, rec in enumerate(self):
            ins = ", ".join(_source(t, rows_of) for t in rec.inputs)
            rows.append((str(i), rec.name, ins, str(rec.out_shape)))
        w = [max(len(r[k]) for r in rows) for k in range(3)]
        head = f"{'#':>{w[0]}}  {'op':<{w[1]}}  {'inputs':<{w[2]}}    output"
        lines = [head, "-" * len(head)]
        for r in rows:
            lines.append(f"{r[0]:>{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}} -> {r[3]}")
        n = len(self)
        lines.append(f"{n} record{'s' if n != 1 else ''}; backward() replays them bottom to top.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<tape: {len(self)} records>"

    def records(self) -> list[Record]:
        """The records as a plain list."""
        return list(self)


def show_tape(t: Tensor, print_it: bool = True) -> TapeView:
    """The Wengert list behind `t`: index, op, inputs (`#k` = output of row k) -> output shape.

    Prints the table (unless `print_it=False`) and returns the records in recording order.
    """
    view = TapeView()
    if t._node is not None:
        view.extend(reversed(records_leading_to(t._node)))
    if print_it:
        print(view)
    return view
