"""GENERATEPROI (thesis Alg. 2) for a whole batch of images in one compiled call (numba, CPU).

Alg. 2 (GENERATEPROI): ``counts = fgBalancedRoIAlloc(GTs, RoINum)``; for each GT ``B`` and each of its
``counts[B]`` RoIs: draw an IoU bin and a threshold ``T`` from the IoU distribution, ``RoI = GENERATEBB(B, T)``.

The **plan** (:func:`plan_kernel`; steps 1-2 and the region of step 3), per image, one after the other (a
training batch is small):

1. ``fgBalancedRoIAlloc``: ``num_rois`` split equally over the classes present (or over all instances), each
   share equally over its instances, remainders to members drawn at random — exactly ``num_rois`` per image
   with GTs, the rule of :func:`bbgen.roi.proi.allocate_rois` (random keys from the Philox stream
   ``STREAM_ALLOC``, index = image, one call per GT: word 0 the class key, word 1 the instance key);
2. ``genRoIs``: per RoI ``q`` (numbered over the batch) a bin of the IoU distribution and a threshold inside it
   (stream ``STREAM_BINS``, index = q: word 0 the bin by inverse CDF, word 1 the threshold), threshold or
   interval mode (:func:`bbgen.roi.distributions.sample_iou_bins`);
3. the allowed region of RoI ``q``: its image widened to contain its GT (as
   :func:`bbgen.roi.proi.generate_prois_validated`).

Then the **boxes**: :func:`prois_kernel` makes RoI ``q``'s box from row ``q`` of the plan in the same compiled
call, by :func:`bbgen.generator.fused_cpu.one_box` (stream ``STREAM_BOXES``, index = q); on CUDA,
:mod:`bbgen.roi.proi_gpu` copies the plan to the device and the Triton kernel draws the same stream.

Imports numba (through :mod:`bbgen.generator.fused_cpu`); :func:`bbgen.roi.proi.generate_prois` imports it only
when a compiled backend runs.
"""
from __future__ import annotations

import numba
import numpy as np

from ..generator import philox as _philox
from ..generator.fused_cpu import one_box
from ._proi_inputs import HostGTs
from .distributions import T_MAX

__all__ = ["prois_kernel", "plan_kernel", "host_batch"]

_njit = numba.njit(cache=True, error_model="numpy")
_philox4x32 = numba.njit(cache=True, inline="always")(_philox.philox4x32)


@_njit
def _u(w):
    return (np.float64(w) + 0.5) * _philox.TWO_M32


@_njit
def _allocate(labels, n, num_rois, fg_balanced, b, k0, k1, counts):
    """``fgBalancedRoIAlloc`` for image ``b``'s ``n`` GTs into ``counts[:n]`` (module docstring)."""
    stream, idx = np.uint64(_philox.STREAM_ALLOC), np.uint64(b)
    ckey, ikey = np.empty(n), np.empty(n)
    for g in range(n):
        w0, w1, _w2, _w3 = _philox4x32(np.uint64(g), idx & np.uint64(0xFFFFFFFF), idx >> np.uint64(32), stream,
                                       k0, k1)
        ckey[g], ikey[g] = _u(w0), _u(w1)
    first = np.empty(n, np.int64)  # representative (first GT) of each GT's class
    num_classes = 0
    for g in range(n):
        first[g] = g
        if fg_balanced:
            for h in range(g):
                if labels[h] == labels[g]:
                    first[g] = h
                    break
        if first[g] == g:
            num_classes += 1
    if not fg_balanced:
        num_classes = 1
    for g in range(n):
        rep = first[g] if fg_balanced else 0
        class_rank, size, rank = 0, 0, 0
        for h in range(n):
            same = first[h] == rep if fg_balanced else True
            if fg_balanced and first[h] == h and ckey[h] < ckey[rep]:
                class_rank += 1
            if same:
                size += 1
                if ikey[h] < ikey[g]:
                    rank += 1
        share = num_rois // num_classes + (1 if class_rank < num_rois % num_classes else 0)
        counts[g] = share // size + (1 if rank < share % size else 0)


