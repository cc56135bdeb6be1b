"""DNNE's data nodes, as its templates compute them: Tensor, the data sets, Batch Sampler,
Get Batch and Data Streamer."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.nn import init
from torch.utils.data import DataLoader

from dnne_robot.nodes.data import (
    BatchSamplerNode,
    CIFAR10DatasetNode,
    DataStreamerNode,
    GetBatchNode,
    MNISTDatasetNode,
    TensorNode,
)
from dnne_robot.nodes.datasets import load_mnist, write_cifar10, write_mnist
from dnne_robot.runtime import NodeError

from .helpers import GET_BATCH_STATS, Tap, configured, feed, graph, run, script

DTYPES = {"float32": torch.float32, "float64": torch.float64, "int32": torch.int32,
          "int64": torch.int64, "bool": torch.bool}


# ----------------------------------------------------------------------------- Tensor
def tensor_node(**constants: Any) -> type:
    defaults = {"TENSOR_DIMS": "2,3", "FILL_MODE": "zeros", "CUSTOM_FILL": 0.0,
                "DTYPE": "float32", "SEED": -1}
    return configured(TensorNode, **{**defaults, **constants})


def emitted(steps: int = 3, **constants: Any) -> list[torch.Tensor]:
    """What a Tensor node sends in a run of ``steps`` steps."""
    ctx, g = graph(max_steps=steps)
    source = g.add(tensor_node(**constants)("1", "tensor", ctx))
    tap = g.add(Tap("2", "tap", ctx))
    g.connect(source, "tensor", tap, "x")
    assert run(g) == "done"
    return tap.seen


def dnne_tensor(dims: tuple[int, ...], mode: str, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """DNNE's tensor_queue.tpl ``_generate_tensor`` for a random mode with a seed."""
    torch.manual_seed(seed)
    tensor = torch.empty(dims, dtype=dtype)
    if mode == "uniform":
        init.uniform_(tensor, a=-1.0, b=1.0)
    elif mode == "normal":
        init.normal_(tensor, mean=0.0, std=1.0)
    elif len(dims) >= 2:
        {"kaiming_normal": lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"),
         "kaiming_uniform": lambda t: init.kaiming_uniform_(t, mode="fan_out",
                                                            nonlinearity="relu"),
         "xavier_normal": init.xavier_normal_, "xavier_uniform": init.xavier_uniform_}[mode](tensor)
    elif mode == "kaiming_normal":
        init.normal_(tensor, mean=0.0, std=2.0 / (dims[0] ** 0.5))
    elif mode == "kaiming_uniform":
        bound = (6.0 / dims[0]) ** 0.5
        init.uniform_(tensor, a=-bound, b=bound)
    elif mode == "xavier_normal":
        init.normal_(tensor, mean=0.0, std=(2.0 / dims[0]) ** 0.5)
    else:
        bound = (3.0 / dims[0]) ** 0.5
        init.uniform_(tensor, a=-bound, b=bound)
    return tensor


@pytest.mark.parametrize(("dims", "shape"), [
    ("2,3", (2, 3)), ("[2,3]", (2, 3)), ("[2, 3, 4]", (2, 3, 4)),
    ("4", (4,)),  # DNNE uses the dims as written: "4" is 1-D, no batch axis added
    (" 5 ", (5,)),
])
def test_tensor_dims_are_used_as_written(dims: str, shape: tuple[int, ...]) -> None:
    (tensor,) = emitted(steps=1, TENSOR_DIMS=dims)
    assert tuple(tensor.shape) == shape and tensor.dtype == torch.float32


