"""notebooks/03_dataset_imbalance.ipynb executes top to bottom (real data when present, else synthetic)."""
from __future__ import annotations

from pathlib import Path

import nbformat
from conftest import execute_notebook

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_dataset_imbalance.ipynb"


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code")


def test_notebook_executes():
    execute_notebook(NOTEBOOK, timeout=300)
