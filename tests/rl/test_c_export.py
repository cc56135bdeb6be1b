"""The C policy export: the generated C is compiled with the system cc and run, never mocked.

These tests need a C compiler and fail (not skip) without one: CI has Debian's gcc.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dnne_robot.rl import (
    ActionSpec,
    ActorCritic,
    CExportError,
    DeployPolicy,
    ExportParityError,
    export_c_policy,
)
from dnne_robot.rl.c_export import (
    ERROR_CODES,
    FILES,
    compile_c,
    describe,
    find_compiler,
    harness_source,
    run_policy,
)
from dnne_robot.rl.c_export.codegen import Provenance, header, source

SPECS = {
    "discrete": ActionSpec.discrete(4),
    "clip": ActionSpec.continuous([-1.0, -0.5, 0.0], [1.0, 0.5, 2.0]),
    "squash": ActionSpec.continuous([-2.0, 0.0, 0.0], [2.0, 1.0, 3.0], squash=True),
}
ACTIVATION = {"discrete": "tanh", "clip": "relu", "squash": "elu"}


@pytest.fixture(scope="module")
def cc():
    compiler = find_compiler()
    assert compiler is not None, ("the C policy tests need a C compiler (cc, gcc or clang, or "
                                  "$CC): CI has Debian's gcc; install it (apt install gcc)")
    return compiler


def trained_like(obs_dim: int, spec: ActionSpec, hidden=(64, 64), activation="tanh",
                 shared=False, normalize=True, head_scale=30.0) -> ActorCritic:
    """A policy whose actions reach the bounds and vary with the input."""
    torch.manual_seed(0)
    policy = ActorCritic(obs_dim, spec, hidden_sizes=hidden, activation=activation,
                         shared=shared, normalize_obs=normalize)
    with torch.no_grad():
        policy.actor_head.weight.mul_(head_scale)
        policy.actor_head.bias.normal_()
        for module in policy.actor_body:
            if isinstance(module, nn.Linear):
                module.bias.normal_(std=0.1)
    if policy.obs_rms is not None:
        policy.obs_rms.update(torch.randn(500, obs_dim) * torch.linspace(1.0, 6.0, obs_dim) + 3)
    return policy


def eager(policy: ActorCritic, obs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = DeployPolicy(policy)(torch.from_numpy(obs.astype(np.float32)))
    return out.to(torch.float64).numpy().reshape(len(obs), -1)


@pytest.mark.parametrize("shared", [False, True], ids=["separate", "shared"])
@pytest.mark.parametrize("kind", sorted(SPECS))
def test_parity_on_every_actor_kind(tmp_path: Path, cc, kind: str, shared: bool) -> None:
    policy = trained_like(6, SPECS[kind], activation=ACTIVATION[kind], shared=shared)
    recorded = torch.randn(64, 6) * 4 + 3
    report = export_c_policy(policy, tmp_path / "c", recorded_obs=recorded,
                             metadata={"task": "reach", "control_rate_hz": 50.0})
    assert report["parity"]["checked"] is True and report["parity"]["warnings"] == ""
    assert report["parity"]["rows"] == {"example": 4, "random": 10_000, "recorded": 64,
                                        "nonfinite": report["parity"]["rows"]["nonfinite"]}
    print(f"{kind} {'shared' if shared else 'separate'}: {report['max_abs_diff']}")  # -s
    assert max(report["max_abs_diff"].values()) < 1e-5, report["max_abs_diff"]
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == sorted([*FILES, "policy.json"])

    # Again, outside the export: the written files, built from scratch, on fresh observations.
    program = tmp_path / "parity"
    harness = tmp_path / "c" / "parity_main.c"
    harness.write_text(harness_source().read_text())
    assert compile_c(cc, [harness, tmp_path / "c" / "policy.c"], program) == ""
    obs = (np.random.default_rng(1).normal(size=(500, 6)) * 5 + 3).astype(np.float32)
    codes, actions = run_policy(program, obs, 1 if kind == "discrete" else 3)
    assert (codes == 0).all()
    want = eager(policy, obs)
    assert np.abs(actions - want).max() < 1e-5
    if kind == "clip":  # the bounds really are reached, and held
        assert (actions == np.array(SPECS[kind].high, np.float32)).any()
        assert (actions == np.array(SPECS[kind].low, np.float32)).any()


def test_without_a_normaliser_the_raw_observation_goes_in(tmp_path: Path, cc) -> None:
    policy = trained_like(5, SPECS["clip"], normalize=False, hidden=(16,))
    report = export_c_policy(policy, tmp_path / "c")
    assert max(report["max_abs_diff"].values()) < 1e-5
    text = (tmp_path / "c" / "policy.c").read_text()
    assert "OBS_MEAN" not in text and "no normaliser" in text


DIMS = [
    pytest.param(1, (1,), ActionSpec.discrete(1), id="1-1-discrete1"),
    pytest.param(1, (), ActionSpec.continuous(-1.0, 1.0, 1), id="1-nohidden-1"),
    pytest.param(3, (5, 7, 2), ActionSpec.discrete(3), id="3-5x7x2-discrete3"),
    pytest.param(256, (32,), ActionSpec.continuous(-1.0, 1.0, 256, squash=True),
                 id="256-32-256"),
    pytest.param(7, (256,), ActionSpec.discrete(256), id="7-256-discrete256"),
    pytest.param(256, (256, 256), ActionSpec.continuous(-2.0, 3.0, 256), id="256-256x256-256",
                 marks=pytest.mark.slow),
    pytest.param(48, (256, 256), ActionSpec.discrete(256), id="48-256x256-discrete256",
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("obs_dim", "hidden", "spec"), DIMS)
def test_dimensions_from_1_to_256(tmp_path: Path, cc, obs_dim, hidden, spec) -> None:
    policy = trained_like(obs_dim, spec, hidden=hidden, head_scale=3.0)
    report = export_c_policy(policy, tmp_path / "c")
    assert report["parity"]["checked"] and report["parity"]["warnings"] == ""
    assert report["parity"]["rows"]["random"] == 10_000
    print(f"{obs_dim} -> {hidden} -> {spec.dim}: {report['max_abs_diff']}")  # -s
    assert max(report["max_abs_diff"].values()) < 1e-5, report["max_abs_diff"]
    h = (tmp_path / "c" / "policy.h").read_text()
    assert f"#define POLICY_OBS_DIM {obs_dim}\n" in h
    assert f"#define POLICY_ACT_DIM {1 if spec.is_discrete else spec.dim} " in h


ARRAY = re.compile(r"static const float (\w+)\[[^=]*= \{(.*?)\};", re.S)


def c_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every ``static const float`` array in a generated policy.c, as float32 values."""
    out = {}
    for name, body in ARRAY.findall(path.read_text()):
        text = re.sub(r"[{}\s]", "", body)
        values = [math.inf if v == "INFINITY" else -math.inf if v == "-INFINITY"
                  else float(v.rstrip("f")) for v in text.split(",")]
        out[name] = np.asarray(values, dtype=np.float32)
    return out


