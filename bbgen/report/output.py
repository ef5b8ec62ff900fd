"""Safe output directory of a report: bbgen replaces only the files it wrote itself.

Every report directory holds a manifest, :data:`MANIFEST` (``.bbgen-report.json``), listing the
files bbgen wrote there. A re-run

* refuses a directory that exists, is not empty and has no manifest (``force=True`` writes next to
  the foreign files instead), and refuses to overwrite any file the manifest does not list;
* stages every new file in a hidden temporary folder and moves each into place with an atomic
  rename (``os.replace``), so a reader never sees a half-written file;
* deletes only files that the previous manifest lists and the new report no longer has.

The temporary folder is removed on any exception, including ``KeyboardInterrupt`` and the
exception :func:`bbgen.cli.run_cleanly` raises on SIGTERM. Errors are ``ValueError`` s that name
``out_dir`` (the command line shows them as ``--out``) and never a temporary name.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

__all__ = ["MANIFEST", "previous_files", "check_targets", "staging_dir", "publish"]

MANIFEST = ".bbgen-report.json"
_LEGACY_FILES = ("index.html", "report.json", "summary.md")


def _fail(out_dir: Path, problem: str) -> ValueError:
    return ValueError(f"out_dir {out_dir}: {problem}")


def _safe_relative(name: object) -> bool:
    if not isinstance(name, str) or not name:
        return False
    p = Path(name)
    return not p.is_absolute() and ".." not in p.parts and p.as_posix() == name


def _legacy_files(out_dir: Path) -> frozenset[str] | None:
    """Files of a report written before manifests existed (their figures are listed in report.json)."""
    try:
        data = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
        figures = [f["file"] for s in data["sections"].values() for f in s["figures"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if "bbgen_version" not in data or not all(_safe_relative(f) for f in figures):
        return None
    return frozenset((*_LEGACY_FILES, *figures))


def previous_files(out_dir: str | Path, *, force: bool = False) -> frozenset[str]:
    """Check that a report may be written to ``out_dir``; return the files an earlier run wrote there.

    Parameters
    ----------
    out_dir : str or Path
        The report directory (need not exist; its first existing ancestor must be a directory).
    force : bool
        Accept a non-empty directory without a manifest (its files are kept and never overwritten).

    Returns
    -------
    frozenset of str
        Relative POSIX paths listed in the manifest (empty for a new or foreign directory).

    Raises
    ------
    ValueError
        ``out_dir`` is a file, lies under a file, or is a non-empty foreign directory (without
        ``force``), or its manifest is unreadable.
    """
    out_dir = Path(out_dir)
    existing = next((p for p in (out_dir, *out_dir.parents) if os.path.lexists(p)), None)
    if existing is not None and not existing.is_dir():
        where = "is a file" if existing == out_dir else f"{existing} is a file"
        raise _fail(out_dir, f"{where}, not a directory")
    if existing != out_dir:
        return frozenset()
    manifest = out_dir / MANIFEST
    if manifest.is_file():
        try:
            files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise _fail(out_dir, f"cannot read the bbgen manifest {MANIFEST} ({e}); remove it or choose "
                                 "another out_dir") from None
        if not isinstance(files, list) or not all(_safe_relative(f) for f in files):
            raise _fail(out_dir, f"the bbgen manifest {MANIFEST} is malformed; remove it or choose another out_dir")
        return frozenset(files)
    legacy = _legacy_files(out_dir)
    if legacy is not None:
        return legacy
    try:
        empty = not any(out_dir.iterdir())
    except OSError as e:
        raise _fail(out_dir, f"cannot list the directory ({e.strerror or e})") from None
    if not empty and not force:
        raise _fail(out_dir, f"exists, is not empty and is not a bbgen report (no {MANIFEST}); choose another "
                             "out_dir, or pass force=True to write the report next to its files (bbgen never "
                             "overwrites or deletes files it did not write)")
    return frozenset()


def check_targets(out_dir: str | Path, files: Iterable[str], previous: frozenset[str]) -> None:
    """Refuse before any work when a new file would replace a file bbgen did not write.

    Parameters
    ----------
    out_dir : str or Path
        The report directory.
    files : iterable of str
        Relative POSIX paths the new report will write.
    previous : frozenset of str
        Files of the earlier report (from :func:`previous_files`); only these may be replaced.
    """
    out_dir = Path(out_dir)
    for f in files:
        target = out_dir / f
        if os.path.lexists(target) and (f not in previous or not target.is_file() or target.is_symlink()):
            raise _fail(out_dir, f"would overwrite {target}, which bbgen did not write; move it away or "
                                 "choose another out_dir")


@contextmanager
def staging_dir(out_dir: str | Path) -> Iterator[tuple[Path, list[Path]]]:
    """A hidden temporary folder next to (or, if it exists, inside) ``out_dir``, removed on exit.

    Parameters
    ----------
    out_dir : str or Path
        The report directory.

    Yields
    ------
    (Path, list of Path)
        The folder, and the directories made for the report (the missing ancestors of ``out_dir``);
        those are removed again, if empty, when the block raises.
    """
    out_dir = Path(out_dir)
    missing = [p for p in (out_dir, *out_dir.parents) if not os.path.lexists(p)]
    created: list[Path] = []
    tmp: Path | None = None
    try:
        try:
            for p in reversed(missing[1:]):
                p.mkdir()
                created.append(p)
            inside = out_dir.is_dir()
            tmp = Path(tempfile.mkdtemp(prefix=".bbgen-tmp." if inside else f".{out_dir.name}.bbgen-tmp.",
                                        dir=out_dir if inside else out_dir.parent))
            tmp.chmod(0o755)  # mkdtemp makes it owner-only; the report is meant to be shared
        except OSError as e:
            raise _fail(out_dir, f"cannot write there ({e.strerror or type(e).__name__})") from None
        yield tmp, created
    except BaseException:
        for p in reversed(created):
            with contextlib.suppress(OSError):  # only the folders this call created, and only if still empty
                p.rmdir()
        raise
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _write_manifest(folder: Path, files: Iterable[str]) -> None:
    text = json.dumps({"written_by": "bbgen report", "files": sorted(files)}, indent=1)
    part = folder / (MANIFEST + ".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, folder / MANIFEST)


def publish(tmp: Path, out_dir: str | Path, files: Iterable[str], previous: frozenset[str]) -> Path:
    """Move the staged ``files`` from ``tmp`` into ``out_dir`` and record them in the manifest.

    Parameters
    ----------
    tmp : Path
        The staging folder from :func:`staging_dir` holding every file of ``files``.
    out_dir : str or Path
        The report directory.
    files : iterable of str
        Relative POSIX paths of the new report.
    previous : frozenset of str
        Files of the earlier report; those not in ``files`` are deleted, nothing else is.

    Returns
    -------
    Path
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    files = sorted(set(files))
    try:
        if not out_dir.exists():  # a new directory: one atomic rename of the whole staging folder
            _write_manifest(tmp, files)
            tmp.rename(out_dir)
            return out_dir
        _write_manifest(out_dir, previous | set(files))  # every file moved in below is already recorded
        for f in files:
            (out_dir / f).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / f, out_dir / f)
        for f in sorted(previous - set(files)):
            target = out_dir / f
            if target.is_file() and not target.is_symlink():
                target.unlink()
            parent = target.parent
            if parent != out_dir and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
        _write_manifest(out_dir, files)
    except OSError as e:
        raise _fail(out_dir, f"cannot write the report ({e.strerror or type(e).__name__})") from None
    return out_dir
