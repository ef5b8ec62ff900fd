"""Imbalance profilers (thesis Ch. 3): numbers only; plotting lives in :mod:`bbgen.plot`.

Names are resolved lazily so that the data-side profilers (numpy only) do not import torch, which the
anchor and regression-loss profilers need.
"""
from __future__ import annotations

from .._lazy import lazy_attributes

_MODULES = {
    "anchor_imbalance": ["AnchorProfile", "anchor_profile"],
    "data_batch": ["BatchProfile", "batch_class_profile"],
    "data_classes": ["ClassProfile", "class_profile", "lvis_bands"],
    "data_location": ["LocationProfile", "location_profile", "normalized_centers"],
    "data_measures": ["chi_square_uniform", "gini", "imbalance_ratio", "normalized_entropy"],
    "data_profile": ["DatasetProfile", "DatasetSummary", "dataset_summary", "profile_dataset"],
    "data_scale": ["ScaleProfile", "fpn_level", "scale_profile", "size_category"],
    "regression_profile": ["IOU_BINS", "IOU_BIN_BASES", "IOU_BIN_EDGES", "RPN_LIKE_WEIGHTS", "RegressionLossProfile", "regression_loss_profile"],
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
