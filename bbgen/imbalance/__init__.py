"""Imbalance profilers (thesis Ch. 3): numbers only; plotting lives in :mod:`bbgen.plot`."""

__all__: list[str] = []