@pytest.mark.parametrize(("mode", "fill", "dtype", "value"), [
    ("zeros", 7.0, "float32", 0.0), ("ones", 7.0, "float64", 1.0),
    ("custom", 2.5, "float32", 2.5), ("custom", -3.8, "int32", -3),  # torch.full truncates
    ("ones", 0.0, "int64", 1), ("ones", 0.0, "bool", True), ("zeros", 0.0, "bool", False),
])
def test_constant_fills(mode: str, fill: float, dtype: str, value: Any) -> None:
    seen = emitted(steps=3, TENSOR_DIMS="2,3", FILL_MODE=mode, CUSTOM_FILL=fill, DTYPE=dtype)
    expected = torch.full((2, 3), value, dtype=DTYPES[dtype])
    assert len(seen) == 3
    for tensor in seen:
        assert tensor.dtype == DTYPES[dtype] and torch.equal(tensor, expected)
    if dtype == "bool":
        seen[0].logical_not_()
    else:
        seen[0].add_(1)
    assert torch.equal(seen[1], expected)  # each emission is its own copy


RANDOM_MODES = ("uniform", "normal", "kaiming_normal", "kaiming_uniform", "xavier_normal",
                "xavier_uniform")


@pytest.mark.parametrize("mode", RANDOM_MODES)
@pytest.mark.parametrize(("dims", "shape"), [("5,10", (5, 10)), ("40", (40,))])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_seeded_random_mode_emits_dnne_s_tensor_every_time(
        mode: str, dims: str, shape: tuple[int, ...], dtype: str) -> None:
    seen = emitted(steps=3, TENSOR_DIMS=dims, FILL_MODE=mode, DTYPE=dtype, SEED=42)
    expected = dnne_tensor(shape, mode, DTYPES[dtype], 42)
    assert len(seen) == 3
    for tensor in seen:
        assert tensor.dtype == DTYPES[dtype] and torch.equal(tensor, expected)


def test_seeded_normal_is_manual_seed_then_randn() -> None:
    seen = emitted(steps=2, TENSOR_DIMS="5,10", FILL_MODE="normal", SEED=7)
    torch.manual_seed(7)
    expected = torch.randn(5, 10)
    assert all(torch.equal(t, expected) for t in seen)


def test_seeded_random_modes_spread_as_their_initialisers() -> None:
    n = 10_000
    for mode, bound, std in (("kaiming_uniform", (6 / n) ** 0.5, None),
                             ("xavier_uniform", (3 / n) ** 0.5, None),
                             ("kaiming_normal", None, 2 / n ** 0.5),
                             ("xavier_normal", None, (2 / n) ** 0.5),
                             ("uniform", 1.0, None), ("normal", None, 1.0)):
        (x,) = emitted(steps=1, TENSOR_DIMS=str(n), FILL_MODE=mode, SEED=3)
        if bound is not None:
            assert x.abs().max() <= bound and x.abs().max() > 0.99 * bound, mode
        else:
            assert abs(float(x.std()) / std - 1) < 0.05 and abs(float(x.mean())) < 0.05 * std, mode


def test_without_a_seed_every_emission_is_fresh() -> None:
    seen = emitted(steps=3, TENSOR_DIMS="4,4", FILL_MODE="normal", SEED=-1)
    assert not torch.equal(seen[0], seen[1]) and not torch.equal(seen[1], seen[2])
    seen = emitted(steps=2, TENSOR_DIMS="100", FILL_MODE="uniform", SEED=-1)
    assert not torch.equal(seen[0], seen[1])
    assert all(float(t.min()) >= -1 and float(t.max()) < 1 for t in seen)


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_a_random_mode_with_an_integer_dtype_is_converted(dtype: str) -> None:
    (tensor,) = emitted(steps=1, TENSOR_DIMS="3,3", FILL_MODE="normal", DTYPE=dtype, SEED=1)
    torch.manual_seed(1)
    assert tensor.dtype == DTYPES[dtype]
    assert torch.equal(tensor, torch.randn(3, 3).to(DTYPES[dtype]))


def test_tensor_stops_after_the_step_budget() -> None:
    for steps in (1, 4):
        assert len(emitted(steps=steps, FILL_MODE="ones")) == steps


# ----------------------------------------------------------------------------- data sets
def noise(n: int, shape: tuple[int, ...], labels: np.ndarray | None = None,
          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if labels is None:
        labels = rng.integers(0, 10, n)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), labels.astype(np.uint8)


