"""notebooks/05_regression_losses.ipynb executes end to end, from notebooks/ as its working directory."""
from __future__ import annotations

from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05_regression_losses.ipynb"


def test_notebook_05_regression_losses_executes():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
