"""Positive RoIs for two-stage training (thesis Alg. 2, §4.5–4.6).

* :mod:`.distributions` — the IoU distributions of generated RoIs (Fig. 4.5 presets, custom bins);
* :mod:`.proi` — GENERATEPROI: fg-balanced allocation and generation for a batch of images;
* :mod:`.samplers` — the OFB sampler (§4.6.1) and online hard positive mining (§4.5.3);
* :mod:`.iou_balanced` — IoU-balanced negative sampling (Libra R-CNN), a baseline of the thesis taxonomy.
"""
from __future__ import annotations

from .distributions import PRESETS, IoUDistribution
from .iou_balanced import IoUBalancedSampler
from .proi import PRoIs, generate_prois
from .samplers import OFBSampler, ofb_probabilities, ohpm_select, ohpm_select_batched

__all__ = ["IoUBalancedSampler", "IoUDistribution", "OFBSampler", "PRESETS", "PRoIs", "generate_prois",
           "ofb_probabilities", "ohpm_select", "ohpm_select_batched"]
