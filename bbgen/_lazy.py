"""Lazy attributes for a package: public names resolved from their submodule on first use.

Keeps ``import bbgen.imbalance`` / ``import bbgen.report`` cheap (no torch, no matplotlib) until a name that
needs them is used (PEP 562 module ``__getattr__``).
"""
from __future__ import annotations

import importlib
from typing import Callable

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, names: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` that import ``names[attr]`` (a submodule) on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : dict[str, str]
        Public name -> submodule (relative to ``package``) that defines it.

    Returns
    -------
    tuple of callables
        Assign them to the package's ``__getattr__`` and ``__dir__``.
    """
    def __getattr__(name: str) -> object:
        if name in names:
            return getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(names) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__
