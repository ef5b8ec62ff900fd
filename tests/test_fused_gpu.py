"""The Triton backend (issue #13): on CPU through the Triton interpreter (TRITON_INTERPRET=1, small sizes) it
accepts the same candidates as the numba kernel for the same seed — same boxes, same IoUs; on a CUDA machine the
real kernel is checked for exactness and against the CPU kernel."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bbgen.generator.batched import generate_boxes, generate_numba
from bbgen.generator.proposals import get_proposal
from test_generator import check_boxes

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("triton") is None,
                                reason="triton is not installed (it ships with the CUDA build of torch)")

REF = torch.tensor([[10., 20., 50., 80.], [0., 0., 100., 1.], [5., 5., 6., 6.]])
LO = torch.tensor([[0.5], [0.7], [0.9]], dtype=torch.float64)
REGION = torch.tensor([[0., 0., 60., 90.], [0., 0., 120., 2.], [0., 0., 10., 10.]], dtype=torch.float64)


# The interpreter must be switched on before triton is first imported: once a process has imported
# triton.language normally (other tests, torch's compiler), reloading bbgen's kernel module is not enough.
# So each case runs in a fresh interpreter process with TRITON_INTERPRET=1 from the start.
_CASE = """
import sys, torch
from bbgen.generator.batched import generate_numba
from bbgen.generator.fused_gpu import generate_triton
from bbgen.generator.proposals import get_proposal
order, proposal, interval, region, dtype = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1", \\
    getattr(torch, sys.argv[5])
REF = torch.tensor([[10., 20., 50., 80.], [0., 0., 100., 1.], [5., 5., 6., 6.]], dtype=dtype)
LO = torch.tensor([[0.5], [0.7], [0.9]], dtype=torch.float64)
REGION = torch.tensor([[0., 0., 60., 90.], [0., 0., 120., 2.], [0., 0., 10., 10.]], dtype=torch.float64)
hi = torch.tensor([[0.8], [0.9], [0.95]], dtype=torch.float64) if interval else None
reg = REGION if region else None
kw = dict(num=8, order=order, prop=get_proposal(proposal), seed=2**63 + 12345, offset=7, with_iou=True)
b, iou_b = generate_numba(REF, LO, hi, reg, **kw)
# lanes that finish take the next box of their program's range: one program of 16 lanes for 20 boxes (+ one for
# the last 4), and the default spread (2 programs of 12 boxes on 8 lanes each)
for block, per_program in ((16, 20), (8, None)):
    a, iou_a = generate_triton(REF, LO, hi, reg, block=block, per_program=per_program, **kw)
    assert a.dtype == dtype
    torch.testing.assert_close(a, b, rtol=1e-12 if dtype == torch.float64 else 1e-6, atol=0)
    torch.testing.assert_close(iou_a, iou_b, rtol=1e-12, atol=0)
print("same", int(torch.isfinite(a).all()))
"""


@pytest.mark.parametrize("order,proposal,interval,region,dtype", [
    ("random", "uniform", True, True, "float32"),
    ("br", "normal", False, True, "float64"),
    ("tl", "inside", True, False, "float32"),
])
def test_interpreted_kernel_accepts_the_same_candidates_as_numba(order, proposal, interval, region, dtype):
    env = {**os.environ, "TRITON_INTERPRET": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", _CASE, order, proposal, str(int(interval)), str(int(region)), dtype],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["same", "1"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_cuda_kernel_is_exact_and_matches_the_cpu_kernel():
    from bbgen.generator.fused_gpu import generate_triton

    ref = REF.repeat(1000, 1)
    T = torch.linspace(0.3, 0.95, 3000, dtype=torch.float64)
    gpu = generate_boxes(ref.cuda(), T.cuda(), num=50, max_iou=0.97, image_size=(200, 200), generator=3)
    assert gpu.device.type == "cuda"
    check_boxes(gpu.cpu(), ref[:, None], T.numpy()[:, None], 0.97, (200, 200))
    region = torch.tensor([[0.0, 0.0, 200.0, 200.0]], dtype=torch.float64).expand(3000, 4)
    kw = dict(num=50, order="random", prop=get_proposal("uniform"), seed=99, offset=0)
    a, _ = generate_triton(ref.cuda(), T[:, None].cuda(), None, region.cuda(), **kw)
    b, _ = generate_numba(ref, T[:, None], None, region, **kw)
    same = (a.cpu() - b).abs().amax(-1) <= 1e-4 * 200
    assert float(same.float().mean()) > 0.999  # FMA contraction may flip a rare boundary candidate
