"""`a3lab attention <action>`: Problem 3, linear-time self-attention.

The actions live in two modules: `attention_bench` (the speed/memory benchmark) and
`attention_train` (training the encoder on tasks, Linformer's error against K).
"""

from __future__ import annotations

import argparse
import importlib


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("attention", help="Problem 3: Longformer and Linformer against full attention")
    actions = p.add_subparsers(dest="action", metavar="<action>", required=True)
    for name in ("attention_bench", "attention_train"):
        try:
            module = importlib.import_module(f"a3lab.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"a3lab.commands.{name}":
                raise
            continue
        module.register(actions)
