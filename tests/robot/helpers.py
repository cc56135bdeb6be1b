"""Subprocess and loopback helpers for the deploy tests: every socket is on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dnne_robot.robot.protocol import Endpoint, Message, MsgType

#: Runs a script as ``__main__`` with the simulators and dnne_robot made unimportable, the
#: way deploy.py runs on a robot computer that has only torch and numpy.
BLOCKED = ("gymnasium", "mujoco", "pybullet", "dnne_robot")
NO_SIM = (
    f"import runpy, sys; [sys.modules.__setitem__(m, None) for m in {BLOCKED!r}]; "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)
# Only dnne_robot is blocked: for runner.py and deploy.py --robot sim:ENGINE.
NO_TOOL = (
    "import runpy, sys; sys.modules['dnne_robot'] = None; "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def script_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONWARNINGS", None)
    return env


def command(script: str, *args: str, sim: bool = False) -> list[str]:
    return [sys.executable, "-c", NO_TOOL if sim else NO_SIM, script, *args]


def run_script(cwd: Path, script: str, *args: str, sim: bool = False,
               timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(command(script, *args, sim=sim), cwd=cwd, env=script_env(),
                          capture_output=True, text=True, timeout=timeout)


def start_script(cwd: Path, script: str, *args: str, sim: bool = False) -> subprocess.Popen:
    return subprocess.Popen(command(script, *args, sim=sim), cwd=cwd, env=script_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def last_json(text: str) -> dict[str, Any]:
    return json.loads(text.strip().splitlines()[-1])


class LineReader:
    """Reads a pipe without blocking past a deadline (``os.read`` on its descriptor)."""

    def __init__(self, pipe: Any) -> None:
        self.fd = pipe.fileno()
        self.text = ""

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        end = time.monotonic() + timeout
        while (match := re.search(pattern, self.text)) is None:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} within {timeout} s; got {self.text!r}")
            readable, _, _ = select.select([self.fd], [], [], left)
            if readable:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    raise AssertionError(f"pipe closed before {pattern!r}; got {self.text!r}")
                self.text += chunk.decode(errors="replace")
        return match


def start_server(export_dir: Path, *args: str) -> tuple[subprocess.Popen, int, LineReader]:
    """``runner.py serve-robot --port 0``; returns the process, its port and its stderr."""
    proc = start_script(export_dir, "runner.py", "serve-robot", "--port", "0", *args, sim=True)
    err = LineReader(proc.stderr)
    try:
        port = int(err.wait_for(r"at udp://127\.0\.0\.1:(\d+)", 60).group(1))
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, port, err


class FakeRobot:
    """A scripted robot in a thread: answers HELLO with OBS from ``obs_fn(k)`` every period
    and records the ACT and STOP messages it gets. It stops by itself after ``lifetime`` s.
    """

    def __init__(self, obs_fn: Callable[[int], np.ndarray], rate_hz: float = 50.0,
                 lifetime: float = 20.0) -> None:
        self.obs_fn = obs_fn
        self.period = 1.0 / rate_hz
        self.lifetime = lifetime
        self.endpoint = Endpoint("127.0.0.1", 0)
        self.acts: list[tuple[Message, int]] = []  # (ACT, k of the last OBS sent before it)
        self.stops = 0
        self.sent = 0
        self.peer: tuple[str, int] | None = None
        self.sending = True
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"udp://127.0.0.1:{self.endpoint.address[1]}"

    def __enter__(self) -> FakeRobot:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)
        self.endpoint.close()

    def _run(self) -> None:
        end = time.monotonic() + self.lifetime
        next_obs = time.monotonic()
        while not self._done.is_set() and time.monotonic() < end:
            self.endpoint.wait_readable(max(0.0, next_obs - time.monotonic()))
            for pkt in self.endpoint.receive():
                if pkt.msg.type == MsgType.HELLO:
                    self.peer = pkt.addr
                elif pkt.msg.type == MsgType.ACT:
                    self.acts.append((pkt.msg, self.sent))
                elif pkt.msg.type == MsgType.STOP:
                    self.stops += 1
            if time.monotonic() >= next_obs:
                next_obs += self.period
                if self.peer is not None and self.sending:
                    self.endpoint.send(MsgType.OBS, self.peer, self.obs_fn(self.sent))
                    self.sent += 1
