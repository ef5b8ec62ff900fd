"""Plotting helpers: one function per figure, ``(data, ax=None) -> Axes``."""
from .anchors import (plot_fg_bg, plot_overlap_heatmap, plot_positive_iou, plot_positives_per_class,
                      plot_positives_per_gt, plot_positives_per_level, plot_regression_targets, plot_tl_corners)
from .data_classes import (plot_batch_class_shares, plot_images_by_classes, plot_images_by_instances,
                           plot_instances_per_class)
from .geometry import (plot_box, plot_feasible_spaces, plot_generated_boxes, plot_polygon, plot_tl_boundaries,
                       plot_tl_space)
from .data_spatial import (plot_center_heatmap, plot_fpn_levels, plot_relative_area, plot_relative_height,
                           plot_relative_width, plot_size_categories)
from .roi import plot_iou_histograms, plot_roi_tl_corners
from .losses import (plot_convergence, plot_iou_boxplots, plot_loss_shares, plot_per_bin,
                     plot_regression_errors)

__all__ = [
    "plot_fg_bg", "plot_overlap_heatmap", "plot_positive_iou", "plot_positives_per_class",
    "plot_positives_per_gt", "plot_positives_per_level", "plot_regression_targets", "plot_tl_corners",
    "plot_batch_class_shares", "plot_images_by_classes", "plot_images_by_instances", "plot_instances_per_class",
    "plot_center_heatmap", "plot_fpn_levels", "plot_relative_area", "plot_relative_height",
    "plot_relative_width", "plot_size_categories",
    "plot_box", "plot_feasible_spaces", "plot_generated_boxes", "plot_polygon", "plot_tl_boundaries",
    "plot_tl_space",
    "plot_iou_histograms", "plot_roi_tl_corners",
    "plot_convergence", "plot_iou_boxplots", "plot_loss_shares", "plot_per_bin", "plot_regression_errors",
]
