"""Naming widget values: from the file's widget inputs, else the catalog lookup."""

from __future__ import annotations

from dnne_robot.workflow import Link, WidgetInfo, load_workflow, read_workflow

from .catalog_stub import widgets
from .conftest import DATA
from .helpers import inp, node, out, ui

KSAMPLER_VALUES = [156680208700286, "randomize", 20, 8, "euler", "normal", 1]
KSAMPLER_NAMED = {
    "seed": 156680208700286,
    "steps": 20,
    "cfg": 8,
    "sampler_name": "euler",
    "scheduler": "normal",
    "denoise": 1,
}


def _ksampler(inputs=None, values=KSAMPLER_VALUES):
    return ui([node(3, "KSampler", inputs or [], [out("LATENT", "LATENT")], values)], [])


def test_control_after_generate_is_skipped_with_the_catalog_flag() -> None:
    wf = load_workflow(DATA / "comfy_seed_ui04.json", widgets=widgets)
    sampler = wf.nodes["3"]
    assert {k: v for k, v in sampler.inputs.items() if not isinstance(v, Link)} == KSAMPLER_NAMED
    assert sampler.extra_widgets == []
    assert sampler.inputs["latent_image"] == Link("5", 0, "3", "latent_image", "LATENT", 2)


def test_control_value_is_skipped_by_the_seed_heuristic_when_there_is_a_spare_value() -> None:
    def no_flags(class_type: str, n_values: int | None = None):
        found = widgets(class_type)
        return None if found is None else [WidgetInfo(w.name) for w in found]

    wf = read_workflow(_ksampler(), widgets=no_flags)
    assert wf.nodes["3"].inputs == KSAMPLER_NAMED


def test_no_names_no_lookup_keeps_values_unnamed() -> None:
    wf = read_workflow(_ksampler())
    assert wf.nodes["3"].inputs == {}
    assert wf.nodes["3"].extra_widgets == KSAMPLER_VALUES
    assert any("no widget names known" in n for n in wf.notes)


def test_file_without_control_value_is_not_shifted() -> None:
    values = [5, 20, 8, "euler", "normal", 1]
    wf = read_workflow(_ksampler(values=values), widgets=widgets)
    assert wf.nodes["3"].inputs == dict(KSAMPLER_NAMED, seed=5)


def test_old_file_listing_only_converted_widgets_uses_the_catalog() -> None:
    """Older frontends put only widgets converted to inputs in ``inputs``."""
    inputs = [inp("model", "MODEL"), inp("seed", "INT", 9, widget=True)]
    prim = node(9, "PrimitiveNode", [], [out("INT", "INT", [9])], [777, "increment"])
    data = ui([prim, node(3, "KSampler", inputs, [], KSAMPLER_VALUES)], [[9, 9, 0, 3, 1, "INT"]])
    wf = read_workflow(data, widgets=widgets)
    assert wf.nodes["3"].inputs == dict(KSAMPLER_NAMED, seed=777)
    # without a catalog: the one known name, the control value skipped, the rest unnamed
    bare = read_workflow(data)
    assert bare.nodes["3"].inputs == {"seed": 777}
    assert bare.nodes["3"].extra_widgets == [20, 8, "euler", "normal", 1]
    assert any("beyond the 1 widget names" in n for n in bare.notes)


def test_linked_widget_input_gets_the_link_not_the_value() -> None:
    src = node(1, "Src", [], [out("n", "INT", [4])])
    dst = node(
        2,
        "LinearLayerNode",
        [
            inp("input", "TENSOR"),
            inp("output_size", "INT", 4, widget=True),
            inp("bias", "BOOLEAN", None, widget=True),
        ],
        [],
        [64, True],
    )
    wf = read_workflow(ui([src, dst], [[4, 1, 0, 2, 1, "INT"]]))
    assert wf.nodes["2"].inputs == {
        "output_size": Link("1", 0, "2", "output_size", "INT", 4),
        "bias": True,
    }


def test_dict_widgets_values_are_keyed_by_name() -> None:
    values = {"output_size": 32, "bias": False, "activation": "relu", "dropout": 0.25}
    wf = read_workflow(ui([node(1, "LinearLayerNode", [], [], values)], []))
    assert wf.nodes["1"].inputs == values
    assert wf.nodes["1"].extra_widgets == []


def test_list_widget_value_in_a_ui_file_stays_a_list() -> None:
    data = ui([node(1, "X", [inp("sizes", "LIST", None, widget=True)], [], [[64, 64]])], [])
    assert read_workflow(data).nodes["1"].inputs == {"sizes": [64, 64]}


def test_lookup_returning_bare_names_is_tolerated() -> None:
    wf = read_workflow(_ksampler(values=[1, 2]), widgets=lambda t, n=None: ["a", "b"])
    assert wf.nodes["3"].inputs == {"a": 1, "b": 2}


def test_more_names_than_values_leaves_the_rest_unset() -> None:
    wf = read_workflow(_ksampler(values=[1, "fixed", 20]), widgets=widgets)
    assert wf.nodes["3"].inputs == {"seed": 1, "steps": 20}
