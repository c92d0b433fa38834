"""Every primitive op, by family. Each op is a `Function` with its backward beside its forward."""

from .activations import log_softmax, relu, sigmoid, softmax, tanh
from .elementwise import (
    Add,
    Div,
    Mul,
    Sub,
    add,
    div,
    exp,
    log,
    maximum,
    mul,
    neg,
    power,
    sub,
    where,
)
from .linalg import MatMul, matmul
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse,
)
from .reductions import mean, sum
from .shape import concat, contiguous, getitem, reshape, split, stack, transpose

__all__ = [
    "Add", "Div", "MatMul", "Mul", "Sub",
    "add", "binary_cross_entropy", "binary_cross_entropy_with_logits", "concat", "contiguous",
    "cross_entropy",
    "div", "exp", "getitem",
    "log", "log_softmax", "matmul", "maximum", "mean", "mse", "mul", "neg", "power", "relu",
    "reshape", "sigmoid", "softmax", "split", "stack", "sub", "sum", "tanh", "transpose", "where",
]

