"""Section builders of the data side of the imbalance report (thesis Ch. 3; docs/architecture.md)."""
from __future__ import annotations

from dataclasses import replace
from functools import partial

from .._typing import SeedLike
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
from .sections import FigureSpec, Section, SectionBuilder, draw_no_data

__all__ = ["summary_section", "class_section", "batch_section", "scale_section", "location_section",
           "data_sections"]


# what the scale and location sections say above their numbers (fixed texts)
_SCALE_TEXT = ("Sizes relative to the image (Fig. 3.7). COCO bands by absolute box area (32², 96² pixels). "
               "FPN level k = floor(4 + log2(sqrt(wh) / 224)) clipped to P2-P5, on original image pixels.")
_SCALE_HOW = ("How large the objects are relative to their image (thesis Fig. 3.7; log y axes) and which FPN level "
              "would own each box. Mass piled at the left means mostly small objects, which the finest pyramid levels "
              "must carry and which get few positive anchors.")
_LOCATION_TEXT = ("Chi-square and normalised entropy compare the centre heatmap with a uniform one; the effect "
                  "size sqrt(chi2 / (n (K - 1))) does not grow with the number of boxes.")
_LOCATION_HOW = ("Where the object centres lie on the normalised image (thesis Fig. 3.13); colour = density "
                 "relative to a uniform spread. A bright middle (more than 25 % of centres in the central quarter) "
                 "means objects near the borders are rare in training.")


def _or_no_data(figs: tuple[FigureSpec, ...], has_data: bool) -> tuple[FigureSpec, ...]:
    """The figures, or figures that say "no boxes" when there is nothing to plot."""
    if has_data:
        return figs
    return tuple(replace(f, draw=draw_no_data) for f in figs)


def _class_sentence(d: dict[str, object]) -> str:
    """Plain words for the ratio, its two classes and the classes without instances."""
    if d["num_instances"] == 0:
        return "There are no boxes: every class statistic is n/a. "
    text = (f"Imbalance ratio {d['imbalance_ratio']:.4g} = {d['most_frequent_class']} "
            f"({d['most_frequent_instances']:,}) / {d['least_frequent_class']} ({d['least_frequent_instances']:,}), "
            "the most and the least frequent class with instances. ")
    k = d["num_empty_classes"]
    if k:
        shown = ", ".join(d["empty_classes"][:10]) + (", ..." if k > 10 else "")
        text += f"{k} class{'es have' if k > 1 else ' has'} no instances: {shown} (left out of the ratio). "
    return text


def summary_section(ann: Annotations) -> Section:
    """What was read: images, boxes, classes, crowd boxes, dropped boxes, source.

    Parameters
    ----------
    ann : Annotations
        The dataset whose table is summarised.
    """
    s = dataset_summary(ann)
    text = ("SYNTHETIC DATA: the embedded default dataset drawn by bbgen.datasets.synthetic(); "
            "no real annotations were profiled. " if s.synthetic else "")
    text += ("Crowd / difficult / ignore boxes are counted here and left out of the statistics below; "
             "degenerate boxes (zero or negative size) were dropped by the reader.")
    how = ("What was read from the annotation files: check these counts against the dataset's published figures "
           "before reading further. Every section below profiles the same boxes; a box 'beyond the image' reaches "
           "past the image border (any corner outside it), counted the same way everywhere.")
    return Section("dataset", "Dataset", s.to_dict(), text=text,
                   highlights=("num_images", "num_boxes", "num_classes", "num_crowd", "boxes_beyond_image"),
                   how_to_read=how)


def class_section(ann: Annotations) -> Section:
    """Foreground-foreground class imbalance owing to the dataset (thesis §3.2.2.1, Fig. 3.5).

    Parameters
    ----------
    ann : Annotations
        The dataset whose classes are counted.

    Returns
    -------
    Section
        ``key="classes"``: the numbers of :class:`bbgen.imbalance.ClassProfile` and the three panels of Fig. 3.5.
    """
    p = class_profile(ann)
    figs = (
        FigureSpec("instances_per_class", "Fig. 3.5a: instances per class", partial(plot_instances_per_class, p),
                   size=(max(6.4, 0.16 * len(p.category_names)), 4.6) if len(p.category_names) > 20 else (6.4, 4.0),
                   wide=len(p.category_names) > 20),
        FigureSpec("images_by_instances", "Fig. 3.5b: images vs instances per image",
                   partial(plot_images_by_instances, p)),
        FigureSpec("images_by_classes", "Fig. 3.5c: images vs classes per image",
                   partial(plot_images_by_classes, p)),
    )
    d = p.to_dict()
    figs = (_or_no_data(figs[:1], d["num_instances"] > 0)) + figs[1:]
    text = _class_sentence(d) + ("Gini 0 = balanced; normalised entropy 1 = balanced. LVIS bands: rare 1-10, "
                                 "common 11-100, frequent > 100 images per class.")
    how = ("How unevenly the boxes are spread over the classes (thesis §3.2.2.1, Fig. 3.5; log axes). A steep "
           "first figure, a large imbalance ratio and a Gini near 1 mean a long tail: the rare classes get few "
           "positive examples and few gradient updates.")
    return Section("classes", "Foreground-foreground class imbalance (dataset)", d, figs, text,
                   highlights=("imbalance_ratio", "gini", "normalized_entropy", "mean_instances_per_image",
                               "num_empty_classes"), how_to_read=how)


