"""Rendering: a plan becomes the files of a standalone package, written atomically."""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..exporters.registry import get_exporter
from ..plan import Plan, PlannedNode
from .framework import (
    DEPLOY,
    GRAPH_COMMANDS,
    PACKAGE_ROOT,
    POLICY_COMMANDS,
    RAY,
    RUNNER,
    closure,
    data_files,
)
from .jinja import environment
from .literals import docstring_text, py_literal
from .output import check_output, write_tree
from .parameters import parameters_json


class RenderError(Exception):
    """A template failed or produced invalid Python; names the template and the node."""


@dataclass
class RenderedPackage:
    files: dict[str, bytes]
    manifest: dict


def node_context(node: PlannedNode, plan: Plan) -> dict:
    exporter = get_exporter(node.spec.exporter)
    spec = node.spec
    link_inputs = [i for i in spec.inputs if not i.is_widget]
    base_module, _, base_class = exporter.base.partition(":")
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
        "constants": exporter.constants(node, plan),
        "base_module": base_module,
        "base_class": base_class,
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
        if getattr(node, "kind", None) in ("inline", "loop"):
            nodes.extend(node.members)  # type: ignore[attr-defined]
        nodes.append(node)
    return nodes


def runner_parts(plan: Plan, meta: dict) -> list:
    """What ``runner.py`` and ``deploy.py`` import besides the generated nodes."""
    parts = [RUNNER]
    if meta["kind"] == "rl":
        parts += [POLICY_COMMANDS, DEPLOY]
    else:
        parts.append(GRAPH_COMMANDS)
    if plan.backend == "ray":
        parts.append(RAY)
    return parts


def framework_files(plan: Plan, meta: dict) -> dict[str, str]:
    """Every framework file the export carries (relative to ``framework/``), with why."""
    roots: dict[str, str] = {}
    for node in module_nodes(plan):
        exporter = get_exporter(node.spec.exporter)
        for module in exporter.modules(node, plan):
            roots.setdefault(module, f"node #{node.id} {node.title!r} ({node.spec.class_type})")
    for part in runner_parts(plan, meta):
        for module in part.modules:
            roots.setdefault(module, part.why)
    files = closure(roots)
    return {**files, **data_files(files)}


def requirements(plan: Plan) -> list[str]:
    reqs = {"numpy>=1.24", "tqdm>=4.60"}  # tqdm: the runner's progress bar
    for node in module_nodes(plan):
        reqs.update(get_exporter(node.spec.exporter).requirements_for(node, plan))
    if plan.backend == "ray":
        reqs.add("ray[default]>=2.9")
    return sorted(reqs)


def render(plan: Plan, template_dirs: list[Path] | None = None) -> RenderedPackage:
    env = environment(template_dirs)
    files: dict[str, bytes] = {}
    node_files = {}
    for node in module_nodes(plan):
        exporter = get_exporter(node.spec.exporter)
        ctx = node_context(node, plan)
        # A --templates folder may override one node type: nodes/<type>.py.jinja, named after
        # the exporter key ("flow.or_merge" -> nodes/or_merge.py.jinja).
        own = f"nodes/{node.spec.exporter.rpartition('.')[2]}.py.jinja"
        try:
            template = env.select_template([own, exporter.template])
        except Exception as exc:  # noqa: BLE001 - jinja raises many kinds
            raise RenderError(f"template {exporter.template!r} for node {node.node.label()} "
                              f"failed: {type(exc).__name__}: {exc}") from exc
        where = f"template {template.name!r} for node {node.node.label()}"
        try:
            code = template.render(**ctx)
        except Exception as exc:  # noqa: BLE001 - jinja raises many kinds
            raise RenderError(f"{where} failed: {type(exc).__name__}: {exc}") from exc
        code = exporter.post_process_code(code, node, plan)
        _check_python(code, where)
        path = f"generated_nodes/{node.module}.py"
        files[path] = code.encode()
        node_files[node.id] = path
    files["generated_nodes/__init__.py"] = b'"""One module per workflow node."""\n'

    meta = _meta(plan)
    parts = runner_parts(plan, meta)
    copied = framework_files(plan, meta)
    reqs = requirements(plan)
    common = {
        "plan": plan,
        "nodes": [node_context(n, plan) for n in plan.nodes],
        # In the order ruff's isort wants (natural, so node_9 comes before node_10).
        "imports": sorted(((n.module, n.class_name) for n in plan.nodes),
                          key=lambda item: _natural(item[0])),
        "framework_imports": sorted(line for part in parts for line in part.imports),
        "commands": [c for part in parts for c in part.commands],
        "backends": [b for part in parts for b in part.backends],
        "edges": _edges(plan),
        "wired": {f"node_{v}" for edge in _edges(plan) for v in (edge[0], edge[2])},
        "source": plan.source_name,
        "source_doc": docstring_text(plan.source_name),
        "version": __version__,
        "requirements": reqs,
        "meta": meta,
    }
    templates = [("runner.py", "runner.py.jinja"), ("README.md", "README.md.jinja"),
                 ("requirements.txt", "requirements.txt.jinja")]
    if DEPLOY in parts:
        templates.append(("deploy.py", "deploy.py.jinja"))
    for name, template in templates:
        try:
            text = env.get_template(template).render(**common)
        except Exception as exc:  # noqa: BLE001
            raise RenderError(f"template {template!r} failed: {type(exc).__name__}: {exc}") from exc
        if name.endswith(".py"):
            _check_python(text, f"template {template!r}")
        files[name] = text.encode()
    files["framework/__init__.py"] = b'"""dnne-robot framework, copied in."""\n'
    files["parameters.json"] = parameters_json(plan)
    for rel in copied:
        files[f"framework/{rel}"] = (PACKAGE_ROOT / rel).read_bytes()
    carried = carried_files(plan)
    for rel, (data, _) in carried.items():
        if rel in files:
            raise RenderError(f"{rel} is both a generated file and a file a node carries")
        files[rel] = data
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
        "framework": {f"framework/{rel}": why for rel, why in copied.items()},
        "files": {rel: {"sha256": hashlib.sha256(data).hexdigest(), "nodes": ids}
                  for rel, (data, ids) in carried.items()},
    }
    files["manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True,
                                         ensure_ascii=True) + "\n").encode()
    return RenderedPackage(dict(sorted(files.items())), manifest)


