"""The whole data-side profile of a dataset: summary, class, batch, scale and location (thesis Ch. 3)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._typing import SeedLike
from ..datasets.annotations import Annotations, check_annotations
from .data_batch import BatchProfile, batch_class_profile
from .data_classes import ClassProfile, class_profile
from .data_location import LocationProfile, location_profile
from .data_scale import ScaleProfile, beyond_image, scale_profile

__all__ = ["DatasetSummary", "DatasetProfile", "dataset_summary", "profile_dataset"]


@dataclass(frozen=True)
class DatasetSummary:
    """Counts describing the table itself (what was read, what was dropped).

    Parameters
    ----------
    source : str
        Where the annotations came from.
    synthetic : bool
        The embedded synthetic dataset rather than real annotations.
    num_images, num_boxes, num_classes : int
        Table sizes.
    num_crowd : int
        Crowd / difficult / ignore boxes (counted, left out of the profiles).
    images_without_boxes : int
        Images with no box at all.
    boxes_beyond_image : int
        Boxes reaching past the image border (:func:`bbgen.imbalance.data_scale.beyond_image`).
    dropped : dict of str to int
        Boxes the reader rejected, by reason.
    """

    source: str
    synthetic: bool
    num_images: int
    num_boxes: int
    num_classes: int
    num_crowd: int
    images_without_boxes: int
    boxes_beyond_image: int
    dropped: dict[str, int]

    def to_dict(self) -> dict[str, object]:
        """JSON-plain numbers."""
        return {"source": self.source, "synthetic": self.synthetic, "num_images": self.num_images,
                "num_boxes": self.num_boxes, "num_classes": self.num_classes, "num_crowd": self.num_crowd,
                "images_without_boxes": self.images_without_boxes,
                "boxes_beyond_image": self.boxes_beyond_image, "dropped": dict(self.dropped)}


def dataset_summary(ann: Annotations) -> DatasetSummary:
    """Image/box/class counts, crowd boxes, empty images and boxes reaching past the image border.

    Parameters
    ----------
    ann : Annotations
        The table as read (crowd boxes included).
    """
    ann = check_annotations(ann)
    beyond = beyond_image(ann.boxes, ann.image_sizes[ann.box_image])
    return DatasetSummary(
        source=ann.source,
        synthetic=ann.source.startswith("synthetic"),
        num_images=ann.num_images,
        num_boxes=ann.num_boxes,
        num_classes=ann.num_classes,
        num_crowd=int(ann.crowd.sum()),
        images_without_boxes=int((np.bincount(ann.box_image, minlength=ann.num_images) == 0).sum()),
        boxes_beyond_image=int(beyond.sum()),
        dropped={str(k): int(v) for k, v in ann.dropped.items()},
    )


@dataclass(frozen=True)
class DatasetProfile:
    """All data-side profiles of one dataset; ``to_dict()`` is JSON-serialisable.

    Parameters
    ----------
    summary : DatasetSummary
    classes : ClassProfile
    batch : BatchProfile
    scale : ScaleProfile
    location : LocationProfile
    """

    summary: DatasetSummary
    classes: ClassProfile
    batch: BatchProfile
    scale: ScaleProfile
    location: LocationProfile

    def to_dict(self) -> dict[str, object]:
        """JSON-plain numbers of every profile."""
        return {"summary": self.summary.to_dict(), "classes": self.classes.to_dict(),
                "batch": self.batch.to_dict(), "scale": self.scale.to_dict(),
                "location": self.location.to_dict()}


def profile_dataset(ann: Annotations, *, batch_size: int = 16, num_batches: int = 1000, generator: SeedLike = 0,
                    include_crowd: bool = False) -> DatasetProfile:
    """Run every data-side profiler on ``ann`` (crowd boxes excluded unless ``include_crowd``).

    Parameters
    ----------
    ann : Annotations
        The dataset.
    batch_size, num_batches : int
        Batch simulation (see :func:`bbgen.imbalance.data_batch.batch_class_profile`).
    generator : int, numpy.random.Generator, torch.Generator or None
        Randomness of the batch simulation (:func:`bbgen._validate.as_numpy_generator`).
    include_crowd : bool
        Count crowd / difficult boxes too.

    Returns
    -------
    DatasetProfile
    """
    ann = check_annotations(ann)
    return DatasetProfile(
        summary=dataset_summary(ann),
        classes=class_profile(ann, include_crowd=include_crowd),
        batch=batch_class_profile(ann, batch_size=batch_size, num_batches=num_batches, generator=generator,
                                  include_crowd=include_crowd),
        scale=scale_profile(ann, include_crowd=include_crowd),
        location=location_profile(ann, include_crowd=include_crowd),
    )
