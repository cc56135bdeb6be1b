"""The run context every node shares: settings, counters and the stop flag."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunContext:
    """What one run of a generated graph knows about itself.

    Attributes:
        command: the runner command (``train``, ``evaluate``, ...).
        seed: the run's seed; nodes derive their own seeds from it.
        max_steps: environment steps to run, or optimisation steps for a graph without an env.
        run_dir: where checkpoints, metrics and plots go.
        device: torch device name for the learning nodes.
        options: the rest of the command line (``--resume``, ``--num-envs``, ...).
        env_info: what the simulator node publishes about its task (spaces, dt, names).
        env_steps: environment steps taken so far (all envs counted).
        opt_steps: optimisation steps taken so far.
        stopping: set when the run must stop (Ctrl-C, a node error, a node's request).
        tracer: the trace recorder when ``--trace`` is on.
        interrupt: the signal (``"SIGINT"``, ``"SIGTERM"``) that asked for a stop at the next
            resumable point; see :meth:`stop_at_boundary`.
        boundary_nodes: ids of the nodes that call :meth:`stop_at_boundary` (trainers).
        interrupt_checkpoint: the checkpoint written at that point, once it is.
        record: what the session knows of the run for ``hparams.json`` (see :meth:`run_record`).
    """

    command: str = "train"
    seed: int = 0
    max_steps: int | None = None
    run_dir: Path = field(default_factory=lambda: Path("runs/latest"))
    device: str = "cpu"
    options: dict[str, Any] = field(default_factory=dict)
    env_info: dict[str, Any] = field(default_factory=dict)
    env_steps: int = 0
    opt_steps: int = 0
    stopping: bool = False
    stop_reason: str = ""
    tracer: Any = None
    summary: dict[str, Any] = field(default_factory=dict)
    checkpointer: Any = None
    progress: Any = None
    modules: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    interrupt: str | None = None
    boundary_nodes: set[str] = field(default_factory=set)
    interrupt_checkpoint: Any = None
    cancel_nodes: Any = None  # set by the graph runner: cancels every node's task
    completed: str | None = None  # why a node ended the run as complete (RunComplete)
    exit_code: int = 0
    record: dict[str, Any] = field(default_factory=dict)

    def register_module(self, node_id: str, module: Any) -> None:
        """Make a node's trainable module visible to the trainers in the graph."""
        self.modules[node_id] = module

    def parameters(self) -> list[Any]:
        """Trainable parameters of every registered module, in node-id order."""
        params = []
        for _, module in sorted(self.modules.items()):
            params.extend(p for p in module.parameters() if p.requires_grad)
        return params

    def run_record(self) -> dict[str, Any]:
        """What ``hparams.json`` says of the run besides a trainer's settings: the session's
        ``record`` (workflow, engine, task, device, overrides), the envs and the step budget."""
        return {**self.record, "num_envs": self.env_info.get("num_envs"),
                "steps": self.max_steps, "seed": self.seed}

    def notice(self, message: str) -> None:
        """A one-time note for the user (an ignored setting, a retargeted task)."""
        if message not in self.notices:
            self.notices.append(message)

    def budget_left(self) -> bool:
        """Whether the step budget allows another step."""
        steps = self.env_steps if self.env_info else self.opt_steps
        return self.max_steps is None or steps < self.max_steps

    def stop_at_boundary(self) -> bool:
        """Called by a trainer at a point a checkpoint resumes from exactly (right after an
        update, before the agent acts again). If a signal asked for a stop, write the
        checkpoint here, stop every node and return True; otherwise return False.

        Stopping anywhere else would leave an action drawn, or a rollout half collected,
        that the checkpoint cannot hold; a run resumed from this one ends with the weights
        of a run that was never interrupted.
        """
        if self.interrupt is None or self.stopping or not self.budget_left():
            return False  # (a run whose budget is spent just ends, as if never interrupted)
        if self.checkpointer is not None:
            self.interrupt_checkpoint = self.checkpointer.save("interrupted")
        self.request_stop(f"interrupted by {self.interrupt}")
        if self.cancel_nodes is not None:
            self.cancel_nodes()
        return True

    def complete(self, why: str, exit_code: int = 0) -> None:
        """End the run as complete (a node reached the graph's goal): every node stops."""
        if not self.stopping:
            self.completed = why
            self.exit_code = exit_code
        self.request_stop(f"complete: {why}")

    def request_stop(self, reason: str) -> None:
        """Ask the runner to stop every node (used for errors and interrupts)."""
        if not self.stopping:
            self.stopping = True
            self.stop_reason = reason
