"""Runtime overhead: what the queues cost next to plain function calls.

* **Pass-through chain.** Messages/s through a chain of N nodes that forward their input,
  against a loop that calls the same ``compute`` methods directly; and per-hop latency (p50,
  p99) with one message in flight.
* **Layer chain.** Batches/s through an exported chain of Linear layers, plain (one queue per
  layer) and ``--optimize`` (one fused ``nn.Sequential``), against a hand-written
  ``nn.Sequential`` called in a loop. Forward only, autograd off, one torch thread.
* **Training.** Steps/s of the mlp_regression export, plain and optimized, against a
  hand-written PyTorch training loop with the same model, data shape, loss and optimizer.

Every ratio is ``queue time / direct time`` from the same run: 1.0 means no overhead.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FUSED_GOAL = 1.2


# ----------------------------------------------------------------------------- pass-through chain
def _chain_graph(hops: int, messages: int, in_flight_one: bool):
    from dnne_robot.runtime import END, Graph, In, QueueNode, RunContext

    class Source(QueueNode):
        INPUTS = (In("ack", mode="gate"),) if in_flight_one else ()
        OUTPUTS = ("output",)
        REPEAT = True

        def setup(self) -> None:
            self.sent = 0

        def compute(self, ack=None):
            if self.sent >= messages:
                return END if in_flight_one else None
            self.sent += 1
            return {"output": time.perf_counter()}

    class Hop(QueueNode):
        INPUTS = (In("input"),)
        OUTPUTS = ("output",)

        def compute(self, input):
            return {"output": input}

    class Sink(QueueNode):
        INPUTS = (In("input"),)
        OUTPUTS = ("ack",)

        def setup(self) -> None:
            self.latencies: list[float] = []

        def compute(self, input):
            self.latencies.append(time.perf_counter() - input)
            return {"ack": None}

    graph = Graph(RunContext(command="bench"))
    nodes = [graph.add(Source("src", "source", graph.ctx))]
    nodes += [graph.add(Hop(f"h{i}", f"hop {i}", graph.ctx)) for i in range(hops)]
    nodes.append(graph.add(Sink("sink", "sink", graph.ctx)))
    for a, b in zip(nodes, nodes[1:], strict=False):
        graph.connect(a, "output", b, "input")
    if in_flight_one:
        graph.connect(nodes[-1], "ack", nodes[0], "ack")
    return graph, nodes


def pass_through(hops: int, messages: int) -> dict[str, Any]:
    from dnne_robot.runtime import GraphRunner

    graph, nodes = _chain_graph(hops, messages, in_flight_one=False)
    t0 = time.perf_counter()
    GraphRunner(graph).run()
    queue_s = time.perf_counter() - t0
    assert len(nodes[-1].latencies) == messages

    # The same work without queues: each message through every compute, one after the other.
    source, *middle, sink = nodes
    source.setup()
    sink.setup()
    t0 = time.perf_counter()
    for _ in range(messages):
        value = source.compute()["output"]
        for hop in middle:
            value = hop.compute(input=value)["output"]
        sink.compute(input=value)
    direct_s = time.perf_counter() - t0

    graph, nodes = _chain_graph(hops, min(messages, 5_000), in_flight_one=True)
    GraphRunner(graph).run()
    per_hop = sorted(x / (hops + 1) * 1e6 for x in nodes[-1].latencies)
    return {
        "hops": hops, "messages": messages,
        "queue_msgs_per_s": round(messages / queue_s),
        "direct_msgs_per_s": round(messages / direct_s),
        "ratio": round(queue_s / direct_s, 1),
        "per_hop_p50_us": round(statistics.median(per_hop), 1),
        "per_hop_p99_us": round(per_hop[int(0.99 * (len(per_hop) - 1))], 1),
    }


# ----------------------------------------------------------------------------- exported chains
def _layers_prompt(layers: int, width: int, in_dim: int) -> dict:
    prompt: dict[str, Any] = {"1": {
        "class_type": "RegressionDataNode", "_meta": {"title": "Data"},
        "inputs": {"function": "sin", "input_dim": in_dim, "num_samples": 1024,
                   "batch_size": 64, "noise": 0.05, "seed": 0}}}
    for i in range(2, layers + 2):
        last = i == layers + 1
        prompt[str(i)] = {"class_type": "LinearLayerNode", "_meta": {"title": f"Layer {i}"},
                          "inputs": {"input": [str(i - 1), 0], "output_size": 1 if last else width,
                                     "bias": True, "activation": "none" if last else "tanh",
                                     "dropout": 0.0}}
    prompt[str(layers + 2)] = {"class_type": "SupervisedTrainerNode", "_meta": {"title": "Fit"},
                               "inputs": {"predictions": [str(layers + 1), 0],
                                          "targets": ["1", 1], "loss": "mse",
                                          "optimizer": "adam", "learning_rate": 0.003,
                                          "log_interval": 100}}
    prompt["1"]["inputs"]["trigger"] = [str(layers + 2), 1]  # step_done: the next batch
    return prompt


def _worker(export_dir: str, batches: int, batch: int, width: int, in_dim: int) -> dict:
    """In a fresh interpreter: the export's layer nodes between a source and a sink."""
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    torch.manual_seed(0)
    sys.path.insert(0, export_dir)
    import runner  # the export's runner.py: its build_graph and node classes
    from framework.runtime import Graph, GraphRunner, In, QueueNode, RunContext

    manifest = json.loads((Path(export_dir) / "manifest.json").read_text())
    layer_ids = [i for i, n in manifest["nodes"].items()
                 if n["class_type"] not in ("RegressionDataNode", "SupervisedTrainerNode")]
    ctx = RunContext(command="bench")
    classes = [type(n) for n in runner.build_graph(ctx).nodes if n.node_id in layer_ids]
    data = [torch.randn(batch, in_dim) for _ in range(batches)]

    class Source(QueueNode):
        OUTPUTS = ("output",)
        REPEAT = True

        def setup(self) -> None:
            self.it = iter(data)

        def compute(self):
            x = next(self.it, None)
            return None if x is None else {"output": x}

    class Sink(QueueNode):
        INPUTS = (In("input"),)

        def compute(self, input):
            return {}

    def graph_run() -> float:
        ctx = RunContext(command="bench")
        graph = Graph(ctx)
        chain = [graph.add(Source("src", "source", ctx))]
        chain += [graph.add(cls(nid, nid, ctx)) for cls, nid in zip(classes, layer_ids,
                                                                    strict=True)]
        chain.append(graph.add(Sink("sink", "sink", ctx)))
        for a, b in zip(chain, chain[1:], strict=False):
            graph.connect(a, "output", b, "input")
        t0 = time.perf_counter()
        GraphRunner(graph).run()
        return time.perf_counter() - t0

    layers: list[nn.Module] = []
    n_layers = len(manifest["nodes"]) and sum(
        len(n.get("fused_from", [nid])) for nid, n in manifest["nodes"].items()
        if nid in layer_ids)
    widths = [in_dim] + [width] * (n_layers - 1) + [1]
    for i in range(n_layers):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < n_layers - 1:
            layers.append(nn.Tanh())
    model = nn.Sequential(*layers)  # what one would write by hand

    def direct_run() -> float:
        t0 = time.perf_counter()
        for x in data:
            model(x)
        return time.perf_counter() - t0

    graph_run(), direct_run()  # warm up: lazy builds, allocator, code paths
    graph_s = min(graph_run() for _ in range(3))
    direct_s = min(direct_run() for _ in range(3))
    return {"graph_s": graph_s, "direct_s": direct_s, "nodes_in_chain": len(classes)}


