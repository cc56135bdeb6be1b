"""Damaged files are refused, never used: a checkpoint or policy file with one byte changed,
and a policy whose weights or normaliser statistics are NaN or infinite.

Everything starts from a real short training of the corpus's CartPole graph. The damaged
files are then handed to ``runner.py train --resume``, ``evaluate`` and ``export-policy``,
each a real run (forked through ``run_exports.py``, as in ``test_faults``): each must exit 1
with one ``error:`` line that names the file (or what is non-finite), and no traceback.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

from .helpers import HERE, isolated_env
from .test_faults import TEMPLATES, cartpole, checkpoints, error_lines, export_variant

AGENT = "3"  # the PPO Agent node of the corpus's CartPole graph


def flip_bit(path: Path, info: zipfile.ZipInfo, at: int) -> None:
    """Flip one bit of byte ``at`` of record ``info``'s data in the zip file ``path``."""
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:
                                                   info.header_offset + 30])
    raw[info.header_offset + 30 + name_len + extra_len + at] ^= 0x40
    path.write_bytes(bytes(raw))


def flip_tensor_byte(path: Path, key: str = "actor_body.0.weight") -> str:
    """Change one bit in the middle of checkpoint ``path``'s agent tensor ``key``, where the
    zip file stores it (``torch.load`` reads it back without a complaint); returns the
    record's name."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    data = payload["nodes"][AGENT]["policy"][key].numpy().tobytes()
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if data in archive.read(i))
        at = archive.read(info).index(data) + len(data) // 2 + 1
    flip_bit(path, info, at)
    return info.filename


def flip_largest_record_byte(path: Path) -> None:
    """Change one bit in the middle of the largest tensor record of a TorchScript file."""
    with zipfile.ZipFile(path) as archive:
        info = max((i for i in archive.infolist()
                    if "/data/" in i.filename or "/constants/" in i.filename),
                   key=lambda i: i.file_size)
    flip_bit(path, info, info.file_size // 2 + 1)


def run_batch(root: Path, jobs: dict[str, tuple[Path, list[str]]]) -> dict[str, dict]:
    """Run ``runner.py ARGS`` of each export, forked from one torch import."""
    listed = [{"dir": str(out), "cwd": str(out), "args": args, "log": str(root / name),
               "timeout": 120} for name, (out, args) in jobs.items()]
    proc = subprocess.run([sys.executable, str(HERE / "run_exports.py")],
                          input=json.dumps(listed), capture_output=True, text=True,
                          env=isolated_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {}
    for name, res in zip(jobs, json.loads(proc.stdout), strict=True):
        res["stderr"] = (root / f"{name}.err").read_text(errors="replace")
        res["stdout"] = (root / f"{name}.out").read_text(errors="replace")
        results[name] = res
    return results


def poisoned(good: Path, target: Path, key: str, value: float) -> Path:
    """A copy of checkpoint ``good`` (written as the runner writes one, so it is intact)
    with one value of the agent's tensor ``key`` set to ``value``."""
    from dnne_robot.rl.checkpoint import save_checkpoint

    payload = torch.load(good, map_location="cpu", weights_only=True)
    tensor = payload["nodes"][AGENT]["policy"][key]
    tensor.view(-1)[1] = value
    save_checkpoint(target, payload)
    return target


def _nan_state_dict() -> str:
    """The PPO agent, saving NaN actor weights in every checkpoint (as a diverged run would)."""
    text = (TEMPLATES / "subclass.py.jinja").read_text()
    return text + """

    def state_dict(self):
        state = super().state_dict()
        state["policy"]["actor_head.weight"] = state["policy"]["actor_head.weight"] * float("nan")
        return state
"""


