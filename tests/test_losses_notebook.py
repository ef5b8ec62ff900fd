"""notebooks/05_regression_losses.ipynb executes end to end, from notebooks/ as its working directory."""
from __future__ import annotations

from pathlib import Path

from conftest import execute_notebook

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05_regression_losses.ipynb"


def test_notebook_05_regression_losses_executes():
    execute_notebook(NOTEBOOK)
