"""Fine-tuning: LoRA adapters that answer with short grounded spans or refuse.

Examples are built through the same retriever and prompt builder `ask` uses (examples), trained
with loss on the answer tokens only (train), and the refusal threshold is fitted on held-back
questions of the training split (calibrate); `run` wires them and writes the adapter card.
"""

from rag.finetune.run import FinetuneRun, finetune
from rag.finetune.train import TrainSettings

__all__ = ["FinetuneRun", "TrainSettings", "finetune"]