@pytest.fixture
def mnist(tmp_path: Path) -> Path:
    """10 training digits labelled 0..9 in order, 6 test digits labelled 9..4."""
    write_mnist(tmp_path, noise(10, (28, 28), np.arange(10)),
                noise(6, (28, 28), np.arange(9, 3, -1), seed=1))
    return tmp_path


def dataset_node(root: Path, base: type = MNISTDatasetNode, train: bool = True) -> type:
    return configured(base, DATA_PATH=str(root), TRAIN=train, DOWNLOAD=False)


def load_dataset(root: Path, base: type = MNISTDatasetNode, train: bool = True,
                 command: str = "train") -> tuple[list, list]:
    ctx, g = graph(command=command)
    node = g.add(dataset_node(root, base, train)("1", "data", ctx))
    datasets, schemas = g.add(Tap("2", "dataset", ctx)), g.add(Tap("3", "schema", ctx))
    g.connect(node, "dataset", datasets, "x")
    g.connect(node, "schema", schemas, "x")
    assert run(g) == "done"
    return datasets.seen, schemas.seen


def test_mnist_dataset_emits_once_with_dnne_s_schema(mnist: Path) -> None:
    datasets, schemas = load_dataset(mnist)
    assert len(datasets) == len(schemas) == 1  # emits once, then idles
    assert schemas[0] == {
        "outputs": {
            "images": {"type": "tensor", "shape": (28, 28), "flattened_size": 784,
                       "dtype": "float32"},
            "labels": {"type": "tensor", "shape": (), "num_classes": 10, "dtype": "int64"},
        },
        "num_samples": 10,
    }
    image, label = datasets[0][3]
    assert image.shape == (1, 28, 28) and int(label) == 3


def test_mnist_dataset_train_false_and_evaluate_read_the_test_split(mnist: Path) -> None:
    for train, command in ((False, "train"), (True, "evaluate")):
        datasets, schemas = load_dataset(mnist, train=train, command=command)
        assert len(datasets[0]) == 6 and schemas[0]["num_samples"] == 6
        assert int(datasets[0][0][1]) == 9


def test_cifar10_dataset_emits_once_with_dnne_s_schema(tmp_path: Path) -> None:
    write_cifar10(tmp_path, noise(10, (3, 32, 32)), noise(3, (3, 32, 32), seed=1))
    datasets, schemas = load_dataset(tmp_path, CIFAR10DatasetNode)
    assert len(datasets) == 1 and len(datasets[0]) == 10
    assert schemas[0]["outputs"]["images"] == {"type": "tensor", "shape": (3, 32, 32),
                                               "flattened_size": 3072, "dtype": "float32"}
    assert schemas[0]["outputs"]["labels"]["num_classes"] == 10
    assert schemas[0]["num_samples"] == 10
    assert datasets[0][0][0].shape == (3, 32, 32)


def test_missing_data_files_stop_the_run_naming_the_node(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match=r"node #1 'data' .*MNIST files not found"):
        load_dataset(tmp_path)


# ----------------------------------------------------------------------------- Batch Sampler
def sampler_node(batch: int = 4, shuffle: bool = True, seed: int = -1,
                 control: str = "fixed") -> type:
    return configured(BatchSamplerNode, BATCH_SIZE=batch, SHUFFLE=shuffle, SEED=seed,
                      SEED_CONTROL=control)


def sample(root: Path, run_seed: int = 0, **sampler: Any) -> tuple[DataLoader, dict, dict]:
    """The Batch Sampler's dataloader and schema, and the data set's schema."""
    ctx, g = graph(seed=run_seed)
    data = g.add(dataset_node(root)("1", "data", ctx))
    sampler_ = g.add(sampler_node(**sampler)("2", "sampler", ctx))
    loaders, schemas, data_schemas = (g.add(Tap(str(i), f"tap{i}", ctx)) for i in (3, 4, 5))
    g.connect(data, "dataset", sampler_, "dataset")
    g.connect(data, "schema", sampler_, "schema")
    g.connect(data, "schema", data_schemas, "x")
    g.connect(sampler_, "dataloader", loaders, "x")
    g.connect(sampler_, "schema", schemas, "x")
    assert run(g) == "done"
    assert len(loaders.seen) == 1
    return loaders.seen[0], schemas.seen[0], data_schemas.seen[0]


