"""What can go wrong before the control loop starts, and how ``deploy.py`` says it."""

from __future__ import annotations

import sys


class DeployError(Exception):
    """A problem found before the control loop starts: one line on stderr, exit code 1."""


def warn(message: str) -> None:
    print(f"deploy: {message}", file=sys.stderr, flush=True)
