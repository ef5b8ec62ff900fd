"""Plain labels and units of the report's headline numbers, in one place.

``report.json`` keeps the machine names (``top_class_not_majority_fraction``); the HTML and the
markdown show the label and the value in its unit (``"%"``: a fraction shown as a percentage,
``"x"``: a ratio). A key without an entry is shown under its own name.
"""
from __future__ import annotations

from typing import NamedTuple

__all__ = ["Label", "LABELS", "label_of", "format_value", "format_with_unit"]


class Label(NamedTuple):
    """How a number is shown.

    Parameters
    ----------
    text : str
        The plain label.
    unit : str
        ``""`` (a count or a plain number), ``"%"`` (a fraction shown as a percentage), ``"x"``
        (a ratio, shown as ``12.3×``) or ``"1:"`` (a ratio shown as ``1 : 2,396``).
    parts : dict of str to str
        Labels of the entries of a dict-valued number (e.g. ``{"small": "small (< 32² px)"}``).
    """

    text: str
    unit: str = ""
    parts: dict[str, str] = {}


LABELS: dict[str, Label] = {
    # dataset
    "num_images": Label("Images"),
    "num_boxes": Label("Boxes"),
    "num_classes": Label("Classes"),
    "num_crowd": Label("Crowd / difficult boxes (not profiled)"),
    "images_without_boxes": Label("Images without boxes"),
    "boxes_beyond_image": Label("Boxes reaching past the image border"),
    # classes
    "imbalance_ratio": Label("Imbalance ratio (most / least frequent class)", "x"),
    "gini": Label("Gini coefficient (0 = balanced)"),
    "normalized_entropy": Label("Normalised entropy (1 = balanced)"),
    "mean_instances_per_image": Label("Boxes per image (mean)"),
    "num_empty_classes": Label("Classes without instances"),
    "most_frequent_class": Label("Most frequent class"),
    "least_frequent_class": Label("Least frequent class with instances"),
    # batch
    "top_class_not_majority_fraction": Label("Batches in which another class outnumbers the dataset's most "
                                             "frequent class", "%"),
    # scale
    "coco_size_fractions": Label("Boxes by COCO size", "%", {"small": "small (< 32² px)",
                                                            "medium": "medium (32²–96² px)",
                                                            "large": "large (≥ 96² px)"}),
    "fpn_level_counts": Label("Boxes per FPN level"),
    "beyond_image": Label("Boxes reaching past the image border"),
    # location
    "central_fraction": Label("Centres in the central quarter of the image (uniform: 25 %)", "%"),
    # anchors
    "mean_positives": Label("Positive anchors per image (mean)"),
    "mean_negatives": Label("Negative anchors per image (mean)"),
    "mean_ignored": Label("Ignored anchors per image (mean)"),
    "negatives_per_positive": Label("Foreground : background anchors", "1:"),
    "low_iou_positive_fraction": Label("Positives with IoU < 0.5 with their GT", "%"),
    "gts_without_positive": Label("GT boxes without a positive anchor"),
}


def label_of(key: str) -> Label:
    """The :class:`Label` of a number (its key itself when none is registered).

    Parameters
    ----------
    key : str
        Key of the number in ``Section.numbers``.
    """
    return LABELS.get(key, Label(key))


def format_value(v: object) -> str:
    """Human-readable text of a scalar: thousands separators for ints, 4 significant digits for floats.

    ``None`` (a number the data do not define, e.g. the Gini coefficient of a dataset without
    boxes) reads ``"n/a"``.

    Parameters
    ----------
    v : scalar
        ``None``, bool, int, float or str.
    """
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1e4 and v == v and abs(v) != float("inf") else f"{v:.4g}"
    if v is None:
        return "n/a"
    return str(v)


def format_with_unit(v: object, unit: str) -> str:
    """``v`` formatted in ``unit`` (``None`` reads ``"n/a"``).

    Parameters
    ----------
    v : scalar
        The number (or ``None``, bool, str).
    unit : str
        ``""``, ``"%"``, ``"x"`` or ``"1:"`` (see :class:`Label`).
    """
    if unit == "%" and isinstance(v, float):
        return f"{100 * v:.3g} %"
    if unit == "x" and isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"{v:.4g}×"
    if unit == "1:" and isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"1 : {v:,.0f}" if v >= 10 else f"1 : {v:.3g}"
    return format_value(v)
