"""Sliding-window models of transformers under attn_implementation "a3lab", "sdpa" and "eager", measured.

Legend: N tokens, E hidden size, I feed-forward width, W one-sided window, Lf / Ls full / sliding layers.

Two models, random weights: ModernBERT at base width (an encoder, a window of `local_attention` = 128 in
two of every three layers) and a narrow Mistral-style decoder (grouped-query attention, every layer
sliding). Each implementation gets its own copy of the same weights; their forwards alternate in
interleaved rounds (`a3lab.timing.interleaved_rounds`, process CPU time) while forward hooks add up the time
spent inside the attention modules. Peak memory is taken in a fresh process per implementation
(`a3lab.attention.memory.peak_rss_mb`). `flop_bound` says how much faster the whole model can get at best
when only the sliding layers' attention shrinks. `transformers` is imported when a model is built.
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable

import torch

Spec = dict
"""{"model": "modernbert" | "mistral", and that model's sizes}: plain JSON, so a subprocess can rebuild it"""

MODERNBERT_BASE = {"model": "modernbert", "layers": 22, "hidden": 768, "intermediate": 1152, "heads": 12, "window": 128}
"""ModernBERT-base's widths; `window` is `local_attention`, the two-sided window"""
NARROW_MISTRAL = {"model": "mistral", "layers": 2, "hidden": 256, "intermediate": 512, "heads": 8, "kv_heads": 2,
                  "window": 1024}  # fmt: skip
"""a narrow Mistral-style decoder, two key/value heads for eight query heads; `window` is `sliding_window`"""


def build_config(spec: Spec, tokens: int):
    """The transformers config of a spec, long enough for `tokens` positions, without dropout."""
    import transformers

    if spec["model"] == "modernbert":
        return transformers.ModernBertConfig(
            hidden_size=spec["hidden"], intermediate_size=spec["intermediate"], num_hidden_layers=spec["layers"],
            num_attention_heads=spec["heads"], local_attention=spec["window"], global_attn_every_n_layers=3,
            max_position_embeddings=max(8192, tokens),
        )  # fmt: skip
    return transformers.MistralConfig(
        hidden_size=spec["hidden"], intermediate_size=spec["intermediate"], num_hidden_layers=spec["layers"],
        num_attention_heads=spec["heads"], num_key_value_heads=spec["kv_heads"], sliding_window=spec["window"],
        max_position_embeddings=max(4096, tokens), vocab_size=32000,
    )  # fmt: skip


def build_models(spec: Spec, tokens: int, implementations: tuple[str, ...], seed: int = 0) -> dict:
    """One model per attention implementation, all with the weights of the first (eval mode)."""
    import transformers

    from a3lab.attention.hf_backend import register

    register()
    config = build_config(spec, tokens)
    models = {}
    for name in implementations:
        torch.manual_seed(seed)
        model = transformers.AutoModel.from_config(copy.deepcopy(config), attn_implementation=name).eval()
        if models:
            model.load_state_dict(next(iter(models.values())).state_dict())
        models[name] = model
    return models


def flop_bound(spec: Spec, tokens: int) -> dict:
    """FLOPs of one forward with dense attention on every layer (HF's sdpa and eager on CPU) and with the
    sliding layers' attention inside their window only (the best a band can do), and their ratio.

    Per layer: the q, k, v, o projections 8 N E^2; the feed-forward (gated for ModernBERT: E -> 2I -> I -> E)
    6 N E I, (Mistral's SwiGLU: three E x I matrices) 6 N E I as well; attention 4 N^2 E dense, or
    4 N (keys per query) E in the window (2W + 1 keys for the encoder, W + 1 for the causal decoder, with W
    one-sided). Embeddings, norms and softmax are left out: they do not change the bound's first digit.

    >>> round(flop_bound(MODERNBERT_BASE, 8192)["bound"], 2)
    1.81
    """
    N, E, ffn, layers = tokens, spec["hidden"], spec["intermediate"], spec["layers"]
    if spec["model"] == "modernbert":
        full = len(range(0, layers, 3))  # global attention every third layer, from the first
        keys = 2 * (spec["window"] // 2) + 1
        kv = E  # k and v as wide as q
    else:
        full = 0
        keys = spec["window"]  # sliding_window counts the query itself: W + 1 keys
        kv = E * spec["kv_heads"] // spec["heads"]
    dense_layer = 2 * N * E * (2 * E + 2 * kv) + 6 * N * E * ffn
    dense_attention, window_attention = 4 * N * N * E, 4 * N * min(keys, N) * E
    dense = layers * (dense_layer + dense_attention)
    best = layers * dense_layer + full * dense_attention + (layers - full) * window_attention
    return {"dense_flops": dense, "band_flops": best, "bound": dense / best, "full_layers": full, "keys": keys}


class AttentionClock:
    """Process CPU time spent inside a model's attention modules, added up until `take()`."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.spent, self._starts = 0.0, []
        modules = [m for name, m in model.named_modules() if _is_attention(name, m)]
        self.count = len(modules)
        for module in modules:
            module.register_forward_pre_hook(lambda *_: self._starts.append(time.process_time()))
            module.register_forward_hook(lambda *_: self._stop())

    def _stop(self) -> None:
        self.spent += time.process_time() - self._starts.pop()

    def take(self) -> float:
        spent, self.spent = self.spent, 0.0
        return spent


def _is_attention(name: str, module: torch.nn.Module) -> bool:
    """The layers' attention modules: ModernBERT's `layers.i.attn`, Mistral's `layers.i.self_attn`."""
    return name.rsplit(".", 1)[-1] in ("attn", "self_attn")


def time_models(models: dict, tokens: int, rounds: int, seed: int = 0) -> dict:
    """Whole-forward and attention-module CPU seconds per round of each model, interleaved.

    Returns {name: {"model_s": [...], "attention_s": [...]}} with one value per round.
    """
    from a3lab.timing import interleaved_rounds

    ids = torch.randint(5, 1000, (1, tokens), generator=torch.Generator().manual_seed(seed))
    clocks = {name: AttentionClock(model) for name, model in models.items()}
    inside: dict[str, list[float]] = {name: [] for name in models}

    def contender(name: str) -> Callable[[], None]:
        def call() -> None:
            with torch.no_grad():
                models[name](input_ids=ids)
            inside[name].append(clocks[name].take())

        return call

    with torch.no_grad():  # thread pools and kernels start on a short sequence, not on a full forward
        for model in models.values():
            model(input_ids=ids[:, : min(tokens, 256)])
    for clock in clocks.values():
        clock.take()
    calls = {name: contender(name) for name in models}
    totals = interleaved_rounds(calls, rounds=rounds, warmup=0, desc=f"N={tokens}")
    return {name: {"model_s": totals[name], "attention_s": inside[name]} for name in models}


def max_abs_diff(models: dict, tokens: int, reference: str = "sdpa") -> dict:
    """Largest |output - reference output| of the last hidden state, per model, on one random sequence."""
    ids = torch.randint(5, 1000, (1, tokens), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        outputs = {name: model(input_ids=ids).last_hidden_state for name, model in models.items()}
    return {name: (out - outputs[reference]).abs().max().item() for name, out in outputs.items() if name != reference}


def largest_attention_call(model: torch.nn.Module, tokens: int) -> dict:
    """The most keys and the largest mask any `scaled_dot_product_attention` call of one forward saw."""
    sdpa = torch.nn.functional.scaled_dot_product_attention
    keys, masks = [0], [0]

    def spy(q, k, v, attn_mask=None, **kwargs):
        keys.append(k.shape[-2])
        masks.append(0 if attn_mask is None else attn_mask.shape[-2] * attn_mask.shape[-1])
        return sdpa(q, k, v, attn_mask=attn_mask, **kwargs)

    torch.nn.functional.scaled_dot_product_attention = spy
    try:
        with torch.no_grad():
            model(input_ids=torch.randint(5, 1000, (1, tokens)))
    finally:
        torch.nn.functional.scaled_dot_product_attention = sdpa
    return {"most_keys": max(keys), "largest_mask_elements": max(masks), "n_by_n": tokens * tokens}


def memory_probe(spec: Spec, implementation: str, tokens: int) -> float:
    """Run in a fresh process: peak MB above the start of one forward (no grad), after a short warm-up."""
    from a3lab.attention.memory import peak_rss_mb

    torch.set_num_threads(1)
    model = build_models(spec, tokens, (implementation,))[implementation]
    ids = torch.randint(5, 1000, (1, tokens))
    with torch.no_grad():
        model(input_ids=ids[:, : min(tokens, 256)])  # thread pools and kernels start outside the measurement
        return peak_rss_mb(lambda: model(input_ids=ids))


def measure_memory(spec: Spec, implementation: str, tokens: int, timeout_s: float = 3600) -> float:
    """`memory_probe` in a fresh subprocess, with freed memory returned to the OS (MALLOC_MMAP_THRESHOLD_)."""
    code = (
        "import json, sys; from a3lab.attention.hf_backend_bench import memory_probe; "
        "a = json.loads(sys.argv[1]); print(memory_probe(a['spec'], a['implementation'], a['tokens']))"
    )
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    arg = json.dumps({"spec": spec, "implementation": implementation, "tokens": tokens})
    done = subprocess.run(
        [sys.executable, "-c", code, arg], capture_output=True, text=True, env=env, timeout=timeout_s, check=False
    )
    if done.returncode != 0:  # reported as missing (out of memory, say), with the reason on stderr
        print(f"memory probe {implementation}@{tokens} failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
        return math.nan
    return float(done.stdout.strip().splitlines()[-1])
