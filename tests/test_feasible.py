"""Feasible spaces (thesis Tables B.1–B.3): closed forms, polygons vs exact membership, areas, degenerate cases."""
import math

import numpy as np
import pytest
import shapely
import torch
from hypothesis import given, settings, strategies as st
from scipy import integrate

from bbgen.generator.feasible import (br_feasible_space, in_br_space, in_tl_space, second_corner_rect, tl_area,
                            tl_feasible_space, tl_rect, x_range, y_range)


def iou_ref(box, ref):
    """Independent float64 IoU (numpy) used to check the library."""
    ix = max(0.0, min(box[2], ref[2]) - max(box[0], ref[0]))
    iy = max(0.0, min(box[3], ref[3]) - max(box[1], ref[1]))
    inter = ix * iy
    return inter / ((box[2] - box[0]) * (box[3] - box[1]) + (ref[2] - ref[0]) * (ref[3] - ref[1]) - inter)


UNIT = [0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("T", [0.1, 0.5, 0.75, 0.9])
def test_tl_rect_is_eq_4_1(T):
    lo, hi = tl_rect(T)
    assert hi == pytest.approx(1 - T)        # Eq. 4.1: x_max = x2 - (x2 - x1) T in the unit frame
    c_min, c_max = x_range(0.0, 0.0, T)      # the reflection of the BR range at TL(B) (module docstring)
    assert (lo, hi) == pytest.approx((1 - c_max, 1 - c_min), rel=1e-12)
    assert lo == pytest.approx(1 - 1 / T)    # Table B.1 region IV bound
    # the corners of the rectangle's axes are on the boundary: IoU exactly T there
    assert iou_ref([hi, 0, 1, 1], UNIT) == pytest.approx(T)
    assert iou_ref([lo, 0, 1, 1], UNIT) == pytest.approx(T)


@given(st.floats(0.02, 0.98), st.floats(0, 1), st.floats(0, 1))
@settings(max_examples=200, deadline=None)
def test_br_bounds_are_tight(T, s, t):
    """x_range / y_range endpoints have IoU exactly T (Table B.2/B.3) and interior points are feasible."""
    lo, hi = tl_rect(T)
    a, b = lo + s * (hi - lo), lo + t * (hi - lo)
    if iou_ref([a, b, 1, 1], UNIT) < T + 1e-6:
        return  # TL outside (or on) the TL space
    c_min, c_max = x_range(a, b, T)
    assert iou_ref([a, b, c_min, 1.0], UNIT) == pytest.approx(T, rel=1e-9)
    assert iou_ref([a, b, c_max, 1.0], UNIT) == pytest.approx(T, rel=1e-9)
    for c in np.linspace(c_min, c_max, 7)[1:-1]:
        d_lo, d_hi = y_range(a, b, c, T)
        assert iou_ref([a, b, c, d_lo], UNIT) == pytest.approx(T, rel=1e-8)
        assert iou_ref([a, b, c, d_hi], UNIT) == pytest.approx(T, rel=1e-8)
        assert iou_ref([a, b, c, 0.5 * (d_lo + d_hi)], UNIT) > T


@pytest.mark.parametrize("T", [0.01, 0.05, 0.3, 0.5, 0.75, 0.9, 0.99, 0.999])
def test_tl_polygon_area_matches_closed_form(T):
    """Stated approximation error: < 1e-4 relative at resolution 256, falling ~ resolution^-2."""
    exact = tl_area(T)
    err256 = abs(tl_feasible_space(UNIT, T).area - exact) / exact
    err64 = abs(tl_feasible_space(UNIT, T, resolution=64).area - exact) / exact
    assert err256 < 1e-4
    assert err256 < err64 / 8  # second-order convergence (x16 ideally)


@pytest.mark.parametrize("T", [0.3, 0.6, 0.9])
def test_tl_area_closed_form_matches_monte_carlo(T):
    g = torch.Generator().manual_seed(0)
    lo, hi = tl_rect(T)
    n = 400_000
    u = lo + (hi - lo) * torch.rand(n, dtype=torch.float64, generator=g)
    v = lo + (hi - lo) * torch.rand(n, dtype=torch.float64, generator=g)
    p = in_tl_space(u, v, T).double().mean().item()
    se = math.sqrt(p * (1 - p) / n)
    assert abs(p * (hi - lo) ** 2 - tl_area(T)) < 5 * se * (hi - lo) ** 2


@pytest.mark.parametrize("T,tl", [(0.5, (0.1, -0.2)), (0.5, (-0.3, 0.2)), (0.7, (0.05, 0.05)), (0.3, (-1.0, -0.5))])
def test_br_polygon_area_matches_integral(T, tl):
    a, b = tl
    c_min, c_max = x_range(a, b, T)
    exact, _ = integrate.quad(lambda c: np.subtract(*y_range(a, b, c, T)[::-1]), c_min, c_max,
                              points=[1.0] if c_min < 1 < c_max else None, epsabs=1e-13, epsrel=1e-12, limit=200)
    poly = br_feasible_space(UNIT, T, tl)
    assert poly.is_valid
    assert abs(poly.area - exact) / exact < 1e-4


@pytest.mark.parametrize("ref,T", [([10, 20, 50, 80], 0.5), ([0, 0, 1000, 1], 0.7), ([5, 5, 6, 9000], 0.3)])
def test_polygons_agree_with_exact_membership(ref, T):
    """Random points far (> 1e-3 of the box) from the boundary: polygon containment == IoU >= T."""
    rng = np.random.default_rng(0)
    ref = np.asarray(ref, float)
    w, h = ref[2] - ref[0], ref[3] - ref[1]
    tl_poly = tl_feasible_space(ref, T)
    minx, miny, maxx, maxy = tl_poly.bounds
    pts = rng.uniform([minx - 0.1 * w, miny - 0.1 * h], [maxx + 0.1 * w, maxy + 0.1 * h], size=(3000, 2))
    dist = shapely.distance(shapely.points(pts), tl_poly.exterior)
    far = dist > 1e-3 * min(w, h)
    inside = shapely.contains_xy(tl_poly, pts[:, 0], pts[:, 1])
    exact = np.array([iou_ref([x, y, ref[2], ref[3]], ref) >= T for x, y in pts])
    assert far.sum() > 2500
    np.testing.assert_array_equal(inside[far], exact[far])
    # BR polygon given a TL inside the TL space
    tl = (ref[0] + 0.05 * w, ref[1] - 0.05 * h)
    br_poly = br_feasible_space(ref, T, tl)
    minx, miny, maxx, maxy = br_poly.bounds
    pts = rng.uniform([minx, miny], [maxx, maxy], size=(3000, 2))
    far = shapely.distance(shapely.points(pts), br_poly.exterior) > 1e-3 * min(w, h)
    inside = shapely.contains_xy(br_poly, pts[:, 0], pts[:, 1])
    exact = np.array([iou_ref([tl[0], tl[1], x, y], ref) >= T for x, y in pts])
    np.testing.assert_array_equal(inside[far], exact[far])


def test_br_space_at_tl_of_ref_equals_reflected_tl_space():
    """Max BR polygon (TL = TL(B)) has exactly the size of the TL polygon (thesis App. B.2)."""
    for T in (0.4, 0.8):
        assert br_feasible_space(UNIT, T, (0.0, 0.0)).area == pytest.approx(tl_feasible_space(UNIT, T).area, rel=1e-12)


def test_rect_bounds_contain_polygon():
    T, tl = 0.6, (0.1, -0.1)
    c_min, c_max, d_min, d_max = second_corner_rect(*tl, T)
    minx, miny, maxx, maxy = br_feasible_space(UNIT, T, tl).bounds
    assert (minx, miny, maxx, maxy) == pytest.approx((c_min, d_min, c_max, d_max), abs=1e-9)


def test_degenerate_cases():
    # T = 1: the TL space is the single point TL(B)
    assert tl_feasible_space([2, 3, 4, 5], 1.0).is_empty
    # T -> 1: tiny but valid polygon around TL(B)
    p = tl_feasible_space([2, 3, 4, 5], 0.9999)
    assert p.is_valid and p.area > 0 and p.distance(shapely.Point(2, 3)) == 0
    # TL on the border of the TL space: BR space shrinks to the point BR(B), no crash
    T = 0.5
    assert br_feasible_space(UNIT, T, (1 - T, 0.0)).is_empty
    lo, _ = tl_rect(T)
    assert br_feasible_space(UNIT, T, (lo, 0.0)).is_empty
    # membership at the exact border point is IoU == T (feasible)
    assert bool(in_br_space(torch.tensor(1 - T), torch.tensor(0.0), torch.tensor(1.0), torch.tensor(1.0), T))


@pytest.mark.parametrize("call,exc,match", [
    (lambda: tl_feasible_space([0, 0, 1, 1], 0.0), ValueError, r"iou must lie in \(0, 1\]"),
    (lambda: tl_feasible_space([0, 0, 1, 1], 1.5), ValueError, r"iou must lie in \(0, 1\]"),
    (lambda: tl_feasible_space([0, 0, 1, 1], "0.5"), TypeError, "iou must be a real number"),
    (lambda: tl_feasible_space([1, 0, 0, 1], 0.5), ValueError, "degenerate or inverted"),
    (lambda: tl_feasible_space([[0, 0, 1, 1]] * 2, 0.5), ValueError, "single box"),
    (lambda: tl_feasible_space([0, 0, 1, 1], 0.5, resolution=2), ValueError, "resolution"),
    (lambda: br_feasible_space([0, 0, 1, 1], 0.5, (0.9, 0.9)), ValueError, "outside the TL feasible space"),
    (lambda: br_feasible_space([0, 0, 1, 1], 0.5, (0.1,)), ValueError, "tl must be a finite point"),
    (lambda: br_feasible_space([0, 0, 1, 1], 0.5, (float("nan"), 0.1)), ValueError, "tl must be a finite point"),
])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
