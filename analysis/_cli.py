"""Entry-point wrapper shared by the analysis scripts: an error is one line on stderr and a non-zero exit.

Bad input data (``ValueError``, e.g. a malformed annotation file) and unwritable outputs (``OSError``) are
user errors, not bugs, so they get a message instead of a traceback.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable


def run(main: Callable[[], int | None]) -> int:
    """Call ``main()`` and map user errors to exit status 1 (2 is argparse's usage error, 130 an interrupt)."""
    name = Path(sys.argv[0]).name
    try:
        return main() or 0
    except (OSError, ValueError) as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130


def parse_device(parser: Any, name: str) -> Any:
    """``--device`` as a ``torch.device``; a usage error (exit 2) for a bad name or CUDA that is not there."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        parser.error(f"--device must be cpu or cuda, got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda requested but CUDA is not available")
    return device
