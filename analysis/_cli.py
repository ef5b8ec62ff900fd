"""Entry-point wrapper shared by the analysis scripts: an error is one line on stderr and a non-zero exit.

Bad input data (``ValueError``, e.g. a malformed annotation file) and unwritable outputs (``OSError``) are
user errors, not bugs, so they get a message instead of a traceback.
"""
from __future__ import annotations

import json
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


def require_torchvision(parser: Any, what: str = "this script") -> None:
    """Usage error (exit 2) when the optional torchvision extra is missing."""
    try:
        import torchvision  # noqa: F401
    except ImportError:
        parser.error(f"{what} needs torchvision (pip install 'bbgen[torchvision]')")


def write_results(out: Path, payload: dict, draw: Callable[[Path], None]) -> Path:
    """Write ``payload`` as JSON to ``out`` and the figure drawn by ``draw(png)`` next to it; return the PNG."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=1))
    png = out.with_suffix(".png")
    draw(png)
    print(f"\nwrote {out} and {png}")
    return png
