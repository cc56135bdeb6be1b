"""Writing a generated folder: atomically, and never over anything the user owns.

A generated tree (an export, a ComfyUI node pack) is written to a temporary sibling folder
that replaces the target in one rename, so a failure leaves the target as it was. ``--force``
replaces only a folder this tool wrote before (``is_ours``), never a regular file, the working
directory or a folder above it; the entries of the old folder that the tool did not write
(``runs/``, trained policies, data sets, the user's notes) move into the new one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


class OutputError(FileExistsError):
    """The output folder cannot be written as asked; the message says why and what to do."""


def check_output(out_dir: Path, *, force: bool, is_ours: Callable[[Path], bool],
                 what: str) -> None:
    """Refuse an output folder that writing would harm.

    Args:
        what: the kind of folder, with its article ("an export").

    Raises:
        OutputError: ``out_dir`` is a file, the working directory or one of its parents, or
            a non-empty folder that is not ``what`` written before (or ``force`` is off).
    """
    resolved = out_dir.resolve()
    here = Path.cwd().resolve()
    if resolved == here or resolved in here.parents:
        raise OutputError(f"{out_dir} is the current folder or a folder above it; "
                          f"write {what} into a new folder")
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise OutputError(f"{out_dir} exists and is not a folder; choose another -o")
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return
    if not is_ours(out_dir):
        raise OutputError(f"{out_dir} exists and is not {what} dnne-robot wrote; "
                          "--force replaces only a previous one: choose another folder")
    if not force:
        raise OutputError(f"{out_dir} exists and is not empty (use --force to replace "
                          f"{what} written before; files it did not write are kept)")


def write_tree(files: dict[str, bytes], out_dir: Path, *, owned: Iterable[str] = (),
               mode: int | None = None) -> list[str]:
    """Write ``files`` (relative path -> bytes) as ``out_dir`` in one rename.

    Top-level entries of an existing ``out_dir`` that are neither among ``files``' top-level
    names nor in ``owned`` (other names the tool writes) are moved into the new folder.
    Call :func:`check_output` first. Returns the names of the entries kept.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    backup = out_dir.with_name(f".{out_dir.name}.old")
    generated = {rel.split("/", 1)[0] for rel in files} | set(owned)
    moved: list[str] = []
    try:
        tmp.chmod(mode if mode is not None else 0o777 & ~_umask())  # mkdtemp makes it private
        for rel, data in files.items():
            target = (tmp / rel).resolve()
            if not target.is_relative_to(tmp.resolve()):
                raise OutputError(f"refusing to write {rel!r} outside the output folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if out_dir.exists():
            for entry in sorted(out_dir.iterdir()):
                if entry.name not in generated:
                    os.replace(entry, tmp / entry.name)
                    moved.append(entry.name)
            if backup.exists():
                _remove(backup)
            os.replace(out_dir, backup)
            os.replace(tmp, out_dir)
            _remove(backup)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        _restore(out_dir, backup, tmp, moved)
        raise
    return moved


def _restore(out_dir: Path, backup: Path, tmp: Path, moved: list[str]) -> None:
    """After a failure: the user's entries back into the old folder, the old folder back in
    place, the temporary folder gone."""
    if tmp.exists():
        origin = out_dir if out_dir.exists() else backup
        for name in moved:
            if (tmp / name).exists() and origin.exists():
                os.replace(tmp / name, origin / name)
        if backup.exists() and not out_dir.exists():
            os.replace(backup, out_dir)
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