def _export(prompt: dict, out: Path, optimize: bool) -> Path:
    from dnne_robot.pipeline import export

    source = out.with_suffix(".json")
    source.write_text(json.dumps(prompt))
    export(source, out, optimize=optimize, force=True)
    return out


def _subprocess(args: list[str], cwd: Path | None = None, timeout: float = 600) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout


def layer_chain(layers: int, width: int, batch: int, batches: int, work: Path) -> dict[str, Any]:
    in_dim = 8
    prompt = _layers_prompt(layers, width, in_dim)
    row: dict[str, Any] = {"layers": layers, "width": width, "batch": batch, "batches": batches}
    for mode, optimize in (("plain", False), ("optimized", True)):
        out = _export(prompt, work / f"chain_{layers}_{width}_{mode}", optimize)
        text = _subprocess(["-c", f"import sys, json; sys.path.insert(0, {str(REPO)!r}); "
                                  "from bench.runtime_bench import _worker; "
                                  f"print(json.dumps(_worker({str(out)!r}, {batches}, {batch}, "
                                  f"{width}, {in_dim})))"])
        result = json.loads(text.strip().splitlines()[-1])
        row[f"{mode}_batches_per_s"] = round(batches / result["graph_s"])
        row[f"{mode}_ratio"] = round(result["graph_s"] / result["direct_s"], 2)
        row[f"{mode}_nodes"] = result["nodes_in_chain"]
        row["direct_batches_per_s"] = round(batches / result["direct_s"])
    return row


# ----------------------------------------------------------------------------- training loop
HAND_WRITTEN_TRAINING = '''
import math, sys, time, torch
from torch import nn
torch.set_num_threads(1)
torch.manual_seed(0)
steps = int(sys.argv[1])
gen = torch.Generator().manual_seed(0)
x = (torch.rand(2048, 1, generator=gen) * 2 - 1) * math.pi
y = torch.sin(x).sum(dim=1, keepdim=True) + 0.05 * torch.randn(2048, 1, generator=gen)
model = nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
opt = torch.optim.Adam(model.parameters(), lr=0.003)
loss_fn = nn.MSELoss()
order, cursor = torch.randperm(2048, generator=gen), 0
stamps = []
for step in range(steps):
    stamps.append(time.perf_counter())
    if cursor + 64 > 2048:
        order, cursor = torch.randperm(2048, generator=gen), 0
    idx = order[cursor:cursor + 64]
    cursor += 64
    loss = loss_fn(model(x[idx]), y[idx])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    final = float(loss.detach())
skip = steps // 10  # the first steps carry one-time costs (the first optimizer use)
print((steps - skip - 1) / (stamps[-1] - stamps[skip]))
'''


