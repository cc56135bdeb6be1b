"""A run applies the parameter-memory limit that ``validate`` applied: an export keeps
``export --max-param-memory``, and ``runner.py --max-param-memory`` or the environment
variable overrides it; a network over the limit stops the run with one line, before any of
it is allocated."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from dnne_robot.rl.limits import MAX_PARAM_MEMORY_ENV

from .test_faults import cartpole
from .test_integrity import one_error, run_batch


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from dnne_robot.pipeline import export

    root = tmp_path_factory.mktemp("limits")
    source = root / "wf.json"
    source.write_text(json.dumps(cartpole(hidden_sizes="2048,2048")))  # 134 MB training
    out = root / "out"
    export(source, out, max_param_memory="1GiB")
    jobs = {"small_limit": (out, ["train", "--steps", "16", "--run-dir", str(root / "run"),
                                  "--no-progress", "--max-param-memory", "100MB"])}
    return {"root": root, "out": out, "results": run_batch(root, jobs)}


def test_the_export_keeps_its_limit(runs: dict) -> None:
    assert '"max_param_memory": "1GiB"' in (runs["out"] / "runner.py").read_text()


def test_train_refuses_a_network_over_its_limit_in_one_line(runs: dict) -> None:
    line = one_error(runs["results"]["small_limit"])
    assert "node #3 'PPO Agent'" in line and "hidden_sizes (2048, 2048)" in line, line
    assert "over the limit of 95.4 MiB" in line and MAX_PARAM_MEMORY_ENV in line, line
    assert not (runs["root"] / "run" / "checkpoints").exists()


class _Probe:
    """A runner command that reports the limit it runs under."""

    name = "probe"
    seen: list[str | None] = []

    def add_parser(self, sub: Any, meta: dict[str, Any]) -> None:
        sub.add_parser(self.name)

    def run(self, args: Any, build_graph: Any, meta: dict[str, Any]) -> int:
        self.seen.append(os.environ.get(MAX_PARAM_MEMORY_ENV))
        return 0


@pytest.mark.parametrize(("option", "environment", "export", "used"), [
    (None, None, None, None),
    (None, None, "1GiB", "1GiB"),
    (None, "2GiB", "1GiB", "2GiB"),
    ("3GiB", "2GiB", "1GiB", "3GiB"),
])
def test_the_runner_limit_is_option_then_environment_then_export(
        monkeypatch: pytest.MonkeyPatch, option: str | None, environment: str | None,
        export: str | None, used: str | None) -> None:
    from dnne_robot.session.cli import main

    monkeypatch.setenv(MAX_PARAM_MEMORY_ENV, "restored afterwards")
    monkeypatch.delenv(MAX_PARAM_MEMORY_ENV)
    if environment is not None:
        monkeypatch.setenv(MAX_PARAM_MEMORY_ENV, environment)
    meta = {"kind": "ml", **({"max_param_memory": export} if export else {})}
    probe = _Probe()
    probe.seen.clear()
    argv = ["probe", *(["--max-param-memory", option] if option else [])]
    assert main(lambda ctx: None, meta, argv, commands=[probe]) == 0
    assert probe.seen == [used]
