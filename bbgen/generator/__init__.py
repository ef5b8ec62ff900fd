"""The Bounding Box Generator (thesis Alg. 1, App. B; Öksüz et al., WACV 2020).

* :mod:`.feasible` — closed-form feasible top-left / bottom-right spaces (Eq. 4.1, Tables B.1–B.3),
  exact membership tests and shapely polygons;
* :mod:`.proposals` — samplePolygon's proposal distributions (the relative spatial control);
* :mod:`.reference` — GENERATEBB literally, one box at a time (:func:`generate_bb`), the reference path;
* :mod:`.batched` — the batched generator :func:`generate_boxes` used in training, with its backends
  (:mod:`.backends`): the compiled kernels :mod:`.fused_cpu` (numba) and :mod:`.fused_gpu` (Triton), built on the
  scalar formulas of :mod:`.scalar` and the counter-based random stream of :mod:`.philox`, and the torch-op path.
"""
from __future__ import annotations

from .batched import generate_boxes
from .feasible import br_feasible_space, tl_feasible_space
from .reference import generate_bb

__all__ = ["br_feasible_space", "generate_bb", "generate_boxes", "tl_feasible_space"]