def test_the_weights_are_the_checkpoints_bit_for_bit(tmp_path: Path) -> None:
    policy = trained_like(6, SPECS["squash"])
    checkpoint = tmp_path / "model.pt"
    policy.save(str(checkpoint))
    loaded = ActorCritic.load(str(checkpoint))
    report = export_c_policy(loaded, tmp_path / "c", checkpoint=checkpoint)
    arrays = c_arrays(tmp_path / "c" / "policy.c")
    state = {k: v.to(torch.float32).numpy() for k, v in loaded.state_dict().items()}
    linears = [k.removesuffix(".weight") for k in state
               if k.startswith(("actor_body", "actor_head")) and k.endswith(".weight")]
    digest = hashlib.sha256()
    for i, name in enumerate(linears):
        weight, bias = state[f"{name}.weight"], state[f"{name}.bias"]
        assert arrays[f"L{i}_WEIGHT"].tobytes() == np.ascontiguousarray(weight.T).tobytes()
        assert arrays[f"L{i}_BIAS"].tobytes() == bias.tobytes()
        digest.update(weight.astype("<f4").tobytes() + bias.astype("<f4").tobytes())
    assert arrays["OBS_MEAN"].tobytes() == loaded.obs_rms.mean.to(torch.float32).numpy().tobytes()
    assert arrays["ACTION_LOW"].tolist() == SPECS["squash"].low
    # The file records the parameters' sha256 and the source checkpoint's name and sha256.
    text = (tmp_path / "c" / "policy.c").read_text()
    assert digest.hexdigest() == report["weights_sha256"] and digest.hexdigest() in text
    checkpoint_sha = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert "Source checkpoint: model.pt" in text and checkpoint_sha in text
    sidecar = json.loads((tmp_path / "c" / "policy.json").read_text())
    assert sidecar["format"] == "c" and sidecar["file"] == "policy.c"
    assert sidecar["sha256"] == hashlib.sha256((tmp_path / "c" / "policy.c").read_bytes()
                                               ).hexdigest()
    assert sidecar["c"]["source_checkpoint"] == {"name": "model.pt", "sha256": checkpoint_sha}
    assert sidecar["files"] == report["files"]
    # The example pairs hold the eager actions, for a check on the target.
    examples = np.asarray([e["obs"] for e in sidecar["examples"]], np.float32)
    assert np.asarray([e["action"] for e in sidecar["examples"]]).tolist() == eager(
        loaded, examples).tolist()


