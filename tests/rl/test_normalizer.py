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


def _batch_formula(rms: RunningMeanStd, row: torch.Tensor) -> None:
    """RunningMeanStd.update's general torch formula, written out for any batch."""
    x = row.detach().to(torch.float64).reshape(-1, *rms.mean.shape)
    x = x[torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)]
    if not x.shape[0]:
        return
    batch_mean, batch_var, n = x.mean(dim=0), x.var(dim=0, unbiased=False), x.shape[0]
    delta = batch_mean - rms.mean
    total = rms.count + n
    new_mean = rms.mean + delta * n / total
    m2 = rms.var * rms.count + batch_var * n + delta.square() * rms.count * n / total
    rms.mean.copy_(new_mean)
    rms.var.copy_(m2 / total)
    rms.count.copy_(total)


def test_one_row_updates_are_the_batch_formulas_bits() -> None:
    """The numpy path for one-environment steps gives exactly the torch formula's bits,
    over a long stream with outliers and non-finite rows, in float32 and float64, and
    normalises to exactly the bits of the torch expression."""
    gen = torch.Generator().manual_seed(3)
    for dtype in (torch.float32, torch.float64):
        fast, plain = RunningMeanStd(17), RunningMeanStd(17)
        for step in range(3_000):
            scale = torch.linspace(1e-3, 1e3, 17, dtype=dtype)
            row = torch.randn(1, 17, generator=gen, dtype=dtype) * scale
            if step % 500 == 7:
                row[0, step % 17] = float("nan") if step % 1000 == 7 else float("inf")
            fast.update(row)
            _batch_formula(plain, row)
            assert torch.equal(fast.mean, plain.mean) and torch.equal(fast.var, plain.var)
            assert torch.equal(fast.count, plain.count)
            x = torch.randn(1, 17, generator=gen, dtype=dtype) * 50
            want = torch.clamp(
                (x.float() - plain.mean.float()) / torch.sqrt(plain.var.float() + plain.epsilon),
                -10,
                10,
            )
            assert torch.equal(fast.normalize(x), want)


def test_a_copy_normalises_its_own_statistics() -> None:
    """The one-row path keeps scratch memory between calls; a deep copy (the deploy policy, a
    checkpoint's module) and a pickled copy normalise with their own updated statistics."""
    import copy
    import pickle

    gen = torch.Generator().manual_seed(0)
    rms = RunningMeanStd(6)
    x = torch.randn(1, 6, generator=gen)
    for _ in range(20):
        rms.update(torch.randn(1, 6, generator=gen) * 4)
    rms.normalize(x)  # the scratch exists before the copies are made
    for clone in (copy.deepcopy(rms), pickle.loads(pickle.dumps(rms))):
        for _ in range(5):
            clone.update(torch.randn(1, 6, generator=gen) * 4 + 3)
        want = torch.clamp((x - clone.mean.float()) / torch.sqrt(clone.var.float() + 1e-8), -10, 10)
        assert torch.equal(clone.normalize(x), want)
        assert not torch.equal(clone.normalize(x), rms.normalize(x))
