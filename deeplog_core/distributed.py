"""One process or many: the same training code runs alone or under torchrun.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; then a process group is formed (nccl on
CUDA, gloo on CPU), each process takes one device, and only rank 0 writes anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from .artifacts import resolve_device


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_sum(self, values: list[float]) -> list[float]:
        """Sums of `values` over all ranks (float64, so counts stay exact)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64,
                         device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def restarted() -> bool:
    """True in a worker that torchrun restarted after a failure."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) > 0


def setup(device: str = "auto") -> DistContext:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(device=resolve_device(device))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", store=_attempt_store(rank, world),
                                rank=rank, world_size=world, timeout=INIT_TIMEOUT)
    return DistContext(rank, world, local_rank, dev)


INIT_TIMEOUT = timedelta(minutes=2)


def _attempt_store(rank: int, world: int) -> dist.Store:
    """The rendezvous store, namespaced by torchrun's restart count.

    After a worker dies and torchrun restarts the group, peers must never read the
    addresses the previous attempt published (seen here: the restarted gloo mesh waits
    for ever on a dead peer's port). A prefix per attempt keeps each attempt apart, and
    the timeout turns any remaining wait into a failure torchrun can restart from.
    """
    host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(host, port, world, is_master=(rank == 0 and not agent_store),
                          timeout=INIT_TIMEOUT, multi_tenant=not agent_store)
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return dist.PrefixStore(f"deeplog/attempt-{attempt}", store)


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
