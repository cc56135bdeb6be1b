"""Errors of the Ray backend, and Ray itself, imported only when a run asks for it."""

from __future__ import annotations

import re
from typing import Any

from ..session import RunnerError

PIP_INSTALL = "pip install 'ray[default]>=2.9'"


class DistributedError(RunnerError):
    """The graph or the cluster cannot run on the Ray backend (one line for the user)."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise DistributedError(f"--backend ray needs Ray: {PIP_INSTALL}") from exc
    return ray


def first_line(exc: BaseException) -> str:
    """What went wrong, in one line: the remote exception when Ray wraps one."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and cause is not exc:
        return f"{type(cause).__name__}: {first_line(cause)}"
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    if not text:
        return type(exc).__name__
    # A creation-task failure carries the remote traceback: its last "XError: ..." line.
    errors = [
        ln.strip() for ln in text.splitlines() if re.match(r"\s*[A-Za-z_.]*(Error|Exception): ", ln)
    ]
    return errors[-1] if errors else text.splitlines()[0]


