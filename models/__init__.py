"""The lecture notes' RNN, GRU and LSTM, built from minigrad primitives (see SPEC.md)."""

from .gru import GRU
from .lstm import LSTM
from .recurrent import RecurrentModel, States, load
from .rnn import RNN

__all__ = ["GRU", "LSTM", "RNN", "RecurrentModel", "States", "load"]
