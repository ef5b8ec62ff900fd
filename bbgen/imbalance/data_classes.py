"""Foreground-foreground class imbalance owing to the dataset (thesis §3.2.2.1, Fig. 3.5)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..datasets.annotations import Annotations, check_annotations
from .data_measures import as_counts, gini, imbalance_ratio, normalized_entropy

__all__ = ["ClassProfile", "class_profile", "lvis_bands", "LVIS_BAND_LIMITS"]

# LVIS (Gupta et al., 2019): rare 1-10 training images, common 11-100, frequent > 100
LVIS_BAND_LIMITS = (10, 100)


@dataclass(frozen=True)
class ClassProfile:
    """Class statistics of a dataset (thesis Fig. 3.5 a-c). Arrays are in category order.

    Parameters
    ----------
    category_names : tuple of str [C]
        Class names.
    instances_per_class : ndarray [C] int
        Number of boxes per class (Fig. 3.5a).
    images_per_class : ndarray [C] int
        Number of images containing the class.
    images_by_instances : ndarray [K+1] int
        Number of images with k = 0..K boxes (Fig. 3.5b).
    images_by_classes : ndarray [L+1] int
        Number of images with l = 0..L distinct classes (Fig. 3.5c).
    bands : tuple of str [C]
        LVIS band 'r', 'c', 'f' per class ('' for a class without images).
    bands_source : str
        'dataset' (LVIS file) or 'images-per-class' (LVIS thresholds applied here).
    """

    category_names: tuple[str, ...]
    instances_per_class: np.ndarray
    images_per_class: np.ndarray
    images_by_instances: np.ndarray
    images_by_classes: np.ndarray
    bands: tuple[str, ...]
    bands_source: str

    @property
    def order(self) -> np.ndarray:
        """[C] class indices sorted by instance count, most frequent first (stable)."""
        return np.argsort(-self.instances_per_class, kind="stable")

    def to_dict(self) -> dict[str, object]:
        """JSON-plain numbers; ``None`` where the data define no value (no instances at all).

        ``least_frequent_class`` is the least frequent class *with* instances, the one the
        imbalance ratio divides by; classes without instances are counted (``num_empty_classes``)
        and named (``empty_classes``) instead.
        """
        ipc = self.instances_per_class
        per_image = np.repeat(np.arange(len(self.images_by_instances)), self.images_by_instances)
        classes_per_image = np.repeat(np.arange(len(self.images_by_classes)), self.images_by_classes)
        order = self.order
        present = order[ipc[order] > 0]
        band_counts = {b: int(sum(x == b for x in self.bands)) for b in ("r", "c", "f")}
        band_instances = {b: int(ipc[[x == b for x in self.bands]].sum()) for b in ("r", "c", "f")}
        return {
            "num_classes": len(self.category_names),
            "num_instances": int(ipc.sum()),
            "num_empty_classes": int((ipc == 0).sum()),
            "empty_classes": [self.category_names[i] for i in np.flatnonzero(ipc == 0)],
            "imbalance_ratio": imbalance_ratio(ipc) if ipc.size else None,
            "gini": gini(ipc) if ipc.size else None,
            "normalized_entropy": normalized_entropy(ipc) if ipc.size else None,
            "most_frequent_class": self.category_names[present[0]] if len(present) else None,
            "most_frequent_instances": int(ipc[present[0]]) if len(present) else None,
            "least_frequent_class": self.category_names[present[-1]] if len(present) else None,
            "least_frequent_instances": int(ipc[present[-1]]) if len(present) else None,
            "mean_instances_per_image": float(per_image.mean()) if per_image.size else None,
            "max_instances_per_image": int(per_image.max()) if per_image.size else None,
            "mean_classes_per_image": float(classes_per_image.mean()) if classes_per_image.size else None,
            "max_classes_per_image": int(classes_per_image.max()) if classes_per_image.size else None,
            "lvis_bands_source": self.bands_source,
            "lvis_band_classes": band_counts,
            "lvis_band_instances": band_instances,
            "per_class": [{"name": self.category_names[i], "instances": int(ipc[i]),
                           "images": int(self.images_per_class[i]), "lvis_band": self.bands[i]} for i in order],
            "images_by_num_instances": self.images_by_instances.astype(int).tolist(),
            "images_by_num_classes": self.images_by_classes.astype(int).tolist(),
        }


def lvis_bands(images_per_class: np.ndarray) -> tuple[str, ...]:
    """LVIS frequency band of each class from its image count ('' when the class has no image).

    Parameters
    ----------
    images_per_class : ndarray [C] int
        Number of images containing each class.

    Returns
    -------
    tuple of str [C]
    """
    if np.size(images_per_class) == 0:  # no classes
        return ()
    n = as_counts(images_per_class, "images_per_class")
    rare, common = LVIS_BAND_LIMITS
    return tuple("" if k == 0 else "r" if k <= rare else "c" if k <= common else "f" for k in n.tolist())


def class_profile(ann: Annotations, *, include_crowd: bool = False) -> ClassProfile:
    """Instances/images per class and instances/classes per image of ``ann`` (thesis Fig. 3.5).

    Crowd / difficult boxes are left out unless ``include_crowd``. Vectorised: O(M log M).

    Parameters
    ----------
    ann : Annotations
        The dataset.
    include_crowd : bool
        Count crowd / difficult boxes too.

    Returns
    -------
    ClassProfile
    """
    ann = check_annotations(ann)
    keep = np.ones(ann.num_boxes, dtype=bool) if include_crowd else ~ann.crowd
    labels, img = ann.labels[keep], ann.box_image[keep]
    c, n = ann.num_classes, ann.num_images
    instances = np.bincount(labels, minlength=c)
    pairs = np.unique(img * c + labels)  # distinct (image, class) pairs
    images_per_class = np.bincount(pairs % c, minlength=c)
    per_image = np.bincount(img, minlength=n)
    classes_per_image = np.bincount(pairs // c, minlength=n)
    if ann.frequency is not None:
        bands, source = tuple(ann.frequency), "dataset"
    else:
        bands, source = lvis_bands(images_per_class), "images-per-class"
    return ClassProfile(
        category_names=tuple(ann.category_names),
        instances_per_class=instances,
        images_per_class=images_per_class,
        images_by_instances=np.bincount(per_image),
        images_by_classes=np.bincount(classes_per_image),
        bands=bands,
        bands_source=source,
    )
