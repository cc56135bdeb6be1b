"""``runner.py train --backend ray``: the training session with rollouts on Ray workers."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..runtime import BOUNDARY_GRACE_S
from ..session import Outcome, TrainingSession
from .auth import use_auth_token_if_present
from .errors import DistributedError, import_ray
from .learner import DEFAULT_WORKERS, DistributedRun, RayCheckpointer


class RayBackend:
    """Rollouts on Ray workers, the update in this process (see the package docstring)."""

    name = "ray"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--workers", type=int, metavar="N",
                            help=f"Ray rollout workers (default {DEFAULT_WORKERS})")
        parser.add_argument("--envs-per-worker", type=int, metavar="M",
                            help="envs in each Ray worker (default: the env node's num_envs)")
        parser.add_argument("--address", metavar="ADDR",
                            help="join this Ray cluster (default: start Ray in this process)")

    def train(self, session: TrainingSession) -> Outcome:
        args, ctx, meta = session.args, session.ctx, session.meta
        if meta.get("kind") != "rl":
            raise DistributedError("--backend ray trains reinforcement-learning graphs only")
        if args.address:
            use_auth_token_if_present()  # before Ray is imported: it reads the mode once
        import_ray()
        for flag in ("trace", "profile", "debug_queues"):
            if getattr(args, flag, None):
                ctx.notice(f"--{flag.replace('_', '-')} is ignored under --backend ray")
        run = DistributedRun(
            ctx, session.graph, meta,
            workers=DEFAULT_WORKERS if args.workers is None else args.workers,
            envs_per_worker=args.envs_per_worker,
            address=args.address,
        )
        ctx.checkpointer = RayCheckpointer(session.graph, meta, run, keep=args.keep_checkpoints)
        reason = "error"
        try:
            t_start = time.perf_counter()
            run.setup(session.resume)
            session.announce_resume()
            if ctx.max_steps is not None and not run.budget_left():
                ctx.notice(
                    f"--steps {ctx.max_steps} leaves no room for a rollout of "
                    f"{run.batch_size} steps (T x workers x envs-per-worker): no update ran"
                )
            startup = time.perf_counter() - t_start
            start_steps = ctx.env_steps
            close_progress = session.start_progress()
            t0 = time.perf_counter()
            requested: list[str] = []  # a signal's name: stop after this iteration's update
            with _interrupts_at_iteration_end(requested):
                try:
                    reason = "done"
                    while run.budget_left():
                        run.iteration()
                        if requested and run.budget_left():  # the checkpoint resumes exactly
                            reason = "interrupted"
                            break
                except KeyboardInterrupt:  # a second signal: stop at once
                    reason = "interrupted"
                finally:
                    close_progress()
                    elapsed = time.perf_counter() - t0
            if reason == "interrupted":
                session.interrupted()
            elif ctx.checkpointer.last_path is None:
                ctx.checkpointer.save("end")  # while the workers, whose state it holds, live
        finally:
            run.close(reason)
        return Outcome(reason, elapsed, start_steps, summary={
            "backend": "ray",
            "workers": run.workers,
            "envs_per_worker": run.envs_per_worker,
            "worker_restarts": run.restarts,
            "startup_seconds": round(startup, 2),
        })


@contextmanager
def _interrupts_at_iteration_end(requested: list[str]) -> Iterator[None]:
    """SIGINT and SIGTERM: the first asks the loop to stop after the current iteration (the
    checkpoint then resumes exactly, as in the local runner); a second stops at once."""

    timers: list[threading.Timer] = []

    def interrupt(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if requested:
            raise KeyboardInterrupt(name)
        requested.append(name)
        print(f"{name}: stopping after the current iteration's update, where a checkpoint "
              "resumes exactly (send it again to stop now)", file=sys.stderr, flush=True)
        # No update within the grace period (a supervisor's SIGKILL follows its SIGTERM):
        # the signal again, which stops at once.
        timer = threading.Timer(BOUNDARY_GRACE_S, os.kill, (os.getpid(), signum))
        timer.daemon = True
        timer.start()
        timers.append(timer)

    sigs = (signal.SIGINT, signal.SIGTERM)
    try:
        previous = {sig: signal.signal(sig, interrupt) for sig in sigs}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for timer in timers:
            timer.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
