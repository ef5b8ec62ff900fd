"""Imbalance profilers (thesis Ch. 3): numbers only; plotting lives in :mod:`bbgen.plot`."""
from .anchors import AnchorProfile, anchor_profile
from .data_batch import BatchProfile, batch_class_profile
from .data_classes import ClassProfile, class_profile, lvis_bands
from .data_location import LocationProfile, location_profile, normalized_centers
from .data_measures import chi_square_uniform, gini, imbalance_ratio, normalized_entropy
from .data_profile import DatasetProfile, DatasetSummary, dataset_summary, profile_dataset
from .data_scale import ScaleProfile, fpn_level, scale_profile, size_category
from .regression import IOU_BINS, RPN_LIKE_WEIGHTS, RegressionLossProfile, regression_loss_profile

__all__ = [
    "AnchorProfile", "anchor_profile",
    "BatchProfile", "batch_class_profile", "ClassProfile", "class_profile", "lvis_bands",
    "LocationProfile", "location_profile", "normalized_centers", "chi_square_uniform", "gini",
    "imbalance_ratio", "normalized_entropy", "DatasetProfile", "DatasetSummary", "dataset_summary",
    "profile_dataset", "ScaleProfile", "fpn_level", "scale_profile", "size_category",
    "IOU_BINS", "RPN_LIKE_WEIGHTS", "RegressionLossProfile", "regression_loss_profile",
]
