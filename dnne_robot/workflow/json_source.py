"""Reading workflow JSON text: UTF-8 (BOM tolerated), exact error positions, duplicate keys.

``json.loads`` silently keeps the last of two equal keys; a workflow with two nodes under one
id must be reported instead, so objects with repeated keys come back as
:class:`DuplicateKeyDict` (first value kept) listing the repeated keys, and
:func:`repeated_keys` finds every one of them in a parsed file.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from dnne_robot.workflow.errors import WorkflowFormatError


class DuplicateKeyDict(dict):
    """A parsed JSON object that repeated some keys; the first value of each is kept."""

    duplicate_keys: list[str]


def duplicate_keys(obj: Any) -> list[str]:
    """The keys repeated in the JSON text of ``obj`` (empty for other values)."""
    return list(getattr(obj, "duplicate_keys", ()))


def repeated_keys(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """Every repeated key anywhere in ``value``: ``(path to its object, key)``, an object's own
    before those of the objects inside it."""
    found: list[tuple[tuple[Any, ...], str]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [(path, value)]
    while stack:  # iterative: a deeply nested file must not overflow the stack
        where, item = stack.pop()
        if isinstance(item, dict):
            found += [(where, key) for key in duplicate_keys(item)]
            stack += [((*where, k), v) for k, v in reversed(item.items())]
        elif isinstance(item, list):
            stack += [((*where, i), v) for i, v in reversed(list(enumerate(item)))]
    return found


def _keep_first(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    repeated: list[str] = []
    for key, value in pairs:
        if key in obj:
            if key not in repeated:
                repeated.append(key)
            continue
        obj[key] = value
    if not repeated:
        return obj
    flagged = DuplicateKeyDict(obj)
    flagged.duplicate_keys = repeated
    return flagged


def parse_json_text(text: str, *, path: str | None = None) -> Any:
    """Parse ``text``; every failure is a :class:`WorkflowFormatError` naming line and column."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise WorkflowFormatError("empty file: expected a JSON workflow", path=path)
    try:
        return json.loads(text, object_pairs_hook=_keep_first)
    except json.JSONDecodeError as exc:
        raise WorkflowFormatError(
            f"invalid JSON: {exc.msg}", path=path, line=exc.lineno, column=exc.colno
        ) from None
    except RecursionError:
        raise WorkflowFormatError(
            "invalid JSON: arrays/objects nested too deeply to read", path=path
        ) from None
    except ValueError as exc:  # e.g. an integer literal longer than Python's digit limit
        raise WorkflowFormatError(f"invalid JSON: {exc}", path=path) from None


def parse_json_bytes(raw: bytes, *, path: str | None = None) -> Any:
    """Decode ``raw`` as UTF-8 (a leading BOM is fine) and parse it."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise WorkflowFormatError(
            "file is UTF-16 encoded; save it as UTF-8 (the format ComfyUI writes)", path=path
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = raw[exc.start : exc.start + 1].hex()
        raise WorkflowFormatError(
            f"not UTF-8 text (byte 0x{bad}); save the workflow as UTF-8",
            path=path,
            line=line,
            column=column,
        ) from None
    return parse_json_text(text, path=path)


#: The largest workflow file read (a 10,000-node workflow is about 1.3 MB).
MAX_FILE_BYTES = 64 * 1024 * 1024


def read_json_file(path: str | Path) -> Any:
    """Read and parse the JSON file at ``path``: a regular file (a symlink to one is fine) of
    at most :data:`MAX_FILE_BYTES`; a FIFO, a device or a directory is refused unread."""
    where = str(path)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise WorkflowFormatError("is a directory, not a workflow file", path=where)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device"
                    if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a socket"
                    if stat.S_ISSOCK(info.st_mode) else "not a regular file")
            raise WorkflowFormatError(f"is {kind}, not a workflow file", path=where)
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise WorkflowFormatError("file not found", path=where) from None
    except OSError as exc:
        raise WorkflowFormatError(f"cannot read file: {exc.strerror or exc}", path=where) from None
    if len(raw) > MAX_FILE_BYTES:
        raise WorkflowFormatError(
            f"file is larger than {MAX_FILE_BYTES // 2**20} MiB: not a workflow", path=where)
    return parse_json_bytes(raw, path=where)
