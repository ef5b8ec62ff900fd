"""The Examples sections of bbgen's docstrings run and print what they show (doctest), module by module."""
from __future__ import annotations

import doctest
import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _runs_examples(path: pathlib.Path) -> bool:
    """The module has an example that doctest runs (not only ``# doctest: +SKIP`` ones, e.g. training loops)."""
    return any(line.lstrip().startswith(">>>") and "+SKIP" not in line for line in path.read_text().splitlines())


MODULES = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "bbgen").rglob("*.py")
                 if _runs_examples(p))


def test_the_examples_are_found():
    assert len(MODULES) >= 9 and {"bbgen.roi.samplers", "bbgen.roi.proi", "bbgen.boxes"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    if name.endswith("fused_gpu"):
        pytest.importorskip("triton", reason="the Triton kernel's module imports triton")
    module = importlib.import_module(name.removesuffix(".__init__"))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"{name}: no example was collected"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed (see the output above)"
