"""generate_prois on the triton backend (the numba plan on the host, the boxes in one Triton launch,
bbgen.roi.proi_gpu): on CPU through the Triton interpreter (TRITON_INTERPRET=1, small sizes) it gives the numba
backend's RoIs for the same seed — same labels, GT and image indices, same boxes and IoUs up to float rounding; on a
CUDA machine the real path is checked for exactness and against the CPU path."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("triton") is None,
                                reason="triton is not installed (it ships with the CUDA build of torch)")

# A fresh interpreter with TRITON_INTERPRET=1 from the start (see tests/test_fused_gpu.py). resolve_backend only
# lets triton run on CUDA tensors, so the subprocess makes bbgen.roi.proi pick it for CPU tensors.
_CASE = """
import sys, torch
import bbgen.roi.proi as P
from bbgen.generator.proposals import get_proposal
from bbgen.roi.distributions import resolve_iou_dist

proposal, exact, sizes, dtype = sys.argv[1], sys.argv[2] == "1", sys.argv[3], getattr(torch, sys.argv[4])
g = torch.Generator().manual_seed(0)
def image(n, labels):
    xy = torch.rand(n, 2, generator=g) * 200
    boxes = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=g) * 100], 1).to(dtype)
    return boxes, torch.tensor(labels, dtype=torch.int64)
images = [image(3, [1, 1, 4]), image(0, []), image(2, [2, 0])]   # an image without GTs, uneven lengths
if sizes == "shared":
    image_sizes = (320.0, 330.0)
elif sizes == "per_image":
    image_sizes = torch.tensor([[310.0, 320.0], [100.0, 100.0], [330.0, 305.0]], dtype=dtype)
else:
    image_sizes = None
boxes, labels = [b for b, _ in images], [lab for _, lab in images]
resolve = P.resolve_backend

def both(call, *args, seed, **kw):  # a fresh generator per call: both draw the same Philox key
    P.resolve_backend = resolve
    a = call(*args, backend="numba", generator=torch.Generator().manual_seed(seed), **kw)
    P.resolve_backend = lambda backend, device, prop: "triton"
    b = call(*args, backend="auto", generator=torch.Generator().manual_seed(seed), **kw)
    return a, b

def same(a, b, roi_num):
    assert len(a) == roi_num, len(a)
    assert b.boxes.dtype == dtype and b.labels.dtype == a.labels.dtype and b.ious.dtype == torch.float64
    for f in ("labels", "gt_index", "image_index"):
        assert torch.equal(getattr(a, f), getattr(b, f)), f
    torch.testing.assert_close(b.boxes, a.boxes, rtol=1e-6 if dtype == torch.float32 else 1e-12, atol=0)
    torch.testing.assert_close(b.ious, a.ious, rtol=1e-6 if dtype == torch.float32 else 1e-12, atol=0)
    assert bool(torch.isfinite(b.boxes).all())

kw = dict(iou_dist="uniform", exact=exact, proposal=proposal, image_sizes=image_sizes, seed=11)
a, b = both(P.generate_prois, boxes, labels, 24, **kw)
same(a, b, 48)
a, b = both(P.generate_prois, boxes, labels, 16, fg_balanced=False, **kw)   # instance-balanced
same(a, b, 32)
if sizes != "none":  # the training path: a GT sticking out of its image widens the allowed region
    out = [torch.tensor([[-20.0, 10.0, 60.0, 90.0], [250.0, 280.0, 360.0, 345.0]], dtype=dtype), boxes[2]]
    sz = image_sizes if sizes == "shared" else image_sizes[[0, 2]]
    a, b = both(P.generate_prois_validated, out, [torch.tensor([3, 3]), labels[2]], 16,
                resolve_iou_dist("right_skew"), fg_balanced=True, exact=exact, proposal=get_proposal(proposal),
                image_sizes=sz, seed=5)
    same(a, b, 32)
    assert float(b.boxes[:, 0].min()) < 0 or float(b.boxes[:, 3].max()) > 330  # some RoIs use the widened region
print("same")
"""


@pytest.mark.parametrize("proposal,exact,sizes,dtype", [
    ("uniform", False, "shared", "float32"),
    ("normal", True, "per_image", "float64"),
    ("inside", True, "none", "float32"),
    ("normal", False, "per_image", "float32"),
])
def test_interpreted_triton_prois_equal_the_numba_prois(proposal, exact, sizes, dtype):
    env = {**os.environ, "TRITON_INTERPRET": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", _CASE, proposal, str(int(exact)), sizes, dtype],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["same"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
@pytest.mark.parametrize("exact", [False, True])
def test_cuda_prois_are_exact_and_match_the_cpu_path(exact, monkeypatch):
    import bbgen.roi.proi as proi
    from bbgen.boxes import elementwise_box_iou
    from bbgen.generator.proposals import get_proposal
    from bbgen.roi.distributions import PRESETS

    monkeypatch.setattr(proi, "draw_seed", lambda generator, device: 2**63 + 77)  # one seed for both devices
    g = torch.Generator().manual_seed(1)
    boxes, labels = [], []
    for n in (3, 0, 5, 1) * 4:
        xy = torch.rand(n, 2, generator=g) * 400
        boxes.append(torch.cat([xy, xy + 2 + torch.rand(n, 2, generator=g) * 200], 1))
        labels.append(torch.randint(0, 4, (n,), generator=g))
    boxes[0][0, 0] = -10.0  # sticks out of its image: the region is widened
    dist = PRESETS["left_skew"]
    sizes = torch.full((16, 2), 620.0) if exact else (620.0, 620.0)  # per image (a device tensor) or shared
    kw = dict(fg_balanced=True, exact=exact, proposal=get_proposal("uniform"))
    gpu = proi.generate_prois_validated([b.cuda() for b in boxes], [lab.cuda() for lab in labels], 512, dist,
                                        image_sizes=sizes.cuda() if exact else sizes,
                                        generator=torch.Generator("cuda"), **kw)
    cpu = proi.generate_prois_validated(boxes, labels, 512, dist, image_sizes=sizes, generator=torch.Generator(),
                                        backend="numba", **kw)
    assert gpu.boxes.device.type == "cuda" and gpu.boxes.dtype == torch.float32 and len(gpu) == 512 * 12
    for f in ("labels", "gt_index", "image_index"):
        assert torch.equal(getattr(gpu, f).cpu(), getattr(cpu, f)), f
    src = torch.stack([boxes[i][j] for i, j in zip(cpu.image_index.tolist(), cpu.gt_index.tolist())]).double()
    torch.testing.assert_close(gpu.ious.cpu(), elementwise_box_iou(gpu.boxes.cpu().double(), src))
    assert bool((gpu.ious >= dist.edges[0]).all()) and bool((gpu.ious <= 1).all())
    inside = (gpu.boxes[:, :2] >= 0).all(1) & (gpu.boxes[:, 2:] <= 620).all(1)
    assert bool((inside | ((gpu.image_index == 0) & (gpu.gt_index == 0))).all())  # only around the GT outside
    if exact:  # interval mode: each RoI's IoU in the bin the plan gave it, the CPU RoI's bin
        edges = np.array(dist.edges)
        assert np.array_equal(np.digitize(gpu.ious.cpu().numpy(), edges), np.digitize(cpu.ious.numpy(), edges))
    same = (gpu.boxes.cpu() - cpu.boxes).abs().amax(-1) <= 1e-3
    assert float(same.float().mean()) > 0.999  # FMA contraction may flip a rare boundary candidate
