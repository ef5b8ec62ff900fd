"""Foreground-foreground class imbalance owing to the batch (thesis §3.2.2.2, §3.2.4.3, Fig. 3.6).

Simulates a shuffling data loader: each epoch is a seeded permutation of the images cut into
batches of ``batch_size`` images; the class mix of every batch is compared with the dataset's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse

from .. import _validate
from .._typing import SeedLike
from ..datasets.annotations import Annotations, check_annotations
from .data_measures import QUANTILE_LEVELS, quantiles

__all__ = ["BatchProfile", "batch_class_profile"]


@dataclass(frozen=True)
class BatchProfile:
    """Spread of within-batch class shares around the dataset shares (thesis Fig. 3.6).

    Parameters
    ----------
    batch_size : int
        Images per batch B.
    num_batches : int
        Simulated batches (batches without any box are counted in ``empty_batches``).
    class_names : tuple of str [K]
        The K most frequent classes with boxes, most frequent first.
    dataset_share : ndarray [K]
        Their share of all boxes in the dataset.
    share_quantiles : ndarray [K, 5]
        Quantiles (5, 25, 50, 75, 95 %) of their share within a batch.
    share_mean : ndarray [K]
        Mean within-batch share.
    absent_fraction : ndarray [K]
        Fraction of batches without any box of the class.
    tv_distance : ndarray [num_batches - empty_batches]
        Total-variation distance ``0.5 * sum_c |p_batch(c) - p_data(c)|`` of each batch (all classes).
    top_class_not_majority : float or None
        Fraction of batches in which some class has strictly more boxes than the dataset's most
        frequent class (the situation of Fig. 3.6b); ``None`` when no batch has a box.
    empty_batches : int
        Batches without a box.
    seed : int or None
        The int seed of the simulation when ``generator`` was an int, else ``None`` (a numpy / torch
        Generator or OS entropy: no single int reproduces the run). Kept under the key ``"seed"`` of
        :meth:`to_dict` for JSON stability.
    """

    batch_size: int
    num_batches: int
    class_names: tuple[str, ...]
    dataset_share: np.ndarray
    share_quantiles: np.ndarray
    share_mean: np.ndarray
    absent_fraction: np.ndarray
    tv_distance: np.ndarray
    top_class_not_majority: float | None
    empty_batches: int
    seed: int | None

    def to_dict(self) -> dict[str, object]:
        """JSON-plain numbers (``None`` where the data define no value)."""
        return {
            "batch_size": self.batch_size,
            "num_batches": self.num_batches,
            "seed": self.seed,
            "empty_batches": self.empty_batches,
            "top_class_not_majority_fraction": self.top_class_not_majority,
            "tv_distance": quantiles(self.tv_distance),
            "quantile_levels": list(QUANTILE_LEVELS),
            "classes": [
                {"name": n, "dataset_share": float(d), "batch_share_mean": float(m), "absent_fraction": float(a),
                 "batch_share_quantiles": [float(x) for x in q]}
                for n, d, m, a, q in zip(self.class_names, self.dataset_share, self.share_mean,
                                         self.absent_fraction, self.share_quantiles)
            ],
        }


def batch_class_profile(ann: Annotations, *, batch_size: int = 16, num_batches: int = 1000, top_k: int = 10,
                        generator: SeedLike = 0, include_crowd: bool = False) -> BatchProfile:
    """Simulate ``num_batches`` batches of ``batch_size`` images and measure their class mix.

    Batches are drawn without replacement within an epoch (a seeded permutation per epoch).
    Vectorised with a sparse [N, C] image-class count matrix: cost O(num_batches * batch_size + M).

    Parameters
    ----------
    ann : Annotations
        The dataset (at least one image).
    batch_size : int
        Images per batch (capped at the number of images).
    num_batches : int
        Batches to simulate.
    top_k : int
        Number of most frequent classes whose shares are reported.
    generator : int, numpy.random.Generator, torch.Generator or None
        Randomness of the shuffling (:func:`bbgen._validate.as_numpy_generator`); the default seed 0 makes
        the profile reproducible, ``None`` draws fresh OS entropy.
    include_crowd : bool
        Count crowd / difficult boxes too.

    Returns
    -------
    BatchProfile
    """
    ann = check_annotations(ann)
    for name, v, lo in (("batch_size", batch_size, 1), ("num_batches", num_batches, 1), ("top_k", top_k, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    rng = _validate.as_numpy_generator(generator)
    n, c = ann.num_images, ann.num_classes
    if n == 0:
        raise ValueError("ann has no images: cannot simulate batches")
    b = min(int(batch_size), n)
    keep = np.ones(ann.num_boxes, dtype=bool) if include_crowd else ~ann.crowd
    labels, img = ann.labels[keep], ann.box_image[keep]
    counts = scipy.sparse.csr_matrix((np.ones(len(labels)), (img, labels)), shape=(n, c))

    per_epoch = n // b
    epochs = -(-int(num_batches) // per_epoch)
    order = np.concatenate([rng.permutation(n)[: per_epoch * b] for _ in range(epochs)])[: num_batches * b]
    rows = np.repeat(np.arange(num_batches), b)
    select = scipy.sparse.csr_matrix((np.ones(len(order)), (rows, order)), shape=(num_batches, n))
    batch = np.asarray((select @ counts).todense())  # [num_batches, C]

    totals = batch.sum(axis=1)
    nonempty = totals > 0
    share = batch[nonempty] / totals[nonempty, None]
    data_counts = np.bincount(labels, minlength=c).astype(np.float64)
    data_share = data_counts / max(data_counts.sum(), 1.0)
    top = np.argsort(-data_counts, kind="stable")[: min(top_k, int((data_counts > 0).sum()))]
    tv = 0.5 * np.abs(share - data_share).sum(axis=1)
    top_share = share[:, top]
    qs = np.quantile(top_share, QUANTILE_LEVELS, axis=0).T if len(share) else np.zeros((len(top), 5))
    return BatchProfile(
        batch_size=b,
        num_batches=int(num_batches),
        class_names=tuple(ann.category_names[i] for i in top),
        dataset_share=data_share[top],
        share_quantiles=qs,
        share_mean=top_share.mean(axis=0) if len(share) else np.zeros(len(top)),
        absent_fraction=(batch[:, top] == 0).mean(axis=0),
        tv_distance=tv,
        top_class_not_majority=float((share[:, top[0]] < share.max(axis=1)).mean()) if len(share) else None,
        empty_batches=int((~nonempty).sum()),
        seed=int(generator) if isinstance(generator, (int, np.integer)) else None,  # bool refused above
    )
