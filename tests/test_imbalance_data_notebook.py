"""notebooks/03_dataset_imbalance.ipynb executes top to bottom (real data when present, else synthetic)."""
from __future__ import annotations

from pathlib import Path

import nbformat
from conftest import SHARED_DATA, execute_notebook, notebook_text

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_dataset_imbalance.ipynb"


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code")


def test_notebook_executes():
    out = notebook_text(execute_notebook(NOTEBOOK, timeout=300))
    if (SHARED_DATA / "coco2017_val_torchcv").is_dir():  # run from notebooks/, it must still find the real data
        assert "coco17_val.txt 4952 images 36781 boxes" in out and "SYNTHETIC" not in out, out[:500]
