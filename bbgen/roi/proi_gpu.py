"""GENERATEPROI (thesis Alg. 2) for a batch on CUDA: the plan on the host, all boxes in one Triton launch.

Alg. 2 (GENERATEPROI): ``counts = fgBalancedRoIAlloc(GTs, RoINum)``; for each GT ``B`` and each of its
``counts[B]`` RoIs: draw an IoU bin and a threshold ``T`` from the IoU distribution, ``RoI = GENERATEBB(B, T)``.

:func:`prois_triton` takes the GTs of the batch on the host (:func:`bbgen.roi._proi_inputs.host_gts`, the copy
that :func:`bbgen.roi.proi.generate_prois` also checks), computes the plan there with the numba kernel of
the CPU path (:func:`bbgen.roi.proi_cpu.plan_kernel`: ``fgBalancedRoIAlloc`` from stream ``STREAM_ALLOC``, index =
image; bin and threshold of RoI ``q`` from stream ``STREAM_BINS``, index = q; the allowed region, the image
widened to contain the GT), copies it to the device and generates every box with one launch of the Triton kernel
(:func:`bbgen.generator.fused_gpu.generate_triton`, ``num=1``, ``offset=0``: RoI ``q`` draws stream
``STREAM_BOXES``, index = q). These are the streams and indices of the CPU path, so for a seed the two give the
same RoIs up to float rounding.

Per call on CUDA (read from the code, not measured): 3 host syncs — the GTs (and per-image sizes) to the host in
one copy (:func:`~bbgen.roi._proi_inputs.host_gts`; the public ``generate_prois`` checks the GTs on that same copy),
the seed (:func:`bbgen.generator.backends.draw_seed`, called by :mod:`bbgen.roi.proi`), the NaN check of
``generate_triton``. The plan goes to the device in two non-blocking copies from pinned memory (one float64, one
int64 array). Kernel launches: 3 to 6 to pack the GTs (cat of the boxes, of the labels and the packing cat; casts
to float64 / int64 where the dtypes differ), 1 for the seed, 1 Triton launch for all boxes (one per 2^22 RoIs),
2 for the NaN check (isnan, any), a cast of the labels back to their dtype unless int64; copies: 2 device-to-host
(GTs, seed), 2 host-to-device (the plan). The first pinned allocation of a size may cost a ``cudaHostAlloc``;
torch's caching host allocator reuses the blocks afterwards.

Imports numba and triton; :func:`bbgen.roi.proi.generate_prois` imports this module only on the triton backend.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..generator.backends import check_memory
from ..generator.fused_gpu import BLOCK, generate_triton
from ..generator.proposals import Proposal
from ._proi_inputs import HostGTs
from .proi_cpu import host_batch, plan_kernel

__all__ = ["prois_triton"]


def prois_triton(host: HostGTs, device: torch.device, dtype: torch.dtype, num_rois: int, table: np.ndarray,
                 fg_balanced: bool, exact: bool, proposal: Proposal, seed: int, num_out: int,
                 block: int = BLOCK) -> tuple[Tensor, Tensor, Tensor]:
    """Alg. 2 for a batch of valid inputs, the boxes on ``device`` (CUDA; CPU under ``TRITON_INTERPRET=1``).

    Parameters
    ----------
    host : HostGTs
        the batch's GTs, labels and image sizes on the host (:func:`bbgen.roi._proi_inputs.host_gts`).
    device, dtype : torch.device, torch.dtype
        of the GT boxes: the RoIs are returned there, in that dtype (float32 or float64).
    num_rois : int
        RoIs per image with GTs.
    table : ndarray[4, K] float64
        the IoU distribution's bins (:func:`bbgen.roi.proi_cpu.prois_kernel`).
    fg_balanced, exact : bool
        class-balanced allocation; interval mode.
    proposal : Proposal
        a built-in proposal.
    seed : int
        64-bit Philox key.
    num_out : int
        ``num_rois`` times the number of images with GTs (> 0).
    block : int
        boxes per Triton program.

    Returns
    -------
    ``(boxes [R, 4] in dtype, ious [R] float64, ints [3, R] int64)``: per RoI in ``ints`` its GT's label,
    the GT's index in its image, the image index. Raises ``RuntimeError`` if a box fails (as ``generate_triton``).
    """
    check_memory(num_out, torch.float64, "generate_prois", extra=72)  # the host plan: 13 numbers per RoI
    gt, lab, sizes = host_batch(host)
    # the plan in two pinned host arrays: [ref R x 4 | lo R | hi R | region R x 4] and [label | GT | image]
    pin, r = device.type == "cuda", num_out
    plan_f = torch.empty(10 * r, dtype=torch.float64, pin_memory=pin)
    plan_i = torch.empty((3, r), dtype=torch.int64, pin_memory=pin)
    f = plan_f.numpy()
    plan_kernel(gt, lab, np.array(host.lengths, np.int64), num_rois, fg_balanced, table, exact, sizes, seed,
                f[:4 * r].reshape(r, 4), f[4 * r:6 * r].reshape(2, r), f[6 * r:].reshape(r, 4), plan_i.numpy())
    # non-blocking from pinned memory: no sync; torch keeps the pinned blocks until the copies are done
    dev_f = plan_f[:(6 if sizes is None else 10) * r].to(device, non_blocking=True)
    dev_i = plan_i.to(device, non_blocking=True)
    out, ious = generate_triton(dev_f[:4 * r].view(r, 4), dev_f[4 * r:5 * r, None],
                                dev_f[5 * r:6 * r, None] if exact else None,
                                None if sizes is None else dev_f[6 * r:].view(r, 4), 1, "random", proposal, seed, 0,
                                with_iou=True, block=block, dtype=dtype)
    return out[:, 0], ious[:, 0], dev_i