def carried_files(plan: Plan) -> dict[str, tuple[bytes, list[str]]]:
    """The files nodes carry (data files, user scripts): path -> (bytes, node ids)."""
    carried: dict[str, tuple[bytes, list[str]]] = {}
    for node in module_nodes(plan):
        for rel, data in get_exporter(node.spec.exporter).files(node, plan).items():
            target = Path(rel)
            if target.is_absolute() or ".." in target.parts:
                raise RenderError(f"node {node.node.label()} would write {rel!r} outside the "
                                  "package")
            if rel in carried and carried[rel][0] != data:
                raise RenderError(f"two nodes carry different files named {rel!r}: "
                                  f"#{carried[rel][1][0]} and #{node.id}")
            carried.setdefault(rel, (data, []))[1].append(node.id)
    return carried


def _edges(plan: Plan) -> list[tuple[str, str, str, str]]:
    """The queues to wire: every link that carries messages when the graph runs (several
    into one input each get one), none from or into a node that runs inside another."""
    by_id = {n.id: n for n in plan.nodes}
    edges = []
    for node in plan.nodes:
        for name, link in node.run_links():
            src = by_id.get(link.source)
            if src is None:  # a virtual node's output: structure the exporters read
                continue
            edges.append((src.var, src.spec.outputs[link.source_slot].name, node.var, name))
    return edges


def _meta(plan: Plan) -> dict:
    """``runner.py``'s ``META``: the plan's facts, then what the exporters say."""
    meta: dict = {"workflow": plan.source_name, "workflow_sha256": plan.workflow_hash,
                  "sim": plan.sim, "backend": plan.backend, "tool_version": __version__}
    for node in module_nodes(plan):
        for key, value in get_exporter(node.spec.exporter).meta(node, plan).items():
            meta.setdefault(key, value)
    if plan.max_param_memory is not None:  # its runs keep `export --max-param-memory`
        meta["max_param_memory"] = plan.max_param_memory
    meta["kind"] = "rl" if "agent_node" in meta else "ml"
    meta.setdefault("default_steps", 100_000 if meta["kind"] == "rl" else 2_000)
    return meta


def is_export(folder: Path) -> bool:
    """Whether ``folder`` holds an export this tool wrote (its ``manifest.json`` says so)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("tool") == "dnne-robot"


#: What an export writes besides its files' top-level names (a previous export's parts that
#: the new one may not have: its custom code, an old layout's folders).
EXPORT_OWNED = ("framework", "generated_nodes", "custom_code", "deploy.py", "runner.py",
                "manifest.json", "parameters.json", "requirements.txt", "README.md")


def write_package(pkg: RenderedPackage, out_dir: Path, *, force: bool = False) -> list[str]:
    """Write the export atomically (see :mod:`.output`); returns the kept user entries."""
    out_dir = Path(out_dir)
    check_output(out_dir, force=force, is_ours=is_export, what="an export")
    return write_tree(pkg.files, out_dir, owned=EXPORT_OWNED)