ERRORS_C = textwrap.dedent("""
    #include <math.h>
    #include <stdio.h>
    #include "policy.h"
    #define CHECK(cond) do { if (!(cond)) { printf("failed: %s\\n", #cond); return 1; } } while (0)
    int main(void) {
        float obs[POLICY_OBS_DIM], action[POLICY_ACT_DIM], safe[POLICY_ACT_DIM];
        const float bad[3] = {NAN, INFINITY, -INFINITY};
        int i, k, b;
        for (k = 0; k < POLICY_OBS_DIM; ++k) obs[k] = 0.5f;
        for (b = 0; b < 3; ++b) for (i = 0; i < POLICY_OBS_DIM; ++i) {
            for (k = 0; k < POLICY_ACT_DIM; ++k) action[k] = 42.0f;
            obs[i] = bad[b];
            CHECK(policy_act(obs, action) == POLICY_ERR_NONFINITE_OBS);
            for (k = 0; k < POLICY_ACT_DIM; ++k) CHECK(action[k] == 42.0f);  /* untouched */
            obs[i] = 0.5f;
        }
        CHECK(policy_act(obs, action) == POLICY_OK);
        CHECK(policy_act(NULL, action) == POLICY_ERR_NULL);
        CHECK(policy_act(obs, NULL) == POLICY_ERR_NULL);
        policy_safe_action(safe);
        for (k = 0; k < POLICY_ACT_DIM; ++k) printf("%g ", safe[k]);
        printf("\\n");
        return 0;
    }
""")