def batch_section(ann: Annotations, *, batch_size: int = 16, num_batches: int = 1000,
                  generator: SeedLike = 0) -> Section:
    """Foreground-foreground class imbalance owing to the batch (thesis §3.2.2.2, Fig. 3.6).

    Parameters
    ----------
    ann : Annotations
        The dataset.
    batch_size, num_batches : int
        The batch simulation (see :func:`bbgen.imbalance.data_batch.batch_class_profile`).
    generator : int, numpy.random.Generator, torch.Generator or None
        Its randomness (:func:`bbgen._validate.as_numpy_generator`).
    """
    p = batch_class_profile(ann, batch_size=batch_size, num_batches=num_batches, generator=generator)
    figs = (FigureSpec("class_shares", "Fig. 3.6: within-batch class shares", partial(plot_batch_class_shares, p),
                       size=(7.0, 4.2)),)
    text = (f"{p.num_batches} batches of {p.batch_size} images drawn by a shuffling loader"
            f"{f' (seed {p.seed})' if p.seed is not None else ''}. "
            "TV distance = total-variation distance between the batch and dataset class distributions.")
    d = p.to_dict()
    figs = _or_no_data(figs, len(p.class_names) > 0)
    how = ("What one training batch sees (thesis Fig. 3.6): each box spans the 25-75 % range of a frequent class's "
           "share of the boxes in a batch (whiskers 5-95 %), the diamond is its share in the whole dataset. Wide "
           "boxes mean batches are much less balanced, or differently balanced, than the dataset.")
    return Section("batch", "Foreground-foreground class imbalance (batch)", d, figs, text,
                   highlights=("top_class_not_majority_fraction",), how_to_read=how)


def scale_section(ann: Annotations) -> Section:
    """Object/box-level scale imbalance (thesis §3.3.1, Fig. 3.7) and boxes per FPN level (§3.3.2).

    Parameters
    ----------
    ann : bbgen.datasets.Annotations
        The dataset whose boxes are measured (sizes relative to each box's image).

    Returns
    -------
    Section
        ``key="scale"``: the numbers of :class:`bbgen.imbalance.ScaleProfile`, Fig. 3.7 and the FPN-level counts.
    """
    p = scale_profile(ann)
    figs = (
        FigureSpec("relative_width", "Fig. 3.7a: relative width", partial(plot_relative_width, p)),
        FigureSpec("relative_height", "Fig. 3.7b: relative height", partial(plot_relative_height, p)),
        FigureSpec("relative_area", "Fig. 3.7c: relative area", partial(plot_relative_area, p)),
        FigureSpec("size_bands", "COCO small / medium / large", partial(plot_size_categories, p)),
        FigureSpec("fpn_levels", "Boxes per FPN level", partial(plot_fpn_levels, p)),
    )
    figs = _or_no_data(figs, int(p.size_counts.sum()) > 0)
    return Section("scale", "Object/box-level scale imbalance", p.to_dict(), figs, _SCALE_TEXT,
                   highlights=("coco_size_fractions", "fpn_level_counts"), how_to_read=_SCALE_HOW)


def location_section(ann: Annotations) -> Section:
    """Object location imbalance (thesis §3.4.3, Fig. 3.13).

    Parameters
    ----------
    ann : Annotations
        The dataset whose box centres are mapped.
    """
    p = location_profile(ann)
    figs = (FigureSpec("center_heatmap", "Fig. 3.13: object centres", partial(plot_center_heatmap, p),
                       size=(5.6, 4.4)),)
    figs = _or_no_data(figs, int(p.heatmap.sum()) > 0)
    return Section("location", "Object location imbalance", p.to_dict(), figs, _LOCATION_TEXT,
                   highlights=("central_fraction", "normalized_entropy"), how_to_read=_LOCATION_HOW)


def data_sections(*, batch_size: int = 16, num_batches: int = 1000,
                  generator: SeedLike = 0) -> list[SectionBuilder]:
    """The default data-side section builders, in report order.

    Parameters
    ----------
    batch_size, num_batches : int
        The batch simulation of :func:`batch_section`.
    generator : int, numpy.random.Generator, torch.Generator or None
        Its randomness; a Generator is shared by every report built with these builders (each build
        advances it).

    Returns
    -------
    list of callables ``(Annotations) -> Section``
    """
    return [summary_section, class_section,
            partial(batch_section, batch_size=batch_size, num_batches=num_batches, generator=generator),
            scale_section, location_section]
