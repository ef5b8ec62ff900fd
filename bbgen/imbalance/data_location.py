"""Object location imbalance (thesis §3.4.3, Fig. 3.13): box centres on the normalised image."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..datasets.annotations import Annotations, check_annotations
from .data_measures import chi_square_uniform, normalized_entropy

__all__ = ["LocationProfile", "location_profile", "normalized_centers"]


def normalized_centers(ann: Annotations, *, include_crowd: bool = False) -> np.ndarray:
    """Box centres [M', 2] as (x / width, y / height) of their image, clipped to [0, 1].

    Parameters
    ----------
    ann : Annotations
        The dataset.
    include_crowd : bool
        Keep crowd / difficult boxes (M' = M) instead of leaving them out.

    Returns
    -------
    ndarray [M', 2] float64
    """
    ann = check_annotations(ann)
    keep = np.ones(ann.num_boxes, dtype=bool) if include_crowd else ~ann.crowd
    b = ann.boxes[keep]
    centre = (b[:, :2] + b[:, 2:]) / 2 / ann.image_sizes[ann.box_image[keep]]
    return np.clip(centre, 0.0, 1.0)


@dataclass(frozen=True)
class LocationProfile:
    """Centre heatmap on the normalised image and how far it is from uniform (thesis Fig. 3.13).

    Values the data do not define (no boxes) are ``None``.

    Parameters
    ----------
    heatmap : ndarray [G, G] int
        Box counts per cell; row 0 is the top of the image (y = 0).
    mean_center : tuple of (float, float) or None
        (x, y) mean of the normalised centres.
    std_center : tuple of (float, float) or None
        (x, y) standard deviation of the normalised centres.
    central_fraction : float or None
        Share of centres in the central [0.25, 0.75]^2 square (0.25 if uniform).
    chi_square : dict of str to float or None
        Pearson chi-square vs a uniform heatmap (statistic, dof, p_value, effect_size).
    entropy : float or None
        Normalised entropy of the heatmap (1 = uniform).
    """

    heatmap: np.ndarray
    mean_center: tuple[float, float] | None
    std_center: tuple[float, float] | None
    central_fraction: float | None
    chi_square: dict[str, float | None]
    entropy: float | None

    def to_dict(self) -> dict[str, object]:
        """JSON-plain numbers (``None`` where the data define no value)."""
        return {
            "num_boxes": int(self.heatmap.sum()),
            "grid": int(self.heatmap.shape[0]),
            "mean_center": None if self.mean_center is None else list(self.mean_center),
            "std_center": None if self.std_center is None else list(self.std_center),
            "central_fraction": self.central_fraction,
            "uniform_central_fraction": 0.25,
            "chi_square_vs_uniform": self.chi_square,
            "normalized_entropy": self.entropy,
            "heatmap": self.heatmap.astype(int).tolist(),
        }


def location_profile(ann: Annotations, *, grid: int = 32, include_crowd: bool = False) -> LocationProfile:
    """Heatmap of normalised box centres on a ``grid`` x ``grid`` lattice and uniformity statistics.

    Parameters
    ----------
    ann : Annotations
        The dataset.
    grid : int
        Cells per side (>= 2).
    include_crowd : bool
        Count crowd / difficult boxes too.

    Returns
    -------
    LocationProfile
    """
    ann = check_annotations(ann)
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or grid < 2:
        raise ValueError(f"grid must be an integer >= 2, got {grid!r}")
    c = normalized_centers(ann, include_crowd=include_crowd)
    cell = np.clip((c * grid).astype(np.int64), 0, grid - 1)
    heat = np.bincount(cell[:, 1] * grid + cell[:, 0], minlength=grid * grid).reshape(grid, grid)
    flat = heat.ravel()
    central = ((c >= 0.25) & (c <= 0.75)).all(axis=1)
    empty = len(c) == 0
    return LocationProfile(
        heatmap=heat,
        mean_center=None if empty else tuple(float(v) for v in c.mean(axis=0)),
        std_center=None if empty else tuple(float(v) for v in c.std(axis=0)),
        central_fraction=None if empty else float(central.mean()),
        chi_square=chi_square_uniform(flat),
        entropy=normalized_entropy(flat),
    )
