"""HF Longformer before and after `a3lab.attention.hf.patch_longformer`, inside the model, on one process.

A randomly initialised base-sized `LongformerModel` (LongformerConfig defaults: 12 layers, hidden 768,
12 heads, attention_window 512, i.e. one-sided W = 256; positions extended to --tokens) runs a forward on
one sequence of --tokens tokens with a global first token. The HF model and a patched deep copy alternate
for --rounds rounds; forward hooks time the self-attention modules' own forward (projections and attention),
process CPU time. Prints the medians, the per-round ratios and attention's share of the model.

    OMP_NUM_THREADS=1 python benchmarks/attention_hf.py --tokens 4096 --rounds 3 --out runs/attention_hf.json
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time

import torch

from a3lab.attention.hf import attention_seconds, patch_longformer

KEYS = ("model_s", "attention_s", "attention_share")


def _spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    from transformers import LongformerConfig, LongformerModel

    from a3lab.utils import keep_freed_memory

    keep_freed_memory()  # as the a3lab CLI does
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = LongformerConfig(
        num_hidden_layers=args.layers, max_position_embeddings=args.tokens + 2, attention_probs_dropout_prob=0.0
    )
    hf = LongformerModel(config).eval()
    ours = copy.deepcopy(hf)
    patch_longformer(ours)
    ids = torch.randint(5, 1000, (1, args.tokens))
    glob = torch.zeros_like(ids)
    glob[:, 0] = 1

    def call(model):
        def run():
            with torch.no_grad():
                model(input_ids=ids, global_attention_mask=glob)

        return run

    with torch.no_grad():
        diff = (ours(input_ids=ids, global_attention_mask=glob).last_hidden_state
                - hf(input_ids=ids, global_attention_mask=glob).last_hidden_state).abs().max().item()  # fmt: skip
    rounds = {"hf": [], "a3lab": []}
    for _ in range(args.rounds):
        for name, model in (("hf", hf), ("a3lab", ours)):
            rounds[name].append(attention_seconds(model, call(model), repeats=1))
    result = {
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "tokens": args.tokens,
        "layers": args.layers,
        "pass": "forward",
        "clock": "process CPU time",
        "max_abs_diff_last_hidden_state": diff,
        **{name: {k: _spread([r[k] for r in rounds[name]]) for k in KEYS} for name in ("hf", "a3lab")},
        **{f"{k.removesuffix('_s')}_speedup": _spread([h[k] / a[k] for h, a in zip(rounds["hf"], rounds["a3lab"])])
           for k in ("attention_s", "model_s")},
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }  # fmt: skip
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
