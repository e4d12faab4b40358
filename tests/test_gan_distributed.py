"""DistributedDataParallel GAN training: two CPU processes (gloo) keep identical weights, one writes the run."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORLD_SIZE = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, data: tuple, out_dir: str, result_dir: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
        WORLD_SIZE=str(WORLD_SIZE), LOCAL_RANK=str(rank),
    )  # fmt: skip
    torch.set_num_threads(1)
    from a3lab.gan import GANConfig, Trainer

    config = GANConfig(arch="dcgan", channels=4, batch_size=20, train_examples=200, epochs=1, log_every=1, seed=7)
    trainer = Trainer(config, out_dir, progress_bar=False, data=data)  # creates the gloo process group from the env
    initial = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    shard = trainer.batches.order()  # this rank's share of epoch 1's permutation
    summary = trainer.run()
    torch.save(
        {
            "generator": trainer.generator.state_dict(),
            "discriminator": trainer.discriminator.state_dict(),
            "initial_generator": initial,
            "shard": shard,
            "summary": summary,
            "group_alive": dist.is_initialized(),
        },
        Path(result_dir) / f"rank{rank}.pt",
    )


def test_two_cpu_ranks_keep_identical_weights(tiny_root: Path, tmp_path: Path):
    from a3lab.data import load_images

    data = load_images("mnist", train=True, root=tiny_root)  # loaded here: the workers skip importing torchvision
    out, results = tmp_path / "run", tmp_path / "results"
    results.mkdir()
    mp.start_processes(
        _worker,
        args=(_free_port(), data, str(out), str(results)),
        nprocs=WORLD_SIZE,
        join=True,
        start_method="spawn",
    )
    r0, r1 = (torch.load(results / f"rank{r}.pt", weights_only=True) for r in range(WORLD_SIZE))
    # Each rank trained on its own half of the data...
    assert len(r0["shard"]) == len(r1["shard"]) == 100
    assert not set(r0["shard"].tolist()) & set(r1["shard"].tolist())
    # ...with its own noise, yet gradients were averaged, so the weights (and G's batch-norm buffers) agree.
    for part in ("generator", "discriminator"):
        for name, value in r0[part].items():
            assert torch.equal(value, r1[part][name]), f"{part}.{name} differs between ranks"
    assert any(not torch.equal(v, r0["initial_generator"][k]) for k, v in r0["generator"].items())
    s0, s1 = r0["summary"], r1["summary"]
    assert s0["world_size"] == 2 and s0["global_step"] == s1["global_step"] == 5
    assert s0["images_seen"] == 200 and s0["final"] == s1["final"]  # epoch means averaged over the ranks
    assert not r0["group_alive"] and not r1["group_alive"]  # train() cleans up the group it created

    # One writer: rank 0's checkpoint holds both ranks' noise streams for an exact resume with two processes.
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert len(state["noise_rng"]) == 2 and not torch.equal(state["noise_rng"][0], state["noise_rng"][1])
    for name, value in state["generator"].items():
        assert torch.equal(value, r0["generator"][name])
    assert sorted(p.name for p in out.glob("*.tmp*")) == []
