"""LRP evaluation (thesis Ch. 5): hand-computed cases, pycocotools' AP, a loop reference of the authors'
LRP-Error cocoeval, the paper variant, hard thresholds and bad input."""
from __future__ import annotations

import contextlib
import copy
import io
import json
import math

import numpy as np
import pytest

from bbgen.datasets import Annotations
from bbgen.evaluation import evaluate_lrp, lrp_components
from bbgen.evaluation.synthetic import synthetic_evaluation_data


def _coco(boxes_by_class, image_ids=(1,)):
    """GT dict: boxes_by_class = {cat_id: [(image_id, [x, y, w, h], iscrowd), ...]} plus 4 categories."""
    anns = []
    for cid, rows in boxes_by_class.items():
        for img, bb, crowd in rows:
            anns.append({"id": len(anns) + 1, "image_id": img, "category_id": cid, "bbox": bb,
                         "area": bb[2] * bb[3], "iscrowd": crowd})
    return {"images": [{"id": i, "width": 100, "height": 100} for i in image_ids], "annotations": anns,
            "categories": [{"id": c, "name": n} for c, n in zip((1, 2, 3, 4), "abcd")]}


def _det(img, cid, bb, score):
    return {"image_id": img, "category_id": cid, "bbox": bb, "score": score}


# Class a: GT1 = [0,0,10,10], GT2 = [20,20,10,10]; dets: exact GT1 (0.9), GT2 stretched to IoU 2/3 (0.8),
# a far FP (0.7). Class b: one GT, no detection. Class c: one detection, no GT. Class d: nothing.
GT = _coco({1: [(1, [0, 0, 10, 10], 0), (1, [20, 20, 10, 10], 0)], 2: [(1, [50, 50, 10, 10], 0)]})
DETS = [_det(1, 1, [0, 0, 10, 10], 0.9), _det(1, 1, [20, 20, 10, 15], 0.8), _det(1, 1, [70, 70, 10, 10], 0.7),
        _det(1, 3, [5, 5, 10, 10], 0.6)]


def test_lrp_components_formula():
    """Eq. 5.2–5.6 on counts: 2 TPs with 1 − IoU = 0 and 1/3, 1 FP, 1 FN, τ = 0.5."""
    c = lrp_components(2, 1, 1, 1 / 3, tau=0.5)
    assert float(c["lrp"]) == pytest.approx((2 / 3 + 1 + 1) / 4)
    assert float(c["loc"]) == pytest.approx(1 / 6) and float(c["fp"]) == pytest.approx(1 / 3)
    assert float(c["fn"]) == pytest.approx(1 / 3)
    empty = lrp_components(0, 0, 3, 0.0)  # no detection: LRP 1, loc and FP undefined
    assert float(empty["lrp"]) == 1 and math.isnan(empty["loc"]) and math.isnan(empty["fp"]) and empty["fn"] == 1
    no_gt = lrp_components(0, 2, 0, 0.0)  # no ground truth: LRP 1, FN undefined
    assert float(no_gt["lrp"]) == 1 and math.isnan(no_gt["fn"]) and no_gt["fp"] == 1
    assert math.isnan(lrp_components(0, 0, 0, 0.0)["lrp"])  # nothing to evaluate


def test_hand_computed_olrp_every_component():
    r = evaluate_lrp(GT, DETS)
    a, b, c, d = range(4)
    sl = (slice(None), 0, -1)
    olrp, loc, fp, fn, thr = (x[sl] for x in (r.olrp, r.olrp_loc, r.olrp_fp, r.olrp_fn, r.lrp_threshold))
    # class a: LRP after 1, 2, 3 detections = 1/2, 1/3, 5/9 -> oLRP 1/3 at s* = 0.8
    assert olrp[a] == pytest.approx(1 / 3) and loc[a] == pytest.approx(1 / 6)
    assert fp[a] == 0 and fn[a] == 0 and thr[a] == pytest.approx(0.8)
    # class b: ground truth, no detection -> oLRP 1, FN 1, the rest undefined
    assert olrp[b] == 1 and fn[b] == 1 and np.isnan([loc[b], fp[b], thr[b]]).all()
    # class c (detections only) and d (nothing): left out, as the authors' code
    assert np.isnan([olrp[c], olrp[d], fp[c], fn[c]]).all()
    assert r.stats["moLRP"] == pytest.approx((1 / 3 + 1) / 2)
    assert r.stats["moLRP_loc"] == pytest.approx(1 / 6) and r.stats["moLRP_fp"] == 0
    assert r.stats["moLRP_fn"] == pytest.approx(0.5)
    # the s-LRP curve (hard decisions) at the three scores of class a
    for s, expected in ((0.9, 1 / 2), (0.8, 1 / 3), (0.7, 5 / 9), (0.95, 1.0)):
        assert r.curve.at(s)["lrp"][a] == pytest.approx(expected)
    assert r.curve.at(0.5)["lrp"][c] == 1 and np.isnan(r.curve.at(0.5)["fn"][c])
    assert r.curve.at(r.lrp_threshold[:, 0, -1])["lrp"][a] == pytest.approx(1 / 3)


