"""Distributed-training plumbing for torchrun (DistributedDataParallel): process group, gathering and sharding."""
from __future__ import annotations

import os
from typing import Any, Mapping, NamedTuple

import torch


class Dist(NamedTuple):
    """This process' place among the torchrun processes (world 1: not distributed)."""

    rank: int
    world: int
    local_rank: int
    initialised_here: bool


def init_distributed(device: torch.device) -> Dist:
    """Join the process group torchrun describes (RANK / WORLD_SIZE / LOCAL_RANK), once; world 1 without one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(0, 1, 0, False)
    import torch.distributed as dist

    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_initialized():
        return Dist(dist.get_rank(), dist.get_world_size(), local, False)
    if device.type == "cuda":
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(rank, world, local, True)


def gather_rows(t: torch.Tensor, world: int) -> torch.Tensor:
    """Concatenate every process' rows of ``t`` (their batch shards) in rank order."""
    if world == 1:
        return t
    parts = [torch.empty_like(t) for _ in range(world)]
    torch.distributed.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def gather_state(state: Any, world: int) -> Any:
    """A recurrent state (tensor or nested tuple, [.., batch shard, ..]) with every process' rows, on the CPU."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return gather_rows(state, world).cpu()
    return tuple(gather_state(s, world) for s in state)


def shard_state(state: Any, rank: int, world: int, device: torch.device) -> Any:
    """This process' rows of a full recurrent state (the inverse of ``gather_state``), on ``device``."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.chunk(world)[rank].to(device)
    return tuple(shard_state(s, rank, world, device) for s in state)


def rng_states(world: int) -> list:
    """Every process' torch RNG state (dropout), so a resumed run draws the same masks."""
    state = torch.get_rng_state()
    states = [state] if world == 1 else [s.cpu() for s in gather_rows(state.unsqueeze(0), world)]
    return states


def torchrun_env_from_slurm(environ: Mapping[str, str], master_addr: str) -> dict[str, str]:
    """The variables torchrun sets for a process (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
    MASTER_PORT), read from this Slurm task's own (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_JOB_NUM_NODES,
    SLURM_JOB_ID), so that ``init_distributed`` joins the job's other tasks; ``master_addr`` is the job's first
    host. Empty for a job of one task (nothing to join)."""
    world = int(environ.get("SLURM_NTASKS", "1"))
    if world <= 1:
        return {}
    nodes = max(1, int(environ.get("SLURM_JOB_NUM_NODES", "1")))
    # one port per job (an array's tasks each have their own job id), away from the well-known ports
    port = 20000 + int(environ.get("SLURM_JOB_ID", "0")) % 20000
    return {"RANK": environ["SLURM_PROCID"], "WORLD_SIZE": str(world), "LOCAL_RANK": environ.get("SLURM_LOCALID", "0"),
            "LOCAL_WORLD_SIZE": str(world // nodes), "MASTER_ADDR": master_addr, "MASTER_PORT": str(port)}
