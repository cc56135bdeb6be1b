"""Runtime faults in real runs of exported graphs: nothing hangs, nothing is lost.

Faults are injected the way a user would change a node: ``dnne-robot export --templates DIR``
with a node template that raises, returns NaN rewards or NaN actions after N calls. The runs
are real subprocesses; most go through ``run_exports.py`` (forked after torch is imported)
so the whole module stays fast, and the ones that need a pid to signal or kill are started
directly.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from .helpers import CORPUS, HERE, MARKER, REPO, SCENARIOS, isolated_env

TEMPLATES = REPO / "templates" / "nodes"
CARTPOLE = json.loads((CORPUS / "workflows" / "plain_cartpole.json").read_text())
CKPT_RE = re.compile(r"^checkpoint_\d+\.pt$")


# ------------------------------------------------------------------------------ helpers
def override(signature: str, injected: str) -> str:
    """A node template: the built-in generated subclass, plus a ``compute`` that runs the
    ``injected`` lines and then the framework class's own ``compute``."""
    text = (TEMPLATES / "subclass.py.jinja").read_text()
    body = "".join(f"        {line}\n" for line in injected.strip().splitlines())
    call = signature.strip().removeprefix("def compute(self, ").removesuffix("):")
    return f"{text}\n\n{signature}{body}        return super().compute({call})\n"


def export_variant(root: Path, workflow: dict | Path, templates: dict[str, str] | None = None,
                   sim: str = "gymnasium") -> Path:
    """Export ``workflow`` (dict or file) with template overrides into ``root/out``."""
    from dnne_robot.pipeline import export

    root.mkdir(parents=True, exist_ok=True)
    src = workflow if isinstance(workflow, Path) else root / "wf.json"
    if not isinstance(workflow, Path):
        src.write_text(json.dumps(workflow))
    dirs = None
    if templates:
        tdir = root / "templates" / "nodes"
        tdir.mkdir(parents=True)
        for name, text in templates.items():
            (tdir / name).write_text(text)
        dirs = [root / "templates"]
    export(src, root / "out", sim=sim, templates=dirs)
    return root / "out"


def cartpole(hidden_sizes: str | None = None, **trainer: Any) -> dict:
    """The corpus's small CartPole graph; ``trainer`` widgets override node 7's."""
    graph = json.loads(json.dumps(CARTPOLE))
    if hidden_sizes is not None:
        graph["3"]["inputs"]["hidden_sizes"] = hidden_sizes
    for name, value in trainer.items():
        assert name in graph["7"]["inputs"], name
        graph["7"]["inputs"][name] = value
    return graph


def checkpoints(run_dir: Path) -> list[Path]:
    folder = run_dir / "checkpoints"
    return sorted(p for p in folder.iterdir() if CKPT_RE.match(p.name)) if folder.is_dir() else []


def load_ok(path: Path) -> dict:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert isinstance(payload, dict) and "nodes" in payload and "rng" in payload
    return payload


def finite_weights(payload: dict) -> bool:
    tensors = []

    def walk(value: Any) -> None:
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            tensors.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(payload["nodes"])
    return bool(tensors) and all(bool(torch.isfinite(t).all()) for t in tensors)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def start(out: Path, *args: str, **kwargs: Any) -> subprocess.Popen:
    def child() -> None:  # a background shell may have left SIGINT ignored
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return subprocess.Popen([sys.executable, "runner.py", *args], cwd=out, env=isolated_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=child, **kwargs)


