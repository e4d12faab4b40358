"""`a3lab data info`: what the data sets hold and where they were found."""

from __future__ import annotations

import argparse
import json

from a3lab.catalog import DATASETS
from a3lab.commands import subcommand


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="inspect the MNIST / Fashion-MNIST data sets")
    actions = p.add_subparsers(dest="action", metavar="<action>", required=True)
    what = "counts per split and class, pixel mean/std, file location"
    info = subcommand(actions, "info", what, cmd_info, seed=False, device=False, threads=False)
    info.add_argument("--dataset", choices=[*DATASETS, "all"], default="all", help="(default: all)")
    info.add_argument("--root", default=None, help="data folder (default: $A3LAB_DATA, then the cache)")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")


def cmd_info(args: argparse.Namespace) -> int:
    from a3lab.data import dataset_info, format_info

    names = DATASETS if args.dataset == "all" else (args.dataset,)
    infos = [dataset_info(n, args.root) for n in names]
    print(json.dumps(infos, indent=2) if args.json else "\n".join(map(format_info, infos)))
    return 0
