"""The hostile-workflow corpus: every file exports correctly or is refused cleanly.

``tests/corpus/expected.json`` gives each file's outcome. For every file, ``dnne-robot
validate`` and ``export`` must agree with it: exit 0, or exit 1 with an ``error:`` line that
names the node (never exit 2, never a traceback); nothing may be written outside the output
folder, and nothing named ``PWNED`` may appear. Every accepted file is then *run* from its
export (a short ``train``), and the marker must still not appear. The 10,000-node chain is
exported here (it must be fast) and run only in the slow tier.

The default tier checks a fixed sample (every sixth file, about 95, of which about 25 are
run); the slow tier (``-m slow``) checks every file. The fixtures export and run only the
files the session's selected tests ask for.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .helpers import CORPUS, HERE, MARKER, REPO, isolated_env

WORKFLOWS = CORPUS / "workflows"
EXPECTED: dict[str, Any] = json.loads((CORPUS / "expected.json").read_text())
CHAIN = "chain_10000_nodes.json"
ACCEPTED = sorted(n for n, want in EXPECTED.items() if want == "export")
NAMES = sorted(n for n in EXPECTED if n != CHAIN)  # the chain has tests of its own
SAMPLE = set(NAMES[::6])


def sampled(names: list[str]) -> list[Any]:
    """``names`` as parameters: the sample in the default tier, the rest in the slow tier."""
    return [pytest.param(n, marks=() if n in SAMPLE else pytest.mark.slow) for n in names]


def selected(request: pytest.FixtureRequest, *tests: str) -> list[str]:
    """The corpus files that this session's selected items of ``tests`` are about."""
    names = {item.callspec.params["name"] for item in request.session.items
             if getattr(item, "originalname", None) in tests and hasattr(item, "callspec")}
    return sorted(names)
#: accepted exports whose run must stop with one clean error line (exit 1)
RUN_FAILS = {
    "env_name_module_id.json": "unknown task or env id 'os:Evil-v0'",
    "env_name_model_file.json": "/nonexistent/robot.urdf",
}


def _markers(*roots: Path) -> list[str]:
    found = [str(p) for root in roots for p in root.rglob(f"*{MARKER}*")
             if p.name.startswith(MARKER)]
    if Path("/tmp", MARKER).exists():
        found.append(f"/tmp/{MARKER}")
    return found


@pytest.fixture(scope="module")
def sandbox_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if Path("/tmp", MARKER).exists():
        pytest.skip(f"/tmp/{MARKER} exists before the test; remove it")
    return tmp_path_factory.mktemp("corpus")


@pytest.fixture(scope="module")
def cli_results(request: pytest.FixtureRequest, sandbox_root: Path) -> dict[str, dict]:
    """validate + export of the selected corpus files (the sample at least), split over two
    worker processes."""
    names = sorted(SAMPLE.union(selected(request, "test_cli_outcome",
                                         "test_accepted_file_runs_and_stays_inert")))
    halves = [names[0::2], names[1::2]]
    procs = []
    for half in halves:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "corpus_cli.py"), str(CORPUS), str(sandbox_root)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**isolated_env(), "PYTHONPATH": str(REPO)}, cwd=sandbox_root)
        proc.stdin.write(json.dumps(half))
        proc.stdin.close()
        procs.append(proc)
    results: dict[str, dict] = {}
    for proc in procs:
        out = proc.stdout.read()
        err = proc.stderr.read()
        assert proc.wait(timeout=600) == 0, err[-3000:]
        results.update(json.loads(out))
    return results


def test_corpus_is_what_the_generator_writes(tmp_path: Path) -> None:
    sys.path.insert(0, str(CORPUS))
    try:
        import make_corpus
    finally:
        sys.path.remove(str(CORPUS))
    make_corpus.build().write(tmp_path)
    assert (tmp_path / "expected.json").read_text() == (CORPUS / "expected.json").read_text()
    written = sorted(p.name for p in (tmp_path / "workflows").iterdir())
    assert written == sorted(p.name for p in WORKFLOWS.iterdir())
    for name in written:
        assert (tmp_path / "workflows" / name).read_bytes() == (WORKFLOWS / name).read_bytes(), (
            f"{name} differs: run `python tests/corpus/make_corpus.py`")


def test_corpus_is_big_and_mixed() -> None:
    outcomes = [w if isinstance(w, str) else "refuse" for w in EXPECTED.values()]
    assert len(EXPECTED) >= 400
    assert outcomes.count("export") >= 100 and outcomes.count("refuse") >= 250