@_njit
def _plan_image(b, gt, labels, lengths, starts, num_rois, fg_balanced, cdf, lo, hi, width, exact, sizes, has_size,
                k0, k1, ref, t, reg, ints):
    """The plan of image ``b``'s RoIs (steps 1-2 and the region of step 3, module docstring)."""
    n = lengths[b]
    if n == 0:
        return
    counts = np.empty(n, np.int64)
    _allocate(labels[b], n, num_rois, fg_balanced, b, k0, k1, counts)
    stream = np.uint64(_philox.STREAM_BINS)
    q = starts[b]
    for g in range(n):
        r0, r1, r2, r3 = gt[b, g, 0], gt[b, g, 1], gt[b, g, 2], gt[b, g, 3]
        g0, g1, g2, g3 = 0.0, 0.0, 0.0, 0.0
        if has_size:  # the image, widened to contain the GT
            g0, g1 = min(r0, 0.0), min(r1, 0.0)
            g2, g3 = max(r2, sizes[b, 0]), max(r3, sizes[b, 1])
        for _ in range(counts[g]):
            idx = np.uint64(q)
            w0, w1, _w2, _w3 = _philox4x32(np.uint64(0), idx & np.uint64(0xFFFFFFFF), idx >> np.uint64(32),
                                           stream, k0, k1)
            u = _u(w0)
            k = 0
            while k < cdf.shape[0] - 1 and cdf[k] <= u:  # searchsorted(cdf, u, right=True)
                k += 1
            T, T_hi = (lo[k], hi[k]) if exact else (min(lo[k] + _u(w1) * width[k], T_MAX), 1.0)
            ref[q, 0], ref[q, 1], ref[q, 2], ref[q, 3] = r0, r1, r2, r3
            t[0, q], t[1, q] = T, T_hi
            reg[q, 0], reg[q, 1], reg[q, 2], reg[q, 3] = g0, g1, g2, g3
            ints[0, q], ints[1, q], ints[2, q] = labels[b, g], g, b
            q += 1


@_njit
def _plan(num_images, gt, labels, lengths, num_rois, fg_balanced, cdf, lo, hi, width, exact, sizes, has_size, k0, k1,
          ref, t, reg, ints):
    """The plan of all images, one after the other: a training batch is small, no thread pool."""
    starts = np.empty(num_images, np.int64)  # first RoI of each image (images without GTs get none)
    q = 0
    for b in range(num_images):
        starts[b] = q
        q += num_rois if lengths[b] > 0 else 0
    for b in range(num_images):
        _plan_image(b, gt, labels, lengths, starts, num_rois, fg_balanced, cdf, lo, hi, width, exact, sizes,
                    has_size, np.uint64(k0), np.uint64(k1), ref, t, reg, ints)


@_njit
def _batch(num_images, gt, labels, lengths, num_rois, fg_balanced, cdf, lo, hi, width, exact, sizes, has_size,
           prop, param, k0, k1, f32, out, out_int, out_iou):
    """The plan, then each RoI's box (16 x 128 RoIs take ~0.5 ms); returns the number of boxes that failed."""
    num_out = out.shape[0]
    ref, t, reg = np.empty((num_out, 4)), np.empty((2, num_out)), np.empty((num_out, 4))
    _plan(num_images, gt, labels, lengths, num_rois, fg_balanced, cdf, lo, hi, width, exact, sizes, has_size, k0, k1,
          ref, t, reg, out_int)
    key0, key1 = np.uint64(k0), np.uint64(k1)
    failed = 0
    for q in range(num_out):
        x1, y1, x2, y2, v, ok = one_box(ref[q, 0], ref[q, 1], ref[q, 2], ref[q, 3], t[0, q], t[1, q], exact,
                                        reg[q, 0], reg[q, 1], reg[q, 2], reg[q, 3], has_size, 0, prop, param, key0,
                                        key1, np.uint64(q), f32)
        out[q, 0], out[q, 1], out[q, 2], out[q, 3] = x1, y1, x2, y2
        out_iou[q] = v
        failed += 0 if ok else 1
    return failed


