"""notebooks/06_sampler_comparison.ipynb executes end to end (from notebooks/, without tqdm noise)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import execute_notebook, notebook_text

pytest.importorskip("torchvision")
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "06_sampler_comparison.ipynb"


def test_notebook_06_sampler_comparison_executes():
    t0 = time.perf_counter()
    nb = execute_notebook(NOTEBOOK, timeout=300)
    assert time.perf_counter() - t0 < 240  # ~20 s on the 2-core CPU; generous for a loaded CI machine
    text = notebook_text(nb)
    assert "iou_balanced" in text and "proi_ohpm" in text
