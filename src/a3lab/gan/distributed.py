"""The GAN loop under torchrun: one process per rank, each with its shard of every epoch's images."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn


def context(device: torch.device) -> tuple[int, int, torch.device, bool]:
    """(rank, world size, this rank's device, whether we created the process group)."""
    if dist.is_available() and dist.is_initialized():
        rank, world, created = dist.get_rank(), dist.get_world_size(), False
    elif int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        rank, world, created = dist.get_rank(), dist.get_world_size(), True
    else:
        return 0, 1, device, False
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank % torch.cuda.device_count())))
        torch.cuda.set_device(device)
    return rank, world, device, created


def mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
    """The mean of `value` over every rank (the same on each)."""
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / dist.get_world_size()


def buffers_from_rank_0(*modules: nn.Module) -> None:
    """Every rank takes rank 0's buffers (batch-norm statistics) of `modules`."""
    for module in modules:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)
