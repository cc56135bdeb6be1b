"""The stages in order: read -> validate -> plan -> render -> write."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .catalog import get_spec
from .exporters.registry import get_exporter
from .plan import Plan, make_plan
from .plan.optimize import optimize_plan
from .render.package import render, write_package
from .validate import Problem, ValidationError, check_workflow
from .workflow import WidgetInfo, Workflow, load_workflow


def widget_lookup(class_type: str, n_values: int | None = None) -> list[WidgetInfo] | None:
    """The catalog's widget order, for UI files whose inputs do not name their widgets (an
    older layout of the type when ``n_values`` fits it and not the current one)."""
    spec = get_spec(class_type)
    if spec is None:
        return None
    current = [WidgetInfo(w.name, w.control_after_generate) for w in spec.widgets]
    if n_values is not None and n_values != len(current):
        for layout in spec.legacy_widgets:
            if len(layout) == n_values:
                return [WidgetInfo(name) for name in layout]
    return current


def port_lookup(class_type: str) -> tuple[list[str], list[str]] | None:
    """The catalog's link inputs and outputs, for nodes a file lists without ports."""
    spec = get_spec(class_type)
    if spec is None:
        return None
    return [i.name for i in spec.inputs if not i.is_widget], [o.name for o in spec.outputs]


@dataclass
class Checked:
    workflow: Workflow
    plan: Plan | None
    problems: list[Problem] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """Entries of a previous export (its runs, trained policies) kept by ``export --force``."""

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def _linked_widgets(plan: Plan) -> list[Problem]:
    problems = []
    for node in plan.nodes:
        for name in node.links:
            inp = node.spec.input(name)
            if inp is not None and inp.is_widget:
                problems.append(Problem(
                    f"a {inp.type} widget fed by a link is not supported; set its value",
                    node.id, node.title, node.node.class_type, name))
    return problems


def check(path: Path, *, ui_workflow: Path | None = None, sim: str = "gymnasium",
          backend: str = "local", optimize: bool = False,
          allow_custom_code: Path | None = None, max_param_memory: str | None = None) -> Checked:
    """Read and validate; the plan is built only when the graph has no errors.

    ``allow_custom_code`` is the folder user scripts (DNNE's Custom Computation) may come
    from; without it a graph that runs user code is refused. ``max_param_memory`` (``16GiB``,
    ``none``) replaces the networks' parameter-memory limit (see ``rl/limits.py``).
    """
    wf = load_workflow(path, ui_workflow=ui_workflow, widgets=widget_lookup, ports=port_lookup)
    problems = check_workflow(wf)
    if any(p.severity == "error" for p in problems):
        return Checked(wf, None, problems)
    plan = make_plan(wf, sim=sim, backend=backend, source_name=Path(path).name,
                     optimize=optimize)
    plan.workflow_dir = Path(path).resolve().parent
    plan.custom_code_dir = Path(allow_custom_code) if allow_custom_code is not None else None
    plan.max_param_memory = max_param_memory
    problems += _linked_widgets(plan)
    for node in (*plan.nodes, *plan.absorbed):
        problems += get_exporter(node.spec.exporter).validate_parameters(node, plan)
    if optimize:
        optimize_plan(plan)
    plan.notices[:] = list(dict.fromkeys(plan.notices))  # one notice per fact
    problems.extend(Problem(n, severity="warning") for n in plan.notices)
    problems.sort(key=lambda p: p.severity != "error")
    return Checked(wf, plan, problems)


def export(path: Path, out_dir: Path, *, ui_workflow: Path | None = None, sim: str = "gymnasium",
           backend: str = "local", optimize: bool = False, force: bool = False,
           templates: list[Path] | None = None, allow_custom_code: Path | None = None,
           max_param_memory: str | None = None) -> Checked:
    """Export ``path`` to ``out_dir``; raises ValidationError listing every problem."""
    checked = check(path, ui_workflow=ui_workflow, sim=sim, backend=backend, optimize=optimize,
                    allow_custom_code=allow_custom_code, max_param_memory=max_param_memory)
    if checked.errors or checked.plan is None:
        raise ValidationError(checked.problems)
    pkg = render(checked.plan, templates)
    checked.kept = write_package(pkg, out_dir, force=force)
    return checked
