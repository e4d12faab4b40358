"""`a3lab data info`: what the data sets hold and where they were found."""

from __future__ import annotations

import argparse
import json

from a3lab.catalog import DATASETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="inspect the MNIST / Fashion-MNIST data sets")
    actions = p.add_subparsers(dest="action", metavar="<action>", required=True)
    info = actions.add_parser("info", help="counts per split and class, pixel mean/std, file location")
    info.add_argument("--dataset", choices=[*DATASETS, "all"], default="all", help="(default: all)")
    info.add_argument("--root", default=None, help="data folder (default: $A3LAB_DATA, then the cache)")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(func=cmd_info)


def cmd_info(args: argparse.Namespace) -> int:
    from a3lab.data import dataset_info

    names = DATASETS if args.dataset == "all" else (args.dataset,)
    infos = [dataset_info(n, args.root) for n in names]
    if args.json:
        print(json.dumps(infos, indent=2))
        return 0
    for info in infos:
        print(f"{info['dataset']}  (files in {info['location']})")
        print(f"  {'split':<6} {'count':>6} {'mean':>7} {'std':>7}  per class")
        for split, s in info["splits"].items():
            per = " ".join(f"{c:>5}" for c in s["per_class"])
            print(f"  {split:<6} {s['count']:>6} {s['pixel_mean']:>7.4f} {s['pixel_std']:>7.4f}  {per}")
    return 0
