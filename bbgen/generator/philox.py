"""Counter-based random stream of the compiled generators: Philox4x32-10 (Salmon et al., SC'11, "Random123").

Every random number of the fused kernels (:mod:`.fused_cpu`, :mod:`.fused_gpu`) is a pure function of
``(seed, stream, index, draw)``::

    words[0:4] = Philox4x32-10(counter = (draw, index mod 2^32, index >> 32, stream), key = (seed_lo, seed_hi))

``index`` is the global box (or RoI / image) index, ``draw`` counts the Philox calls made for it, ``stream``
separates independent uses (:data:`STREAM_BOXES`, :data:`STREAM_ALLOC`, :data:`STREAM_BINS`). So a box's
numbers depend neither on the thread that generates it nor on how the boxes are split across calls — the
invariance that makes the output bit-identical for 1 or N threads and for split calls with matching offsets.
This is the Philox of Triton's ``tl.philox`` (same rounds, constants, and key split ``seed -> (lo, hi)``).

:func:`philox4x32` is written once with arithmetic and bit operations on ``uint64`` values only, so the same
function runs on numpy scalars, on numpy arrays (vectorised, for tests) and compiled by numba (the CPU kernel
jits it). :func:`uniform` maps a 32-bit word to a float64 in ``(0, 1)``: ``(w + 0.5) / 2^32``, exact in float64.

Known-answer test (Random123 ``kat_vectors``, ``philox4x32 10``):

>>> import numpy as np
>>> [hex(int(w)) for w in philox4x32(*np.zeros(6, np.uint64))]
['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
"""
from __future__ import annotations

from typing import Union

import numpy as np

__all__ = ["philox4x32", "uniform", "split_seed", "Words", "STREAM_BOXES", "STREAM_ALLOC", "STREAM_BINS"]

MASK32 = np.uint64(0xFFFFFFFF)
ROUND_A = np.uint64(0xD2511F53)  # multipliers of the two S-boxes
ROUND_B = np.uint64(0xCD9E8D57)
KEY_A = np.uint64(0x9E3779B9)    # Weyl key increments (golden ratio, sqrt(3) - 1)
KEY_B = np.uint64(0xBB67AE85)
SHIFT32 = np.uint64(32)
TWO_M32 = 2.0 ** -32

#: a 32-bit word held in uint64: a numpy scalar or an array of them
Words = Union[np.uint64, np.ndarray]

STREAM_BOXES = 0  # generate_boxes: index = global box index
STREAM_ALLOC = 1  # generate_prois: fgBalancedRoIAlloc tie-breaks, index = image
STREAM_BINS = 2   # generate_prois: IoU bin and threshold, index = global RoI index


def philox4x32(c0: Words, c1: Words, c2: Words, c3: Words, k0: Words, k1: Words) -> tuple[Words, Words, Words, Words]:
    """Philox4x32 with 10 rounds: four 32-bit output words for counter ``(c0..c3)`` and key ``(k0, k1)``.

    Parameters
    ----------
    c0, c1, c2, c3 : uint64 scalar or ndarray[...]
        the counter words (each < 2^32); arrays broadcast.
    k0, k1 : uint64 scalar or ndarray[...]
        the key words (each < 2^32).

    Returns
    -------
    tuple of four uint64 words (scalars or arrays), each < 2^32.
    """
    for _ in range(10):
        p0 = ROUND_A * c0  # 32 x 32 -> 64-bit products: exact in uint64
        p1 = ROUND_B * c2
        c0, c1, c2, c3 = ((p1 >> SHIFT32) ^ c1 ^ k0, p1 & MASK32, (p0 >> SHIFT32) ^ c3 ^ k1, p0 & MASK32)
        k0 = (k0 + KEY_A) & MASK32
        k1 = (k1 + KEY_B) & MASK32
    return c0, c1, c2, c3


def uniform(word: Words) -> Union[float, np.ndarray]:
    """A 32-bit word -> float64 uniform in the open interval ``(0, 1)``: ``(word + 0.5) * 2^-32``.

    Parameters
    ----------
    word : uint64 scalar or ndarray[...]
        Philox output words.
    """
    return (word + 0.5) * TWO_M32


def split_seed(seed: int) -> tuple[int, int]:
    """64-bit seed -> Philox key ``(lo, hi)`` 32-bit words (the split of Triton's ``tl.philox``).

    Parameters
    ----------
    seed : int
        taken modulo 2^64.
    """
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    return seed & 0xFFFFFFFF, seed >> 32