def test_paper_variant_counts_detection_only_classes():
    r = evaluate_lrp(GT, DETS, variant="paper")
    assert r.olrp[2, 0, -1] == 1 and r.olrp_fp[2, 0, -1] == 1 and np.isnan(r.olrp_fn[2, 0, -1])
    assert r.stats["moLRP"] == pytest.approx((1 / 3 + 1 + 1) / 3)
    assert r.stats["moLRP_fp"] == pytest.approx(0.5)


def test_tied_scores_code_vs_paper():
    """Two detections with one score, the TP listed first: the code evaluates between them (LRP 0),
    a score threshold keeps both (LRP 1/2)."""
    gt = _coco({1: [(1, [0, 0, 10, 10], 0)]})
    dets = [_det(1, 1, [0, 0, 10, 10], 0.5), _det(1, 1, [60, 60, 10, 10], 0.5)]
    assert evaluate_lrp(gt, dets).olrp[0, 0, -1] == 0
    paper = evaluate_lrp(gt, dets, variant="paper")
    assert paper.olrp[0, 0, -1] == pytest.approx(0.5) and paper.olrp_fp[0, 0, -1] == pytest.approx(0.5)


def test_crowd_is_neither_fn_nor_fp_and_tau_changes_tps():
    gt = _coco({1: [(1, [0, 0, 10, 10], 0), (1, [40, 40, 40, 40], 1)]})
    dets = [_det(1, 1, [0, 0, 10, 14], 0.9), _det(1, 1, [45, 45, 10, 10], 0.8), _det(1, 1, [50, 50, 10, 10], 0.7)]
    r = evaluate_lrp(gt, dets)  # both crowd matches ignored; the TP has IoU 100/140
    assert r.olrp[0, 0, -1] == pytest.approx((1 - 100 / 140) / 0.5)
    assert r.olrp_fp[0, 0, -1] == 0 and r.olrp_fn[0, 0, -1] == 0
    strict = evaluate_lrp(gt, dets, tau=0.75)  # IoU 0.714 < 0.75: no TP left
    assert strict.olrp[0, 0, -1] == 1 and np.isnan(strict.olrp_loc[0, 0, -1])


# ------------------------------------------------------------------------------------------- pycocotools
def _pycocotools(gt, dets, **params):
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        c = COCO()
        c.dataset = copy.deepcopy(gt)
        c.createIndex()
        e = COCOeval(c, c.loadRes(copy.deepcopy(dets)), "bbox")
        for k, v in params.items():
            setattr(e.params, k, v)
        e.evaluate(), e.accumulate(), e.summarize()
    return e


@pytest.mark.parametrize("seed,kw", [(0, {}), (1, {"crowd_fraction": 0.1}), (2, {"gts_per_image": 2.0})])
def test_ap_equals_pycocotools(seed, kw):
    gt, dets = synthetic_evaluation_data(40, 40, 5, generator=seed, **kw)
    for d in dets[::7]:
        d["score"] = round(d["score"], 1)  # plenty of ties across images
    gt["annotations"][0]["area"] *= 3.0  # COCO's area field, not w * h, decides the area range
    e = _pycocotools(gt, dets)
    r = evaluate_lrp(gt, dets)
    np.testing.assert_allclose(r.precision, e.eval["precision"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(r.recall, e.eval["recall"], rtol=0, atol=1e-4)
    names = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
    np.testing.assert_allclose([r.stats[n] for n in names], e.stats, rtol=0, atol=1e-4)


def test_ap_equals_pycocotools_custom_params_and_annotations_input():
    gt, dets = synthetic_evaluation_data(30, 60, 3, generator=3)
    e = _pycocotools(gt, dets, iouThrs=np.array([0.3, 0.6]), maxDets=[1, 5, 20])
    ann = Annotations(np.array([im["id"] for im in gt["images"]]), np.full((30, 2), 100.0),
                      np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                                for a in gt["annotations"]]),
                      np.array([a["category_id"] - 1 for a in gt["annotations"]]),
                      np.array([a["image_id"] - 1 for a in gt["annotations"]]),
                      np.array([bool(a["iscrowd"]) for a in gt["annotations"]]), ("x", "y", "z"))
    r = evaluate_lrp(ann, dets, category_ids=[1, 2, 3], iou_thresholds=[0.3, 0.6], max_dets=[1, 5, 20])
    np.testing.assert_allclose(r.precision, e.eval["precision"], rtol=0, atol=1e-4)


