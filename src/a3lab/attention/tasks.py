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

Every experiment returns plain dicts (JSON-serialisable); `section_experiment` runs all three for the report.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from a3lab.attention.modules import EncoderBlock
from a3lab.attention.task_config import TASK_DATASET, ModelConfig, TrainConfig
from a3lab.config import from_dict, to_dict
from a3lab.errors import TrainingDiverged, UserError
from a3lab.schedule import warmup_cosine_factor
from a3lab.utils import atomic_torch_save, load_checkpoint, progress, resolve_device, seed_everything

WARMUP_FRACTION = 0.1
"""share of the steps over which the learning rate warms up linearly"""


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
        raise UserError(f"`span` must be between 1 and `length` / 2, got {span} for length {length}")
    if num_signals < 2:
        raise UserError(f"`num_signals` must be >= 2, got {num_signals}")
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
        dim = c.attention.dim
        self.embed = nn.Embedding(c.vocab_size, dim)
        if c.image_shape is not None:
            rows, cols = c.image_shape
            self.row_pos = nn.Parameter(torch.randn(rows, 1, dim) * c.position_std)
            self.col_pos = nn.Parameter(torch.randn(1, cols, dim) * c.position_std)
        else:
            self.pos = nn.Parameter(torch.randn(c.seq_len, dim) * c.position_std)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02) if c.uses_cls else None
        blocks = [
            EncoderBlock(dataclasses.replace(c.attention, dilation=d), c.mlp_ratio)
            for d in layer_dilations(c.kind, c.depth, c.attention.dilation)
        ]
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, c.num_classes)

    def position(self) -> torch.Tensor:
        """The position embedding of every token. Shapes: -> `[N, C]`."""
        if self.config.image_shape is not None:
            return (self.row_pos + self.col_pos).reshape(-1, self.config.attention.dim)  # (rows * cols, C)
        return self.pos

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token states after the encoder (CLS first when there is one). Shapes: `[B, N]` -> `[B, N(+1), C]`."""
        if tokens.dim() != 2 or tokens.shape[1] != self.config.seq_len:  # its positions are all it has learnt
            raise UserError(
                f"the model has {self.config.seq_len} positions and reads sequences of exactly that many tokens, "
                f"got tokens of shape {tuple(tokens.shape)}"
            )
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
        if c.train_examples is not None and c.train_examples > len(images):
            raise UserError(f"`train_examples` must be <= {len(images)} (the training split), got {c.train_examples}")
        if c.train_examples is not None and c.train_examples < len(images):
            keep = torch.randperm(len(images), generator=subset_gen)[: c.train_examples]
            images, labels = images[keep], labels[keep]
        self.train_examples = len(images)
        self.batches = ImageBatches(
            images, labels, batch_size=c.batch_size, shuffle=True, drop_last=True, seed=c.seed, device=device
        )
        if len(self.batches) == 0:
            raise UserError(f"`train_examples` ({len(images)}) must be >= `batch_size` ({c.batch_size})")
        test_images, test_labels = load_images(dataset, train=False, root=root)
        if c.test_examples > len(test_images):
            raise UserError(f"`test_examples` must be <= {len(test_images)} (the test split), got {c.test_examples}")
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


def _fit(
    model: SequenceClassifier, data: _TaskData, config: TrainConfig, device: torch.device, progress_bar: bool
) -> tuple[float, float, list[dict]]:
    """Train `config.steps` steps: (training seconds, last loss, loss every ~10% of the steps)."""
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine_factor(s, config.steps, WARMUP_FRACTION))
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
    return train_seconds, loss_value, history


RESULT_HEADER = f"{'kind':<16} {'accuracy':>9} {'s/epoch':>9} {'steps':>6} {'train ex':>9} {'reach':>6} {'params':>8}"


def result_line(kind: str, result: dict) -> str:
    """One run's row under `RESULT_HEADER` (reach "all": the whole sequence)."""
    reach = "all" if result["receptive_field"] is None else result["receptive_field"]
    return (
        f"{kind:<16} {100 * result['accuracy']:>8.2f}% {result['seconds_per_epoch']:>9.1f} "
        f"{result['steps']:>6} {result['train_examples']:>9} {reach:>6} {result['parameters']:>8}"
    )


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
    mc = config.model
    model = SequenceClassifier(mc).to(device)
    train_seconds, loss_value, history = _fit(model, data, config, device, progress_bar)
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
        "receptive_field": receptive_field(mc.kind, mc.depth, mc.attention.window, mc.attention.dilation),
        "final_loss": loss_value,
        "history": history,
        "config": to_dict(config),
    }
    return model, result


def train_task(config: TrainConfig, *, root: str | Path | None = None, progress_bar: bool = True) -> dict:
    """`train_model` without the model: the JSON-ready result dict."""
    return train_model(config, root=root, progress_bar=progress_bar)[1]


def save_model(model: SequenceClassifier, path: str | Path, config: TrainConfig) -> Path:
    """Save a trained classifier with its model and training configs (atomic; loadable with weights_only)."""

    state = {"model_config": to_dict(model.config), "train_config": to_dict(config), "state_dict": model.state_dict()}
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
    model = SequenceClassifier(from_dict(ModelConfig, state["model_config"]))
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not match the saved config: {str(e).splitlines()[0]}") from None
    return model.to(device), from_dict(TrainConfig, state["train_config"])


def sample_tokens(config: TrainConfig, count: int, root: str | Path | None = None) -> torch.Tensor:
    """`count` test sequences of a run's task (test images, or fresh long-range sequences).

    Shapes: -> int64 `[count, N]`.
    """
    if config.task == "long-range":
        g = torch.Generator().manual_seed(config.seed + 10_000)
        return long_range_batch(count, config.length, config.num_signals, config.num_noise, g, config.span)[0]
    from a3lab.data import load_images

    images, _ = load_images(TASK_DATASET[config.task], train=False, root=root)
    if count > len(images):
        raise UserError(f"`examples` must be <= {len(images)} (the test split), got {count}")
    return pixel_tokens(images[:count])
