"""The benchmark's workloads: configs A–D of the training step, and the sizes of the other runs.

Each config is one training step (forward over the whole sequence, full BPTT, Adam update,
float32) of a recurrent layer and a linear readout at every step:

    A  char model      B=32  T=100  one-hot I=96   H=256   readout 96, cross-entropy
    B  series          B=64  T=50   I=1            H=64    readout 1,  MSE
    C  large           B=64  T=100  I=512          H=1024  readout 512, MSE
    D  two layers      B=32  T=100  one-hot I=96   H=128   (2 stacked) readout 96, cross-entropy

The ``layer`` section times the recurrent layer alone (``LAYER``): vectors in, forward and
BPTT with a given ∂L/∂outputs, no readout, loss or update.
"""

from dataclasses import dataclass, replace

CELLS = ("lstm", "gru", "elman")
COLD_CELLS = ("lstm", "gru", "elman", "irnn", "jordan", "fully_recurrent")
"""Cells of the cold-start section (new processes); ``irnn`` is the
identity-initialised ReLU Elman layer, jordan and fully_recurrent run the reference loop."""
COLD_CONFIGS = ("A", "B")  # configs of the cold-start section (where --configs selects them)
GATES = {"lstm": 4, "gru": 3, "elman": 1}  # G = gates · H rows of weight_ih / weight_hh


@dataclass(frozen=True)
class Config:
    """One training-step workload."""

    name: str  # A | B | C | D (or a derived name for scaling runs)
    B: int  # batch
    T: int  # steps
    I: int  # input features (one-hot width when tokens)
    H: int  # hidden units per layer
    O: int  # readout width
    layers: int = 1  # stacked layers
    tokens: bool = False  # one-hot token input and cross-entropy; else real vectors and MSE
    label: str = ""  # a short description for the table

    def with_sizes(self, *, T: int | None = None, H: int | None = None) -> "Config":
        """The same workload with another T or H (for the scaling runs)."""
        T = self.T if T is None else T
        H = self.H if H is None else H
        return replace(self, name=f"{self.name}[T={T},H={H}]", T=T, H=H)


CONFIGS = {
    "A": Config("A", 32, 100, 96, 256, 96, tokens=True, label="char model"),
    "B": Config("B", 64, 50, 1, 64, 1, label="series"),
    "C": Config("C", 64, 100, 512, 1024, 512, label="large"),
    "D": Config("D", 32, 100, 96, 128, 96, layers=2, tokens=True, label="two layers"),
}

LAYER = Config("L", 32, 100, 96, 128, 128, layers=2, label="layer alone, vectors")
"""The ``layer`` section: torch.nn.LSTM(96, 128, num_layers=2) and its rnnkit twin, B=32, T=100."""

STREAM_H = 256  # streaming inference: B = 1, one step at a time
STREAM_O = 96  # … with a 96-way readout
STREAM_STEPS = 200  # steps timed per repetition
SCALE_T = (100, 1_000, 10_000)  # scaling with T (config A's sizes)
SCALE_H = (64, 128, 256, 512, 1024)  # scaling with H (config A's other sizes)
MEMORY_T = (100, 1_000, 10_000)  # peak memory as T grows (config A, LSTM)


def quick(config: Config) -> Config:
    """A tiny version of a config for ``--quick`` (plumbing tests): same shape of work."""
    return replace(config, B=2, T=4, I=min(config.I, 5), H=8, O=min(config.O, 5))
