"""`show_tape`: print the Wengert list that `backward()` will replay, bottom to top.

    #  op       inputs                output
    0  matmul   W_a(4, 7), const(7, 2) -> (4, 2)
    1  add      #0, b_a(4, 1)         -> (4, 2)
    2  tanh     #1                    -> (4, 2)

Each row is one record: its index, its `scope` (a column shown when a `minigrad.scope` was
open), the op, where its inputs come from (`#k` is the output of row k, `#k[j]` output j of a
row with several; named leaves print their name, other leaves `leaf` if they require grad,
else `const`), and the output's shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .tape import Record, label_of, tape_of

if TYPE_CHECKING:  # pragma: no cover
    from .tensor import Tensor

__all__ = ["Tape", "show_tape"]


class Tape(list[Record]):
    """The records that led to a tensor, in recording order; `str()` is a numbered table."""

    def __str__(self) -> str:
        if not self:
            return "(empty tape: this tensor is a leaf, or was computed under no_grad())"
        rows_of = {id(record): i for i, record in enumerate(self)}
        rows = []
        for i, record in enumerate(self):
            ins = ", ".join(label_of(s, rows_of) for s in record.inputs)
            outs = ", ".join(str(s) for s in record.out_shapes)
            rows.append((str(i), record.name, ins, outs, record.scope or ""))
        w = [max(len(r[k]) for r in rows) for k in range(5)]
        scope_col = (lambda text: f"{text:<{max(w[4], 5)}}  ") if w[4] else (lambda text: "")
        head = f"{'#':>{w[0]}}  {scope_col('scope')}{'op':<{w[1]}}  {'inputs':<{w[2]}}    output"
        lines = [head, "-" * len(head)]
        for r in rows:
            lines.append(f"{r[0]:>{w[0]}}  {scope_col(r[4])}{r[1]:<{w[1]}}  {r[2]:<{w[2]}} -> "
                         f"{r[3]}")
        n = len(self)
        lines.append(f"{n} record{'s' if n != 1 else ''}; backward() replays them bottom to top.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<tape: {len(self)} records>"


def show_tape(t: Tensor, print_it: bool = True) -> Tape:
    """The Wengert list behind `t`: index, op, inputs (`#k` = output of row k) -> output shape.

    Prints the table (unless `print_it=False`) and returns the records in recording order.
    """
    view = Tape(tape_of(t))
    if print_it:
        print(view)
    return view
