"""The catalog against the framework: every node type's ports are its class's ports."""

from __future__ import annotations

import importlib

import pytest

from dnne_robot.catalog import all_specs, get_spec, object_info
from dnne_robot.exporters.registry import EXPORTERS, get_exporter

SPECS = [s for s in all_specs() if s.exporter in EXPORTERS and not s.virtual]


def _base(spec):
    exporter = get_exporter(spec.exporter)
    module, _, name = exporter.base.partition(":")
    return getattr(importlib.import_module(f"dnne_robot.{module}"), name)


@pytest.mark.parametrize("spec", SPECS, ids=[s.class_type for s in SPECS])
def test_framework_class_has_the_catalog_ports(spec) -> None:
    cls = _base(spec)
    links = [i for i in spec.inputs if not i.is_widget and not i.virtual]
    if not hasattr(cls, "INLINED"):  # a mixin takes its host's ports
        want = [(i.name, i.mode, not i.required) for i in links]
        got = [(p.name, p.mode, p.optional) for p in cls.INPUTS]
        assert got == want
        assert cls.OUTPUTS == tuple(o.name for o in spec.outputs)


@pytest.mark.parametrize("spec", SPECS, ids=[s.class_type for s in SPECS])
def test_every_constant_the_class_reads_is_a_widget(spec) -> None:
    """The class declares what it reads (``NAME: ClassVar[...]``); the node sets each one."""
    cls = _base(spec)
    exporter = get_exporter(spec.exporter)
    declared = {name for klass in cls.__mro__ for name in vars(klass).get("__annotations__", {})
                if name.isupper()}
    widgets = {w.name.upper() for w in spec.widgets}
    widgets |= set(exporter.derived)  # read from the graph: a network's layers, ...
    unset = {name for name in declared - widgets if not hasattr(cls, name)}
    assert not unset, f"{cls.__name__} reads {sorted(unset)}, which no widget sets"
    assert exporter.base, "every built-in node type has a framework class"


def test_aliases_find_their_spec() -> None:
    for spec in all_specs():
        for alias in spec.aliases:
            assert get_spec(alias) is spec


def test_object_info_lists_every_type_with_ordered_inputs() -> None:
    info = object_info()
    for spec in all_specs():
        entry = info[spec.class_type]
        order = entry["input_order"]["required"] + entry["input_order"]["optional"]
        assert order == [i.name for i in spec.inputs if i.required] + [
            i.name for i in spec.inputs if not i.required]
        assert entry["output_name"] == [o.name for o in spec.outputs]
