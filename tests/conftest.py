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


def execute_notebook(path: Path, timeout: int = 600) -> None:
    """Execute a notebook in place-free mode with nbclient; raises on the first failing cell."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}})
    client.execute()
