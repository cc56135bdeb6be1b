"""What an env does when its simulation blows up (NaN or inf state, or a NaN action)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


class UnstableStep(Exception):
    """Raised by a task's ``before_step``: end the episode as unstable without stepping."""


class EndsUnstableEpisodes:
    """Mixin: a non-finite state ends the episode with a warning instead of an exception."""

    unstable_count: int = 0

    def _unstable_label(self) -> str:
        """Who went unstable, for the warning."""
        return type(self).__name__

    def _unstable(self, obs_size: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """End the episode after a non-finite state: zero obs, zero reward, terminated."""
        self.unstable_count += 1
        warnings.warn(
            f"{self._unstable_label()}: simulation went unstable (non-finite state); "
            "the episode was terminated with info['unstable']=True",
            RuntimeWarning,
            stacklevel=3,
        )
        return np.zeros(obs_size, dtype=np.float32), 0.0, True, False, {"unstable": True}