# ------------------------------------------------------------------------- the authors' LRP-Error cocoeval
def _authors_olrp(gt, dets, tau=0.5, max_det=100):
    """Loop form of kemaloksuz/LRP-Error cocoeval: evaluateImg with dtIoUs at τ, then the oLRP block
    of accumulate (area 'all'). Returns per category: oLRP, loc, fp, fn, threshold."""
    cats = sorted(c["id"] for c in gt["categories"])
    imgs = sorted(i["id"] for i in gt["images"])
    out = []
    for cid in cats:
        scores, tps, fps, ious, npig = [], [], [], [], 0
        for img in imgs:
            g = [a for a in gt["annotations"] if a["image_id"] == img and a["category_id"] == cid]
            d = [x for x in dets if x["image_id"] == img and x["category_id"] == cid]
            if not g and not d:
                continue
            g = sorted(g, key=lambda a: a["iscrowd"])
            d = sorted(d, key=lambda x: -x["score"])[:max_det]
            npig += sum(1 for a in g if not a["iscrowd"])
            taken = [False] * len(g)
            for x in d:
                best, m = min(tau, 1 - 1e-10), -1
                for gi, a in enumerate(g):
                    if taken[gi] and not a["iscrowd"]:
                        continue
                    if m > -1 and not g[m]["iscrowd"] and a["iscrowd"]:
                        break
                    iou = _iou_xywh(x["bbox"], a["bbox"], a["iscrowd"])
                    if iou < best:
                        continue
                    best, m = iou, gi
                scores.append(x["score"])
                if m == -1:
                    tps.append(0), fps.append(1), ious.append(0.0)
                else:
                    taken[m] = True
                    ign = g[m]["iscrowd"]
                    tps.append(0 if ign else 1), fps.append(0), ious.append(0.0 if ign else best)
        if npig == 0:
            out.append([np.nan] * 5)
            continue
        order = np.argsort(-np.array(scores), kind="mergesort")
        tp_num = np.cumsum(np.array(tps)[order]) if scores else np.zeros(0)
        if len(tp_num) == 0 or tp_num[-1] == 0:
            out.append([1.0, np.nan, np.nan, 1.0, np.nan])
            continue
        fp_num = np.cumsum(np.array(fps)[order])
        fn_num = npig - tp_num
        total_loc = tp_num - np.cumsum(np.array(ious)[order])
        lrps = (total_loc / (1 - tau) + fp_num + fn_num) / (tp_num + fp_num + fn_num)
        i = int(np.argmin(lrps))
        out.append([lrps[i], total_loc[i] / tp_num[i], fp_num[i] / (tp_num[i] + fp_num[i]), fn_num[i] / npig,
                    np.array(scores)[order][i]])
    return np.array(out)


def _iou_xywh(d, g, crowd):
    w = max(0.0, min(d[0] + d[2], g[0] + g[2]) - max(d[0], g[0]))
    h = max(0.0, min(d[1] + d[3], g[1] + g[3]) - max(d[1], g[1]))
    inter = w * h
    union = d[2] * d[3] if crowd else d[2] * d[3] + g[2] * g[3] - inter
    return inter / union if union > 0 else 0.0