def wait_for(predicate: Any, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"runner ended early ({proc.returncode}): "
                                 f"{proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


# ------------------------------------------------------------------------------ batch runs
FAULT_AT = 40  # reward-node call that raises: after 5 updates of 8 steps


def _reward_fault() -> str:
    return override("    def compute(self, observations):\n", f"""
self.calls = getattr(self, "calls", 0) + 1
if self.calls == {FAULT_AT}:
    import sys, time
    print(f"FAULT_TIME {{time.time()!r}}", file=sys.stderr, flush=True)
    raise RuntimeError("injected fault at call {FAULT_AT}")
""")


def _reward_nan(first: int, last: int) -> str:
    """The reward node, its rewards NaN for calls ``first..last``."""
    text = (TEMPLATES / "subclass.py.jinja").read_text()
    return text + f"""

    def compute(self, observations):
        self.calls = getattr(self, "calls", 0) + 1
        out = super().compute(observations)
        if {first} <= self.calls <= {last}:
            out["reward_or_loss"] = out["reward_or_loss"] * float("nan")
        return out
"""


def _action_nan(first: int, last: int) -> str:
    return override("    def compute(self, policy):\n", f"""
self.calls = getattr(self, "calls", 0) + 1
if {first} <= self.calls <= {last}:
    return {{"action": policy.env_action * float("nan")}}
""")


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every non-interactive fault run, forked in parallel from one torch import."""
    root = tmp_path_factory.mktemp("faults")
    runs: dict[str, dict] = {}

    def add(name: str, out: Path, *args: str, **job: Any) -> None:
        runs[name] = {"dir": str(out), "cwd": str(out), "args": list(args),
                      "log": str(root / name), "timeout": 120, **job}

    out = export_variant(root / "fault", cartpole(), {"reward.py.jinja": _reward_fault()})
    add("fault", out, "train", "--steps", "100000", "--run-dir", str(root / "fault_run"),
        "--no-progress")
    out = export_variant(root / "nan_once", cartpole(), {"reward.py.jinja": _reward_nan(9, 16)})
    add("nan_once", out, "train", "--steps", "64", "--run-dir", str(root / "nan_once_run"),
        "--no-progress", "--no-export-policy")
    graph = cartpole(num_epochs=20, minibatch_size=4)
    out = export_variant(root / "nan_always", graph, {"reward.py.jinja": _reward_nan(17, 10**9)})
    add("nan_always", out, "train", "--steps", "100000", "--run-dir",
        str(root / "nan_always_run"), "--no-progress")
    try:
        import mujoco  # noqa: F401

        out = export_variant(root / "unstable", SCENARIOS / "reach_ppo.json",
                             {"action.py.jinja": _action_nan(3, 4)}, sim="mujoco")
        add("unstable", out, "train", "--steps", "64", "--num-envs", "2", "--run-dir",
            str(root / "unstable_run"), "--no-progress", "--no-export-policy")
    except ImportError:
        pass
    out = export_variant(root / "plain", cartpole(hidden_sizes="256,256"))
    (root / "a_file").write_text("not a folder")
    add("under_a_file", out, "train", "--steps", "16", "--run-dir", str(root / "a_file" / "run"))
    add("disk_full_at_start", out, "train", "--steps", "16", "--run-dir",
        str(root / "full_start_run"), max_file_bytes=16 * 1024)
    add("disk_full_at_checkpoint", out, "train", "--steps", "64", "--run-dir",
        str(root / "full_ckpt_run"), "--no-export-policy", max_file_bytes=200 * 1024)
    bomb = root / "bomb.pt"
    _write_pickle_bomb(bomb, root / MARKER)
    add("bomb_resume", out, "train", "--steps", "16", "--resume", str(bomb),
        "--run-dir", str(root / "bomb_run"))
    add("bomb_evaluate", out, "evaluate", "--checkpoint", str(bomb), "--episodes", "1")
    add("bomb_export", out, "export-policy", "--checkpoint", str(bomb), "-o",
        str(root / "bomb_policy.pt"))

    names = list(runs)
    proc = subprocess.run([sys.executable, str(HERE / "run_exports.py")],
                          input=json.dumps([runs[n] for n in names]), capture_output=True,
                          text=True, env=isolated_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {}
    for name, res in zip(names, json.loads(proc.stdout), strict=True):
        res["stderr"] = Path(runs[name]["log"] + ".err").read_text(errors="replace")
        res["stdout"] = Path(runs[name]["log"] + ".out").read_text(errors="replace")
        res["root"] = root
        results[name] = res
    return results


class _Custom:
    """Any class of the test's own: not plain data, so a checkpoint holding it is refused."""


class _PickleBomb:
    """Unpickling this runs ``touch`` on the marker (it must never be unpickled)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def _write_pickle_bomb(path: Path, marker: Path) -> None:
    payload = {"format": 1, "reason": "end", "workflow_sha256": None, "env_info": {},
               "env_steps": 0, "opt_steps": 0, "nodes": {"7": _PickleBomb(marker)},
               "rng": {}}
    torch.save(payload, path)


def test_node_error_stops_fast_names_the_node_and_keeps_the_checkpoint(batch: dict) -> None:
    res = batch["fault"]
    stderr = res["stderr"]
    assert res["exit"] == 1, stderr[-2000:]
    assert "Traceback" not in stderr
    fault_time = float(re.search(r"FAULT_TIME (\S+)", stderr).group(1))
    delay = res["ended"] - fault_time
    print(f"runner exited {delay:.2f} s after the fault")
    assert delay < 2.0
    (line,) = error_lines(stderr)
    assert "node #6 'CartPole Reward' (Node6CartpoleReward)" in line
    assert f"RuntimeError: injected fault at call {FAULT_AT}" in line
    found = checkpoints(res["root"] / "fault_run")
    assert found, "no checkpoint survived"
    latest = load_ok(found[-1])
    # the last update before the fault: 8 steps of 2 envs each
    assert latest["env_steps"] == (FAULT_AT - 1) // 8 * 16
    assert finite_weights(latest)


def test_nan_rewards_skip_the_update_and_count_it(batch: dict) -> None:
    res = batch["nan_once"]
    assert res["exit"] == 0, res["stderr"][-2000:]
    assert "Traceback" not in res["stderr"]
    rows = (res["root"] / "nan_once_run" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    skipped = [float(r.split(",")[header.index("skipped_nonfinite")]) for r in rows[1:]]
    assert skipped == [0.0, 1.0, 0.0, 0.0], skipped  # the poisoned rollout, and only it
    assert finite_weights(load_ok(checkpoints(res["root"] / "nan_once_run")[-1]))


def test_a_run_of_nan_losses_stops_with_one_line_naming_the_trainer(batch: dict) -> None:
    res = batch["nan_always"]
    stderr = res["stderr"]
    assert res["exit"] == 1, stderr[-2000:]
    assert "Traceback" not in stderr
    (line,) = error_lines(stderr)
    assert "node #7 'PPO Trainer' (Node7PpoTrainer) failed: NonFiniteLossError:" in line
    assert "consecutive non-finite PPO losses" in line
    found = checkpoints(res["root"] / "nan_always_run")
    assert found
    assert all(finite_weights(load_ok(p)) for p in found)  # skipped updates touch no weight


def test_unstable_simulation_resets_the_episode_and_counts_it(batch: dict) -> None:
    if "unstable" not in batch:
        pytest.skip("mujoco is not installed: pip install 'dnne-robot[mujoco]'")
    res = batch["unstable"]
    assert res["exit"] == 0, res["stderr"][-2000:]
    assert "Traceback" not in res["stderr"]
    summary = json.loads((res["root"] / "unstable_run" / "summary.json").read_text())
    assert summary["unstable_resets"] >= 2, summary  # both envs, on the first NaN step
    assert summary["status"] == "done"


def test_run_folder_under_a_file_is_a_clear_error_at_start(batch: dict) -> None:
    res = batch["under_a_file"]
    assert res["exit"] == 1
    (line,) = error_lines(res["stderr"])
    assert "run folder" in line and "is not writable" in line and "a_file" in line
    assert "Traceback" not in res["stderr"]


def test_full_disk_at_start_is_a_clear_error(batch: dict) -> None:
    res = batch["disk_full_at_start"]
    assert res["exit"] == 1
    (line,) = error_lines(res["stderr"])
    assert "is not writable: File too large" in line, line
    assert not checkpoints(res["root"] / "full_start_run")


def test_full_disk_at_a_checkpoint_stops_cleanly_and_leaves_no_partial_file(batch: dict) -> None:
    res = batch["disk_full_at_checkpoint"]
    assert res["exit"] == 1, res["stderr"][-2000:]
    assert "Traceback" not in res["stderr"]
    (line,) = error_lines(res["stderr"])
    assert "node #7" in line and "could not write checkpoint" in line, line
    assert "the newest complete checkpoint is kept" in line
    folder = res["root"] / "full_ckpt_run" / "checkpoints"
    assert [p.name for p in folder.iterdir()] == [], "a partial checkpoint was left behind"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders anyway")
def test_read_only_run_folder_is_a_clear_error(tmp_path: Path) -> None:
    out = export_variant(tmp_path / "ro", cartpole())
    run_dir = tmp_path / "ro_run"
    run_dir.mkdir()
    run_dir.chmod(0o500)
    try:
        proc = subprocess.run([sys.executable, "runner.py", "train", "--steps", "16",
                               "--run-dir", str(run_dir)], cwd=out, env=isolated_env(),
                              capture_output=True, text=True, timeout=120)
    finally:
        run_dir.chmod(0o700)
    assert proc.returncode == 1
    assert "is not writable" in error_lines(proc.stderr)[0]


@pytest.mark.parametrize("command", ["bomb_resume", "bomb_evaluate", "bomb_export"])
def test_pickle_bomb_checkpoint_is_refused(command: str, batch: dict) -> None:
    res = batch[command]
    assert res["exit"] == 1, res["stderr"][-2000:]
    assert "Traceback" not in res["stderr"]
    (line,) = error_lines(res["stderr"])
    assert "refusing to load" in line and "bomb.pt" in line and "system" in line, line
    assert "weights_only=False" not in line  # never advise the unsafe load
    assert not (res["root"] / MARKER).exists()


def test_pickle_bomb_refused_by_the_loaders(tmp_path: Path) -> None:
    from dnne_robot.rl.checkpoint import CheckpointError, load_checkpoint
    from dnne_robot.session.checkpoints import load

    bomb = tmp_path / "bomb.pt"
    _write_pickle_bomb(bomb, tmp_path / MARKER)
    with pytest.raises(CheckpointError, match="bomb.pt"):
        load_checkpoint(bomb)
    with pytest.raises(CheckpointError, match=r"refusing to load .*bomb\.pt.*posix\.system"):
        load(bomb)
    custom = tmp_path / "custom.pt"
    torch.save({"nodes": {"7": _Custom()}}, custom)
    with pytest.raises(CheckpointError, match=r"refusing to load .*custom\.pt.*_Custom"):
        load(custom)
    assert not (tmp_path / MARKER).exists()


# ------------------------------------------------------------------------------ signals
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_writes_a_checkpoint_exits_130_and_resumes(sig: signal.Signals,
                                                          tmp_path: Path) -> None:
    out = export_variant(tmp_path / "x", cartpole())
    run_dir = tmp_path / "run"
    proc = start(out, "train", "--steps", "1000000", "--run-dir", str(run_dir), "--no-progress",
                 "--no-export-policy")
    try:
        wait_for(lambda: len(checkpoints(run_dir)) >= 1, 60, proc)
        time.sleep(0.1)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    written = re.search(r"interrupted: checkpoint written to (\S+)", stderr)
    assert written, stderr[-2000:]
    ckpt = Path(written.group(1))
    ckpt = ckpt if ckpt.is_absolute() else out / ckpt
    payload = load_ok(ckpt)
    assert payload["reason"] == "interrupted"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    steps = payload["env_steps"]
    resumed = subprocess.run(
        [sys.executable, "runner.py", "train", "--resume", str(ckpt), "--steps",
         str(steps + 32), "--run-dir", str(tmp_path / "resumed"), "--no-progress",
         "--no-export-policy"], cwd=out, env=isolated_env(), capture_output=True, text=True,
        timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed from {ckpt} at step {steps}" in resumed.stdout
    assert json.loads((tmp_path / "resumed" / "summary.json").read_text())["steps"] >= steps + 32


# ------------------------------------------------------------------------------ kill -9
def _kill_loop(tmp_path: Path, kills: int, seed: int) -> None:
    """Kill training at random moments, resuming each time from the newest checkpoint; after
    every kill, every file that counts as a checkpoint must load."""
    out = export_variant(tmp_path / "k", cartpole(hidden_sizes="512,512"))
    run_dir = tmp_path / "run"
    rng = random.Random(seed)
    debris = 0
    for i in range(kills):
        existing = checkpoints(run_dir)
        args = ["train", "--steps", "100000000", "--run-dir", str(run_dir), "--no-progress"]
        if existing:
            args += ["--resume", str(existing[-1])]
        proc = start(out, *args)
        try:
            newest = existing[-1].name if existing else ""
            wait_for(lambda newest=newest: any(p.name > newest for p in checkpoints(run_dir)),
                     60, proc)
            time.sleep(rng.uniform(0.0, 0.6))
            proc.kill()  # SIGKILL: no handler runs
            proc.communicate(timeout=30)
        finally:
            proc.kill()
        folder = run_dir / "checkpoints"
        leftovers = [p for p in folder.iterdir() if not CKPT_RE.match(p.name)]
        debris += len(leftovers)
        assert all(p.name.startswith(".checkpoint_") and p.name.endswith(".tmp.pt")
                   for p in leftovers), leftovers
        found = checkpoints(run_dir)
        assert found, f"kill {i}: no checkpoint"
        for path in found:
            load_ok(path)
    print(f"{kills} kills; {debris} interrupted writes seen (their temp files never count)")


def test_kill_9_never_leaves_a_checkpoint_that_does_not_load(tmp_path: Path) -> None:
    _kill_loop(tmp_path, kills=3, seed=1)


@pytest.mark.slow
def test_kill_9_ten_times(tmp_path: Path) -> None:
    _kill_loop(tmp_path, kills=10, seed=2)


def test_a_new_run_sweeps_temp_files_of_killed_writes(tmp_path: Path) -> None:
    from dnne_robot.session.checkpoints import sweep_partial_writes

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / ".checkpoint_000000000016.pt.abc123.tmp.pt").write_bytes(b"PK\x03")
    (folder / "checkpoint_000000000016.pt").write_bytes(b"kept")
    (folder / "notes.txt").write_text("kept")
    removed = sweep_partial_writes(folder)
    assert [p.name for p in removed] == [".checkpoint_000000000016.pt.abc123.tmp.pt"]
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint_000000000016.pt",
                                                        "notes.txt"]
