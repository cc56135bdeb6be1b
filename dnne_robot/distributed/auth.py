"""Joining a Ray cluster that uses token authentication."""

from __future__ import annotations

import os
from pathlib import Path

_AUTO_AUTH_TOKEN = False


def use_auth_token_if_present() -> None:
    """Send Ray's auth token when joining a cluster, if this machine has one.

    ``ray start`` turns token authentication on when a token exists (``RAY_AUTH_TOKEN``,
    ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``), but Ray 2.5x-2.60 clients send it only
    with ``RAY_AUTH_MODE=token`` set, so joining such a cluster fails as unauthenticated. The
    same rule as ``ray start``: an explicit ``RAY_AUTH_MODE`` is left alone.
    """
    global _AUTO_AUTH_TOKEN
    if "RAY_AUTH_MODE" in os.environ:
        return
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file():
        os.environ["RAY_AUTH_MODE"] = "token"
        _AUTO_AUTH_TOKEN = True


def auth_hint() -> str:
    """What to try when joining failed after the runner turned on Ray's token mode."""
    if not _AUTO_AUTH_TOKEN:
        return ""
    return (" (this machine has a Ray auth token, so the runner sent it, RAY_AUTH_MODE=token; "
            "for a cluster that runs without token authentication set RAY_AUTH_MODE=disabled)")
