"""The lecture notes' RNN, GRU and LSTM, built from minigrad primitives (see SPEC.md)."""

from .gru import GRU, GRUGates
from .lstm import LSTM, LSTMGates
from .recurrent import RecurrentModel, States, load
from .rnn import RNN, RNNSteps

__all__ = ["GRU", "GRUGates", "LSTM", "LSTMGates", "RNN", "RNNSteps", "RecurrentModel", "States",
           "load"]
