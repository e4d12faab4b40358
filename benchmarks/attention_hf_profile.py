"""Where the patched Longformer self-attention spends its time inside the model, piece by piece, against HF's.

A randomly initialised base-width `LongformerModel` (hidden 768, 12 heads, attention_window 512, i.e. W = 256)
with --layers layers runs one sequence of --tokens tokens, --globals global tokens at the start and the last
--padded tokens padding. Three parts, one thread, process CPU time, interleaved rounds in one process:

1. the model, HF against patched: the self-attention modules' own time (forward hooks) and the whole model;
2. the pieces of one patched self-attention, called on the hidden states and masks the model hands its first
   layer: the q/k/v projections, the band (with padding and globals, and without each, to price them; and
   with the global keys copied into every window, the route dilation or dropout take), HF's global rows, the
   output layout; beside the whole patched module and HF's module on the same inputs;
3. torch.profiler's table of the patched module's operators by self CPU time.

    OMP_NUM_THREADS=1 python benchmarks/attention_hf_profile.py --tokens 4096 --layers 2 --rounds 5
"""

from __future__ import annotations

import argparse
import copy
import json
import sys

import torch

from a3lab.attention import sliding
from a3lab.attention.functional import sliding_window_attention
from a3lab.attention.hf import attention_seconds, patch_longformer
from a3lab.timing import interleaved_rounds, ratio_spread, spread


def build(tokens: int, layers: int, globals_: int, padded: int):
    """(HF model, patched copy, inputs): random weights, one sequence."""
    from transformers import LongformerConfig, LongformerModel

    torch.manual_seed(0)
    config = LongformerConfig(
        num_hidden_layers=layers, max_position_embeddings=tokens + 2, attention_probs_dropout_prob=0.0
    )
    hf = LongformerModel(config).eval()
    ours = copy.deepcopy(hf)
    patch_longformer(ours)
    ids = torch.randint(5, 1000, (1, tokens))
    mask = torch.ones_like(ids)
    mask[:, tokens - padded :] = 0
    glob = torch.zeros_like(ids)
    glob[:, :globals_] = 1
    return hf, ours, dict(input_ids=ids, attention_mask=mask, global_attention_mask=glob)


def model_rounds(hf, ours, x: dict, rounds: int) -> dict:
    """Per-round self-attention and whole-model seconds of both models, and HF's over ours."""

    def call(model):
        return lambda: model(**x)

    per = {"hf": [], "a3lab": []}
    with torch.no_grad():
        for r in range(rounds):
            for name, model in (("hf", hf), ("a3lab", ours))[:: 1 if r % 2 == 0 else -1]:
                per[name].append(attention_seconds(model, call(model), repeats=1))
    out = {}
    for key in ("attention_s", "model_s"):
        theirs, mine = [r[key] for r in per["hf"]], [r[key] for r in per["a3lab"]]
        out[key] = {"hf": spread(theirs), "a3lab": spread(mine), "hf_over_a3lab": ratio_spread(theirs, mine)}
    return out


def first_layer_inputs(model, x: dict) -> tuple[torch.Tensor, dict]:
    """The hidden states and keyword masks the model hands its first self-attention module."""
    module = model.encoder.layer[0].attention.self
    seen = {}

    def keep(mod, args, kwargs):
        seen["args"], seen["kwargs"] = args, kwargs

    handle = module.register_forward_pre_hook(keep, with_kwargs=True)
    with torch.no_grad():
        model(**x)
    handle.remove()
    kwargs = dict(seen["kwargs"])
    names = ("attention_mask", "is_index_masked", "is_index_global_attn", "is_global_attn")
    for name, value in zip(names, seen["args"][1:]):
        kwargs[name] = value
    kwargs.pop("output_attentions", None)
    return seen["args"][0], kwargs


def pieces(hf, ours, hidden: torch.Tensor, kw: dict) -> dict:
    """The contenders of part 2: each a call on the first layer's inputs."""
    mine, theirs = ours.encoder.layer[0].attention.self, hf.encoder.layer[0].attention.self
    B, N, E = hidden.shape
    pad, glob = kw["is_index_masked"], kw["is_index_global_attn"]
    q, k, v = (mine._heads(p(hidden)) for p in (mine.query, mine.key, mine.value))  # (B, H, N, D)
    W = mine.one_sided_attn_window_size
    out = sliding_window_attention(q, k, v, W, global_mask=glob, key_padding_mask=pad)

    def band(global_mask, key_padding_mask):
        return lambda: sliding_window_attention(q, k, v, W, global_mask=global_mask, key_padding_mask=key_padding_mask)

    def extra_keys():
        """The route dilation or dropout take: global keys copied into every block's window."""
        kernel = sliding._lse_kernel
        sliding._lse_kernel = lambda q: False
        try:
            return sliding_window_attention(q, k, v, W, global_mask=glob, key_padding_mask=pad)
        finally:
            sliding._lse_kernel = kernel

    return {
        "hf module": lambda: theirs(hidden, **kw),
        "a3lab module": lambda: mine(hidden, **kw),
        "q/k/v projections": lambda: [p(hidden) for p in (mine.query, mine.key, mine.value)],
        "band + padding + globals": band(glob, pad),
        "band + padding + globals as extra keys": extra_keys,
        "band + globals": band(glob, None),
        "band + padding": band(None, pad),
        "band alone": band(None, None),
        "global rows": lambda: mine._global_rows(hidden, out, glob, pad, 0.0),
        "output layout": lambda: out.transpose(1, 2).reshape(B, N, E),
    }


def op_table(ours, hidden: torch.Tensor, kw: dict, rows: int = 15) -> str:
    """torch.profiler's operators of one patched self-attention forward, by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    module = ours.encoder.layer[0].attention.self
    with torch.no_grad():
        module(hidden, **kw)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            module(hidden, **kw)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--globals", type=int, default=2, dest="globals_")
    parser.add_argument("--padded", type=int, default=77)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    from a3lab.utils import keep_freed_memory

    keep_freed_memory()  # as the a3lab CLI does
    torch.set_num_threads(1)
    hf, ours, x = build(args.tokens, args.layers, args.globals_, args.padded)
    hidden, kw = first_layer_inputs(ours, x)
    with torch.no_grad():
        seconds = interleaved_rounds(pieces(hf, ours, hidden, kw), rounds=args.rounds, desc="pieces")
        model = model_rounds(hf, ours, x, args.rounds)
    base = seconds["a3lab module"]
    report = {
        "device": "cpu",
        "threads": 1,
        "clock": "process CPU time",
        **{k: getattr(args, k) for k in ("tokens", "layers", "globals_", "padded", "rounds")},
        "model": model,
        "pieces_s": {name: spread(times) for name, times in seconds.items()},
        "pieces_over_a3lab_module": {name: ratio_spread(times, base)["median"] for name, times in seconds.items()},
    }
    print(json.dumps(report, indent=1))
    print(op_table(ours, hidden, kw))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
