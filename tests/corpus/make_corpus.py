"""Writes the hostile-workflow corpus: ``workflows/*.json`` and ``expected.json``.

    python tests/corpus/make_corpus.py

Every file gets the outcome it *should* have, decided here by rule and not by running the
exporter: ``"export"``, or ``{"refuse": <node id>}`` (an error naming that node, exit 1) or
``{"refuse": "file"}`` (the file cannot be read at all). ``tests/hardening/test_corpus.py``
checks ``dnne-robot validate`` and ``export`` against it, then runs every accepted export.

The base graphs are the shipped scenarios shrunk to run in about a second (2 envs, tiny
networks, a checkpoint after every update). Hostile payloads are strings that try to break
out of a Python string, comment or docstring, or of a Jinja template, and then create a file
named ``PWNED`` in the working directory; the tests assert that file never appears.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

MARKER = "PWNED"
CODE = f"__import__('pathlib').Path('{MARKER}').touch()"

#: name -> hostile string. Each is tried as a title, a node id, an input name and in every
#: string widget.
PAYLOADS: dict[str, str] = {
    "dquote": f'"); {CODE}; ("',
    "squote": f"'); {CODE}; ('",
    "triple_dquote": f'"""); {CODE}; ("""',
    "triple_squote": f"'''); {CODE}; ('''",
    "docstring_end": f'x"""\n{CODE}\n"""',
    "backslash_quote": f'x\\"); {CODE} #\\',
    "trailing_backslash": "x\\",
    "newline": f"x\n{CODE}\n",
    "crlf": f"x\r\n{CODE}\r\n",
    "cr": f"x\r{CODE}\r",
    "comment_break": f"x\n#\n{CODE}  # ",
    "unicode_line_sep": f"x\u2028{CODE}\u2029{CODE}",
    "nel": f"x\x85{CODE}",
    "formfeed_vtab": f"x\x0c\x0b{CODE}",
    "jinja_expr": "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}",
    "jinja_stmt": "{% set x = cycler.__init__.__globals__.os.popen('touch PWNED') %}x",
    "jinja_comment": "{# open comment {{ 7*7 }} {% raw %}",
    "jinja_close": "}} {% endraw %} #} %} {{",
    "fstring": "{__import__('pathlib').Path('PWNED').touch()}",
    "percent_format": "%(x)s %s {0} {}",
    "ansi_escape": "\x1b[2J\x1b[31mred\x1b[0m\x07",
    "control_chars": "".join(chr(c) for c in range(1, 32)) + "\x7f",
    "nul": "a\x00b",
    "lone_surrogate": "a\ud800b",
    "emoji_unicode": "🤖💥 ünïcødé 標題 \u202eRTL\u202c ﷽ 𝔘",
    "path_dotdot": "../../../../tmp/PWNED",
    "path_windows": "..\\..\\..\\PWNED",
    "path_absolute": "/tmp/PWNED",
    "dunder": "__init__",
    "keyword": "class",
    "long_100k": "A" * 100_000,
}

#: payloads that may not appear in a STRING widget (the validator refuses them).
BAD_IN_STRINGS = {"nul", "lone_surrogate"}
#: payloads a compact agent's save_path / resume_from refuses (outside the run folder).
BAD_AS_PATHS = BAD_IN_STRINGS | {"path_dotdot", "path_windows", "path_absolute", "long_100k"}


# ------------------------------------------------------------------------------ base graphs
def link(src: str, slot: int) -> list:
    return [src, slot]


def cartpole() -> dict:
    """The stream-style CartPole graph (scenarios/cartpole_ppo.api.json), shrunk."""
    return {
        "1": {"class_type": "IsaacGymEnvNode", "_meta": {"title": "CartPole Env"}, "inputs": {
            "env_name": "Cartpole", "num_envs": 2, "isaac_gym_path": "",
            "isaac_gym_envs_path": "", "headless": True, "device": "cpu",
            "physics_engine": "physx", "seed": 0, "engine": "auto", "vectorization": "sync"}},
        "2": {"class_type": "ORNode", "_meta": {"title": "Observation Merge"}, "inputs": {
            "input_a": link("1", 1), "input_b": link("5", 4)}},
        "3": {"class_type": "PPOAgentNode", "_meta": {"title": "PPO Agent"}, "inputs": {
            "hidden_sizes": "8,8", "activation": "tanh", "action_space": "discrete",
            "action_dim": 2, "learning_rate": 0.001, "observations": link("2", 0)}},
        "4": {"class_type": "CartpoleActionNode", "_meta": {"title": "Push Cart"}, "inputs": {
            "max_push_effort": 10.0, "policy": link("3", 0)}},
        "5": {"class_type": "IsaacGymStepNode", "_meta": {"title": "Sim Step"}, "inputs": {
            "sim_handle": link("1", 0), "actions": link("4", 0)}},
        "6": {"class_type": "CartpoleRewardNode", "_meta": {"title": "CartPole Reward"},
              "inputs": {"reset_dist": 2.4, "invert_for_loss": False,
                         "observations": link("5", 0)}},
        "7": {"class_type": "PPOTrainerNode", "_meta": {"title": "PPO Trainer"}, "inputs": {
            "horizon_length": 8, "num_epochs": 1, "minibatch_size": 16, "gamma": 0.98,
            "gae_lambda": 0.8, "clip_param": 0.2, "value_coef": 0.5, "entropy_coef": 0.0,
            "learning_rate": 0.001, "max_grad_norm": 0.5, "checkpoint_enabled": True,
            "checkpoint_trigger_type": "epoch", "checkpoint_trigger_value": "1",
            "state": link("5", 4), "policy_output": link("3", 0), "reward": link("6", 0),
            "done": link("5", 2), "model": link("3", 1)}},
    }


def mlp() -> dict:
    """Synthetic data -> two linear layers -> supervised trainer, in API form."""
    return {
        "1": {"class_type": "RegressionDataNode", "_meta": {"title": "Sine Data"}, "inputs": {
            "function": "sin", "input_dim": 1, "num_samples": 64, "batch_size": 16,
            "noise": 0.05, "seed": 0, "trigger": link("4", 1)}},
        "2": {"class_type": "LinearLayerNode", "_meta": {"title": "Hidden"}, "inputs": {
            "input": link("1", 0), "output_size": 8, "bias": True, "activation": "tanh",
            "dropout": 0.0}},
        "3": {"class_type": "LinearLayerNode", "_meta": {"title": "Output"}, "inputs": {
            "input": link("2", 0), "output_size": 1, "bias": True, "activation": "none",
            "dropout": 0.0}},
        "4": {"class_type": "SupervisedTrainerNode", "_meta": {"title": "Trainer"}, "inputs": {
            "predictions": link("3", 0), "targets": link("1", 1), "loss": "mse",
            "optimizer": "adam", "learning_rate": 0.01, "log_interval": 1}},
    }


def mlp_network() -> dict:
    """:func:`mlp` with a Network (MLP) node in place of the first layer."""
    graph = mlp()
    graph["2"] = {"class_type": "NetworkNode", "_meta": {"title": "MLP"}, "inputs": {
        "input": link("1", 0), "hidden_sizes": "8,8", "output_size": 8, "activation": "tanh"}}
    return graph


def compact() -> dict:
    """DNNE compact style: IsaacGymEnvs + PPOConfig -> PPOAgent, shrunk."""
    return {
        "1": {"class_type": "IsaacGymEnvs", "_meta": {"title": "Env Config"}, "inputs": {
            "task": "Cartpole", "dt": 0.0166, "num_envs": 2, "seed": 0, "headless": True}},
        "2": {"class_type": "PPOConfig", "_meta": {"title": "PPO Config"}, "inputs": {
            "learning_rate": 0.001, "num_epochs": 1, "minibatch_size": 32, "clip_param": 0.2,
            "value_loss_coef": 0.5, "entropy_coef": 0.0, "gamma": 0.98, "gae_lambda": 0.8,
            "max_grad_norm": 0.5, "horizon_length": 16, "max_iterations": 4,
            "lr_schedule": "linear"}},
        "3": {"class_type": "PPOAgent", "_meta": {"title": "PPO Agent"}, "inputs": {
            "env_config": link("1", 0), "ppo_config": link("2", 0), "max_iterations": 4,
            "checkpoint_interval": 1, "eval_interval": 0, "eval_episodes": 1,
            "log_interval": 1, "save_path": "runs/compact", "resume_from": ""}},
    }


def mlp_ui() -> dict:
    """``base_ui.json`` (a copy of scenarios/mlp_regression.json, UI format), shrunk."""
    data = json.loads((HERE / "base_ui.json").read_text())
    for node in data["nodes"]:
        if node["type"] == "RegressionDataNode":
            node["widgets_values"][2:4] = [64, 16]  # num_samples, batch_size
        if node["type"] == "LinearLayerNode" and node["widgets_values"][0] > 1:
            node["widgets_values"][0] = 8
    return data


BASES: dict[str, Callable[[], dict]] = {"cartpole": cartpole, "mlp": mlp,
                                        "mlp_network": mlp_network, "compact": compact}


def rename_node(graph: dict, old: str, new: str) -> dict:
    """An API prompt with node ``old`` renamed to ``new`` (links follow)."""
    out = {}
    for nid, entry in graph.items():
        entry = copy.deepcopy(entry)
        for name, value in entry["inputs"].items():
            if isinstance(value, list) and len(value) == 2 and value[0] == old:
                entry["inputs"][name] = [new, value[1]]
        out[new if nid == old else nid] = entry
    return out


# ------------------------------------------------------------------------------ the corpus
class Corpus:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.expected: dict[str, Any] = {}

    def add(self, name: str, data: Any, outcome: Any, *, raw: bytes | None = None) -> None:
        assert name not in self.files, name
        if raw is None:
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            try:
                raw = text.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: JSON carries it as \ud800
                raw = json.dumps(data, separators=(",", ":")).encode("ascii")
        self.files[name] = raw
        self.expected[name] = outcome

    def write(self, root: Path) -> None:
        """``root/workflows/*.json`` and ``root/expected.json``."""
        out = root / "workflows"
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        for name, raw in self.files.items():
            (out / name).write_bytes(raw)
        text = json.dumps(dict(sorted(self.expected.items())), indent=1, ensure_ascii=True)
        (root / "expected.json").write_text(text + "\n")


EXPORT = "export"


def refuse(node_id: str) -> dict:
    return {"refuse": node_id}


FILE = refuse("file")


def add_payloads(c: Corpus) -> None:
    """Each payload everywhere it is allowed (one file per payload and base graph), then in
    each place that must refuse it (one file per payload and place)."""
    for key, text in PAYLOADS.items():
        short = text[:2000]  # repeated placements: long enough to hurt, not 700 KB a file
        string_ok = key not in BAD_IN_STRINGS

        # cartpole: titles, ids, unknown input names, the two free-text Isaac paths
        g = cartpole()
        for nid, entry in g.items():
            entry["_meta"]["title"] = text if nid == "6" else short
            entry["inputs"][short + nid] = 1  # an unknown input: a warning, never code
        if string_ok:
            g["1"]["inputs"]["isaac_gym_path"] = text
            g["1"]["inputs"]["isaac_gym_envs_path"] = short
        for nid in ("6", "3"):
            g = rename_node(g, nid, short + nid)
        c.add(f"payload_{key}__cartpole.json", g, EXPORT)

        # mlp (API): titles and ids
        g = mlp()
        for nid, entry in g.items():
            entry["_meta"]["title"] = text if nid == "2" else short
        for nid in ("1", "2", "3", "4"):
            g = rename_node(g, nid, short + nid)
        c.add(f"payload_{key}__mlp.json", g, EXPORT)

        # compact: titles, ids, save_path where it stays inside the run folder
        g = compact()
        for nid, entry in g.items():
            entry["_meta"]["title"] = text if nid == "3" else short
        if key not in BAD_AS_PATHS:
            g["3"]["inputs"]["save_path"] = f"runs/{text}"
        g = rename_node(g, "2", short + "2")
        c.add(f"payload_{key}__compact.json", g, EXPORT)

        # UI format: titles, string ids, extra input sockets with hostile names
        ui = mlp_ui()
        ids = {n["id"]: f"{short}{n['id']}" for n in ui["nodes"]}
        for node in ui["nodes"]:
            node["title"] = text if node["id"] == 2 else short
            node["id"] = ids[node["id"]]
            node["inputs"].append({"name": short, "type": "INT", "link": None})
        for lk in ui["links"]:
            lk[1], lk[3] = ids[lk[1]], ids[lk[3]]
        c.add(f"payload_{key}__ui.json", ui, EXPORT)

        # places that must refuse it, each naming the node
        refusing: list[tuple[str, Callable[[], dict], str, str]] = [
            ("env_name", cartpole, "1", "env_name"),
            ("hidden_sizes", cartpole, "3", "hidden_sizes"),
            ("checkpoint_trigger", cartpole, "7", "checkpoint_trigger_value"),
            ("combo", cartpole, "3", "activation"),
            ("int_widget", cartpole, "1", "num_envs"),
            ("config_lr_schedule", compact, "2", "lr_schedule"),
            ("network_hidden_sizes", mlp_network, "2", "hidden_sizes"),
        ]
        for place, base, nid, field in refusing:
            if key == "long_100k" and place not in ("env_name", "checkpoint_trigger"):
                continue  # one 100 KB file per refusing rule is enough
            g = base()
            g[nid]["inputs"][field] = text
            c.add(f"payload_{key}__refused_{place}.json", g, refuse(nid))
        g = cartpole()
        g["6"]["class_type"] = short
        c.add(f"payload_{key}__refused_class_type.json", g, refuse("6"))
        if not string_ok:
            g = cartpole()
            g["1"]["inputs"]["isaac_gym_path"] = text
            c.add(f"payload_{key}__refused_string_widget.json", g, refuse("1"))
        for field in ("save_path", "resume_from"):
            g = compact()
            g["3"]["inputs"][field] = short if key in BAD_AS_PATHS else f"../{short}"
            c.add(f"payload_{key}__refused_{field}.json", g, refuse("3"))


def add_unreadable(c: Corpus) -> None:
    """Files that are not a workflow at all: refused as a whole."""
    good = json.dumps(cartpole()).encode()
    c.add("empty.json", None, FILE, raw=b"")
    c.add("whitespace.json", None, FILE, raw=b" \n\t\r\n ")
    c.add("bom_only.json", None, FILE, raw=b"\xef\xbb\xbf")
    for cut in (1, 50, len(good) // 2, len(good) - 1):
        c.add(f"truncated_at_{cut}.json", None, FILE, raw=good[:cut])
    c.add("trailing_comma.json", None, FILE, raw=good[:-1] + b",}")
    c.add("single_quotes.json", None, FILE, raw=b"{'1': {'class_type': 'ORNode'}}")
    c.add("comment.json", None, FILE, raw=b"// a workflow\n" + good)
    c.add("two_documents.json", None, FILE, raw=good + good)
    c.add("utf16.json", None, FILE, raw=good.decode().encode("utf-16"))
    c.add("latin1_bytes.json", None, FILE,
          raw=good.replace(b'"CartPole Env"', '"Caf\u00e9"'.encode("latin-1")))
    c.add("binary_noise.json", None, FILE, raw=bytes(range(256)) * 4)
    c.add("surrogate_bytes.json", None, FILE,  # CESU-8 / WTF-8: not UTF-8
          raw=good.replace(b'"CartPole Env"', b'"\xed\xa0\x80"'))
    c.add("nul_bytes.json", None, FILE, raw=b"\x00" * 64)
    for name, value in (("array", [cartpole()]), ("string", "workflow"), ("number", 7),
                        ("null", None), ("true", True), ("empty_array", [])):
        c.add(f"top_level_{name}.json", value, FILE)
    c.add("top_level_huge_number.json", None, FILE, raw=b"1e999")
    c.add("int_5000_digits.json", None, FILE,
          raw=good.replace(b'"num_envs": 2', b'"num_envs": 1' + b"0" * 5000))
    deep = b'{"1": {"class_type": "LinearLayerNode", "inputs": {"output_size": '
    deep += b"[" * 50_000 + b"]" * 50_000 + b"}}}"
    c.add("nested_lists_50k.json", None, FILE, raw=deep)
    deep_obj = b'{"1": {"class_type": "ORNode", "_meta": ' + b'{"a":' * 50_000
    deep_obj += b"1" + b"}" * 50_000 + b', "inputs": {}}}'
    c.add("nested_objects_50k.json", None, FILE, raw=deep_obj)
    c.add("ui_nodes_not_list.json", {"nodes": {"1": {}}, "links": []}, FILE)
    c.add("ui_links_not_list.json", {"nodes": [], "links": {"a": 1}}, FILE)
    c.add("ui_node_not_object.json", {"nodes": [[1, 2]], "links": []}, FILE)
    c.add("ui_node_without_id.json", {"nodes": [{"type": "ORNode"}], "links": []}, FILE)
    c.add("ui_link_too_short.json", {"nodes": [], "links": [[1, 2]]}, FILE)
    c.add("empty_object.json", {}, FILE)
    c.add("ui_no_nodes.json", {"nodes": [], "links": []}, FILE)


def add_bad_nodes(c: Corpus) -> None:
    """Readable files with a broken node: refused, naming it."""
    def api(name: str, edit: Callable[[dict], None], nid: str, base=cartpole) -> None:
        g = base()
        edit(g)
        c.add(name, g, refuse(nid))

    def widget(nid: str, field: str, value: Any) -> Callable[[dict], None]:
        return lambda g: g[nid]["inputs"].__setitem__(field, value)

    # the node entry itself
    api("node_is_number.json", lambda g: g.__setitem__("6", 5), "6")
    api("node_is_list.json", lambda g: g.__setitem__("6", ["CartpoleRewardNode"]), "6")
    api("class_type_missing.json", lambda g: g["6"].pop("class_type"), "6")
    api("class_type_number.json", widget_set("6", "class_type", 12), "6")
    api("class_type_empty.json", widget_set("6", "class_type", ""), "6")
    api("inputs_is_list.json", widget_set("6", "inputs", [1, 2]), "6")
    # wrong value types, one per widget type
    api("int_gets_string.json", widget("1", "num_envs", "8"), "1")
    api("int_gets_float.json", widget("1", "num_envs", 2.5), "1")
    api("int_gets_bool.json", widget("1", "num_envs", True), "1")
    api("int_gets_null.json", widget("1", "num_envs", None), "1")
    api("int_gets_object.json", widget("1", "num_envs", {"a": 1}), "1")
    api("float_gets_string.json", widget("6", "reset_dist", "2.4"), "6")
    api("float_gets_list.json", widget("6", "reset_dist", {"__value__": [2.4]}), "6")
    api("bool_gets_string.json", widget("6", "invert_for_loss", "true"), "6")
    api("bool_gets_int.json", widget("6", "invert_for_loss", 1), "6")
    api("combo_gets_number.json", widget("3", "activation", 1), "3")
    api("combo_wrong_case.json", widget("3", "activation", "TANH"), "3")
    api("string_gets_number.json", widget("3", "hidden_sizes", 64), "3")
    api("string_gets_list.json", widget("3", "hidden_sizes", {"__value__": [64, 64]}), "3")
    api("link_input_gets_value.json", widget("3", "observations", 1.0), "3")
    # huge and non-finite numbers
    api("int_1e308.json", widget("1", "num_envs", 1e308), "1")
    api("int_minus_1e308.json", widget("1", "num_envs", -1e308), "1")
    api("float_1e308.json", widget("3", "learning_rate", 1e308), "3")
    api("trainer_horizon_1e308.json", widget("7", "horizon_length", 1e308), "7")
    g = cartpole()
    raw = json.dumps(g).replace('"num_envs": 2', '"num_envs": 1' + "0" * 400)
    c.add("int_10_pow_400.json", None, refuse("1"), raw=raw.encode())
    raw = json.dumps(g).replace('"reset_dist": 2.4', '"reset_dist": 1' + "0" * 400)
    c.add("float_widget_10_pow_400.json", None, refuse("6"), raw=raw.encode())
    for lit in ("NaN", "Infinity", "-Infinity", "1e400", "-1e400"):
        raw = json.dumps(g).replace('"reset_dist": 2.4', f'"reset_dist": {lit}')
        c.add(f"float_{lit.strip('-').lower()}{'_neg' if lit[0] == '-' else ''}.json",
              None, refuse("6"), raw=raw.encode())
    raw = json.dumps(g).replace('"learning_rate": 0.001, "observations"',
                                '"learning_rate": NaN, "observations"')
    c.add("agent_lr_nan.json", None, refuse("3"), raw=raw.encode())
    api("checkpoint_trigger_inf.json", widget("7", "checkpoint_trigger_value", "inf"), "7")
    api("checkpoint_trigger_nan.json", widget("7", "checkpoint_trigger_value", "nan"), "7")
    api("checkpoint_trigger_1e400.json", widget("7", "checkpoint_trigger_value", "1e400"), "7")
    api("checkpoint_trigger_100k_digits.json",
        widget("7", "checkpoint_trigger_value", "1" * 100_000), "7")
    api("checkpoint_trigger_zero.json", widget("7", "checkpoint_trigger_value", "0"), "7")
    # negative and zero sizes
    api("num_envs_negative.json", widget("1", "num_envs", -1), "1")
    api("num_envs_zero.json", widget("1", "num_envs", 0), "1")
    api("action_dim_negative.json", widget("3", "action_dim", -2), "3")
    api("hidden_sizes_negative.json", widget("3", "hidden_sizes", "-64,64"), "3")
    api("hidden_sizes_zero.json", widget("3", "hidden_sizes", "0"), "3")
    api("hidden_sizes_empty.json", widget("3", "hidden_sizes", ""), "3")
    api("hidden_sizes_5000_digits.json", widget("3", "hidden_sizes", "9" * 5000), "3")
    api("hidden_sizes_arabic_digits.json", widget("3", "hidden_sizes", "\u0663\u0662"), "3")
    api("hidden_sizes_65_layers.json", widget("3", "hidden_sizes", ",".join(["4"] * 65)), "3")
    api("hidden_sizes_too_wide.json", widget("3", "hidden_sizes", "65537"), "3")
    api("horizon_zero.json", widget("7", "horizon_length", 0), "7")
    api("minibatch_negative.json", widget("7", "minibatch_size", -16), "7")
    api("output_size_negative.json", widget("2", "output_size", -5), "2", base=mlp)
    api("batch_size_zero.json", widget("1", "batch_size", 0), "1", base=mlp)
    g = mlp()
    g["1"]["inputs"]["batch_size"] = 1
    g["5"] = {"class_type": "BatchNormNode", "inputs": {"input": link("2", 0), "momentum": 0.1,
                                                        "eps": 1e-5}}
    g["3"]["inputs"]["input"] = link("5", 0)
    c.add("batchnorm_batch_of_one.json", g, refuse("5"))
    api("dropout_above_one.json", widget("2", "dropout", 1.5), "2", base=mlp)
    api("string_100001_chars.json", widget("1", "isaac_gym_path", "x" * 100_001), "1")
    api("string_with_nul.json", widget("1", "isaac_gym_path", "a\x00b"), "1")
    api("config_lr_schedule_unknown.json", widget("2", "lr_schedule", "cosine"), "2",
        base=compact)
    api("config_minibatch_below_dnne_minimum.json", widget("2", "minibatch_size", 16), "2",
        base=compact)
    api("save_path_empty.json", widget("3", "save_path", ""), "3", base=compact)
    api("save_path_dot_dot_inside.json", widget("3", "save_path", "runs/../../x"), "3",
        base=compact)
    api("resume_from_absolute.json", widget("3", "resume_from", "/etc/passwd"), "3",
        base=compact)
    api("resume_from_home.json", widget("3", "resume_from", "C:\\Users\\x\\ckpt.pt"), "3",
        base=compact)
    # links
    api("dangling_link.json", widget("6", "observations", ["99", 0]), "6")
    api("self_link.json", widget("3", "observations", ["3", 0]), "3")
    api("link_to_missing_slot.json", widget("6", "observations", ["5", 9]), "6")
    api("link_slot_negative.json", widget("6", "observations", ["5", -1]), "6")
    api("link_slot_huge.json", widget("6", "observations", ["5", 10**30]), "6")
    api("link_slot_fraction.json", widget("6", "observations", ["5", 1.5]), "6")
    api("link_slot_1e308.json", widget("6", "observations", ["5", 1e308]), "6")
    api("link_wrong_type.json", widget("7", "reward", ["5", 3]), "7")
    api("link_one_item.json", widget("6", "observations", ["5"]), "6")
    api("link_three_items.json", widget("6", "observations", ["5", 0, 0]), "6")
    api("missing_required_link.json", lambda g: g["7"]["inputs"].pop("done"), "7")
    api("missing_required_widget.json", lambda g: g["7"]["inputs"].pop("gamma"), "7")
    api("cycle_or_not_fed_from_outside.json", lambda g: g["2"]["inputs"].pop("input_a"), "2")
    g = mlp()
    g["2"]["inputs"]["input"] = ["3", 0]
    g["3"]["inputs"]["input"] = ["2", 0]
    c.add("cycle_of_layers.json", g, refuse("2"))
    dup = json.dumps(cartpole())[:-1] + ', "6": ' + json.dumps(cartpole()["6"]) + "}"
    c.add("duplicate_id.json", None, refuse("6"), raw=dup.encode())
    # a widget written twice: ComfyUI keeps the last value (here one the range check refuses)
    g = cartpole()
    text = json.dumps(g)
    gamma = f'"gamma": {json.dumps(g["7"]["inputs"]["gamma"])}'
    assert text.count(gamma) == 1
    dup = text.replace(gamma, f'{gamma}, "gamma": 7.5')
    c.add("duplicate_input_key.json", None, refuse("7"), raw=dup.encode())
    # UI format: the same facts stored three times, and hostile structure
    ui = mlp_ui()
    ui["nodes"].append(copy.deepcopy(ui["nodes"][1]))
    c.add("ui_duplicate_id.json", ui, refuse("2"))
    ui = mlp_ui()
    ui["links"].append([50, 2, 0, 2, 0, "TENSOR"])
    ui["nodes"][1]["inputs"][0]["link"] = 50
    c.add("ui_self_link.json", ui, refuse("2"))
    ui = mlp_ui()
    ui["links"][0][2] = 7
    ui["nodes"][0]["outputs"][0]["links"] = []
    c.add("ui_link_to_missing_slot.json", ui, refuse("2"))
    ui = mlp_ui()
    ui["nodes"][1]["widgets_values"] = [None] * 1000
    c.add("ui_widgets_all_null.json", ui, refuse("2"))
    ui = mlp_ui()
    ui["nodes"][1]["widgets_values"] = "64"
    c.add("ui_widgets_is_string.json", ui, refuse("2"))
    ui = mlp_ui()
    ui["nodes"][1]["mode"] = "never"
    c.add("ui_mode_is_string.json", ui, refuse("2"))
    ui = mlp_ui()
    ui["nodes"][1]["type"] = 5
    c.add("ui_type_is_number.json", ui, refuse("2"))


def widget_set(nid: str, key: str, value: Any) -> Callable[[dict], None]:
    return lambda g: g[nid].__setitem__(key, value)


def add_accepted(c: Corpus) -> None:
    """Odd but valid files: exported."""
    for name, base in BASES.items():
        c.add(f"plain_{name}.json", base(), EXPORT)
    c.add("plain_ui.json", mlp_ui(), EXPORT)
    c.add("utf8_bom.json", None, EXPORT,
          raw=b"\xef\xbb\xbf" + json.dumps(cartpole()).encode())
    g = cartpole()
    nested: Any = 1
    for _ in range(900):
        nested = [nested]
    g["5"]["inputs"]["deep_unknown"] = {"__value__": nested}
    g["5"]["_meta"]["deep"] = nested
    c.add("deep_nesting_in_ignored_fields.json", g, EXPORT)
    g = cartpole()
    g["1"]["inputs"]["isaac_gym_path"] = "x" * 100_000
    g["6"]["_meta"]["title"] = "T" * 100_000
    c.add("strings_of_100k.json", g, EXPORT)
    g = cartpole()
    g["1"]["inputs"]["seed"] = 2**31 - 1
    g["3"]["inputs"]["init_log_std"] = -20.0
    g["7"]["inputs"]["gamma"] = 1.0
    g["7"]["inputs"]["checkpoint_trigger_value"] = " 1 "
    c.add("numbers_at_their_limits.json", g, EXPORT)
    g = cartpole()
    for nid, new in (("1", "0"), ("2", "007"), ("3", "-1"), ("4", "1e3"), ("5", "\u00b2"),
                     ("6", "\u0661"), ("7", "9" * 4000)):
        g = rename_node(g, nid, new)
    c.add("numeric_looking_ids.json", g, EXPORT)
    g = cartpole()
    for nid, new in (("3", ""), ("6", " ")):
        g = rename_node(g, nid, new)
    c.add("blank_ids.json", g, EXPORT)
    g = mlp()
    for entry in g.values():
        entry["_meta"]["title"] = "Same Title"
    c.add("same_titles.json", g, EXPORT)
    g = mlp()
    g = rename_node(g, "2", "node_3")
    g = rename_node(g, "3", "Node3")
    c.add("clashing_names.json", g, EXPORT)
    g = cartpole()
    g["6"]["_meta"] = {"title": 1e308}
    g["5"]["_meta"] = {"title": ["a", "list"]}
    g["4"]["_meta"] = "not an object"
    c.add("odd_meta.json", g, EXPORT)
    g = cartpole()
    g["1"]["inputs"]["env_name"] = "os:Evil-v0"  # looks like a gym id: checked when made
    c.add("env_name_module_id.json", g, EXPORT)
    g = cartpole()
    g["1"]["inputs"]["env_name"] = "/nonexistent/robot.urdf"  # a model file: read at run time
    c.add("env_name_model_file.json", g, EXPORT)
    ui = mlp_ui()
    ui["links"].append([99, 2, 0, 77, 0, "TENSOR"])
    c.add("ui_dangling_link.json", ui, EXPORT)
    ui = mlp_ui()
    ui["nodes"][1]["mode"] = 10**400
    c.add("ui_mode_huge.json", ui, EXPORT)
    ui = mlp_ui()
    ui["links"] = None
    c.add("ui_links_null_rebuilt.json", ui, EXPORT)

    # 10,000 nodes: data -> 9,998 linear layers -> trainer (must export, and fast)
    n = 10_000
    chain = {"1": {"class_type": "RegressionDataNode", "inputs": {
        "function": "sin", "input_dim": 1, "num_samples": 32, "batch_size": 16, "noise": 0.0,
        "seed": 0, "trigger": [str(n), 1]}}}
    for i in range(2, n):
        chain[str(i)] = {"class_type": "LinearLayerNode", "inputs": {
            "input": [str(i - 1), 0], "output_size": 4 if i < n - 1 else 1, "bias": True,
            "activation": "none", "dropout": 0.0}}
    chain[str(n)] = {"class_type": "SupervisedTrainerNode", "inputs": {
        "predictions": [str(n - 1), 0], "targets": ["1", 1], "loss": "mse",
        "optimizer": "adam", "learning_rate": 0.01, "log_interval": 1}}
    c.add("chain_10000_nodes.json", chain, EXPORT)


def build() -> Corpus:
    c = Corpus()
    add_unreadable(c)
    add_bad_nodes(c)
    add_accepted(c)
    add_payloads(c)
    return c


def main() -> None:
    c = build()
    c.write(HERE)
    outcomes = [v if isinstance(v, str) else "refuse" for v in c.expected.values()]
    print(f"{len(c.files)} files: {outcomes.count('export')} export, "
          f"{outcomes.count('refuse')} refuse")


if __name__ == "__main__":
    main()
