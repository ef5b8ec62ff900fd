"""Detection evaluation: LRP Error (thesis Ch. 5) next to COCO-style AP.

* :func:`evaluate_lrp` — oLRP with components and LRP-optimal thresholds per class, moLRP, and AP
  from the same vectorised COCO matching;
* :func:`lrp_components` — LRP (Eq. 5.2–5.6) from counts; :func:`apply_thresholds` — hard decisions;
* readers: :func:`load_ground_truth`, :func:`load_detections`.
"""
from .evaluate import COCO_AREA_RANGES, COCO_IOU_THRESHOLDS, COCO_REC_THRESHOLDS, LRPResult, evaluate_lrp
from .io import Detections, GroundTruth, load_detections, load_ground_truth
from .lrp import LRPCurve, OptimalLRP, lrp_components, optimal_lrp
from .matching import Matches, match_detections, pair_iou

__all__ = ["evaluate_lrp", "LRPResult", "COCO_AREA_RANGES", "COCO_IOU_THRESHOLDS", "COCO_REC_THRESHOLDS",
           "Detections", "GroundTruth", "load_detections", "load_ground_truth", "LRPCurve", "OptimalLRP",
           "lrp_components", "optimal_lrp", "Matches", "match_detections", "pair_iou"]
