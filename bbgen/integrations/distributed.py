"""Multi-process training helpers: one random stream per rank, process-group setup from ``torchrun``'s env.

Every integration (:func:`~bbgen.integrations.torchvision.use_ofb`, ``use_proi``,
:func:`~bbgen.integrations.ohem.use_ohem`, :func:`~bbgen.integrations.iou_balanced.use_iou_balanced`)
draws only from the generator it is given, so under ``torch.distributed`` each rank gets its own
stream by seeding with ``seed + rank`` (:func:`rank_generator`); a rank's draws then depend only on
the seed and the rank, and a rerun reproduces them. The objective monitor averages over the ranks
itself (:mod:`bbgen.imbalance.objective`).
"""
from __future__ import annotations

import os
from typing import Optional, Union

import torch
import torch.distributed as dist

__all__ = ["rank", "world_size", "rank_seed", "rank_generator", "init_from_env"]


def rank() -> int:
    """This process's rank (0 without an initialised process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """Number of processes (1 without an initialised process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank_seed(seed: int) -> int:
    """``seed + rank``: the seed of this rank's own stream.

    Parameters
    ----------
    seed : int
        the run's seed (the same on every rank).
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return seed + rank()


def rank_generator(seed: int, device: Union[str, torch.device] = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with :func:`rank_seed`.

    Parameters
    ----------
    seed : int
        the run's seed (the same on every rank).
    device : str or torch.device
        where the generator draws (the model's device).
    """
    return torch.Generator(device=device).manual_seed(rank_seed(seed))


def init_from_env(device: Union[str, torch.device] = "cpu", backend: Optional[str] = None) -> bool:
    """Join the process group that ``torchrun`` describes (``WORLD_SIZE`` > 1); False when single-process.

    Parameters
    ----------
    device : str or torch.device
        ``cpu`` uses the gloo backend, ``cuda`` nccl (each rank on ``cuda:LOCAL_RANK``).
    backend : str, optional
        overrides the choice above.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but torch.distributed is not available in this build")
    if not dist.is_initialized():
        cuda = torch.device(device).type == "cuda"
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend or ("nccl" if cuda else "gloo"))
    return True
