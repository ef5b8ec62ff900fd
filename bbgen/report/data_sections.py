"""Section builders of the data side of the imbalance report (thesis Ch. 3; docs/architecture.md)."""
from __future__ import annotations

from functools import partial

from ..datasets.annotations import Annotations
from ..imbalance.data_batch import batch_class_profile
from ..imbalance.data_classes import class_profile
from ..imbalance.data_location import location_profile
from ..imbalance.data_profile import dataset_summary
from ..imbalance.data_scale import scale_profile
from ..plot.data_classes import (plot_batch_class_shares, plot_images_by_classes, plot_images_by_instances,
                                 plot_instances_per_class)
from ..plot.data_spatial import (plot_center_heatmap, plot_fpn_levels, plot_relative_area, plot_relative_height,
                                 plot_relative_width, plot_size_categories)
from .sections import FigureSpec, Section, SectionBuilder

__all__ = ["summary_section", "class_section", "batch_section", "scale_section", "location_section",
           "data_sections"]


def summary_section(ann: Annotations) -> Section:
    """What was read: images, boxes, classes, crowd boxes, dropped boxes, source."""
    s = dataset_summary(ann)
    text = ("SYNTHETIC DATA: the embedded default dataset drawn by bbgen.datasets.synthetic(); "
            "no real annotations were profiled. " if s.synthetic else "")
    text += ("Crowd / difficult / ignore boxes are counted here and left out of the statistics below; "
             "degenerate boxes (zero or negative size) were dropped by the reader.")
    return Section("dataset", "Dataset", s.to_dict(), text=text,
                   highlights=("num_images", "num_boxes", "num_classes", "num_crowd"))


def class_section(ann: Annotations) -> Section:
    """Foreground-foreground class imbalance owing to the dataset (thesis §3.2.2.1, Fig. 3.5)."""
    p = class_profile(ann)
    figs = (
        FigureSpec("instances_per_class", "Fig. 3.5a: instances per class", partial(plot_instances_per_class, p)),
        FigureSpec("images_by_instances", "Fig. 3.5b: images vs instances per image",
                   partial(plot_images_by_instances, p)),
        FigureSpec("images_by_classes", "Fig. 3.5c: images vs classes per image",
                   partial(plot_images_by_classes, p)),
    )
    text = ("Imbalance ratio = most / least frequent non-empty class; Gini 0 = balanced; normalised entropy "
            "1 = balanced. LVIS bands: rare 1-10, common 11-100, frequent > 100 images per class.")
    return Section("classes", "Foreground-foreground class imbalance (dataset)", p.to_dict(), figs, text,
                   highlights=("imbalance_ratio", "gini", "normalized_entropy", "mean_instances_per_image"))


def batch_section(ann: Annotations, *, batch_size: int = 16, num_batches: int = 1000, seed: int = 0) -> Section:
    """Foreground-foreground class imbalance owing to the batch (thesis §3.2.2.2, Fig. 3.6)."""
    p = batch_class_profile(ann, batch_size=batch_size, num_batches=num_batches, seed=seed)
    figs = (FigureSpec("class_shares", "Fig. 3.6: within-batch class shares", partial(plot_batch_class_shares, p),
                       size=(7.0, 4.2)),)
    text = (f"{p.num_batches} batches of {p.batch_size} images drawn by a shuffling loader (seed {p.seed}). "
            "TV distance = total-variation distance between the batch and dataset class distributions.")
    d = p.to_dict()
    return Section("batch", "Foreground-foreground class imbalance (batch)", d, figs, text,
                   highlights=("top_class_not_majority_fraction",))


def scale_section(ann: Annotations) -> Section:
    """Object/box-level scale imbalance (thesis §3.3.1, Fig. 3.7) and boxes per FPN level (§3.3.2)."""
    p = scale_profile(ann)
    figs = (
        FigureSpec("relative_width", "Fig. 3.7a: relative width", partial(plot_relative_width, p)),
        FigureSpec("relative_height", "Fig. 3.7b: relative height", partial(plot_relative_height, p)),
        FigureSpec("relative_area", "Fig. 3.7c: relative area", partial(plot_relative_area, p)),
        FigureSpec("size_bands", "COCO small / medium / large", partial(plot_size_categories, p)),
        FigureSpec("fpn_levels", "Boxes per FPN level", partial(plot_fpn_levels, p)),
    )
    text = ("Sizes relative to the image (Fig. 3.7). COCO bands by absolute box area (32², 96² pixels). "
            "FPN level k = floor(4 + log2(sqrt(wh) / 224)) clipped to P2-P5, on original image pixels.")
    return Section("scale", "Object/box-level scale imbalance", p.to_dict(), figs, text,
                   highlights=("coco_size_fractions", "fpn_level_counts"))


def location_section(ann: Annotations) -> Section:
    """Object location imbalance (thesis §3.4.3, Fig. 3.13)."""
    p = location_profile(ann)
    figs = (FigureSpec("center_heatmap", "Fig. 3.13: object centres", partial(plot_center_heatmap, p),
                       size=(5.6, 4.4)),)
    text = ("Chi-square and normalised entropy compare the centre heatmap with a uniform one; the effect "
            "size sqrt(chi2 / (n (K - 1))) does not grow with the number of boxes.")
    return Section("location", "Object location imbalance", p.to_dict(), figs, text,
                   highlights=("central_fraction", "normalized_entropy"))


def data_sections(*, batch_size: int = 16, num_batches: int = 1000, seed: int = 0) -> list[SectionBuilder]:
    """The default data-side section builders, in report order."""
    return [summary_section, class_section,
            partial(batch_section, batch_size=batch_size, num_batches=num_batches, seed=seed),
            scale_section, location_section]