@pytest.mark.parametrize("seed,tau", [(0, 0.5), (1, 0.5), (2, 0.6)])
def test_olrp_equals_authors_cocoeval_loop(seed, tau):
    gt, dets = synthetic_evaluation_data(25, 30, 4, generator=seed, crowd_fraction=0.05)
    ref = _authors_olrp(gt, dets, tau)
    r = evaluate_lrp(gt, dets, tau=tau)
    ours = np.stack([x[:, 0, -1] for x in (r.olrp, r.olrp_loc, r.olrp_fp, r.olrp_fn, r.lrp_threshold)], 1)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("dets,match", [
    ([], "empty"),
    ([_det(9, 1, [0, 0, 1, 1], 0.5)], "image_id 9"),
    ([_det(1, 7, [0, 0, 1, 1], 0.5)], "category_id 7"),
    ([_det(1, 1, [0, float("nan"), 1, 1], 0.5)], "NaN"),
    ([_det(1, 1, [0, 0, 1, 1], float("inf"))], "score"),
    ([_det(1, 1, [0, 0, -1, 1], 0.5)], "negative width"),
    ([{"image_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}], "detection 0 must be an object"),
    ([_det(1, 1, [0, 0, 1], 0.5)], "bbox must be 4 numbers"),
    ({"image_ids": [1], "boxes": [[0, 0, 1, 1]]}, "missing"),
    ([_det(1, 1, [0, 0, 1, 1], "0.5")], "detection 0 score must be a number, got '0.5'"),  # was read as 0.5
    ([_det(1, 1, [0, 0, "1", 1], 0.5)], "detection 0 bbox must be 4 numbers"),
    ({"image_ids": [1], "category_ids": [1], "boxes": [["a", 0, 1, 1]], "scores": [0.5]}, "boxes must be real"),
    ({"image_ids": [1], "category_ids": [1], "boxes": np.ones((1, 4), complex), "scores": [0.5]}, "boxes must be real"),
])
def test_bad_detections_raise_value_error(dets, match):
    with pytest.raises(ValueError, match=match):
        evaluate_lrp(GT, dets)


@pytest.mark.parametrize("kw,match", [({"tau": 1.5}, "tau"), ({"variant": "x"}, "variant"),
                                      ({"iou_thresholds": []}, "iou_thresholds"), ({"max_dets": [0]}, "max_dets"),
                                      ({"area_ranges": {"all": (5, 1)}}, "area_ranges"),
                                      ({"max_dets": [1.5]}, "max_dets"), ({"max_dets": [True]}, "max_dets"),
                                      ({"max_dets": 5}, "max_dets"), ({"area_ranges": {"all": 5}}, "area_ranges"),
                                      ({"area_ranges": [(0, 1)]}, "area_ranges"),
                                      ({"iou_thresholds": ["a"]}, "iou_thresholds")])
def test_bad_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        evaluate_lrp(GT, DETS, **kw)


@pytest.mark.parametrize("args,match", [
    ((1, 0, 0, 0.1, 1.0), "tau must lie in \\(0, 1\\), got 1.0"),  # was lrp = inf
    ((1, 0, 0, 0.1, float("nan")), "tau must lie"),  # was nan
    ((2, -1, 0, 0.1), "n_fp must be finite and >= 0, got -1.0"),
    ((1, 0, 0, 5.0), "loc_error must not exceed n_tp"),  # was lrp = 10
    (([1, 2], [1, 2, 3], 0, 0), "must broadcast"),
])
def test_lrp_components_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        lrp_components(*args)


def test_pair_iou_checks_shapes():
    from bbgen.evaluation import pair_iou

    with pytest.raises(ValueError, match="pair_iou expects det \\[E, 4\\]"):
        pair_iou(np.array([0.0, 0, 1, 1]), np.array([0.0, 0, 1, 1]), np.array(False))


def test_json_files_and_array_input_agree(tmp_path):
    (tmp_path / "gt.json").write_text(json.dumps(GT))
    (tmp_path / "dets.json").write_text(json.dumps(DETS))
    from_files = evaluate_lrp(tmp_path / "gt.json", str(tmp_path / "dets.json"))
    arrays = {"image_ids": [d["image_id"] for d in DETS], "category_ids": [d["category_id"] for d in DETS],
              "scores": [d["score"] for d in DETS],
              "boxes": [[x, y, x + w, y + h] for x, y, w, h in (d["bbox"] for d in DETS)]}
    from_arrays = evaluate_lrp(GT, arrays)
    assert from_files.stats == pytest.approx(from_arrays.stats, nan_ok=True)
    assert json.loads(json.dumps(from_files.to_dict()))["per_class"][0]["lrp_threshold"] == pytest.approx(0.8)


def test_string_image_ids_and_progress_bar(capsys):
    gt = copy.deepcopy(GT)
    gt["images"][0]["id"] = "img-a"
    for a in gt["annotations"]:
        a["image_id"] = "img-a"
    dets = [{**d, "image_id": "img-a"} for d in DETS]
    r = evaluate_lrp(gt, dets, progress=True)
    assert r.olrp[0, 0, -1] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="image_id 1"):
        evaluate_lrp(gt, DETS)