def training(steps: int, work: Path) -> dict[str, Any]:
    """mlp_regression: the export (plain, optimized) against the same loop written by hand.

    Steady-state steps/s, from one run each: the export runs with ``--trace`` and the rate is
    taken from the trainer's compute spans, the hand-written loop stamps each step; both skip
    the first 10% of steps, which carry one-time costs (torch's first optimizer construction
    alone takes seconds).
    """
    from dnne_robot.pipeline import export

    row: dict[str, Any] = {"graph": "mlp_regression", "steps": steps}
    script = work / "hand_written.py"
    script.write_text(HAND_WRITTEN_TRAINING)
    row["direct_steps_per_s"] = round(float(_subprocess([str(script), str(steps)]).strip()), 1)
    for mode, optimize in (("plain", False), ("optimized", True)):
        out = work / f"mlp_{mode}"
        export(REPO / "scenarios/mlp_regression.json", out, optimize=optimize, force=True)
        _subprocess(["runner.py", "train", "--steps", str(steps), "--seed", "0", "--run-dir",
                     "run", "--no-progress", "--trace", "trace.json"], cwd=out)
        events = json.loads((out / "trace.json").read_text())["traceEvents"]
        tid = next(e["tid"] for e in events if e["ph"] == "M" and "Trainer" in e["args"]["name"])
        starts = sorted(e["ts"] for e in events
                        if e["ph"] == "X" and e["tid"] == tid and e["name"] == "compute")
        skip = len(starts) // 10
        rate = (len(starts) - skip - 1) / ((starts[-1] - starts[skip]) / 1e6)
        row[f"{mode}_steps_per_s"] = round(rate, 1)
        row[f"{mode}_ratio"] = round(row["direct_steps_per_s"] / rate, 2)
    return row


def run(quick: bool = False) -> dict[str, Any]:
    messages = 5_000 if quick else 20_000
    chains = [pass_through(hops, messages) for hops in (1, 10, 100 if not quick else 30)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        batches = 500 if quick else 2_000
        layer_rows = [layer_chain(4, 64, 64, batches, work),
                      layer_chain(4, 256, 256, batches // 2, work)]
        train = training(1_000 if quick else 3_000, work)
    fused = max(r["optimized_ratio"] for r in layer_rows)
    return {"pass_through": chains, "layer_chain": layer_rows, "training": train,
            "goal": {"fused_ratio": FUSED_GOAL, "worst_fused_ratio": fused,
                     "met": fused <= FUSED_GOAL}}


def format_results(report: dict[str, Any]) -> str:
    lines = ["Pass-through chain (messages through N forwarding nodes):", "",
             "| hops | queue msg/s | direct-call msg/s | queue / direct time | "
             "per-hop p50 (µs) | per-hop p99 (µs) |", "|---:|---:|---:|---:|---:|---:|"]
    for r in report["pass_through"]:
        lines.append(f"| {r['hops']} | {r['queue_msgs_per_s']:,} | {r['direct_msgs_per_s']:,} | "
                     f"{r['ratio']}x | {r['per_hop_p50_us']} | {r['per_hop_p99_us']} |")
    lines += ["", "Layer chain, forward only (exported nodes between a source and a sink, "
              "against a hand-written `nn.Sequential` loop):", "",
              "| layers x width, batch | direct batch/s | plain: nodes, batch/s, ratio | "
              "optimized: nodes, batch/s, ratio |", "|---|---:|---:|---:|"]
    for r in report["layer_chain"]:
        lines.append(f"| {r['layers']} x {r['width']}, {r['batch']} | "
                     f"{r['direct_batches_per_s']:,} | {r['plain_nodes']}, "
                     f"{r['plain_batches_per_s']:,}, **{r['plain_ratio']}x** | "
                     f"{r['optimized_nodes']}, {r['optimized_batches_per_s']:,}, "
                     f"**{r['optimized_ratio']}x** |")
    t = report["training"]
    goal = report["goal"]
    lines += ["", f"Training ({t['graph']}, {t['steps']} steps, steady-state steps/s): "
              "hand-written loop "
              f"{t['direct_steps_per_s']}, plain export {t['plain_steps_per_s']} "
              f"(**{t['plain_ratio']}x**), optimized export {t['optimized_steps_per_s']} "
              f"(**{t['optimized_ratio']}x**).", "",
              f"Goal: the fused chain within {goal['fused_ratio']}x of the direct loop: "
              f"worst {goal['worst_fused_ratio']}x, {'met' if goal['met'] else 'NOT met'}."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_results(run(quick=True)))
