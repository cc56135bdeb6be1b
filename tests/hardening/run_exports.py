"""Runs many exported ``runner.py`` commands quickly, each in its own forked process.

    python run_exports.py < jobs.json > results.json

``jobs.json`` is a list of ``{"dir", "args", "cwd", "log", "timeout"}`` (and optionally
``max_file_bytes``: ``RLIMIT_FSIZE``, so writes past it fail as on a full disk). The driver imports
torch, numpy and gymnasium once (with ``dnne_robot`` made unimportable, as on a machine
without the tool), then forks one child per job: the child changes into ``cwd``, sends its
stdout and stderr to ``log`` (``.out`` / ``.err``), and runs ``dir/runner.py ARGS`` as
``__main__``. Each child is a fresh process as far as the export is concerned (nothing of
``framework`` or ``generated_nodes`` was imported before the fork), so this is an ordinary run
that skips the two seconds of importing torch. The result of each job is its exit code
(negative: killed by that signal; ``timeout`` seconds end it with SIGALRM), its run time and
the wall-clock time it ended.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
import time
import traceback


def _child(job: dict) -> None:
    code = 3
    try:
        os.chdir(job["cwd"])
        for fd, suffix in ((1, ".out"), (2, ".err")):
            target = os.open(job["log"] + suffix, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        signal.alarm(int(job.get("timeout", 60)))
        if job.get("max_file_bytes") is not None:  # a full disk, as far as this run can tell
            import resource

            limit = int(job["max_file_bytes"])
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        runner = os.path.join(job["dir"], "runner.py")
        sys.path.insert(0, job["dir"])
        sys.argv = [runner, *job["args"]]
        try:
            runpy.run_path(runner, run_name="__main__")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported through the log and exit code 3
        traceback.print_exc()
        code = 3
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def main() -> None:
    jobs = json.load(sys.stdin)
    parallel = int(os.environ.get("RUN_EXPORTS_PARALLEL", "2"))
    sys.modules["dnne_robot"] = None  # type: ignore[assignment] - exports must not need it
    import gymnasium  # noqa: F401
    import numpy  # noqa: F401
    import torch

    torch.set_num_threads(1)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # imports torch._dynamo (1.5 s)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401 - the learning-curve plot (1 s)
    except ImportError:
        pass
    results: list[dict | None] = [None] * len(jobs)
    pending = list(enumerate(jobs))
    running: dict[int, tuple[int, float]] = {}
    while pending or running:
        while pending and len(running) < parallel:
            index, job = pending.pop(0)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(job)
            running[pid] = (index, time.monotonic())
        pid, status = os.wait()
        index, started = running.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        results[index] = {"exit": code, "seconds": round(time.monotonic() - started, 3),
                          "ended": time.time()}
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