def epochs(loader: DataLoader, n: int = 2) -> list[list[list[int]]]:
    return [[labels.tolist() for _, labels in loader] for _ in range(n)]


def test_batch_sampler_batches_in_order_and_passes_the_schema_on(mnist: Path) -> None:
    loader, schema, data_schema = sample(mnist, batch=4, shuffle=False)
    assert schema is data_schema  # passed through unchanged
    assert epochs(loader) == [[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]] * 2
    images, _ = next(iter(loader))
    assert images.shape == (4, 1, 28, 28) and images.dtype == torch.float32


def test_batch_sampler_seed_is_dnne_s_generator_and_reshuffles_each_epoch(mnist: Path) -> None:
    loader, _, _ = sample(mnist, batch=4, seed=37)
    # DNNE: DataLoader(dataset, batch_size, shuffle=True, generator=Generator().manual_seed(37))
    reference = DataLoader(load_mnist(mnist, True, False), batch_size=4, shuffle=True,
                           num_workers=0, generator=torch.Generator().manual_seed(37))
    got = epochs(loader)
    assert got == epochs(reference)
    for epoch in got:
        assert [len(b) for b in epoch] == [4, 4, 2]
        assert sorted(sum(epoch, [])) == list(range(10))
    assert got[0] != got[1]
    again, _, _ = sample(mnist, run_seed=5, batch=4, seed=37)  # the widget's seed wins
    assert epochs(again) == got
    other, _, _ = sample(mnist, batch=4, seed=38)
    assert epochs(other) != got


def test_batch_sampler_without_a_seed_derives_one_from_the_run_seed(mnist: Path) -> None:
    # Documented: seed -1 (or seed_control randomize) draws from the run's seed, so a run
    # repeats exactly; DNNE used torch's global RNG (or a fresh random seed) there.
    first = epochs(sample(mnist, run_seed=1, seed=-1)[0])
    assert epochs(sample(mnist, run_seed=1, seed=-1)[0]) == first
    assert epochs(sample(mnist, run_seed=1, seed=37, control="randomize")[0]) == first
    assert epochs(sample(mnist, run_seed=2, seed=-1)[0]) != first


# ----------------------------------------------------------------------------- Get Batch
def get_batches(root: Path, triggers: int, command: str = "train",
                batch: int = 4) -> tuple[Any, ...]:
    """MNIST -> Batch Sampler (in order) -> Get Batch, pulled ``triggers`` times."""
    ctx, g = graph(command=command)
    data = g.add(dataset_node(root)("1", "data", ctx))
    sampler_ = g.add(sampler_node(batch=batch, shuffle=False)("2", "sampler", ctx))
    pull = g.add(feed([{"signal_type": "step_complete"}] * triggers)("3", "triggers", ctx))
    getter = g.add(GetBatchNode("4", "get batch", ctx))
    taps = {name: g.add(Tap(f"t{name}", name, ctx))
            for name in ("images", "labels", "epoch_complete", "epoch_stats")}
    g.connect(data, "dataset", sampler_, "dataset")
    g.connect(data, "schema", sampler_, "schema")
    g.connect(pull, "value", getter, "trigger")
    g.connect(sampler_, "dataloader", getter, "dataloader")
    g.connect(sampler_, "schema", getter, "schema")
    for name, tap in taps.items():
        g.connect(getter, name, tap, "x")
    assert run(g) == "done"
    return tuple(taps[name].seen for name in taps)