NON_FINITE = {
    "nan_weight": ("actor_body.0.weight", float("nan"), "actor_body.0.weight", "NaN"),
    "inf_weight": ("actor_head.bias", float("-inf"), "actor_head.bias", "inf"),
    "nan_obs_mean": ("obs_rms.mean", float("nan"), "obs_rms.mean", "NaN"),
    "inf_obs_var": ("obs_rms.var", float("inf"), "obs_rms.var", "inf"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("integrity")
    out = export_variant(root / "x", cartpole())
    trained = run_batch(root, {"train": (out, ["train", "--steps", "32", "--run-dir",
                                               str(root / "run"), "--no-progress"])})
    assert trained["train"]["exit"] == 0, trained["train"]["stderr"][-2000:]
    good = checkpoints(root / "run")[-1]

    corrupt = root / "corrupt.pt"
    shutil.copy(good, corrupt)
    record = flip_tensor_byte(corrupt)
    policy = root / "corrupt_policy.pt"
    shutil.copy(root / "run" / "policy.pt", policy)
    shutil.copy(root / "run" / "policy.json", root / "corrupt_policy.json")
    flip_largest_record_byte(policy)

    nan_out = export_variant(root / "nan", cartpole(),
                             {"ppo_agent.py.jinja": _nan_state_dict()})
    jobs: dict[str, tuple[Path, list[str]]] = {
        "resume": (out, ["train", "--steps", "64", "--resume", str(corrupt), "--run-dir",
                         str(root / "resumed"), "--no-progress"]),
        "evaluate": (out, ["evaluate", "--checkpoint", str(corrupt), "--episodes", "1"]),
        "export": (out, ["export-policy", "--checkpoint", str(corrupt), "-o",
                         str(root / "from_corrupt.pt")]),
        "evaluate_policy": (out, ["evaluate", "--policy", str(policy), "--episodes", "1"]),
        "good_evaluate": (out, ["evaluate", "--checkpoint", str(good), "--episodes", "1"]),
        "train_nan": (nan_out, ["train", "--steps", "32", "--run-dir", str(root / "nan_run"),
                                "--no-progress"]),
    }
    for name, (key, value, _, _) in NON_FINITE.items():
        bad = poisoned(good, root / f"{name}.pt", key, value)
        jobs[f"export_{name}"] = (out, ["export-policy", "--checkpoint", str(bad), "-o",
                                        str(root / f"{name}_policy.pt")])
    return {"root": root, "good": good, "corrupt": corrupt, "record": record,
            "results": run_batch(root, jobs)}


def one_error(res: dict) -> str:
    assert res["exit"] == 1, res["stderr"][-2000:]
    assert "Traceback" not in res["stderr"], res["stderr"][-2000:]
    (line,) = error_lines(res["stderr"])
    return line


# ------------------------------------------------------------------------------ item 4
def test_the_flipped_byte_changes_a_weight_that_torch_loads_silently(runs: dict) -> None:
    """The threat, shown: torch does not check the zip's CRCs."""
    good = torch.load(runs["good"], map_location="cpu", weights_only=True)
    bad = torch.load(runs["corrupt"], map_location="cpu", weights_only=True)
    changed = [k for k, v in bad["nodes"][AGENT]["policy"].items()
               if not torch.equal(v, good["nodes"][AGENT]["policy"][k])]
    assert changed, f"flipping a byte of {runs['record']} changed no weight"


@pytest.mark.parametrize("command", ["resume", "evaluate", "export"])
def test_a_corrupted_checkpoint_is_refused_with_one_line(command: str, runs: dict) -> None:
    line = one_error(runs["results"][command])
    assert "corrupt.pt" in line and "CRC" in line, line
    assert not (runs["root"] / "from_corrupt.pt").exists()
    assert not (runs["root"] / "resumed" / "checkpoints").exists()


def test_an_intact_checkpoint_still_evaluates(runs: dict) -> None:
    res = runs["results"]["good_evaluate"]
    assert res["exit"] == 0, res["stderr"][-2000:]


def test_a_corrupted_policy_file_is_refused_by_evaluate(runs: dict) -> None:
    line = one_error(runs["results"]["evaluate_policy"])
    assert "corrupt_policy.pt" in line and "sha256" in line, line


# ------------------------------------------------------------------------------ item 5
@pytest.mark.parametrize("name", list(NON_FINITE))
def test_export_policy_refuses_non_finite_values(name: str, runs: dict) -> None:
    _, _, tensor, what = NON_FINITE[name]
    line = one_error(runs["results"][f"export_{name}"])
    assert tensor in line and what in line and f"{name}.pt" in line, line
    assert not (runs["root"] / f"{name}_policy.pt").exists()
    assert not (runs["root"] / f"{name}_policy.json").exists()


def test_train_does_not_write_a_policy_with_nan_weights(runs: dict) -> None:
    line = one_error(runs["results"]["train_nan"])
    assert "actor_head.weight" in line and "NaN" in line, line
    run_dir = runs["root"] / "nan_run"
    assert checkpoints(run_dir), "the checkpoints are kept"
    assert not (run_dir / "policy.pt").exists()
