"""Backend choice, seeds, memory estimate and chunked execution of the compiled generators (issue #13).

Backends of :func:`bbgen.generator.batched.generate_boxes` and :func:`bbgen.roi.proi.generate_prois`:

* ``"torch"`` — the tensor-op path (:mod:`bbgen.generator.batched`), the reference implementation; the only one
  that accepts a callable proposal;
* ``"numba"`` — the fused CPU kernel (:mod:`bbgen.generator.fused_cpu`), CPU tensors;
* ``"triton"`` — the fused GPU kernel (:mod:`bbgen.generator.fused_gpu`), CUDA tensors;
* ``"auto"`` — numba for CPU tensors, triton for CUDA tensors (torch when the kernel's package is missing, or
  for a callable proposal).

The compiled backends draw every random number from the counter-based stream of :mod:`bbgen.generator.philox`
keyed by one 64-bit seed drawn from the caller's generator (:func:`draw_seed`). numba and triton are imported
only here, lazily, when a compiled backend is used: ``import bbgen`` and the ``bbgen report`` CLI never load them.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import warnings
from typing import Callable

import numpy as np
import torch

from .._typing import SeedLike
from .._validate import as_generator
from ..progress import tqdm
from .proposals import InsideBiased, Proposal, TruncatedNormal, uniform

__all__ = ["BACKENDS", "PROPOSAL_IDS", "resolve_backend", "draw_seed", "proposal_code", "bytes_needed",
           "check_memory", "run_chunked", "as_numpy", "CHUNK_BOXES", "PROGRESS_MIN_BOXES", "MAX_ATTEMPTS",
           "MAX_TRIES"]

BACKENDS = ("auto", "numba", "triton", "torch")
#: built-in proposal -> integer id of the compiled kernels (:func:`bbgen.generator.scalar.propose`)
PROPOSAL_IDS = {"uniform": 0, "normal": 1, "inside": 2}
MAX_ATTEMPTS = 100  # compiled kernels: a box is started again (later draws) at most this often, then reported
MAX_TRIES = 1000    # candidates per corner before the box is started again (zero-measure feasible set)
CHUNK_BOXES = 1 << 22          # boxes per compiled call: bounds the working set, drives the progress bar
PROGRESS_MIN_BOXES = 1 << 25   # a tqdm bar from ~33 M boxes on (a few seconds)


@functools.lru_cache(maxsize=None)
def _importable(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def proposal_code(prop: Proposal) -> tuple[int, float] | None:
    """``(id, parameter)`` of a built-in proposal for the compiled kernels, ``None`` for another callable.

    Parameters
    ----------
    prop : callable
        a resolved proposal (:func:`bbgen.generator.proposals.get_proposal`).
    """
    if prop is uniform:
        return PROPOSAL_IDS["uniform"], 0.0
    if type(prop) is TruncatedNormal:
        return PROPOSAL_IDS["normal"], float(prop.scale)
    if type(prop) is InsideBiased:
        return PROPOSAL_IDS["inside"], float(prop.weight)
    return None


def resolve_backend(backend: str, device: torch.device, prop: Proposal) -> str:
    """The backend that will run: ``"numba"``, ``"triton"`` or ``"torch"`` (see the module docstring).

    Parameters
    ----------
    backend : str
        ``"auto"``, ``"numba"``, ``"triton"`` or ``"torch"``.
    device : torch.device
        where the tensors live.
    prop : callable
        the resolved proposal.

    Raises ``ValueError`` naming the backend when a forced one cannot run here (package missing, wrong device,
    callable proposal)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    want = {"cpu": "numba", "cuda": "triton"}.get(device.type)
    if backend == "auto":
        if want is None or proposal_code(prop) is None or not _importable(want):
            return "torch"
        return want
    if backend == "torch":
        return backend
    if proposal_code(prop) is None:
        raise ValueError(f"backend={backend!r} supports the built-in proposals only ('uniform', 'normal', "
                         f"'inside'), got the callable {prop!r}; use backend='torch' (or 'auto')")
    if backend != want:
        raise ValueError(f"backend={backend!r} cannot run on {device.type} tensors "
                         f"(numba: CPU, triton: CUDA); use backend='auto'")
    if not _importable(backend):
        raise ValueError(f"backend={backend!r} is not available: the package {backend!r} is not installed")
    return backend


