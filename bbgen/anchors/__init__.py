"""Anchors and their assignment to ground truths (thesis §3.2.1, Fig. 3.4).

* :mod:`.config` — :class:`AnchorConfig`: a detector's anchor set and resize/pad rule (presets, JSON);
* :mod:`.grid` — torchvision's anchor grids, bit for bit, and their per-level geometry;
* :mod:`.assigners` — max-IoU (torchvision ``Matcher``) and ATSS definitions, dense;
* :mod:`.maxiou` — exact sparse max-IoU matching over many images; :mod:`.atss` — sparse ATSS;
  both share the grid-window machinery of :mod:`._windows`.
"""
from __future__ import annotations

from .assigners import ATSSAssigner, MaxIoUAssigner, assigner_config, max_iou_matches
from .config import PRESETS, AnchorConfig, anchor_config, detector_view, load_anchor_config, scale_boxes
from .grid import (LevelGeometry, anchor_columns, anchor_coords, cell_anchors, feature_sizes, grid_anchors,
                   level_geometry)
from .maxiou import MatchResult, chunk_plan, match_anchors, match_chunk

__all__ = ["ATSSAssigner", "AnchorConfig", "LevelGeometry", "MatchResult", "MaxIoUAssigner", "PRESETS",
           "anchor_columns", "anchor_config", "anchor_coords", "assigner_config", "cell_anchors", "chunk_plan",
           "detector_view", "feature_sizes", "grid_anchors", "level_geometry", "load_anchor_config",
           "match_anchors", "match_chunk", "max_iou_matches", "scale_boxes"]