def test_get_batch_sends_one_batch_per_trigger_and_marks_epochs_as_dnne(mnist: Path) -> None:
    images, labels, complete, stats = get_batches(mnist, triggers=7)
    assert [t.tolist() for t in labels] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] * 2 + [[0, 1, 2, 3]]
    assert [tuple(t.shape) for t in images] == [(4, 1, 28, 28), (4, 1, 28, 28),
                                                (2, 1, 28, 28)] * 2 + [(4, 1, 28, 28)]
    dataset = load_mnist(mnist, True, False)
    assert torch.equal(images[1][2], dataset[6][0])
    # The end of an epoch comes with the next epoch's first batch (completed=True).
    assert complete == [False, False, False, True, False, False, True]
    assert stats == GET_BATCH_STATS


def test_get_batch_sends_nothing_without_a_trigger(mnist: Path) -> None:
    assert get_batches(mnist, triggers=0) == ([], [], [], [])


def test_get_batch_under_evaluate_stops_after_one_pass(mnist: Path) -> None:
    _, labels, complete, _ = get_batches(mnist, triggers=5, command="evaluate")
    assert [t.tolist() for t in labels] == [[9, 8, 7, 6], [5, 4]]  # the test split, once
    assert complete == [False, False]


# ----------------------------------------------------------------------------- Data Streamer
ROWS = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.5, 8.0, -9.0]]


def write_csv(folder: Path, rows: list[list[float]] = ROWS, header: str | None = "a,b,c",
              delimiter: str = ",") -> Path:
    lines = ([header.replace(",", delimiter)] if header else []) + \
        [delimiter.join(f"{v:g}" for v in row) for row in rows]
    path = folder / "stream.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def streamer(path: Path, **constants: Any) -> type:
    defaults = {"FILE": str(path), "SYNC_MODE": "none", "FREQUENCY_HZ": 100.0,
                "AUTO_FIRST_ROW": True, "LOOP_DATA": False, "EOF_MODE": "stop",
                "DELIMITER": ",", "SKIP_HEADER": True}
    return configured(DataStreamerNode, **{**defaults, **constants})


def stream(path: Path, syncs: list[dict[str, Any]] | None = None,
           **constants: Any) -> tuple[list, list]:
    """(data and done in the order sent, metadata) from a Data Streamer; ``syncs`` are the
    messages on its sync and reset inputs, in order."""
    ctx, g = graph()
    node = g.add(streamer(path, **constants)("1", "streamer", ctx))
    out, metadata = g.add(Tap("2", "out", ctx)), g.add(Tap("3", "metadata", ctx))
    if syncs is not None:
        source = g.add(script(syncs, ("sync", "reset"))("4", "syncs", ctx))
        g.connect(source, "sync", node, "sync")
        g.connect(source, "reset", node, "reset")
    g.connect(node, "data", out, "x")
    g.connect(node, "done", out, "x")  # one queue: data and done in the order sent
    g.connect(node, "metadata", metadata, "x")
    assert run(g) == "done"
    return [x.tolist() if isinstance(x, torch.Tensor) else x for x in out.seen], metadata.seen


def rows(*indices: int) -> list[list[list[float]]]:
    return [[ROWS[i]] for i in indices]  # each row is a [1, columns] tensor


SYNC, RESET = {"sync": {"signal_type": "step_complete"}}, {"reset": True}


def test_streamer_none_mode_sends_every_row_then_stops(tmp_path: Path) -> None:
    path = write_csv(tmp_path)
    ctx, g = graph()
    node = g.add(streamer(path)("1", "streamer", ctx))
    data, metadata = g.add(Tap("2", "data", ctx)), g.add(Tap("3", "metadata", ctx))
    g.connect(node, "data", data, "x")
    g.connect(node, "metadata", metadata, "x")
    assert run(g) == "done"
    assert [t.tolist() for t in data.seen] == rows(0, 1, 2)
    assert all(t.shape == (1, 3) and t.dtype == torch.float32 for t in data.seen)
    assert metadata.seen == [{"file_path": str(path), "total_rows": 3, "num_columns": 3,
                              "sync_mode": "none", "frequency_hz": None,
                              "column_names": ["a", "b", "c"]}]


def test_streamer_reads_its_delimiter_and_a_file_without_header(tmp_path: Path) -> None:
    path = write_csv(tmp_path, header=None, delimiter=";")
    out, metadata = stream(path, DELIMITER=";", SKIP_HEADER=False)
    assert out == rows(0, 1, 2)
    assert metadata[0]["column_names"] is None and metadata[0]["total_rows"] == 3


def test_streamer_pulse_done_sends_done_with_the_last_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path)
    assert stream(path, EOF_MODE="pulse_done")[0] == [*rows(0, 1, 2), True]
    # External sync: the third sync sends the last row and done, as DNNE's streamer does;
    # later syncs send nothing.
    for syncs in (3, 5):
        out, _ = stream(path, [SYNC] * syncs, SYNC_MODE="external", AUTO_FIRST_ROW=False,
                        EOF_MODE="pulse_done")
        assert out == [*rows(0, 1, 2), True]


def test_streamer_external_mode_sends_one_row_per_sync(tmp_path: Path) -> None:
    path = write_csv(tmp_path)
    out, metadata = stream(path, [SYNC] * 2, SYNC_MODE="external", AUTO_FIRST_ROW=False)
    assert out == rows(0, 1) and metadata[0]["sync_mode"] == "external"
    # auto_first_row: the first row goes out at the start, before any sync.
    assert stream(path, [SYNC] * 1, SYNC_MODE="external")[0] == rows(0, 1)
    # stop: nothing after the last row.
    assert stream(path, [SYNC] * 6, SYNC_MODE="external")[0] == rows(0, 1, 2)


def test_streamer_loops_or_holds_the_last_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path)
    out, _ = stream(path, [SYNC] * 7, SYNC_MODE="external", AUTO_FIRST_ROW=False,
                    LOOP_DATA=True, EOF_MODE="pulse_done")  # looping never ends the data
    assert out == rows(0, 1, 2, 0, 1, 2, 0)
    out, _ = stream(path, [SYNC] * 5, SYNC_MODE="external", AUTO_FIRST_ROW=False,
                    EOF_MODE="hold_last")
    assert out == rows(0, 1, 2, 2, 2)


def test_streamer_reset_goes_back_to_the_first_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path)
    # auto_first_row: the reset sends the first row itself.
    out, _ = stream(path, [SYNC, SYNC, RESET, SYNC], SYNC_MODE="external")
    assert out == rows(0, 1, 2, 0, 1)
    out, _ = stream(path, [SYNC, SYNC, SYNC, RESET, SYNC], SYNC_MODE="external",
                    AUTO_FIRST_ROW=False)
    assert out == rows(0, 1, 2, 0)  # after the end too


def test_streamer_timed_mode_paces_rows_at_frequency_hz(tmp_path: Path) -> None:
    path = write_csv(tmp_path, rows=[[float(i)] for i in range(6)], header="t")
    t0 = time.perf_counter()
    out, metadata = stream(path, SYNC_MODE="timed", FREQUENCY_HZ=50.0)
    assert time.perf_counter() - t0 >= 5 / 50  # six rows, 20 ms apart
    assert out == [[[float(i)]] for i in range(6)]
    assert metadata[0]["frequency_hz"] == 50.0


def test_streamer_refuses_a_value_that_is_not_a_number(tmp_path: Path) -> None:
    path = write_csv(tmp_path)
    path.write_text("a,b\n1,two\n")
    with pytest.raises(NodeError, match=r"#1 'streamer'.*a value is not a number"):
        stream(path)


@pytest.mark.parametrize(("text", "why"), [
    ("a,b\n", "has no data rows"),
    ("a,b\n1,2\n3\n", "rows have different numbers of columns"),
])
def test_streamer_refuses_an_empty_or_ragged_file(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(NodeError, match=why):
        stream(path)
