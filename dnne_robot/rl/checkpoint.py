"""Crash-safe checkpoints and RNG state capture.

A checkpoint is one ``torch.save`` file holding plain data only (tensors, lists, dicts,
ints, floats, str), so it loads with ``torch.load(weights_only=True)``: loading a
checkpoint never runs code from it.

Its integrity is checked on every load, because ``torch.load`` checks none: the file is
a zip archive, and a changed byte in a tensor's record loads as a changed weight. Each
record's CRC-32 must match, and :func:`save_checkpoint` adds a record, ``<archive>/``
``integrity.sha256``, holding the sha256 of every other record (name and content), which
must match too. The bytes checked are the bytes then loaded (the file is read once). A
checkpoint written before the digest existed has none: its CRCs are still checked.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import random
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_DIR = "checkpoints"
_CHECKPOINT_RE = re.compile(r"^checkpoint_(\d+)\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated or corrupt."""


# -- RNG state -------------------------------------------------------------------------


def _numpy_legacy_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    return {
        "name": str(name),
        "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached_gaussian),
    }


def capture_rng(np_generator: np.random.Generator | None = None) -> dict[str, Any]:
    """Snapshot every RNG a training loop draws from, as ``weights_only``-safe data.

    Covers python ``random``, numpy's global RNG, ``np_generator`` if given, torch's CPU
    generator and, when available, every CUDA device's generator.
    """
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
        "numpy": _numpy_legacy_state(),
        "torch": torch.get_rng_state(),
    }
    if np_generator is not None:
        # bit_generator.state is nested dicts of str and (big) ints.
        state["numpy_generator"] = np_generator.bit_generator.state
    if torch.cuda.is_available():
        state["torch_cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def restore_rng(state: dict[str, Any], np_generator: np.random.Generator | None = None) -> None:
    """Inverse of :func:`capture_rng`."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))
    npl = state["numpy"]
    keys = npl["keys"].numpy().astype(np.uint32)
    np.random.set_state((npl["name"], keys, npl["pos"], npl["has_gauss"], npl["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if np_generator is not None:
        if "numpy_generator" not in state:
            raise KeyError("RNG state holds no numpy Generator state")
        np_generator.bit_generator.state = state["numpy_generator"]
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])


# -- files -----------------------------------------------------------------------------


def _fsync_dir(directory: Path) -> None:
    """Persist a rename by syncing its directory (a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _default_mode() -> int:
    """``0o666`` minus the process umask (read without changing it, on Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    return 0o644


def atomic_write(path: str | os.PathLike[str], write: Any) -> Path:
    """Write a file so that readers see either the old or the complete new content.

    ``write(f)`` fills a temporary file in the same directory (``f.name`` is its path,
    so the callback may reopen it to verify it); it is flushed, fsynced
    and ``os.replace``d over ``path``, then the directory is fsynced. If anything
    fails, the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the real suffix last: some writers (torch.export.save) insist on it.
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would have.
        os.chmod(tmp_name, path.stat().st_mode & 0o7777 if path.exists() else _default_mode())
        with open(tmp_name, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


INTEGRITY_RECORD = "integrity.sha256"
_DIGEST_PREFIX = "sha256:"


def _records_digest(archive: zipfile.ZipFile) -> str:
    """sha256 of every record but the digest's own: names, sizes and contents, in order.

    Reading a record checks its CRC-32 (``zipfile`` raises ``BadZipFile`` on a mismatch).
    """
    digest = hashlib.sha256()
    for info in archive.infolist():
        if info.filename.rpartition("/")[2] == INTEGRITY_RECORD:
            continue
        name = info.filename.encode("utf-8", "surrogateescape")
        digest.update(len(name).to_bytes(8, "little") + name)
        digest.update(info.file_size.to_bytes(8, "little"))
        with archive.open(info) as record:
            for chunk in iter(lambda: record.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def seal_checkpoint(path: str | os.PathLike[str]) -> None:
    """Add the ``integrity.sha256`` record to the torch zip file at ``path``."""
    with zipfile.ZipFile(path, "a") as archive:
        names = archive.namelist()
        if not names or any(n.rpartition("/")[2] == INTEGRITY_RECORD for n in names):
            raise ValueError(f"{path} is not an unsealed torch zip file")
        digest = _records_digest(archive)
        info = zipfile.ZipInfo(f"{names[0].partition('/')[0]}/{INTEGRITY_RECORD}")
        archive.writestr(info, f"{_DIGEST_PREFIX}{digest}\n")


def verify_checkpoint(data: bytes, path: str | os.PathLike[str]) -> None:
    """Check the bytes of checkpoint ``path``: every record's CRC-32, and the sha256 of
    :func:`seal_checkpoint` where the file has one.

    Raises:
        CheckpointError: naming the file and what does not match.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            sealed = [i for i in archive.infolist()
                      if i.filename.rpartition("/")[2] == INTEGRITY_RECORD]
            actual = _records_digest(archive)
            recorded = [archive.read(i).decode("ascii", "replace").strip() for i in sealed]
    except Exception as e:  # noqa: BLE001 - BadZipFile, zlib.error, EOFError...: all damage
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {_damage(e)}") from e
    if recorded and recorded != [_DIGEST_PREFIX + actual]:
        raise CheckpointError(f"checkpoint {path} is corrupt: the sha256 of its records does "
                              f"not match the {INTEGRITY_RECORD} written with it")


def _damage(exc: BaseException) -> str:
    """What ``zipfile`` found wrong, in the words of a checkpoint's user."""
    text = str(exc)
    crc = re.match(r"Bad CRC-32 for file '(.*)'$", text)
    if crc:
        return (f"its record {crc.group(1)} fails its CRC-32 check (the file changed after "
                "it was written)")
    if text == "File is not a zip file":
        return "it is not a complete torch zip file"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Atomically ``torch.save`` ``payload`` to ``path`` (see :func:`atomic_write`), sealed
    with the sha256 of its records (see :func:`seal_checkpoint`)."""

    def write(f: Any) -> None:
        torch.save(payload, f)
        f.flush()
        seal_checkpoint(f.name)

    return atomic_write(path, write)


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device | None = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``, after checking its integrity (see
    :func:`verify_checkpoint`): the file is read once, and the bytes checked are loaded.

    Raises:
        CheckpointError: naming the file, if it is missing, truncated, corrupt or holds
            anything but plain data.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror or e}") from e
    verify_checkpoint(data, path)
    try:
        payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
    ) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {e}") from e
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint {path} holds {type(payload).__name__}, not a dict")
    return payload


def checkpoint_path(run_dir: str | os.PathLike[str], global_step: int) -> Path:
    """``<run_dir>/checkpoints/checkpoint_<global_step, 12 digits>.pt``."""
    return Path(run_dir) / CHECKPOINT_DIR / f"checkpoint_{int(global_step):012d}.pt"


def list_checkpoints(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Checkpoints of ``run_dir`` sorted by global step (temporary files excluded)."""
    directory = Path(run_dir) / CHECKPOINT_DIR
    if not directory.is_dir():
        return []
    found = [
        (int(m.group(1)), p)
        for p in directory.iterdir()
        if (m := _CHECKPOINT_RE.match(p.name)) and p.is_file()
    ]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    """The checkpoint with the highest global step in ``run_dir``, or None."""
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def prune_checkpoints(run_dir: str | os.PathLike[str], keep: int = 3) -> list[Path]:
    """Delete all but the ``keep`` newest checkpoints; returns the deleted paths."""
    found = list_checkpoints(run_dir)
    doomed = found[: max(len(found) - keep, 0)]
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed
