"""Rendering: a plan becomes the files of a standalone package, written atomically."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..exporters.jinja import environment
from ..exporters.literals import docstring_text, py_literal
from ..exporters.registry import get_exporter
from ..plan import Plan, PlannedNode

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
#: Framework packages copied into exports, in dependency order.
FRAMEWORK = ("runtime", "rl", "envs")
SIM_REQUIREMENTS = {
    "gymnasium": ["gymnasium>=1.1"],
    "mujoco": ["gymnasium>=1.1", "mujoco>=3.1"],
    "pybullet": ["gymnasium>=1.1", "pybullet>=3.2"],
}


class RenderError(Exception):
    """A template failed or produced invalid Python; names the template and the node."""


@dataclass
class RenderedPackage:
    files: dict[str, bytes]
    manifest: dict


def _const(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name).upper().strip("_") or "PARAM"


def node_context(node: PlannedNode, plan: Plan) -> dict:
    exporter = get_exporter(node.spec.exporter)
    spec = node.spec
    link_inputs = [i for i in spec.inputs if not i.is_widget]
    return {
        "id": node.id,
        "title": node.title,
        "class_type": node.node.class_type,
        "spec_type": spec.class_type,
        "class_name": node.class_name,
        "module": node.module,
        "description": spec.description or spec.display_name,
        "source": plan.source_name,
        "inputs": [(i.name, i.mode, not i.required) for i in link_inputs],
        "outputs": tuple(o.name for o in spec.outputs),
        "inputs_src": _inputs_src(link_inputs),
        "params": [(_const(w.name), node.params[w.name]) for w in spec.widgets],
        "p": node.params,
        "fused_from": node.fused_from,
        "plan": plan,
        **exporter.context(node, plan),
    }


def _inputs_src(link_inputs: list) -> str:
    """The ``INPUTS`` tuple, on one line when it fits (as a formatter would write it)."""
    calls = []
    for inp in link_inputs:
        args = [py_literal(inp.name)]
        if inp.mode != "each":
            args.append(f"mode={py_literal(inp.mode)}")
        if not inp.required:
            args.append("optional=True")
        calls.append(f"In({', '.join(args)})")
    one_line = "(" + ", ".join(calls) + ("," if len(calls) == 1 else "") + ")"
    if len(one_line) <= 80:
        return one_line
    return "(\n" + "".join(f"        {c},\n" for c in calls) + "    )"


def _async_compute(code: str) -> bool:
    """Whether the module's node class defines ``async def compute``."""
    return any(isinstance(n, ast.AsyncFunctionDef) and n.name == "compute"
               for n in ast.walk(ast.parse(code)))


