"""Running observation statistics (parallel Welford), stored as module buffers.

Being buffers, ``mean``, ``var`` and ``count`` travel with ``state_dict()`` and with
every exported deploy policy, so the deployed network sees exactly the inputs it was
trained on.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from torch import Tensor, nn

ArrayT = TypeVar("ArrayT", np.ndarray, Tensor)


class RunningMeanStd(nn.Module):
    """Per-feature running mean and (population) variance.

    Statistics are accumulated in float64 so that millions of updates do not drift;
    :meth:`normalize` computes in float32, the dtype the networks run in.

    Args:
        shape: Feature shape, e.g. ``obs_dim`` or ``(obs_dim,)``.
        epsilon: Initial pseudo-count (keeps the first update well defined) and the
            variance floor used by :meth:`normalize`.
    """

    mean: Tensor
    var: Tensor
    count: Tensor

    def __init__(self, shape: int | tuple[int, ...], epsilon: float = 1e-8) -> None:
        super().__init__()
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.epsilon = float(epsilon)
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(1e-4, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: Tensor) -> None:
        """Fold a batch ``x`` of shape ``(batch, *shape)`` into the statistics.

        Rows holding NaN or inf are ignored.

        Chan et al.'s parallel combination of two (mean, M2, count) summaries:
        ``delta = mean_b - mean_a``; ``mean = mean_a + delta * n_b / n``;
        ``M2 = M2_a + M2_b + delta**2 * n_a * n_b / n``; ``var = M2 / n``.
        """
        x = x.detach()
        if self._one_cpu_row(x):
            self._update_one_row(x)
            return
        x = x.to(device=self.mean.device, dtype=torch.float64)
        x = x.reshape(-1, *self.mean.shape)
        # One NaN/inf observation (a simulator blow-up) would poison the stats for good.
        x = x[torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)]
        batch_count = x.shape[0]
        if batch_count == 0:
            return
        batch_mean = x.mean(dim=0)
        batch_var = x.var(dim=0, unbiased=False)

        delta = batch_mean - self.mean
        total = self.count + batch_count
        new_mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count
        m2 = m2 + delta.square() * self.count * batch_count / total
        self.mean.copy_(new_mean)
        self.var.copy_(m2 / total)
        self.count.copy_(total)

    def _one_cpu_row(self, x: Tensor) -> bool:
        """One observation (a single environment's step) of a CPU float tensor."""
        return (
            x.numel() == self.mean.numel()
            and x.device.type == "cpu"
            and self.mean.device.type == "cpu"
            and x.dtype in (torch.float32, torch.float64)
            and not x.requires_grad
        )

    def _update_one_row(self, x: Tensor) -> None:
        """:meth:`update` for a batch of one row, in numpy on the buffers' own memory.

        Each step of a one-environment rollout folds in one row; a dozen small float64 torch
        operations cost about 100 µs there, the same IEEE operations in numpy a tenth of
        that. The arithmetic is :meth:`update`'s with ``batch_count = 1``, where the batch
        mean is the row itself and its variance 0, so the result is the same bits
        (``tests/rl/test_normalizer.py`` checks it against the batch formula).
        """
        row = x.numpy().reshape(self.mean.shape).astype(np.float64)
        if not np.isfinite(row).all():
            return
        mean, var, count = self.mean.numpy(), self.var.numpy(), self.count.numpy()
        mean[...], var[...], count[...] = fold_in_one(mean, var, count, row)

    def normalize(self, x: Tensor, clip: float = 10.0) -> Tensor:
        """``clamp((x - mean) / sqrt(var + eps), -clip, clip)`` as float32."""
        if self._one_cpu_row(x):
            return self._normalize_one_row(x, clip)
        mean = self.mean.to(torch.float32)
        var = self.var.to(torch.float32)
        return normalize_obs(x.to(torch.float32), mean, var, self.epsilon, clip)

    def _normalize_one_row(self, x: Tensor, clip: float) -> Tensor:
        """:meth:`normalize` of one row: the same float32 operations, in numpy but
        for the square root (torch's is not always numpy's correctly rounded one)."""
        mean = self.mean.numpy().astype(np.float32)
        # torch's float32 sqrt is not numpy's (not always correctly rounded): take torch's.
        var = torch.from_numpy(self.var.numpy().astype(np.float32) + np.float32(self.epsilon))
        std = torch.sqrt(var).numpy()
        out = np.subtract(x.numpy().astype(np.float32, copy=False), mean.reshape(x.shape))
        np.divide(out, std.reshape(x.shape), out=out)
        np.clip(out, np.float32(-clip), np.float32(clip), out=out)
        return torch.from_numpy(out)

    def extra_repr(self) -> str:
        return f"shape={tuple(self.mean.shape)}, count={float(self.count):.0f}"


def fold_in_one(
    mean: ArrayT, var: ArrayT, count: ArrayT, x: ArrayT
) -> tuple[ArrayT, ArrayT, ArrayT]:
    """``(mean, var, count)`` after folding in one sample ``x`` (float64, numpy or torch).

    Chan's combination with a batch of one: its mean is ``x`` and its variance 0, so
    :meth:`RunningMeanStd.update`'s formula loses its batch terms, operation for operation
    (the same bits). Shared by the one-row observation update and the reward normaliser
    (:mod:`.reward_scaling`), whose ``count`` is per element.
    """
    delta = x - mean
    total = count + 1.0
    m2 = var * count + delta * delta * count / total
    return mean + delta / total, m2 / total, total


def normalize_obs(x: Tensor, mean: Tensor, var: Tensor, epsilon: float, clip: float) -> Tensor:
    """The one normalisation formula, shared by training and the exported deploy policy."""
    return torch.clamp((x - mean) / torch.sqrt(var + epsilon), -clip, clip)