def _names_node(stderr: str, node_id: str) -> bool:
    errors = [line for line in stderr.splitlines() if line.startswith("error")]
    return any(f"node #{node_id} " in line or f": node {node_id}: " in line for line in errors)


@pytest.mark.parametrize("name", sampled(NAMES))
def test_cli_outcome(name: str, cli_results: dict[str, dict]) -> None:
    result = cli_results[name]
    assert "harness_error" not in result, result.get("harness_error")
    want = EXPECTED[name]
    for command in ("validate", "export"):
        code, stdout, stderr, exception = result[command]
        assert "Traceback" not in stdout + stderr, f"{command}: {stderr[-2000:]}"
        assert "internal error" not in stderr, f"{command}: {stderr[-2000:]}"
        assert exception in ("None", "SystemExit(0)", "SystemExit(1)"), f"{command}: {exception}"
        assert "\x1b" not in stderr, f"{command} printed a terminal escape sequence"
        if want == "export":
            assert code == 0, f"{command} refused: {stderr[-2000:]}"
        else:
            assert code == 1, f"{command} exit {code}: {stderr[-2000:]}"
            node = want["refuse"]
            if node == "file":
                first = stderr.splitlines()[0]
                assert first.startswith("error: ") and "node #" not in first, stderr[-2000:]
            else:
                assert _names_node(stderr, node), f"{command} does not name node {node}: " + (
                    stderr[-2000:])
    code, _, stderr, _ = result["convert"]  # reads without validating: 0, or 1 if unreadable
    assert "Traceback" not in stderr, stderr[-2000:]
    assert code == 0 or (code == 1 and stderr.startswith("error: ")), f"convert exit {code}: " + (
        stderr[-2000:])
    if "optimized" in result:
        code, _, stderr, _ = result["optimized"]
        assert code == 0 and "Traceback" not in stderr, f"export --optimize: {stderr[-2000:]}"
    assert result["validate_wrote"] == [], "validate wrote files"
    assert result["stray"] == [], f"written outside the output folder: {result['stray']}"
    if want == "export":
        assert sorted(map(tuple, result["runner_nodes"])) == sorted(
            map(tuple, result["manifest_nodes"])), "runner.py does not pass the workflow's ids "
        assert result["odd_characters"] == [], result["odd_characters"]


def _absorbed(class_type: Any) -> bool:
    """DNNE's config nodes are folded into the node they feed: runner.py has no node for them."""
    from dnne_robot.catalog import get_spec

    spec = get_spec(class_type) if isinstance(class_type, str) else None
    return spec is not None and spec.virtual


def test_api_titles_and_ids_survive_export_exactly(cli_results: dict[str, dict]) -> None:
    """The literal in runner.py evaluates to exactly the workflow's id and title."""
    checked = 0
    for name in sorted(set(ACCEPTED) & set(cli_results)):
        data = json.loads((WORKFLOWS / name).read_bytes().decode("utf-8-sig"))
        if "nodes" in data or name == CHAIN:
            continue
        want = sorted((nid, e["_meta"]["title"]) for nid, e in data.items()
                      if isinstance(e.get("_meta"), dict)
                      and isinstance(e["_meta"].get("title"), str)
                      and not _absorbed(e.get("class_type")))
        got = {tuple(x) for x in cli_results[name]["runner_nodes"]}
        assert set(want) <= got, name
        checked += 1
    assert checked >= 10


def test_no_marker_after_export(cli_results: dict[str, dict], sandbox_root: Path) -> None:
    assert _markers(sandbox_root) == []


def test_ten_thousand_nodes_export_fast(tmp_path: Path) -> None:
    """``dnne-robot export`` (which validates first) on a 10,000-node chain."""
    from typer.testing import CliRunner

    from dnne_robot.cli.app import app

    assert EXPECTED[CHAIN] == "export"
    t0 = time.perf_counter()
    result = CliRunner().invoke(app, ["export", str(WORKFLOWS / CHAIN), "-o",
                                      str(tmp_path / "out")])
    elapsed = time.perf_counter() - t0
    assert result.exit_code == 0, result.output[-2000:]
    assert "exported 10000 nodes" in result.stderr
    assert len(list((tmp_path / "out" / "generated_nodes").glob("node_*.py"))) == 10_000
    print(f"10,000-node chain exported in {elapsed:.1f} s")
    assert elapsed < 30


