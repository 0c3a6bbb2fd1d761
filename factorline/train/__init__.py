"""Few-shot training on frozen backbones: data sets, embeddings, the protocol, eval, CLI.

``train()`` and ``evaluate()`` are the library entry points; ``commands.app`` is the CLI.
"""

from .data import Dataset, Example, load_dataset
from .evaluate import evaluate
from .fit import HeadParams
from .protocol import Protocol
from .trainer import TrainResult, train

__all__ = ["Dataset", "Example", "HeadParams", "Protocol", "TrainResult", "evaluate", "load_dataset", "train"]