def plan_kernel(gt: np.ndarray, labels: np.ndarray, lengths: np.ndarray, num_rois: int, fg_balanced: bool,
                table: np.ndarray, exact: bool, sizes: np.ndarray | None, seed: int, ref: np.ndarray, t: np.ndarray,
                region: np.ndarray, out_int: np.ndarray) -> None:
    """Steps 1-2 of Alg. 2 and each RoI's allowed region (module docstring), for the boxes of another kernel
    (:mod:`bbgen.roi.proi_gpu`): the plan of :func:`prois_kernel`, which makes RoI ``q``'s box from row ``q``.

    Parameters
    ----------
    gt, labels, lengths, num_rois, fg_balanced, table, exact, sizes, seed
        as in :func:`prois_kernel`.
    ref : ndarray[R, 4] float64
        written: each RoI's reference box (its GT).
    t : ndarray[2, R] float64
        written: each RoI's threshold (interval mode: the bin's lower edge) and upper bound (the bin's upper edge;
        1 in threshold mode, where there is none).
    region : ndarray[R, 4] float64
        written: each RoI's allowed region, its image widened to contain the GT (zeros without ``sizes``).
    out_int : ndarray[3, R] int64
        written: per RoI its GT's label, the GT's index in its image, the image index.
    """
    k0, k1 = _philox.split_seed(seed)
    has_size = sizes is not None
    _plan(gt.shape[0], gt, labels, lengths, num_rois, fg_balanced, table[3], table[0], table[1], table[2], exact,
          sizes if has_size else _NO_SIZES, has_size, k0, k1, ref, t, region, out_int)


def prois_kernel(gt: np.ndarray, labels: np.ndarray, lengths: np.ndarray, num_rois: int, fg_balanced: bool,
                 table: np.ndarray, exact: bool, sizes: np.ndarray | None, prop: int, param: float, seed: int,
                 out: np.ndarray, out_int: np.ndarray, out_iou: np.ndarray) -> int:
    """Alg. 2 for a padded batch: ``gt [B, G, 4]`` float64, ``labels [B, G]`` int64, ``lengths [B]`` int64.

    Parameters
    ----------
    gt, labels, lengths : ndarray[B, G, 4], ndarray[B, G], ndarray[B]
        padded ground truths (float64), their labels (int64) and the number of GTs per image.
    num_rois : int
        RoIs per image with GTs.
    fg_balanced : bool
        class-balanced (True) or instance-balanced allocation.
    table : ndarray[4, K] float64
        rows: bin lower edges, upper edges, threshold range widths (0 without jitter), CDF of the weights.
    exact : bool
        interval mode (bin lo <= IoU < bin hi) instead of threshold mode.
    sizes : ndarray[B, 2] float64 or None
        image sizes (W, H).
    prop, param : int, float
        built-in proposal id and parameter (:data:`bbgen.generator.backends.PROPOSAL_IDS`).
    seed : int
        64-bit Philox key.
    out : ndarray[R, 4] float32 or float64
        the boxes, ``R = num_rois`` times the number of images with GTs.
    out_int : ndarray[3, R] int64
        per RoI: its GT's label, the GT's index in its image, the image index.
    out_iou : ndarray[R] float64
        the verified IoU of each box with its GT.

    Returns
    -------
    int, the number of boxes that failed their final check (NaN rows).
    """
    k0, k1 = _philox.split_seed(seed)
    has_size = sizes is not None
    return int(_batch(gt.shape[0], gt, labels, lengths, num_rois, fg_balanced, table[3], table[0], table[1],
                      table[2], exact, sizes if has_size else _NO_SIZES, has_size, prop, float(param), k0, k1,
                      out.dtype == np.float32, out, out_int, out_iou))


_NO_SIZES = np.zeros((1, 2))


def host_batch(host: HostGTs) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The kernels' batch arrays from the concatenated GTs of the images.

    Parameters
    ----------
    host : HostGTs
        the batch on the host (:func:`bbgen.roi._proi_inputs.host_gts`).

    Returns
    -------
    ``gt [B, G_max, 4]`` float64 and ``labels [B, G_max]`` int64, padded with zeros where images have fewer GTs
    (no copy beyond the dtype conversion when all have the same number), and ``sizes [B, 2]`` float64 or None.
    """
    flat_gt, flat_labels, lengths, sizes = host.gt, host.labels, host.lengths, host.sizes
    num_images, most = len(lengths), max(lengths)
    if min(lengths) == most:  # a training batch: no padding
        gt = flat_gt.astype(np.float64, copy=False).reshape(num_images, most, 4)
        labels = flat_labels.astype(np.int64, copy=False).reshape(num_images, most)
    else:
        gt, labels = np.zeros((num_images, most, 4)), np.zeros((num_images, most), np.int64)
        start = 0
        for i, m in enumerate(lengths):
            gt[i, :m], labels[i, :m] = flat_gt[start:start + m], flat_labels[start:start + m]
            start += m
    if isinstance(sizes, tuple):
        per_image = np.empty((num_images, 2))
        per_image[:] = sizes
        sizes = per_image
    return gt, labels, sizes
