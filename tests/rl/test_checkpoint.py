from __future__ import annotations

import random
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from dnne_robot.rl import (
    PPO,
    ActionSpec,
    ActorCritic,
    CheckpointError,
    PPOConfig,
    capture_rng,
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    restore_rng,
    save_checkpoint,
)

REPO = Path(__file__).resolve().parents[2]


def draw(gen: np.random.Generator) -> tuple:
    return (
        random.random(),
        random.gauss(0, 1),
        np.random.rand(3).tolist(),
        gen.integers(0, 1 << 62, size=3).tolist(),
        torch.rand(3).tolist(),
    )


def test_rng_roundtrip_through_weights_only_file(tmp_path: Path) -> None:
    gen = np.random.default_rng(7)
    random.gauss(0, 1)  # leaves a cached gaussian in python's state
    state = capture_rng(gen)
    first = draw(gen)
    save_checkpoint(tmp_path / "rng.pt", {"rng": state})
    draw(gen)  # move every stream on
    restore_rng(load_checkpoint(tmp_path / "rng.pt")["rng"], gen)
    assert draw(gen) == first


def test_training_state_roundtrip(tmp_path: Path) -> None:
    policy = ActorCritic(3, ActionSpec.continuous(-1, 1, dim=2))
    ppo = PPO(policy, PPOConfig())
    payload = {
        "policy_config": policy.config(),
        "policy": policy.state_dict(),
        "ppo": ppo.state_dict(),
        "rng": capture_rng(),
        "global_step": 1234,
    }
    path = save_checkpoint(checkpoint_path(tmp_path, 1234), payload)
    loaded = load_checkpoint(path)
    assert loaded["global_step"] == 1234
    clone = ActorCritic.from_config(loaded["policy_config"])
    clone.load_state_dict(loaded["policy"])
    PPO(clone, PPOConfig()).load_state_dict(loaded["ppo"])


def test_weights_only_refuses_arbitrary_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"obj": ValueError("not plain data")}, path)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "missing"])
def test_corrupt_checkpoint_names_the_file(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"w": torch.randn(1000)})
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00garbage" * 100)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    with pytest.raises(CheckpointError, match="ckpt.pt"):
        load_checkpoint(path)


def _flip_in_record(path: Path, suffix: str, at: int) -> None:
    """Flip one bit of byte ``at`` of the data of the record whose name ends with ``suffix``."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(suffix))
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:
                                                   info.header_offset + 30])
    raw[info.header_offset + 30 + name_len + extra_len + at] ^= 0x40
    path.write_bytes(bytes(raw))


def test_a_changed_tensor_byte_is_refused_naming_file_and_record(tmp_path: Path) -> None:
    """torch.load checks no CRC: unchecked, this byte would load as a different weight."""
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"w": torch.linspace(-1, 1, 1000)})
    _flip_in_record(path, "/data/0", 2001)
    assert not torch.equal(torch.load(path, weights_only=True)["w"], torch.linspace(-1, 1, 1000))
    with pytest.raises(CheckpointError, match=r"ckpt\.pt .*record \S+/data/0 fails its CRC-32"):
        load_checkpoint(path)


def test_a_changed_pickle_byte_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"step": 123456, "w": torch.ones(3)})
    _flip_in_record(path, "/data.pkl", 30)
    with pytest.raises(CheckpointError, match=r"ckpt\.pt .*data\.pkl fails its CRC-32"):
        load_checkpoint(path)


def test_records_rewritten_with_fresh_crcs_are_refused_by_the_sha256(tmp_path: Path) -> None:
    """A tool that rewrites the zip (valid CRCs, other bytes) is caught by the digest."""
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"w": torch.ones(100)})
    with zipfile.ZipFile(path) as archive:
        records = [(i.filename, archive.read(i)) for i in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in records:
            archive.writestr(name, bytes(len(data)) if "/data/" in name else data)
    with pytest.raises(CheckpointError, match=r"ckpt\.pt is corrupt: the sha256 of its records"):
        load_checkpoint(path)


def test_every_save_is_sealed_and_an_unsealed_file_still_loads(tmp_path: Path) -> None:
    """Checkpoints written before the digest (plain torch.save) load after the CRC check."""
    sealed = save_checkpoint(tmp_path / "new.pt", {"w": torch.ones(3)})
    with zipfile.ZipFile(sealed) as archive:
        assert archive.namelist()[-1].endswith("/integrity.sha256")
    torch.save({"w": torch.ones(3)}, tmp_path / "old.pt")
    assert torch.equal(load_checkpoint(tmp_path / "old.pt")["w"], torch.ones(3))
    _flip_in_record(tmp_path / "old.pt", "/data/0", 5)
    with pytest.raises(CheckpointError, match="old.pt .*CRC-32"):
        load_checkpoint(tmp_path / "old.pt")


def test_failed_write_keeps_old_checkpoint_and_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"version": 1})

    class Boom:
        def __reduce__(self):
            raise RuntimeError("serialisation failed")

    with pytest.raises(RuntimeError, match="serialisation failed"):
        save_checkpoint(path, {"version": 2, "boom": Boom()})
    assert load_checkpoint(path) == {"version": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]


def test_crash_mid_write_leaves_previous_checkpoint_loadable(tmp_path: Path) -> None:
    """A process killed while saving leaves its temp file behind, never a torn checkpoint."""
    run_dir = tmp_path / "run"
    old = save_checkpoint(checkpoint_path(run_dir, 100), {"step": 100, "w": torch.ones(4)})
    script = textwrap.dedent(
        f"""
        import os, sys, torch
        sys.path.insert(0, {str(REPO)!r})
        from dnne_robot.rl import checkpoint_path, save_checkpoint

        class Crash:  # dies half way through pickling, like a SIGKILL or power cut
            def __reduce__(self):
                os._exit(9)

        payload = {{"step": 200, "w": torch.zeros(100_000), "crash": Crash()}}
        # Overwrite the existing checkpoint in place, and write a newer one.
        save_checkpoint(checkpoint_path({str(run_dir)!r}, 100), payload)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == 9, proc.stderr.decode()
    leftovers = [p for p in (run_dir / "checkpoints").iterdir() if ".tmp" in p.name]
    assert leftovers, "the simulated crash should leave its temporary file"
    assert latest_checkpoint(run_dir) == old
    loaded = load_checkpoint(old)
    assert loaded["step"] == 100 and torch.equal(loaded["w"], torch.ones(4))


def test_latest_and_prune(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path) is None
    for step in (5, 1000, 20):
        save_checkpoint(checkpoint_path(tmp_path, step), {"step": step})
    (tmp_path / "checkpoints" / ".checkpoint_000000009999.pt.abc.tmp.pt").write_bytes(b"x")
    latest = latest_checkpoint(tmp_path)
    assert latest is not None and load_checkpoint(latest)["step"] == 1000
    assert prune_checkpoints(tmp_path, keep=2) == [checkpoint_path(tmp_path, 5)]
    assert [load_checkpoint(p)["step"] for p in list_checkpoints(tmp_path)] == [20, 1000]