@pytest.mark.parametrize("kind", ["discrete", "clip"])
def test_non_finite_input_returns_the_error_code(tmp_path: Path, cc, kind: str) -> None:
    spec = ActionSpec.continuous([0.5, -2.0, -3.0], [1.0, -1.0, 3.0]) if kind == "clip" else (
        SPECS[kind])
    export_c_policy(trained_like(6, spec), tmp_path)
    (tmp_path / "errors.c").write_text(ERRORS_C)
    compile_c(cc, [tmp_path / "errors.c", tmp_path / "policy.c"], tmp_path / "errors")
    proc = subprocess.run([str(tmp_path / "errors")], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout
    # The safe action: zeros clipped into the bounds, index 0 for a discrete space.
    assert proc.stdout.split() == (["0"] if kind == "discrete" else ["0.5", "-1", "0"])
    assert ERROR_CODES["POLICY_ERR_NONFINITE_OBS"][0] == 1


def test_an_overflowing_unbounded_action_is_an_error_not_an_inf(tmp_path: Path, cc) -> None:
    """An unbounded action that overflows returns POLICY_ERR_NONFINITE_ACTION, and the export
    refuses such a policy rather than writing it."""
    policy = ActorCritic(2, ActionSpec.continuous(-math.inf, math.inf, 2), hidden_sizes=(4,))
    with torch.no_grad():
        policy.actor_body[0].weight.fill_(1.0)  # every hidden unit tanh(10) = 1 ...
        policy.actor_head.weight.fill_(3e38)  # ... so each action sums 4 x 3e38: inf
    net = describe(DeployPolicy(policy))
    (tmp_path / "policy.h").write_text(header(net, Provenance()))
    (tmp_path / "policy.c").write_text(source(net, Provenance()))
    program = tmp_path / "run"
    (tmp_path / "parity_main.c").write_text(harness_source().read_text())
    compile_c(cc, [tmp_path / "parity_main.c", tmp_path / "policy.c"], program)
    codes, actions = run_policy(program, np.full((1, 2), 5.0, np.float32), 2)
    assert codes.tolist() == [ERROR_CODES["POLICY_ERR_NONFINITE_ACTION"][0]]
    assert np.isnan(actions).all()  # untouched
    with pytest.raises(ExportParityError, match="returned 2 on a finite"):
        export_c_policy(policy, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()


THREADS_C = textwrap.dedent("""
    #include <pthread.h>
    #include <stdio.h>
    #include <string.h>
    #include "policy.h"
    #define ROWS 512
    static float obs[ROWS][POLICY_OBS_DIM], want[ROWS][POLICY_ACT_DIM];
    static void *work(void *arg) {
        long bad = 0; int r, round; float got[POLICY_ACT_DIM];
        (void)arg;
        for (round = 0; round < 20; ++round) for (r = 0; r < ROWS; ++r) {
            policy_act(obs[(r + round) % ROWS], got);
            if (memcmp(got, want[(r + round) % ROWS], sizeof got)) ++bad;
        }
        return (void *)bad;
    }
    int main(void) {
        pthread_t t[8]; int r, k; long total = 0; void *bad;
        for (r = 0; r < ROWS; ++r) for (k = 0; k < POLICY_OBS_DIM; ++k)
            obs[r][k] = (float)((r * 7 + k * 13) % 29) - 14.0f;
        for (r = 0; r < ROWS; ++r) policy_act(obs[r], want[r]);
        for (k = 0; k < 8; ++k) pthread_create(&t[k], NULL, work, NULL);
        for (k = 0; k < 8; ++k) { pthread_join(t[k], &bad); total += (long)bad; }
        printf("%ld\\n", total);
        return total != 0;
    }
""")


def test_policy_act_is_thread_safe(tmp_path: Path, cc) -> None:
    export_c_policy(trained_like(6, SPECS["squash"]), tmp_path)
    (tmp_path / "threads.c").write_text(THREADS_C)
    compile_c(cc, [tmp_path / "threads.c", tmp_path / "policy.c"], tmp_path / "threads",
              extra=("-pthread",))
    proc = subprocess.run([str(tmp_path / "threads")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "0", proc.stdout
    text = (tmp_path / "policy.c").read_text()
    # Nothing to share: every array at file scope is const, and nothing is allocated.
    assert not re.search(r"^static (?!const|inline)", text, re.M)
    assert "malloc" not in text and re.findall(r"#include <(.*?)>", text) == ["math.h"]


def test_tanh_is_correctly_rounded_almost_everywhere(tmp_path: Path, cc) -> None:
    """tanh through a 1 -> 1 -> 1 actor: within one float32 ulp of the exact value."""
    policy = ActorCritic(1, ActionSpec.continuous(-math.inf, math.inf, 1), hidden_sizes=(1,),
                         normalize_obs=False)
    with torch.no_grad():
        for layer in (policy.actor_body[0], policy.actor_head):
            layer.weight.fill_(1.0)
            layer.bias.zero_()
    export_c_policy(policy, tmp_path / "c", num_random=10)
    (tmp_path / "c" / "parity_main.c").write_text(harness_source().read_text())
    compile_c(cc, [tmp_path / "c" / "parity_main.c", tmp_path / "c" / "policy.c"],
              tmp_path / "tanh")
    x = np.concatenate([np.linspace(-12, 12, 200_001), [0.0, -0.0, 1e-30, 9.0, 9.1, 9.2]])
    x = x.astype(np.float32)
    codes, got = run_policy(tmp_path / "tanh", x[:, None], 1)
    exact = np.tanh(x.astype(np.float64))
    rounded = exact.astype(np.float32)
    assert (codes == 0).all()
    assert np.abs(got[:, 0] - exact).max() <= np.spacing(np.float32(1.0))  # 1 ulp below 1
    assert (got[:, 0] != rounded).mean() < 1e-3


def test_unsupported_layers_are_refused_by_name(tmp_path: Path) -> None:
    policy = trained_like(4, SPECS["clip"], hidden=(8, 8))
    policy.actor_body[1] = nn.GELU()
    with pytest.raises(CExportError, match=r"actor_body\[1\] is GELU; the C export writes only "
                                           r"linear, tanh, relu, elu layers"):
        export_c_policy(policy, tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_without_a_compiler_the_check_is_skipped_and_says_so(tmp_path: Path, monkeypatch,
                                                             ) -> None:
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    report = export_c_policy(trained_like(4, SPECS["discrete"]), tmp_path / "c")
    assert report["parity"] == {"checked": False,
                                "reason": "no C compiler found (looked for $CC, cc, gcc, clang)"}
    assert report["max_abs_diff"] == {}
    readme = (tmp_path / "c" / "README.md").read_text()
    assert "**Not checked:** no C compiler found" in readme
    sidecar = json.loads((tmp_path / "c" / "policy.json").read_text())
    assert sidecar["parity"]["checked"] is False


def test_a_build_failure_names_the_compiler_and_writes_nothing(tmp_path: Path, cc, monkeypatch,
                                                               ) -> None:
    # -ffast-math would silently break the NaN check: policy.c refuses to build under it.
    monkeypatch.setenv("CC", f"{' '.join(cc.argv)} -ffast-math")
    with pytest.raises(CExportError, match="could not build.*build without -ffast-math"):
        export_c_policy(trained_like(4, SPECS["clip"]), tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_a_parity_failure_writes_nothing(tmp_path: Path, cc) -> None:
    out = tmp_path / "c"
    export_c_policy(trained_like(4, SPECS["discrete"]), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ExportParityError, match="differs from the eager policy") as err:
        export_c_policy(trained_like(4, SPECS["squash"]), out, atol=0.0)
    assert err.value.report["max_abs_diff"]["random"] > 0.0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_the_c_files_are_deterministic(tmp_path: Path, monkeypatch) -> None:
    """The same policy gives the same bytes (no dates, no paths, no dict order in the C)."""
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no compiler: the writing only
    policy = trained_like(5, SPECS["squash"], activation="elu", hidden=(16, 16))
    checkpoint = tmp_path / "model.pt"
    policy.save(str(checkpoint))
    for out in ("a", "b"):
        export_c_policy(ActorCritic.load(str(checkpoint)), tmp_path / out, checkpoint=checkpoint)
    for name in ("policy.h", "policy.c", "example_loop.c", "README.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
