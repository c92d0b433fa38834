"""minigrad.compiler (`minigrad.compile`, `minigrad.scan`): trace once, run generated code.

`compile(fn)` (or `@compile`) traces `fn` on its first call per signature, turns the records
into a `Program` (`program.py`: a small IR), generates a readable NumPy module for its forward
and its backward (`codegen_numpy.py`; the backward comes from tracing each op's one VJP,
`backward.py`), writes it to the cache directory (`cache.py`) and imports it from there. Later
calls run the generated forward and join the caller's tape as one record whose backward is the
generated backward (`compiled.py`). `print(f.source)` shows the code. `scan(cell, init, xs,
params)` runs a compiled cell over time as one record whose backward is BPTT (`scan.py`).
"""

from .compiled import CompiledFunction, compile
from .scan import scan
from .trace import TraceError

__all__ = ["CompiledFunction", "TraceError", "compile", "scan"]
