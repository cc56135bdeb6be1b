"""The atheris target ``fuzz/fuzz_reader.py`` runs without atheris: replaying the corpus and
some byte noise through it raises nothing (CI does not depend on atheris)."""

from __future__ import annotations

import random
import subprocess
import sys

from .helpers import CORPUS, REPO, isolated_env


def test_fuzz_target_replays_the_corpus(tmp_path) -> None:
    rng = random.Random(0)
    files = sorted(str(p) for p in (CORPUS / "workflows").glob("*.json"))
    seeds = [p for p in files if "chain_10000" not in p]
    for i in range(40):  # byte-flipped corpus files: the mutations a fuzzer starts with
        raw = bytearray(open(rng.choice(seeds), "rb").read()[:4000])
        for _ in range(rng.randint(1, 8) if raw else 0):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        (tmp_path / f"mutant_{i}.json").write_bytes(bytes(raw))
    mutants = sorted(str(p) for p in tmp_path.glob("mutant_*.json"))
    for mode in ([], ["--deep"]):
        proc = subprocess.run(
            [sys.executable, str(REPO / "fuzz" / "fuzz_reader.py"), *mode, "--replay",
             *seeds, *mutants], capture_output=True, text=True, timeout=300,
            env={**isolated_env(), "PYTHONPATH": str(REPO)})
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert f"replayed {len(seeds) + len(mutants)} file(s)" in proc.stdout
