#!/usr/bin/env bash
# The CUDA checks of issues #13 and #16, as run on a lent GPU machine (CI has no GPU):
#   bash analysis/gpu_checks.sh [OUTDIR]     (default results/gpu)
# CUDA tests of the Triton kernel and the CUDA pRoI path, the generator benchmark on CUDA with 1e9 boxes
# checked for IoU/image violations, the training-step benchmark on CUDA, and a profile of one pRoI batch.
set -uo pipefail
out=${1:-results/gpu}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
py=${PYTHON:-python3}
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  $py -c "import torch, triton, numba, numpy; print('torch', torch.__version__, 'triton', triton.__version__,
'numba', numba.__version__, 'numpy', numpy.__version__)"; } 2>&1 | tee "$out/gpu.txt"
$py -m pytest -q -p no:cacheprovider -n 8 tests/test_fused_gpu.py tests/test_kernels.py tests/test_proi.py \
    tests/test_proi_triton.py tests/test_validate.py tests/test_bench_generator.py -k "cuda or interpreted or device_mismatch" 2>&1 | tee "$out/pytest.txt" | tail -25
$py analysis/bench_generator.py --device cuda --violations 1e9 --out "$out/bench_generator_cuda.json" 2>&1 \
    | grep -v "it/s\]\|box/s\]" | tee "$out/bench_generator.txt"
$py analysis/bench_training.py --device cuda --out "$out/bench_training_cuda.json" 2>&1 | tee "$out/bench_training.txt"
$py - <<'PY' 2>&1 | tee "$out/profile_prois.txt"
import torch
from torch.profiler import ProfilerActivity, profile
from bbgen.roi.proi import generate_prois
dev = torch.device("cuda")
boxes = torch.tensor([[40.0, 60.0, 200.0, 300.0], [220.0, 80.0, 330.0, 210.0], [350.0, 40.0, 420.0, 120.0]], device=dev)
labels = torch.tensor([1, 1, 5], device=dev)
g = torch.Generator(device=dev).manual_seed(0)
for _ in range(20):
    generate_prois([boxes] * 16, [labels] * 16, 128, image_sizes=(640, 480), generator=g)
torch.cuda.synchronize()
with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
    for _ in range(20):
        generate_prois([boxes] * 16, [labels] * 16, 128, image_sizes=(640, 480), generator=g)
    torch.cuda.synchronize()
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))
print(prof.key_averages().table(sort_by="self_device_time_total", row_limit=12))
PY
