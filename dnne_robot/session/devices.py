"""``--device``: which torch device the learning nodes use.

``auto`` (the default) picks CUDA when this torch has it and a small operation runs there, and
says so; otherwise the CPU. A device named outright that cannot be used is one error line
naming the fix, before any node is built.
"""

from __future__ import annotations

import torch

from .errors import RunnerError

CPU_ONLY_FIX = ("install a CUDA build of torch (https://pytorch.org/get-started/locally/) "
                "or use --device cpu")


def resolve_device(name: str) -> tuple[str, str | None]:
    """The device to use for ``--device name``, and a notice to print (or None).

    Raises:
        RunnerError: ``name`` is not a torch device, or names one this machine cannot use.
    """
    if name == "auto":
        if torch.cuda.is_available():
            problem = _try(torch.device("cuda"))
            if problem is None:
                return "cuda", f"device: cuda ({torch.cuda.get_device_name(0)})"
            return "cpu", f"device: cpu (CUDA is present but unusable: {problem})"
        return "cpu", None
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise RunnerError(f"--device {name!r} is not a torch device: use auto, cpu, cuda or "
                          f"cuda:<index>") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = ("has no CUDA support" if torch.version.cuda is None
                     else "finds no usable GPU (driver or CUDA_VISIBLE_DEVICES?)")
            raise RunnerError(f"--device {name}: this torch ({torch.__version__}) {build}; "
                              f"{CPU_ONLY_FIX}")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RunnerError(f"--device {name}: this machine has {torch.cuda.device_count()} "
                              f"CUDA device(s), numbered from 0")
    elif device.type != "cpu":
        raise RunnerError(f"--device {name}: only cpu and cuda are supported")
    problem = _try(device)
    if problem is not None:
        raise RunnerError(f"--device {name} does not work here: {problem}")
    return str(device), None


def _try(device: torch.device) -> str | None:
    """None when a small operation runs on ``device``, else why not (one line)."""
    try:
        (torch.ones(2, device=device) * 2).sum().item()
    except (RuntimeError, AssertionError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None
