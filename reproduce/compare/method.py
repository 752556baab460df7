"""What the benchmark gives a method and what it gets back.

A method adapter (``reproduce/compare/methods/<name>.py``, exporting ``METHOD``) runs the method's own
entrypoints in this process (so the orchestrator can time them and count the images they draw), through
their public command lines or functions:

* :meth:`Method.search` turns the float checkpoint and the budget into a portable bit-config file covering
  every layer of the architecture (pinned layers at W8A8, layers the method does not search at W8A8), and
  says in ``notes`` how the budget was translated into the method's own terms;
* :meth:`Method.finetune` fine-tunes that bit config with the method's own quantizers and training code,
  using the shared :class:`Recipe` (epochs, batch size, learning rate, seed) where the method's flags allow,
  and returns the final top-1.

Both must work with ``ctx.quick`` (tiny settings for tests, seconds) and load data with
:func:`reproduce.compare.launch.loader_workers` workers (``--workers``; none on the embedded digits, whose drawn
images the orchestrator counts in its own process).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from common.layers import LayerInfo
from reproduce.compare.budget import Budget, Measured


def data_kind(data: str) -> str:
    """What a ``--data`` value names: ``"digits"``, ``"cifar10"`` (``cifar10:PATH``) or ``"folder"`` (an
    ImageFolder root); each adapter turns it into its method's own ``--dataset`` spelling."""
    if data == "digits":
        return "digits"
    return "cifar10" if data.startswith("cifar10:") else "folder"


@dataclass(frozen=True)
class Recipe:
    """The fine-tuning recipe every method gets (own training code and the common QAT path alike)."""

    epochs: int = 2
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0


@dataclass(frozen=True)
class Context:
    """One benchmark run's shared inputs."""

    arch: str
    data: str
    image_size: int
    num_classes: int
    #: the float model trained once (``reproduce.baseline_digits``): a dict whose ``state_dict`` has
    #: torchvision module names
    float_checkpoint: Path
    budget: Budget
    layers: list[LayerInfo]
    limits: Measured
    recipe: Recipe
    seed: int = 0
    device: str = "cpu"
    #: tiny settings (tests): a few images and steps per phase
    quick: bool = False
    #: the common QAT path's activation ranges: "unsigned" (every activation below 8 bits asymmetric) or "hawq"
    #: (HAWQ-V3's own rule: only 4-bit activations asymmetric)
    common_acts: str = "unsigned"
    #: the search effort preset: "quick" (CPU-sized, the default of ``make reproduce``), "paper" (each paper's own
    #: search effort) or "custom" (the quick searches with the recipe taken from the flags); ``quick=True`` wins
    effort: str = "quick"
    #: processes per node of the steps launched with torchrun, the data-loading workers of every step that reads
    #: images (per process; 0 on digits), autocast of their float ops (``--amp``) and torchrun's own flags (multi-node; default standalone)
    nproc: int = 1
    workers: int = 0
    amp: str = "none"
    torchrun_args: tuple[str, ...] = ()
    #: ``torch.compile`` of the common QAT path's model (``hawq.quant_train --compile``)
    compile: bool = False
    #: the common QAT path and OMPQ's QAT read the ImageFolder through NVIDIA DALI (``--dali``)
    dali: bool = False


@dataclass
class SearchOutcome:
    bitconfig: Path
    #: how the budget was put in the method's terms, what was kept or changed
    notes: list[str] = field(default_factory=list)


@dataclass
class FinetuneOutcome:
    acc1: float
    notes: list[str] = field(default_factory=list)


class Method(ABC):
    """One paper's search and fine-tuning, driven by the benchmark."""

    #: the subproject name (hawq, haq, hmq, ompq, proqha)
    name: str = ""
    #: the label in tables and plots
    label: str = ""
    #: whether :meth:`search` launches its heavy step under torchrun with the fine-tunes (HMQ's and ProQHA's
    #: searches train the network, HAQ's episodes fine-tune and score it, HAWQ-V3's Hessian pass is
    #: data-parallel); OMPQ's search runs in the orchestrator's process on one device
    search_on_torchrun: bool = False

    def unsupported(self, arch: str, data: str, image_size: int, num_classes: int) -> str | None:
        """Why this adapter cannot run ``arch`` on ``data`` (``num_classes`` classes) at ``image_size`` px, or None."""
        return None

    @abstractmethod
    def search(self, ctx: Context, out: Path) -> SearchOutcome:
        """Search under ``ctx.budget``; write everything under ``out``; return the bit-config file."""

    @abstractmethod
    def finetune(self, ctx: Context, bitconfig: Path, out: Path) -> FinetuneOutcome:
        """Fine-tune ``bitconfig`` from ``ctx.float_checkpoint`` with the method's own code and ``ctx.recipe``."""
