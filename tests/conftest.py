"""Shared test fixtures: location of the real annotation data and notebook execution."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("BBGEN_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of ``../shared/data`` (real annotation files); skips when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real annotation data not found at {SHARED_DATA} (see shared/data/README.md)")
    return SHARED_DATA


NOISE = ("TqdmWarning", "TqdmExperimentalWarning", "IProgress not found")


def execute_notebook(path: Path, timeout: int = 600):
    """Execute a notebook as Jupyter does (working directory = the notebook's folder, notebooks/).

    Nothing is written back. Raises on the first failing cell, and when a cell prints a tqdm
    warning (the notebooks must run without ipywidgets noise). Returns the executed notebook.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    noisy = [text for text in notebook_text(nb).splitlines() if any(n in text for n in NOISE)]
    assert not noisy, f"{path.name} printed tqdm warnings: {noisy[:3]}"
    return nb


def notebook_text(nb) -> str:
    """Everything the executed cells printed (streams and text/plain results)."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") if out.get("output_type") == "stream"
                         else str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)
