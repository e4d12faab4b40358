"""Problem 3, "does it learn, and what is lost": the small encoder trained with each attention kind.

Legend: B batch, N tokens (784 pixels, or the long-range length), C model width (dim), H heads, D head dim,
K Linformer rank, W one-sided window, d dilation, V vocabulary.

Three experiments:

1. Pixel-sequence classification, the Long Range Arena "Image" task (Tay et al. 2021, "Long Range Arena",
   arXiv:2011.04006) on our data: an MNIST or Fashion-MNIST image is a sequence of 784 pixel tokens (256 grey
   levels), classified by full attention, a sliding window with and without a global CLS token (Longformer,
   Beltagy et al. 2020, arXiv:2004.05150) and Linformer (Wang et al. 2020, arXiv:2006.04768), at equal steps,
   batch and seed.
2. A synthetic long-range task: N >= 2048 random noise tokens; the first and the last `span` tokens carry one
   symbol each from a separate signal vocabulary (by default 2 symbols: the label, "do the first and last
   tokens match", is the XNOR of two far-apart bits; chance 0.5). Every kind reads out a CLS token at
   position 0 (global only for sliding_global). The plain window's CLS sees `layers * window` positions, far
   fewer than N, so its prediction does not depend on the last span at all and stays at chance whatever it is
   trained on. A global CLS token, a dilated upper layer (layer l has dilation d**l, the undilated layer 0
   fills the lattice's holes when d <= 2W + 1, as Longformer grows the reach with depth), Linformer and full
   attention all reach both ends and can learn it.
   With a mean readout instead, the same holds for the plain window whenever no token sees both spans: the
   logit is then a sum A(first) + B(last) + rest, and no such sum thresholds "equal" against "different" for
   two symbols better than 3 cases in 4, while cross-entropy's best additive fit is the constant (each end
   alone says nothing about the label), so training keeps it at chance.
3. Linformer's relative output error ||lin - full|| / ||full|| against full attention as K grows, on the
   queries, keys and values of a trained full-attention model's first layer (real images) and on random
   Gaussian inputs. The projection is mean pooling with kernel and stride N / K (Linformer section 4 lists it
   among its projections; at K = N it is the identity, so the error is exactly 0), or a Gaussian random
   projection.

Every experiment returns plain dicts (JSON-serialisable); `report_experiment` runs all three for the report.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from a3lab.attention import EncoderBlock, linformer_attention
from a3lab.errors import TrainingDiverged
from a3lab.utils import (
    atomic_torch_save,
    load_checkpoint,
    progress,
    resolve_device,
    save_figure,
    seed_everything,
    write_json,
)

TaskKind = Literal["full", "sliding", "sliding_global", "sliding_dilated", "linformer"]
Task = Literal["pixel-mnist", "pixel-fashion-mnist", "long-range"]
Projection = Literal["pool", "gaussian"]
Readout = Literal["cls", "mean"]

KINDS: tuple[str, ...] = ("full", "sliding", "sliding_global", "sliding_dilated", "linformer")
PIXEL_KINDS: tuple[str, ...] = ("full", "sliding", "sliding_global", "linformer")
TASKS: tuple[str, ...] = ("pixel-mnist", "pixel-fashion-mnist", "long-range")
PROJECTIONS: tuple[str, ...] = ("pool", "gaussian")
READOUTS: tuple[str, ...] = ("cls", "mean")
TASK_DATASET = {"pixel-mnist": "mnist", "pixel-fashion-mnist": "fashion-mnist"}
IMAGE_SHAPE = (28, 28)
PIXEL_LEVELS = 256


def cli_kind(kind: str) -> str:
    """`sliding-global` (CLI spelling) -> `sliding_global` (the name in configs and results)."""
    return kind.replace("-", "_")


# ----------------------------------------------------------------------------------------------------------------
# data


def pixel_tokens(images: torch.Tensor) -> torch.Tensor:
    """Images as sequences of grey-level tokens, row by row (the LRA Image task's input).

    Accepts uint8 `[B, 28, 28]` or float `[B, 1, 28, 28]` in [0, 1] (as `ImageBatches(scale="unit")` yields).

    Shapes: `[B, 28, 28]` or `[B, 1, 28, 28]` -> int64 `[B, 784]` in 0..255.
    """
    if images.dtype == torch.uint8:
        return images.reshape(images.shape[0], -1).long()
    return (images.reshape(images.shape[0], -1) * 255.0).round().long()  # k / 255 * 255 rounds back to k


def long_range_batch(
    batch_size: int,
    length: int,
    num_signals: int,
    num_noise: int,
    generator: torch.Generator,
    span: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences whose label says whether the first and the last token are equal (half of them are).

    Noise tokens are 0 .. num_noise - 1; the first and last tokens come from the signal vocabulary
    num_noise .. num_noise + num_signals - 1, so a model can find them by content. Each signal symbol fills
    `span` positions (the first and the last `span` tokens): more signal to find at the start of training,
    and the two spans stay length - 2 * span + 1 positions apart. Label 1 = equal.

    Shapes: -> tokens int64 `[B, length]`, labels int64 `[B]`.
    """
    if span < 1 or 2 * span > length:
        raise ValueError(f"--span must be between 1 and --length / 2, got {span} for length {length}")
    if num_signals < 2:
        raise ValueError(f"--num-signals must be >= 2, got {num_signals}")
    tokens = torch.randint(0, num_noise, (batch_size, length), generator=generator)
    labels = torch.randint(0, 2, (batch_size,), generator=generator)
    first = torch.randint(0, num_signals, (batch_size,), generator=generator)
    # a different symbol: shift by 1 .. num_signals - 1 (uniform over the other symbols)
    shift = torch.randint(1, num_signals, (batch_size,), generator=generator)
    last = torch.where(labels == 1, first, (first + shift) % num_signals)
    tokens[:, :span] = (num_noise + first)[:, None]
    tokens[:, length - span :] = (num_noise + last)[:, None]
    return tokens, labels


def layer_dilations(kind: str, depth: int, dilation: int) -> list[int]:
    """Dilation of each layer: `dilation ** layer` for sliding_dilated (layer 0 undilated), else 1.

    Longformer grows the window and dilation with depth; an undilated first layer fills the holes of the
    dilated lattice above it when dilation <= 2 * window + 1.
    """
    if kind != "sliding_dilated":
        return [1] * depth
    return [dilation**layer for layer in range(depth)]


def receptive_field(kind: str, depth: int, window: int, dilation: int = 1) -> int | None:
    """One-sided reach of a token after `depth` layers (sum of window * dilation per layer); None = unlimited.

    Full attention, Linformer and a global token reach every position.
    """
    if kind in ("full", "linformer", "sliding_global"):
        return None
    return sum(window * d for d in layer_dilations(kind, depth, dilation))


# ----------------------------------------------------------------------------------------------------------------
# model


@dataclass
class ModelConfig:
    """The small sequence classifier: embedding, `depth` encoder blocks of one attention kind, linear head."""

    kind: TaskKind = "full"
    """full, sliding, sliding_global (a CLS token that is global, read out), sliding_dilated or linformer"""
    seq_len: int = 784
    """input tokens per sequence (without the CLS token)"""
    vocab_size: int = PIXEL_LEVELS
    """token vocabulary (256 grey levels for the pixel task)"""
    num_classes: int = 10
    """output classes"""
    dim: int = 32
    """model width C"""
    depth: int = 1
    """encoder blocks"""
    heads: int = 2
    """attention heads (dim must be divisible by heads)"""
    window: int = 28
    """sliding kinds: one-sided window W"""
    dilation: int = 1
    """sliding_dilated: layer l uses dilation ** l"""
    k: int = 64
    """linformer: projected length K (<= seq_len)"""
    mlp_ratio: float = 2.0
    """MLP hidden width / dim"""
    image_shape: tuple[int, int] | None = None
    """(rows, cols) for a factorised row + column position embedding; None = one embedding per position"""
    readout: Readout | None = None
    """cls (a CLS token prepended at position 0 is read out; global for sliding_global) or mean (the mean of
    the token states); None = cls for sliding_global, mean otherwise"""
    position_std: float = 0.02
    """initial scale of the position embedding (large enough and the first steps already see where a pixel is)"""

    def __post_init__(self) -> None:
        if not self.position_std >= 0:
            raise ValueError(f"--position-std must be >= 0, got {self.position_std}")
        if self.readout is None:
            self.readout = "cls" if self.kind == "sliding_global" else "mean"
        if self.readout not in READOUTS:
            raise ValueError(f"--readout must be one of {', '.join(READOUTS)}, got {self.readout!r}")
        if self.kind == "sliding_global" and self.readout != "cls":
            raise ValueError("--kind sliding-global reads out its global CLS token: use --readout cls")
        if self.kind not in KINDS:
            raise ValueError(
                f"--kind must be one of {', '.join(k.replace('_', '-') for k in KINDS)}, got {self.kind!r}"
            )
        for name in ("seq_len", "vocab_size", "num_classes", "dim", "depth", "heads", "window", "dilation", "k"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be an integer >= 1, got {value!r}")
        if self.num_classes < 2:
            raise ValueError(f"--num-classes must be >= 2, got {self.num_classes}")
        if self.dim % self.heads:
            raise ValueError(f"--dim ({self.dim}) must be divisible by --heads ({self.heads})")
        if self.kind == "linformer" and self.k > self.tokens:
            raise ValueError(f"--k must be <= the sequence length {self.tokens}, got {self.k}")
        if self.kind == "sliding_dilated" and (self.dilation < 2 or self.depth < 2):
            raise ValueError(
                "--kind sliding-dilated needs --dilation >= 2 and --depth >= 2 (layer 0 is undilated), "
                f"got {self.dilation} and {self.depth}"
            )
        if not self.mlp_ratio > 0:
            raise ValueError(f"--mlp-ratio must be > 0, got {self.mlp_ratio}")
        if self.image_shape is not None:
            self.image_shape = tuple(self.image_shape)
            if len(self.image_shape) != 2 or self.image_shape[0] * self.image_shape[1] != self.seq_len:
                raise ValueError(f"image_shape {self.image_shape} does not hold --seq-len {self.seq_len} tokens")

    @property
    def uses_cls(self) -> bool:
        """Whether a CLS token is prepended (and read out)."""
        return self.readout == "cls"

    @property
    def tokens(self) -> int:
        """Tokens the encoder sees: seq_len, plus the CLS token."""
        return self.seq_len + int(self.uses_cls)


class SequenceClassifier(nn.Module):
    """Token embedding + position embedding, pre-norm encoder blocks, final LayerNorm, linear head.

    The readout is a CLS token prepended at position 0 (global for sliding_global) or the mean of the token
    states. The head is linear on purpose: with a mean readout, whatever no single token sees cannot be
    combined after the pool (see the module docstring's long-range argument).

    Shapes: tokens int64 `[B, N]` -> logits `[B, num_classes]`.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embed = nn.Embedding(c.vocab_size, c.dim)
        if c.image_shape is not None:
            rows, cols = c.image_shape
            self.row_pos = nn.Parameter(torch.randn(rows, 1, c.dim) * c.position_std)
            self.col_pos = nn.Parameter(torch.randn(1, cols, c.dim) * c.position_std)
        else:
            self.pos = nn.Parameter(torch.randn(c.seq_len, c.dim) * c.position_std)
        self.cls = nn.Parameter(torch.randn(1, 1, c.dim) * 0.02) if c.uses_cls else None
        base = "sliding" if c.kind.startswith("sliding") else c.kind
        blocks = []
        for d in layer_dilations(c.kind, c.depth, c.dilation):
            options: dict = {"kind": base}
            if base == "sliding":
                options.update(window=c.window, dilation=d, global_tokens=int(c.kind == "sliding_global"))
            elif base == "linformer":
                options.update(seq_len=c.tokens, k=c.k)
            blocks.append(EncoderBlock(c.dim, c.heads, c.mlp_ratio, 0.0, **options))
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, c.num_classes)

    def position(self) -> torch.Tensor:
        """The position embedding of every token. Shapes: -> `[N, C]`."""
        if self.config.image_shape is not None:
            return (self.row_pos + self.col_pos).reshape(-1, self.config.dim)  # (rows * cols, C)
        return self.pos

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token states after the encoder (CLS first when there is one). Shapes: `[B, N]` -> `[B, N(+1), C]`."""
        if tokens.dim() != 2 or tokens.shape[1] != self.config.seq_len:
            raise ValueError(f"tokens must be [B, {self.config.seq_len}], got {tuple(tokens.shape)}")
        x = self.embed(tokens) + self.position()  # (B, N, C)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)  # (B, 1 + N, C)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.features(tokens)
        pooled = h[:, 0] if self.cls is not None else h.mean(dim=1)  # (B, C)
        return self.head(pooled)


# ----------------------------------------------------------------------------------------------------------------
# training


@dataclass
class TrainConfig:
    """One training run: a task, an attention kind and a budget (steps x batch)."""

    task: Task = "pixel-mnist"
    """pixel-mnist, pixel-fashion-mnist or long-range"""
    kind: TaskKind = "full"
    """attention kind (see `ModelConfig.kind`)"""
    steps: int = 200
    """optimisation steps (equal for every kind: "equal steps")"""
    batch_size: int = 32
    """sequences per step"""
    lr: float = 3e-3
    """peak AdamW learning rate (linear warm-up over the first 10% of steps, then cosine to 0)"""
    weight_decay: float = 0.01
    """AdamW weight decay"""
    train_examples: int | None = None
    """pixel tasks: train on a seeded random subset of this many images (None = all 60,000)"""
    test_examples: int = 1000
    """test sequences to score (a seeded random subset of the test split; fresh sequences for long-range)"""
    eval_batch_size: int = 100
    """sequences per evaluation batch"""
    dim: int = 32
    """model width"""
    depth: int = 1
    """encoder blocks"""
    heads: int = 2
    """attention heads"""
    window: int = 28
    """sliding kinds: one-sided window"""
    dilation: int = 2
    """sliding_dilated: layer l uses dilation ** l"""
    k: int = 64
    """linformer: projected length K"""
    length: int = 2048
    """long-range: sequence length"""
    num_signals: int = 2
    """long-range: symbols the first and last token are drawn from (2: the label is XNOR of two far bits)"""
    num_noise: int = 16
    """long-range: symbols of the noise tokens between them"""
    span: int = 1
    """long-range: the first and the last `span` tokens carry the two symbols"""
    position_std: float = 0.02
    """initial scale of the position embedding"""
    readout: Readout | None = None
    """cls or mean; None = the task's default: cls for long-range (every kind reads a CLS token at position 0,
    so the plain window's readout sees only layers * window tokens), the kind's default for pixel tasks"""
    seed: int = 0
    """random seed (model init, data order, subsets)"""
    device: str = "cpu"
    """where to train: auto, cpu or cuda"""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"--task must be one of {', '.join(TASKS)}, got {self.task!r}")
        for name in ("steps", "batch_size", "test_examples", "eval_batch_size", "num_signals", "num_noise"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be an integer >= 1, got {value!r}")
        if self.train_examples is not None and self.train_examples < 1:
            raise ValueError(f"--train-examples must be >= 1, got {self.train_examples}")
        if not self.lr > 0:
            raise ValueError(f"--lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if self.num_signals < 2:
            raise ValueError(f"--num-signals must be >= 2, got {self.num_signals}")
        if self.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {self.seed}")
        if self.task == "long-range" and not 1 <= self.span <= self.length // 2:
            raise ValueError(f"--span must be between 1 and --length / 2, got {self.span} for length {self.length}")
        self.model_config()  # validates kind, width, window, k against the sequence length

    def model_config(self) -> ModelConfig:
        """The classifier this run trains."""
        pixel = self.task != "long-range"
        return ModelConfig(
            kind=self.kind,
            seq_len=IMAGE_SHAPE[0] * IMAGE_SHAPE[1] if pixel else self.length,
            vocab_size=PIXEL_LEVELS if pixel else self.num_noise + self.num_signals,
            num_classes=10 if pixel else 2,
            dim=self.dim,
            depth=self.depth,
            heads=self.heads,
            window=self.window,
            dilation=self.dilation,
            k=self.k,
            image_shape=IMAGE_SHAPE if pixel else None,
            readout=self.readout if self.readout is not None or pixel else "cls",
            position_std=self.position_std,
        )


def _warmup_cosine(step: int, total: int) -> float:
    """Learning-rate factor: linear warm-up over 10% of the steps, then cosine decay to 0."""
    warm = max(1, total // 10)
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


class _TaskData:
    """Training batches and the test set of one task, on one device, reproducible from the seed."""

    def __init__(self, config: TrainConfig, device: torch.device, root: str | Path | None = None) -> None:
        self.config = c = config
        self.device = device
        if c.task == "long-range":
            self.generator = torch.Generator().manual_seed(c.seed)
            test_gen = torch.Generator().manual_seed(c.seed + 10_000)
            x, y = long_range_batch(c.test_examples, c.length, c.num_signals, c.num_noise, test_gen, c.span)
            self.test = (x.to(device), y.to(device))
            self.train_examples = c.steps * c.batch_size  # fresh sequences every step
            return
        from a3lab.data import ImageBatches, load_images

        dataset = TASK_DATASET[c.task]
        images, labels = load_images(dataset, train=True, root=root)
        subset_gen = torch.Generator().manual_seed(c.seed)
        if c.train_examples is not None and c.train_examples < len(images):
            keep = torch.randperm(len(images), generator=subset_gen)[: c.train_examples]
            images, labels = images[keep], labels[keep]
        self.train_examples = len(images)
        self.batches = ImageBatches(
            images, labels, batch_size=c.batch_size, shuffle=True, drop_last=True, seed=c.seed, device=device
        )
        if len(self.batches) == 0:
            raise ValueError(f"--train-examples ({len(images)}) must be >= --batch-size ({c.batch_size})")
        test_images, test_labels = load_images(dataset, train=False, root=root)
        keep = torch.randperm(len(test_images), generator=subset_gen)[: c.test_examples]
        self.test = (pixel_tokens(test_images[keep]).to(device), test_labels[keep].to(device))
        self._iter = iter(())

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next training batch. Shapes: -> tokens int64 `[B, N]`, labels int64 `[B]`."""
        c = self.config
        if c.task == "long-range":
            x, y = long_range_batch(c.batch_size, c.length, c.num_signals, c.num_noise, self.generator, c.span)
            return x.to(self.device), y.to(self.device)
        batch = next(self._iter, None)
        if batch is None:  # a new epoch: ImageBatches draws a new permutation
            self._iter = iter(self.batches)
            batch = next(self._iter)
        images, labels = batch
        return pixel_tokens(images), labels


@torch.no_grad()
def evaluate(model: nn.Module, tokens: torch.Tensor, labels: torch.Tensor, batch_size: int = 100) -> float:
    """Accuracy of `model` on a token set, in evaluation mode. Shapes: tokens `[N_ex, N]`, labels `[N_ex]`."""
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(tokens), batch_size):
        logits = model(tokens[start : start + batch_size])
        correct += (logits.argmax(-1) == labels[start : start + batch_size]).sum().item()
    model.train(was_training)
    return correct / max(1, len(tokens))


def train_model(
    config: TrainConfig, *, root: str | Path | None = None, progress_bar: bool = True
) -> tuple[SequenceClassifier, dict]:
    """Train one classifier on one task and score it on the test set.

    Returns:
        the trained model, and a dict with "accuracy" (test), "seconds_per_epoch" (measured training seconds
        divided by the epochs run over the `train_examples` sequences), "steps", "train_examples",
        "test_examples", "train_seconds", "eval_seconds", "parameters", "receptive_field" (one-sided, None =
        whole sequence), "final_loss", "history" (loss every ~10% of the steps) and "config" (resolved).

    Raises:
        TrainingDiverged: the loss became NaN or infinite.
    """

    device = resolve_device(config.device)
    seed_everything(config.seed)
    data = _TaskData(config, device, root)
    mc = config.model_config()
    model = SequenceClassifier(mc).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _warmup_cosine(s, config.steps))
    history: list[dict] = []
    every = max(1, config.steps // 10)
    train_seconds = 0.0
    loss_value = float("nan")
    bar = progress(range(config.steps), desc=f"{config.task} {config.kind}", disable=None if progress_bar else True)
    for step in bar:
        tokens, labels = data.next_batch()
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(tokens), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds += time.perf_counter() - t0
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise TrainingDiverged(f"{config.task} {config.kind}: loss became {loss_value} at step {step}")
        if step % every == 0 or step == config.steps - 1:
            history.append({"step": step, "loss": round(loss_value, 5)})
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss_value:.3f}")
    t0 = time.perf_counter()
    accuracy = evaluate(model, *data.test, batch_size=config.eval_batch_size)
    eval_seconds = time.perf_counter() - t0
    epochs = config.steps * config.batch_size / data.train_examples
    result = {
        "accuracy": accuracy,
        "seconds_per_epoch": train_seconds / epochs,
        "steps": config.steps,
        "train_examples": data.train_examples,
        "test_examples": len(data.test[1]),
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "parameters": sum(p.numel() for p in model.parameters()),
        "receptive_field": receptive_field(mc.kind, mc.depth, mc.window, mc.dilation),
        "final_loss": loss_value,
        "history": history,
        "config": asdict(config),
    }
    return model, result


def train_task(config: TrainConfig, *, root: str | Path | None = None, progress_bar: bool = True) -> dict:
    """`train_model` without the model: the JSON-ready result dict."""
    return train_model(config, root=root, progress_bar=progress_bar)[1]


def save_model(model: SequenceClassifier, path: str | Path, config: TrainConfig) -> Path:
    """Save a trained classifier with its model and training configs (atomic; loadable with weights_only)."""

    state = {"model_config": asdict(model.config), "train_config": asdict(config), "state_dict": model.state_dict()}
    return atomic_torch_save(state, path)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[SequenceClassifier, TrainConfig]:
    """Load a classifier saved by `save_model`.

    Raises:
        CheckpointError: missing, corrupt, or not a classifier saved by `save_model`.
    """
    from a3lab.errors import CheckpointError

    state = load_checkpoint(path, map_location=device)
    if not isinstance(state, dict) or not {"model_config", "train_config", "state_dict"} <= state.keys():
        raise CheckpointError(f"{path}: not an attention-task checkpoint (saved by a3lab attention train --out)")
    model = SequenceClassifier(ModelConfig(**state["model_config"]))
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not match the saved config: {str(e).splitlines()[0]}") from None
    return model.to(device), TrainConfig(**state["train_config"])


def sample_tokens(config: TrainConfig, count: int, root: str | Path | None = None) -> torch.Tensor:
    """`count` test sequences of a run's task (test images, or fresh long-range sequences).

    Shapes: -> int64 `[count, N]`.
    """
    if config.task == "long-range":
        g = torch.Generator().manual_seed(config.seed + 10_000)
        return long_range_batch(count, config.length, config.num_signals, config.num_noise, g, config.span)[0]
    from a3lab.data import load_images

    images, _ = load_images(TASK_DATASET[config.task], train=False, root=root)
    return pixel_tokens(images[:count])


# ----------------------------------------------------------------------------------------------------------------
# Linformer's approximation error


def projection_matrix(projection: Projection, k: int, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A Linformer projection `[K, N]` (used for both E and F).

    "pool": mean pooling over K contiguous segments of N / K positions (sizes differ by at most one); the
    identity at K = N. "gaussian": entries N(0, 1 / N), so a projected row has the scale of one token.

    Shapes: -> `[K, N]`.
    """
    if not 1 <= k <= n:
        raise ValueError(f"--k must be between 1 and the sequence length {n}, got {k}")
    if projection == "pool":
        segment = torch.arange(n) * k // n  # (N,): segment of each position, 0..K-1
        P = F.one_hot(segment, k).T.float()  # (K, N)
        return P / P.sum(dim=1, keepdim=True)
    if projection == "gaussian":
        return torch.randn(k, n, generator=generator) / math.sqrt(n)
    raise ValueError(f"--projection must be one of {', '.join(PROJECTIONS)}, got {projection!r}")


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """||approx - exact||_F / ||exact||_F."""
    return ((approx - exact).norm() / exact.norm().clamp_min(torch.finfo(exact.dtype).tiny)).item()


@torch.no_grad()
def linformer_error_curve(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    ks: list[int],
    projection: Projection = "pool",
    draws: int = 3,
    seed: int = 0,
) -> list[float]:
    """Relative error of Linformer (E = F = the projection) against full attention, for each K.

    Random projections are averaged over `draws` draws; pooling is deterministic (one draw).

    Shapes: q, k, v `[B, H, N, D]` -> one float per K.
    """
    from a3lab.attention import full_attention

    exact = full_attention(q, k, v)  # (B, H, N, D)
    N = q.shape[2]
    generator = torch.Generator().manual_seed(seed)
    errors = []
    for K in ks:
        n_draws = draws if projection == "gaussian" else 1
        total = 0.0
        for _ in range(n_draws):
            P = projection_matrix(projection, K, N, generator).to(q)
            total += relative_error(linformer_attention(q, k, v, P, P), exact)
        errors.append(total / n_draws)
    return errors


@torch.no_grad()
def capture_qkv(model: SequenceClassifier, tokens: torch.Tensor, layer: int = 0) -> tuple[torch.Tensor, ...]:
    """The queries, keys and values one attention layer of a trained model computes on real inputs.

    Shapes: tokens `[B, N]` -> q, k, v `[B, H, N(+1), D]`.
    """
    if not 0 <= layer < len(model.blocks):
        raise ValueError(f"--layer must be in 0..{len(model.blocks) - 1}, got {layer}")
    captured: dict[str, torch.Tensor] = {}
    attn = model.blocks[layer].attn
    handle = attn.register_forward_pre_hook(lambda module, args: captured.setdefault("x", args[0]))
    was_training = model.training
    model.eval()
    try:
        model.features(tokens)
    finally:
        handle.remove()
        model.train(was_training)
    x = captured["x"]  # (B, N, C): the attention layer's input, after its LayerNorm
    B, N, C = x.shape
    H = model.config.heads
    qkv = attn.qkv(x).view(B, N, 3, H, C // H)  # (B, N, 3, H, D), the layer's own projection
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, N, D)
    return q.contiguous(), k.contiguous(), v.contiguous()


@dataclass
class LinformerErrorConfig:
    """Linformer's error against full attention, as a function of K."""

    ks: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 392, 784)
    """projected lengths K to measure (each <= seq_len)"""
    seq_len: int = 784
    """tokens per sequence for the random inputs (784 = the pixel task)"""
    heads: int = 2
    """heads of the random inputs"""
    head_dim: int = 16
    """head dim of the random inputs"""
    examples: int = 16
    """sequences (random, and real test images for the trained model)"""
    projection: Projection = "pool"
    """pool (mean pooling, kernel = stride = N / K) or gaussian (random, averaged over 3 draws)"""
    seed: int = 0
    """random seed"""

    def __post_init__(self) -> None:
        self.ks = tuple(int(k) for k in self.ks)
        if not self.ks:
            raise ValueError("--k needs at least one value")
        for name in ("seq_len", "heads", "head_dim", "examples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be an integer >= 1, got {value!r}")
        bad = [k for k in self.ks if not 1 <= k <= self.seq_len]
        if bad:
            raise ValueError(f"--k values must be between 1 and the sequence length {self.seq_len}, got {bad}")
        if self.projection not in PROJECTIONS:
            raise ValueError(f"--projection must be one of {', '.join(PROJECTIONS)}, got {self.projection!r}")


def linformer_error(
    config: LinformerErrorConfig, model: SequenceClassifier | None = None, tokens: torch.Tensor | None = None
) -> dict:
    """Linformer's relative output error on random Gaussian q, k, v and, given a trained model and real token
    sequences, on that model's first-layer q, k, v.

    Returns:
        {"k": [ints], "random": [floats], "trained": [floats] or None without a model, "projection": str,
        "seq_len": int}.

    Shapes: tokens `[B, N]`.
    """
    g = torch.Generator().manual_seed(config.seed)
    shape = (config.examples, config.heads, config.seq_len, config.head_dim)
    q, k, v = (torch.randn(shape, generator=g) for _ in range(3))
    random_err = linformer_error_curve(q, k, v, list(config.ks), config.projection, seed=config.seed)
    trained_err = None
    if model is not None:
        if tokens is None:
            raise ValueError("linformer_error needs the real token sequences with the trained model")
        q, k, v = capture_qkv(model, tokens[: config.examples])
        n = q.shape[2]
        if max(config.ks) > n:
            raise ValueError(f"--k values must be <= the model's sequence length {n}, got {max(config.ks)}")
        trained_err = linformer_error_curve(q, k, v, list(config.ks), config.projection, seed=config.seed)
    return {
        "k": list(config.ks),
        "random": random_err,
        "trained": trained_err,
        "projection": config.projection,
        "seq_len": config.seq_len,
    }


# ----------------------------------------------------------------------------------------------------------------
# plots


def plot_pixel(pixel: dict, path: Path) -> Path:
    """Bar chart of test accuracy per attention kind, one group per data set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(pixel)
    kinds = list(next(iter(pixel.values())))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / len(kinds)
    for i, kind in enumerate(kinds):
        xs = [j + (i - (len(kinds) - 1) / 2) * width for j in range(len(datasets))]
        accs = [100 * pixel[d][kind]["accuracy"] for d in datasets]
        bars = ax.bar(xs, accs, width, label=kind)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(datasets)), datasets)
    ax.set_ylabel("test accuracy (%)")
    steps = next(iter(next(iter(pixel.values())).values()))["steps"]
    ax.set_title(f"784-pixel sequences, equal budget ({steps} steps)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_long_range(long_range: dict, path: Path) -> Path:
    """Bar chart of long-range accuracy per kind, with chance marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = long_range["results"]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    bars = ax.bar(list(res), [100 * a for a in res.values()], color="tab:blue")
    ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.axhline(100 * long_range["chance"], color="k", ls="--", lw=1, label="chance")
    ax.set_ylim(0, 105)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(
        f"first == last token? N={long_range['length']}, {long_range['layers']} layers, window {long_range['window']}"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_linformer_error(err: dict, path: Path) -> Path:
    """Relative error against K (log-log), random and trained-activation inputs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    # K = N is exact for pooling (error 0): a log axis cannot show 0, so those points are left out
    for name, style in (("random", "o-"), ("trained", "s-")):
        if err.get(name) is None:
            continue
        pts = [(k, e) for k, e in zip(err["k"], err[name]) if e > 0]
        if pts:
            ax.plot(*zip(*pts), style, label=f"{name} q, k, v")
    exact = sorted({k for name in ("random", "trained") for k, e in zip(err["k"], err.get(name) or []) if e == 0})
    if exact:
        note = f"K = {', '.join(map(str, exact))}: error exactly 0 (not drawn)"
        ax.text(0.02, 0.03, note, transform=ax.transAxes, fontsize=7, color="0.3")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("Linformer rank K")
    ax.set_ylabel("||lin - full|| / ||full||")
    ax.set_title(f"Linformer error vs K ({err.get('projection', 'pool')} projection, N={err.get('seq_len')})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


# ----------------------------------------------------------------------------------------------------------------
# the report's experiment


PIXEL_MODEL = {"dim": 32, "depth": 1, "heads": 2, "window": 28, "k": 64, "lr": 1e-2, "position_std": 0.7}
"""The pixel runs' model: one block, window one image row on each side; row + column position embeddings
initialised at 0.7 (at 0.02 the first hundred steps see little more than the ink histogram)."""
LONG_RANGE_MODEL = {
    "length": 2048,
    "span": 128,
    "dim": 32,
    "depth": 2,
    "heads": 2,
    "window": 32,
    "dilation": 65,
    "k": 64,
    "lr": 3e-3,
}
"""The long-range task and model: the plain window's CLS reaches 2 * 32 = 64 of 2048 positions; dilation
2 * window + 1 = 65 in layer 1 leaves no holes above the undilated layer 0 and reaches 32 + 32 * 65 = 2112;
span 128 >= 65, so the CLS token's dilated lattice lands inside both spans."""


def task_defaults(task: str, preset: str = "full") -> dict:
    """TrainConfig values of a task in a preset's budget (the CLI's defaults)."""
    p = PRESETS[preset]
    if task == "long-range":
        return {"steps": p.long_range_steps, "batch_size": p.long_range_batch_size,
                "test_examples": p.long_range_test_examples, **p.long_range}  # fmt: skip
    return {"steps": p.pixel_steps, "batch_size": p.batch_size, "train_examples": p.pixel_train_examples,
            "test_examples": p.pixel_test_examples, **p.pixel}  # fmt: skip


@dataclass
class Preset:
    """The budget of `report_experiment` for one preset."""

    pixel_steps: int
    """training steps per pixel run (every kind, both data sets)"""
    pixel_train_examples: int
    """training images per data set (a seeded subset)"""
    pixel_test_examples: int
    """test images scored per data set"""
    long_range_steps: int
    """training steps per long-range run"""
    long_range_kinds: tuple[str, ...]
    """kinds run on the long-range task (full only where affordable)"""
    batch_size: int = 32
    """pixel batch size"""
    long_range_batch_size: int = 16
    """long-range batch size"""
    long_range_test_examples: int = 256
    """long-range test sequences"""
    linformer_examples: int = 16
    """sequences for the Linformer error"""
    pixel: dict = field(default_factory=lambda: dict(PIXEL_MODEL))
    """model of the pixel runs"""
    long_range: dict = field(default_factory=lambda: dict(LONG_RANGE_MODEL))
    """model and task of the long-range runs"""


PRESETS: dict[str, Preset] = {
    "quick": Preset(
        pixel_steps=40,
        pixel_train_examples=1280,
        pixel_test_examples=500,
        long_range_steps=40,
        long_range_kinds=("sliding", "sliding_global", "sliding_dilated", "linformer"),
        long_range_test_examples=128,
    ),
    "full": Preset(
        pixel_steps=200,
        pixel_train_examples=6400,
        pixel_test_examples=2000,
        long_range_steps=40,
        long_range_kinds=("full", "sliding", "sliding_global", "sliding_dilated", "linformer"),
    ),
}


def report_experiment(preset: str, out_dir: Path, device: str = "cpu", seed: int = 0) -> dict:
    """Problem 3's learning experiments for `a3lab report`: pixel sequences, long range, Linformer's error.

    Budgets (`PRESETS`): "quick" trains each pixel kind 40 steps of 32 on a 1,280-image subset (500 test
    images) and each long-range kind but full 40 steps of 16 (128 test sequences); "full" 200 pixel steps on
    6,400 images (2,000 test) and 40 long-range steps with full attention too. Measured on the shared 2-core
    CPU at one thread under a load average of about 14: quick 350 s (never measured on an idle machine).
    Also writes `attention_tasks.json` (budget, every run's config, loss history and timings) into out_dir.

    Returns:
        {"images": [PNG file names written into out_dir],
         "pixel": {dataset ("mnist", "fashion-mnist"): {kind ("full", "sliding", "sliding_global",
             "linformer"): {"accuracy": float (test), "seconds_per_epoch": float (measured training seconds
             per pass over the train_examples), "steps": int, "train_examples": int}}},
         "long_range": {"length": int, "layers": int, "window": int, "chance": float,
             "results": {kind: test accuracy} for the preset's kinds among full, sliding, sliding_global,
             sliding_dilated, linformer},
         "linformer_error": {"k": [ints], "random": [floats], "trained": [floats]}}
        The relative errors are on random Gaussian q, k, v and on the first-layer q, k, v of the trained
        full-attention MNIST model on test images, with mean-pooling projections.
    """
    if preset not in PRESETS:
        raise ValueError(f"--preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    p = PRESETS[preset]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    runs = [("pixel", task, kind) for task in ("pixel-mnist", "pixel-fashion-mnist") for kind in PIXEL_KINDS]
    runs += [("long_range", "long-range", kind) for kind in p.long_range_kinds]
    pixel: dict = {TASK_DATASET[t]: {} for t in ("pixel-mnist", "pixel-fashion-mnist")}
    long_results: dict = {}
    details: dict = {}
    trained_full = None
    for section, task, kind in progress(runs, desc="attention tasks"):
        if section == "pixel":
            cfg = TrainConfig(
                task=task, kind=kind, steps=p.pixel_steps, batch_size=p.batch_size,
                train_examples=p.pixel_train_examples, test_examples=p.pixel_test_examples,
                seed=seed, device=device, **p.pixel,
            )  # fmt: skip
        else:
            cfg = TrainConfig(
                task=task, kind=kind, steps=p.long_range_steps, batch_size=p.long_range_batch_size,
                test_examples=p.long_range_test_examples, seed=seed, device=device, **p.long_range,
            )  # fmt: skip
        model, result = train_model(cfg)
        details[f"{task}/{kind}"] = result
        if section == "pixel":
            pixel[TASK_DATASET[task]][kind] = {
                key: result[key] for key in ("accuracy", "seconds_per_epoch", "steps", "train_examples")
            }
            if task == "pixel-mnist" and kind == "full":
                trained_full = model
        else:
            long_results[kind] = result["accuracy"]

    full_config = TrainConfig(task="pixel-mnist", seed=seed)
    tokens = sample_tokens(full_config, p.linformer_examples).to(next(trained_full.parameters()).device)
    err = linformer_error(LinformerErrorConfig(examples=p.linformer_examples, seed=seed), trained_full, tokens)

    lr = p.long_range
    long_range = {
        "length": lr["length"],
        "layers": lr["depth"],
        "window": lr["window"],
        "chance": 0.5,
        "results": long_results,
    }
    images = [
        plot_pixel(pixel, out_dir / "attention_pixel.png").name,
        plot_long_range(long_range, out_dir / "attention_long_range.png").name,
        plot_linformer_error(err, out_dir / "attention_linformer_error.png").name,
    ]
    result = {
        "images": images,
        "pixel": pixel,
        "long_range": long_range,
        "linformer_error": {"k": err["k"], "random": err["random"], "trained": err["trained"]},
    }
    write_json(
        {"preset": preset, "budget": asdict(p), "summary": result, "runs": details}, out_dir / "attention_tasks.json"
    )
    return result
