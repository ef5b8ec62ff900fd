"""notebooks/07_lrp_ranking_losses.ipynb executes end to end."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import execute_notebook

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "07_lrp_ranking_losses.ipynb"


@pytest.mark.slow
def test_notebook_07_lrp_ranking_losses_executes():
    pytest.importorskip("torchvision")
    execute_notebook(NOTEBOOK)