def draw_seed(generator: SeedLike, device: torch.device) -> int:
    """The 64-bit Philox key of a call: one draw (two 32-bit words) from the caller's generator or int seed.

    Parameters
    ----------
    generator : torch.Generator, int, numpy.random.Generator or None
        as accepted by :func:`bbgen._validate.as_generator`.
    device : torch.device
        device of the tensors (a generator must live there).
    """
    g = as_generator(generator, device)
    words = torch.randint(0, 1 << 32, (2,), generator=g, device=g.device, dtype=torch.int64).tolist()
    return (words[1] << 32) | words[0]


def bytes_needed(total: int, dtype: torch.dtype, extra: int = 0) -> int:
    """Memory of the output of a call: ``total`` boxes ``[4]`` of ``dtype`` and ``extra`` bytes per box.

    Parameters
    ----------
    total : int
        number of boxes.
    dtype : torch.dtype
        their dtype.
    extra : int
        other outputs per box in bytes (e.g. 8 for a float64 IoU).
    """
    return total * (4 * dtype.itemsize + extra)


def _memory() -> tuple[int, int]:
    """(physical, available) bytes of this machine; (0, 0) when unknown."""
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        return page * os.sysconf("SC_PHYS_PAGES"), page * os.sysconf("SC_AVPHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 0, 0


def check_memory(total: int, dtype: torch.dtype, what: str, extra: int = 0) -> None:
    """``ValueError`` when the output of ``total`` boxes cannot fit in this machine's memory, a
    ``ResourceWarning`` when it exceeds the memory available now (both before anything is allocated).

    Parameters
    ----------
    total, dtype, extra : int, torch.dtype, int
        as in :func:`bytes_needed`.
    what : str
        the caller's name, for the message.
    """
    need = bytes_needed(total, dtype, extra)
    physical, available = _memory()
    if physical and need > physical:
        raise ValueError(f"{what} asks for {total:,} boxes: the output alone needs {_size(need)}, more than this "
                         f"machine's {_size(physical)} of memory; generate fewer boxes per call (consecutive calls "
                         "with offset= give the same boxes)")
    if available and need > available:
        warnings.warn(f"{what}: the output of {total:,} boxes needs {_size(need)}, more than the "
                      f"{_size(available)} of memory available now", ResourceWarning, stacklevel=3)


def _size(nbytes: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


def run_chunked(total: int, body: Callable[[int, int], int], desc: str) -> int:
    """Call ``body(start, stop)`` over ``[0, total)`` in chunks of :data:`CHUNK_BOXES` with a tqdm bar from
    :data:`PROGRESS_MIN_BOXES` boxes on; returns the sum of what ``body`` returns (failed boxes).

    Parameters
    ----------
    total : int
        number of boxes.
    body : callable
        ``body(start, stop) -> int`` generates boxes ``start .. stop - 1``.
    desc : str
        label of the progress bar.
    """
    failed = 0
    with tqdm(total=total, desc=desc, unit="box", unit_scale=True, disable=total < PROGRESS_MIN_BOXES) as bar:
        for start in range(0, total, CHUNK_BOXES):
            stop = min(start + CHUNK_BOXES, total)
            failed += body(start, stop)
            bar.update(stop - start)
    return failed


def as_numpy(t: torch.Tensor | None) -> np.ndarray | None:
    """A CPU tensor as a C-contiguous numpy array sharing memory when possible.

    Parameters
    ----------
    t : Tensor or None
        a CPU tensor (None passes through).
    """
    return None if t is None else np.ascontiguousarray(t.detach().numpy())
