"""Notebooks run as Jupyter runs them: from notebooks/ (issue #14 item 16), without tqdm warnings (item 17)."""
from __future__ import annotations

from pathlib import Path

import nbformat
from conftest import execute_notebook, notebook_text


def test_runner_uses_the_notebook_folder_as_working_directory(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os; print(os.getcwd())")])
    nbformat.write(nb, folder / "probe.ipynb")
    out = notebook_text(execute_notebook(folder / "probe.ipynb", timeout=120))
    assert Path(out.strip()).resolve() == folder.resolve()


def test_runner_rejects_tqdm_warnings(tmp_path):
    code = "import warnings\nfrom tqdm import TqdmWarning\nwarnings.warn('IProgress not found', TqdmWarning)"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbformat.write(nb, tmp_path / "noisy.ipynb")
    try:
        execute_notebook(tmp_path / "noisy.ipynb", timeout=120)
    except AssertionError as e:
        assert "tqdm warnings" in str(e)
    else:
        raise AssertionError("a tqdm warning went unnoticed")


def test_progress_bars_in_a_kernel_print_no_tqdm_warning(tmp_path):
    code = ("from bbgen.progress import tqdm\n"
            "for _ in tqdm(range(3), desc='work'):\n    pass\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbformat.write(nb, tmp_path / "bar.ipynb")
    execute_notebook(tmp_path / "bar.ipynb", timeout=120)


def test_notebook_front_end_is_an_extra_and_the_readme_says_how_to_open():
    import tomllib

    root = Path(__file__).resolve().parents[1]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(d.startswith("jupyterlab") for d in extras["notebooks"])
    assert any(d.startswith("ipywidgets") for d in extras["notebooks"])  # widget progress bars, no TqdmWarning
    readme = (root / "README.md").read_text()
    assert ".[notebooks]" in readme and "jupyter lab notebooks/" in readme
