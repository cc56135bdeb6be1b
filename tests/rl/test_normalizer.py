from __future__ import annotations

import numpy as np
import torch

from dnne_robot.rl import RunningMeanStd


def test_matches_numpy_over_uneven_batches() -> None:
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 5)) * np.arange(1, 6) for n in (1, 7, 64, 300, 2)]
    rms = RunningMeanStd(5)
    for b in batches:
        rms.update(torch.as_tensor(b, dtype=torch.float32))
    data = np.concatenate(batches).astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(rms.mean.numpy(), data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(rms.var.numpy(), data.var(0), rtol=1e-5)
    assert abs(float(rms.count) - len(data)) < 1e-3
    assert rms.mean.dtype == rms.var.dtype == rms.count.dtype == torch.float64


def test_row_by_row_equals_one_batch() -> None:
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a, b = RunningMeanStd(3), RunningMeanStd(3)
    a.update(x)
    for row in x:
        b.update(row)
    torch.testing.assert_close(a.mean, b.mean)
    torch.testing.assert_close(a.var, b.var)


def test_normalize_is_float32_clipped_and_frozen() -> None:
    rms = RunningMeanStd(2)
    rms.update(torch.tensor([[0.0, 10.0], [2.0, 10.0], [4.0, 10.0]]))
    before = {k: v.clone() for k, v in rms.state_dict().items()}
    out = rms.normalize(torch.tensor([[2.0, 10.0], [1e6, -1e6]]), clip=5.0)
    assert out.dtype == torch.float32
    assert abs(float(out[0, 0])) < 1e-3  # the 1e-4 initial pseudo-count biases 3 samples
    assert out[1].tolist() == [5.0, -5.0]
    for k, v in rms.state_dict().items():
        assert torch.equal(v, before[k])


def test_state_dict_roundtrip() -> None:
    rms = RunningMeanStd(4)
    rms.update(torch.randn(10, 4))
    assert set(rms.state_dict()) == {"mean", "var", "count"}
    other = RunningMeanStd(4)
    other.load_state_dict(rms.state_dict())
    x = torch.randn(3, 4)
    assert torch.equal(rms.normalize(x), other.normalize(x))


def test_nonfinite_rows_are_ignored() -> None:
    clean, dirty = RunningMeanStd(2), RunningMeanStd(2)
    x = torch.randn(10, 2)
    clean.update(x)
    dirty.update(torch.cat([x, torch.tensor([[float("nan"), 0.0], [0.0, float("inf")]])]))
    assert torch.equal(clean.mean, dirty.mean) and torch.equal(clean.var, dirty.var)
    assert torch.equal(clean.count, dirty.count)
