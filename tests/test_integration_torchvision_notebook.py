"""notebooks/06_sampler_comparison.ipynb executes end to end (from notebooks/, without tqdm noise)."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import execute_notebook, notebook_text

pytest.importorskip("torchvision")
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "06_sampler_comparison.ipynb"


def test_notebook_06_sampler_comparison_executes():
    nb = execute_notebook(NOTEBOOK, timeout=300)
    text = notebook_text(nb)
    assert "iou_balanced" in text and "proi_ohpm" in text
