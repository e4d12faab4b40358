"""Linformer's approximation error: ||linformer - full|| / ||full|| as the rank K grows.

Legend: B batch, H heads, N tokens, D head dim, K Linformer rank.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from a3lab.attention.functional import full_attention, linformer_attention
from a3lab.attention.task_config import PROJECTIONS, LinformerErrorConfig, Projection, TrainConfig, task_defaults
from a3lab.attention.tasks import SequenceClassifier, load_model, sample_tokens, train_model
from a3lab.errors import UserError

# ----------------------------------------------------------------------------------------------------------------
# Linformer's approximation error


def projection_matrix(projection: Projection, k: int, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A Linformer projection `[K, N]` (used for both E and F).

    "pool": mean pooling over K contiguous segments of N / K positions (sizes differ by at most one); the
    identity at K = N. "gaussian": entries N(0, 1 / N), so a projected row has the scale of one token.

    Shapes: -> `[K, N]`.
    """
    if not 1 <= k <= n:
        raise UserError(f"`k` must be between 1 and the sequence length {n}, got {k}")
    if projection == "pool":
        segment = torch.arange(n) * k // n  # (N,): segment of each position, 0..K-1
        P = F.one_hot(segment, k).T.float()  # (K, N)
        return P / P.sum(dim=1, keepdim=True)
    if projection == "gaussian":
        return torch.randn(k, n, generator=generator) / math.sqrt(n)
    raise UserError(f"`projection` must be one of {', '.join(PROJECTIONS)}, got {projection!r}")


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
        raise UserError(f"`layer` must be in 0..{len(model.blocks) - 1}, got {layer}")
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
    H = model.config.attention.heads
    qkv = attn.qkv(x).view(B, N, 3, H, C // H)  # (B, N, 3, H, D), the layer's own projection
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, N, D)
    return q.contiguous(), k.contiguous(), v.contiguous()


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
            raise UserError(f"`k` values must be <= the model's sequence length {n}, got {max(config.ks)}")
        trained_err = linformer_error_curve(q, k, v, list(config.ks), config.projection, seed=config.seed)
    return {
        "k": list(config.ks),
        "random": random_err,
        "trained": trained_err,
        "projection": config.projection,
        "seq_len": config.seq_len,
    }


def format_error_table(result: dict) -> str:
    """`linformer_error`'s result as text: what was measured, then one line per K."""
    lines = [
        f"Linformer relative error ||lin - full|| / ||full||, {result['projection']} projection, "
        f"N = {result['seq_len']}",
        f"trained model: {result.get('model', 'none')}",
        f"{'K':>6} {'random':>10} {'trained':>10}",
    ]
    for i, k in enumerate(result["k"]):
        trained = "" if result["trained"] is None else f"{result['trained'][i]:.4f}"
        lines.append(f"{k:>6} {result['random'][i]:>10.4f} {trained:>10}")
    return "\n".join(lines)


def measured_model(
    checkpoint: str | None, train_steps: int, examples: int | None, seed: int, device: torch.device
) -> tuple[SequenceClassifier | None, torch.Tensor | None, str]:
    """The trained model to measure on and `examples` test sequences of its task: loaded from a checkpoint,
    or a full-attention pixel-mnist model trained `train_steps` steps here; (None, None, "none") with neither.

    Shapes: -> tokens int64 `[examples, N]`.
    """
    examples = LinformerErrorConfig.examples if examples is None else examples
    if checkpoint:
        model, config = load_model(checkpoint, device)
        source = f"{checkpoint} ({config.task}, {config.kind})"
    elif train_steps:
        options = {**task_defaults("pixel-mnist"), "steps": train_steps, "seed": seed, "device": str(device)}
        config = TrainConfig.create(task="pixel-mnist", kind="full", **options)
        model, result = train_model(config)
        source = f"full attention trained {train_steps} steps on pixel-mnist ({result['accuracy']:.1%})"
    else:
        return None, None, "none"
    return model, sample_tokens(config, examples).to(device), source


def measure(fields: dict, checkpoint: str | None, train_steps: int, seed: int, device: torch.device) -> dict:
    """`linformer_error` with `LinformerErrorConfig(**fields)` on random inputs and on the measured model's
    first-layer q, k, v (`measured_model`), at that model's length; the result names the model's source."""
    model, tokens, source = measured_model(checkpoint, train_steps, fields.get("examples"), seed, device)
    seq_len = model.config.tokens if model is not None else LinformerErrorConfig.seq_len
    return {**linformer_error(LinformerErrorConfig(**fields, seq_len=seq_len), model, tokens), "model": source}
