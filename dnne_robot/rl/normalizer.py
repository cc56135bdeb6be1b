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

_ONE_ROW_DTYPES = (torch.float32, torch.float64)
"""Observation dtypes the one-row paths take (numpy holds them as torch does)."""


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
        # (mean, var, count, their addresses, their numpy views): see _host_stats.
        self._host_cache: tuple[Tensor, Tensor, Tensor, tuple[int, int, int],
                                tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        # (var32, its tensor, std, its array): the one-row normalize's scratch memory.
        self._std_scratch: tuple[np.ndarray, Tensor, Tensor, np.ndarray] | None = None

    def __getstate__(self) -> dict[str, object]:
        # A copy (deepcopy, pickle) makes its own scratch: copied, the array and the tensor
        # that share its memory would no longer share it.
        state = dict(super().__getstate__())  # type: ignore[misc]
        state["_std_scratch"] = None
        return state

    @torch.no_grad()
    def update(self, x: Tensor) -> None:
        """Fold a batch ``x`` of shape ``(batch, *shape)`` into the statistics.

        Rows holding NaN or inf are ignored.

        Chan et al.'s parallel combination of two (mean, M2, count) summaries:
        ``delta = mean_b - mean_a``; ``mean = mean_a + delta * n_b / n``;
        ``M2 = M2_a + M2_b + delta**2 * n_a * n_b / n``; ``var = M2 / n``.
        """
        self._update(x)

    def _update(self, x: Tensor) -> None:
        """:meth:`update` without entering ``no_grad`` (about 2 µs), for callers already
        inside it: ``ActorCritic.act``."""
        if x.requires_grad:
            x = x.detach()
        stats = self._one_row_stats(x)
        if stats is not None:
            self._update_one_row(x, *stats)
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

    def _one_row_stats(self, x: Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The statistics' numpy views (:meth:`_host_stats`) where ``x`` is one observation (a
        single environment's step) of a CPU float tensor and they are on the CPU; else None."""
        if not x.is_cpu or x.dtype not in _ONE_ROW_DTYPES or x.requires_grad:
            return None
        stats = self._host_stats()
        return stats if stats is not None and x.numel() == stats[0].size else None

    def _host_stats(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """numpy views of ``mean``, ``var`` and ``count`` where they are on the CPU, else None.

        Kept between calls: looking the three buffers up and viewing each costs about 4 µs a
        call, a third of a one-row update. Made again where a buffer was replaced (``to``,
        ``float``, ``load_state_dict(assign=True)``) or its memory is not the one viewed (a
        copy of the module, which copies this cache with it).
        """
        buffers = self._buffers
        mean, var, count = buffers["mean"], buffers["var"], buffers["count"]
        cache = self._host_cache
        if (
            cache is None
            or cache[0] is not mean
            or cache[1] is not var
            or cache[2] is not count
            or cache[3] != (mean.data_ptr(), var.data_ptr(), count.data_ptr())
        ):
            if not (mean.is_cpu and var.is_cpu and count.is_cpu):
                return None
            views = (mean.numpy(), var.numpy(), count.numpy())
            key = (mean.data_ptr(), var.data_ptr(), count.data_ptr())
            cache = self._host_cache = (mean, var, count, key, views)
        return cache[4]

    def _update_one_row(
        self, x: Tensor, mean: np.ndarray, var: np.ndarray, count: np.ndarray
    ) -> None:
        """:meth:`update` for a batch of one row, in numpy on the buffers' own memory.

        Each step of a one-environment rollout folds in one row; a dozen small float64 torch
        operations cost about 100 µs there, the same IEEE operations in numpy a tenth of
        that. The arithmetic is :meth:`update`'s with ``batch_count = 1``, where the batch
        mean is the row itself and its variance 0, so the result is the same bits
        (``tests/rl/test_normalizer.py`` checks it against the batch formula).
        """
        row = x.numpy().reshape(mean.shape).astype(np.float64)
        if not np.isfinite(row).all():
            return
        mean[...], var[...], count[...] = fold_in_one(mean, var, count, row)

    def normalize(self, x: Tensor, clip: float = 10.0) -> Tensor:
        """``clamp((x - mean) / sqrt(var + eps), -clip, clip)`` as float32."""
        stats = self._one_row_stats(x)
        if stats is not None:
            return self._normalize_one_row(x, clip, stats[0], stats[1])
        mean = self.mean.to(torch.float32)
        var = self.var.to(torch.float32)
        return normalize_obs(x.to(torch.float32), mean, var, self.epsilon, clip)

    def _normalize_one_row(
        self, x: Tensor, clip: float, mean: np.ndarray, var: np.ndarray
    ) -> Tensor:
        """:meth:`normalize` of one row: the same float32 operations, in numpy but
        for the square root (torch's is not always numpy's correctly rounded one)."""
        scratch = self._std_scratch
        if scratch is None or scratch[0].shape != var.shape:
            var32 = np.empty(var.shape, dtype=np.float32)
            std = torch.empty(var.shape, dtype=torch.float32)
            scratch = self._std_scratch = (var32, torch.from_numpy(var32), std, std.numpy())
        var32, var32_t, std_t, std = scratch
        # float32(var) + float32(eps), in float32, as var.astype(np.float32) + eps computes it.
        np.add(var, np.float32(self.epsilon), out=var32, dtype=np.float32)
        # torch's float32 sqrt is not numpy's (not always correctly rounded): take torch's.
        torch.sqrt(var32_t, out=std_t)
        mean32 = mean.astype(np.float32)
        out = np.subtract(x.numpy().astype(np.float32, copy=False), mean32.reshape(x.shape))
        np.divide(out, std.reshape(x.shape), out=out)
        # clamp: maximum and minimum carry NaN through as torch.clamp (and np.clip) do, at
        # half np.clip's cost.
        np.maximum(out, np.float32(-clip), out=out)
        np.minimum(out, np.float32(clip), out=out)
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