def test_hostile_workflow_file_name(tmp_path: Path) -> None:
    """The file name reaches the runner's docstring and META: it must stay inert too."""
    from dnne_robot.pipeline import export

    name = 'wf"""\n{{ 7*7 }}\'\'\'\\' + f"__import__('pathlib').Path('{MARKER}').touch()#.json"
    src = tmp_path / name
    shutil.copyfile(WORKFLOWS / "plain_mlp.json", src)
    export(src, tmp_path / "out")
    code = (tmp_path / "out" / "runner.py").read_text()
    compile(code, "runner.py", "exec")
    proc = subprocess.run(
        [sys.executable, "runner.py", "train", "--steps", "2", "--no-progress"],
        cwd=tmp_path / "out", env=isolated_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _markers(tmp_path) == []


# ------------------------------------------------------------------------------ running them
def _run_args(name: str, data: Any) -> list[str]:
    nodes = data["nodes"] if isinstance(data, dict) and "nodes" in data else data.values()
    types = {n.get("type") or n.get("class_type") for n in nodes if isinstance(n, dict)}
    if types & {"IsaacGymEnvNode", "IsaacGymEnvs"}:
        return ["train", "--steps", "16", "--no-progress", "--no-export-policy"]
    return ["train", "--steps", "2", "--no-progress"]


def _run_all(names: list[str], cli_results: dict, sandbox_root: Path) -> dict[str, dict]:
    jobs = []
    for name in names:
        assert cli_results[name]["export"][0] == 0, name
        sandbox = sandbox_root / name.removesuffix(".json")
        data = json.loads((WORKFLOWS / name).read_bytes().decode("utf-8-sig"))
        jobs.append({"dir": str(sandbox / "out"), "cwd": str(sandbox / "out"),
                     "args": _run_args(name, data), "log": str(sandbox / "run"),
                     "timeout": 120})
    proc = subprocess.run([sys.executable, str(HERE / "run_exports.py")],
                          input=json.dumps(jobs), capture_output=True, text=True,
                          env=isolated_env(), timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {}
    for name, job, res in zip(names, jobs, json.loads(proc.stdout), strict=True):
        res["stderr"] = Path(job["log"] + ".err").read_text(errors="replace")
        results[name] = res
    return results


@pytest.fixture(scope="module")
def run_results(request: pytest.FixtureRequest, cli_results: dict,
                sandbox_root: Path) -> dict[str, dict]:
    names = selected(request, "test_accepted_file_runs_and_stays_inert")
    return _run_all(names or sorted(SAMPLE & set(ACCEPTED)), cli_results, sandbox_root)


@pytest.mark.parametrize("name", sampled([n for n in ACCEPTED if n != CHAIN]))
def test_accepted_file_runs_and_stays_inert(name: str, run_results: dict[str, dict],
                                            sandbox_root: Path) -> None:
    result = run_results[name]
    stderr = result["stderr"]
    assert "Traceback" not in stderr, stderr[-3000:]
    if name in RUN_FAILS:
        assert result["exit"] == 1, stderr[-2000:]
        errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and RUN_FAILS[name] in errors[0], stderr[-2000:]
    else:
        assert result["exit"] == 0, stderr[-3000:]
    sandbox = sandbox_root / name.removesuffix(".json")
    stray = [p.name for p in sandbox.iterdir() if p.name not in {name, "out", "run.out",
                                                                  "run.err"}]
    assert stray == [], f"the run wrote outside its export: {stray}"
    assert _markers(sandbox) == []


def test_no_marker_after_runs(run_results: dict, sandbox_root: Path) -> None:
    assert _markers(sandbox_root) == []
    assert not Path(os.getcwd(), MARKER).exists()


@pytest.mark.slow
def test_ten_thousand_nodes_run(tmp_path: Path) -> None:
    from dnne_robot.pipeline import export

    export(WORKFLOWS / CHAIN, tmp_path / "out")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "runner.py", "train", "--steps", "2",
                           "--no-progress"], cwd=tmp_path / "out", env=isolated_env(),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"10,000-node chain: 2 optimisation steps in {time.perf_counter() - t0:.0f} s")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_cli_subprocess(name: str, tmp_path: Path) -> None:
    """The installed ``dnne-robot`` command itself (not CliRunner) on every file."""
    shutil.copyfile(WORKFLOWS / name, tmp_path / name)
    want = EXPECTED[name]
    for args in (["validate", name], ["export", name, "-o", "out"]):
        proc = subprocess.run([sys.executable, "-m", "dnne_robot.cli.app", *args],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300,
                              env={**isolated_env(), "PYTHONPATH": str(REPO)})
        assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-2000:]
        assert proc.returncode == (0 if want == "export" else 1), proc.stderr[-2000:]
    assert _markers(tmp_path) == []