def _natural(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _check_python(code: str, where: str) -> None:
    try:
        ast.parse(code)
    except SyntaxError as exc:
        raise RenderError(f"{where} produced invalid Python: {exc}") from exc


def module_nodes(plan: Plan) -> list[PlannedNode]:
    """Every node that gets a module: the plan's, plus the nodes an inline fused node extends
    and calls (``export --optimize``), which keep their own modules."""
    nodes = []
    for node in plan.nodes:
        if getattr(node, "kind", None) == "inline":
            nodes.extend(node.members)  # type: ignore[attr-defined]
        nodes.append(node)
    return nodes


def framework_packages(plan: Plan) -> list[str]:
    needed = {"runtime"}
    for node in module_nodes(plan):
        needed.update(get_exporter(node.spec.exporter).framework)
    return [p for p in FRAMEWORK if p in needed]


def requirements(plan: Plan) -> list[str]:
    reqs = {"numpy>=1.24", "tqdm>=4.60"}  # tqdm: the runner's progress bar
    for node in module_nodes(plan):
        reqs.update(get_exporter(node.spec.exporter).requirements_for(node, plan))
    if "envs" in framework_packages(plan):
        reqs.update(SIM_REQUIREMENTS[plan.sim])
    if plan.backend == "ray":
        reqs.add("ray[default]>=2.9")
    return sorted(reqs)


def _framework_files(packages: list[str]) -> dict[str, bytes]:
    files: dict[str, bytes] = {"framework/__init__.py": b'"""dnne-robot runtime, copied in."""\n'}
    for pkg in packages:
        root = PACKAGE_ROOT / pkg
        for path in sorted(root.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
                continue
            rel = path.relative_to(PACKAGE_ROOT).as_posix()
            files[f"framework/{rel}"] = path.read_bytes()
    return files


def render(plan: Plan, template_dirs: list[Path] | None = None) -> RenderedPackage:
    env = environment(template_dirs)
    files: dict[str, bytes] = {}
    node_files = {}
    for node in module_nodes(plan):
        exporter = get_exporter(node.spec.exporter)
        ctx = node_context(node, plan)
        if getattr(node, "kind", None) == "inline":
            host = files[f"generated_nodes/{node.host.module}.py"]  # type: ignore[attr-defined]
            ctx["host_async"] = _async_compute(host.decode())
        where = f"template {exporter.template!r} for node {node.node.label()}"
        try:
            code = env.get_template(exporter.template).render(**ctx)
        except Exception as exc:  # noqa: BLE001 - jinja raises many kinds
            raise RenderError(f"{where} failed: {type(exc).__name__}: {exc}") from exc
        code = exporter.post_process_code(code, node, plan)
        _check_python(code, where)
        path = f"generated_nodes/{node.module}.py"
        files[path] = code.encode()
        node_files[node.id] = path
    files["generated_nodes/__init__.py"] = b'"""One module per workflow node."""\n'

    packages = framework_packages(plan)
    reqs = requirements(plan)
    common = {
        "plan": plan,
        "nodes": [node_context(n, plan) for n in plan.nodes],
        # In the order ruff's isort wants (natural, so node_9 comes before node_10).
        "imports": sorted(((n.module, n.class_name) for n in plan.nodes),
                          key=lambda item: _natural(item[0])),
        "edges": _edges(plan),
        "source": plan.source_name,
        "source_doc": docstring_text(plan.source_name),
        "version": __version__,
        "requirements": reqs,
        "meta": _meta(plan),
    }
    templates = [("runner.py", "runner.py.jinja"), ("README.md", "README.md.jinja"),
                 ("requirements.txt", "requirements.txt.jinja")]
    if common["meta"]["kind"] == "rl":
        templates.append(("deploy.py", "deploy.py.jinja"))
    for name, template in templates:
        try:
            text = env.get_template(template).render(**common)
        except Exception as exc:  # noqa: BLE001
            raise RenderError(f"template {template!r} failed: {type(exc).__name__}: {exc}") from exc
        if name.endswith(".py"):
            _check_python(text, f"template {template!r}")
        files[name] = text.encode()
    files.update(_framework_files(packages))
    manifest = {
        "tool": "dnne-robot",
        "tool_version": __version__,
        "workflow": plan.source_name,
        "workflow_sha256": plan.workflow_hash,
        "sim": plan.sim,
        "backend": plan.backend,
        "optimized": plan.optimize,
        "nodes": {n.id: {"file": node_files[n.id], "class_type": n.node.class_type,
                         "title": n.title, **({"fused_from": n.fused_from} if n.fused_from else {})}
                  for n in plan.nodes},
        "notices": plan.notices,
        "framework": packages,
    }
    files["manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True,
                                         ensure_ascii=True) + "\n").encode()
    return RenderedPackage(dict(sorted(files.items())), manifest)


def _edges(plan: Plan) -> list[tuple[str, str, str, str]]:
    by_id = {n.id: n for n in plan.nodes}
    var = {n.id: n.var for n in plan.nodes}
    edges = []
    for node in plan.nodes:
        for name, link in node.links.items():
            src = by_id[link.source]
            edges.append((var[link.source], src.spec.outputs[link.source_slot].name,
                          node.var, name))
    return edges


def _meta(plan: Plan) -> dict:
    meta: dict = {"workflow": plan.source_name, "workflow_sha256": plan.workflow_hash,
                  "sim": plan.sim, "backend": plan.backend, "tool_version": __version__}
    from ..exporters.robotics import engine_of

    for node in module_nodes(plan):
        if node.spec.exporter in ("rl.ppo_agent", "rl.ppo_agent_compact"):
            meta.setdefault("agent_node", node.id)
        if node.spec.exporter == "robotics.sim_env":
            meta.setdefault("env_node", node.id)
            meta.setdefault("task", str(node.params["env_name"]))
            meta.setdefault("engine", engine_of(node, plan))
        if node.spec.exporter == "robotics.env_config":
            from ..envs import ISAAC_TASKS

            meta.setdefault("env_node", node.id)
            meta.setdefault("task", ISAAC_TASKS.get(node.params["task"], node.params["task"]))
            meta.setdefault("engine", plan.sim)
        if node.spec.exporter == "rl.ppo_agent_compact":
            meta["default_run_dir"] = str(node.params["save_path"])
            if node.params["resume_from"]:
                meta["resume_from"] = str(node.params["resume_from"])
    meta["kind"] = "rl" if "env_node" in meta else "ml"
    compact = any(n.spec.exporter == "rl.ppo_agent_compact" for n in plan.nodes)
    meta["default_steps"] = None if compact else 100_000 if meta["kind"] == "rl" else 2_000
    return meta


def write_package(pkg: RenderedPackage, out_dir: Path, *, force: bool = False) -> None:
    """Write atomically: a temporary sibling folder, then one rename into place."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not force:
        raise FileExistsError(f"{out_dir} exists and is not empty (use --force to replace it)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    backup = out_dir.with_name(f".{out_dir.name}.old")
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the export should not be
        for rel, data in pkg.files.items():
            target = (tmp / rel).resolve()
            if not target.is_relative_to(tmp.resolve()):
                raise RenderError(f"refusing to write {rel!r} outside the output folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if out_dir.exists():
            if backup.exists():
                shutil.rmtree(backup)
            os.replace(out_dir, backup)
            os.replace(tmp, out_dir)
            _remove(backup)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if backup.exists() and not out_dir.exists():
            os.replace(backup, out_dir)  # the old export stays where it was
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
