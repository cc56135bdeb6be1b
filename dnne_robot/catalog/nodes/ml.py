"""ML node types: data, layers, networks, losses, optimizers and trackers.

The first group is dnne-robot's own; the second is DNNE's (``custom_nodes/*_visnode.py``),
with its names, widget order and defaults. A DNNE ``Network`` is a container: the
``LinearLayer`` chain from its ``layers`` output back to its ``to_output`` input becomes one
``nn.Sequential``.
"""

from __future__ import annotations

from ..spec import NodeSpec
from .fields import BOOL, COMBO, FLOAT, INT, STRING, link, out

ACTIVATIONS = ("relu", "tanh", "elu")
LAYER_ACTIVATIONS = ("none", "relu", "tanh", "sigmoid")
DNNE_ACTIVATIONS = ("none", "relu", "tanh", "sigmoid", "leaky_relu")
WEIGHT_INITS = ("auto", "kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform",
                "normal", "uniform", "none")
TELEMETRY_LEVELS = ("off", "essential", "extended", "debug")


def _dataset(name: str, display: str, kind: str, what: str) -> NodeSpec:
    return NodeSpec(
        name, display, "ml",
        (
            STRING("data_path", "./data", tip=f"Folder that holds (or gets) the {what} files."),
            BOOL("train", True, tip="The training split (false: the test split)."),
            BOOL("download", True, tip="Download when the files are missing (torchvision)."),
        ),
        (out("dataset", f"{kind}_DATASET_OBJ"), out("schema", f"{kind}_DATASET_SCHEMA_PYDICT")),
        f"ml.{kind.lower()}_dataset", source="dnne",
        description=f"The {what} data set, read from its standard files; emitted once.",
    )


ML: tuple[NodeSpec, ...] = (
    # ---------------------------------------------------------------- dnne-robot
    NodeSpec(
        "RegressionDataNode", "Regression Data", "ml",
        (
            COMBO("function", ("sin", "poly", "linear")),
            INT("input_dim", 1, 1, 4096),
            INT("num_samples", 1024, 1, 10_000_000),
            INT("batch_size", 64, 1, 1_000_000),
            FLOAT("noise", 0.05, 0.0, 100.0),
            INT("seed", 0, 0, 2**31 - 1, seed=True),
            link("trigger", "SYNC", required=False, mode="gate",
                 tip="Wire the trainer's step_done here so each batch waits for the last update."),
        ),
        (out("features", "TENSOR"), out("targets", "TENSOR")),
        "ml.regression_data", aliases=("DatasetNode",), starts_cycle=True,
        description="Generates a synthetic regression data set and emits shuffled batches.",
    ),
    NodeSpec(
        "LinearLayerNode", "Linear Layer", "ml",
        (link("input", "TENSOR"), INT("output_size", 64, 1, 1_000_000), BOOL("bias", True),
         COMBO("activation", LAYER_ACTIVATIONS), FLOAT("dropout", 0.0, 0.0, 1.0)),
        (out("output", "TENSOR"),),
        "ml.linear", aliases=("Linear",), stateless=True,
        description="A fully connected layer with optional activation and dropout.",
    ),
    NodeSpec(
        "ActivationNode", "Activation", "ml",
        (link("input", "TENSOR"),
         COMBO("activation", ("relu", "tanh", "sigmoid", "elu", "gelu", "leaky_relu"))),
        (out("output", "TENSOR"),),
        "ml.activation", aliases=("Activation",), stateless=True,
        description="Applies an element-wise activation function to its input tensor.",
    ),
    NodeSpec(
        "DropoutNode", "Dropout", "ml",
        (link("input", "TENSOR"), FLOAT("p", 0.1, 0.0, 1.0)),
        (out("output", "TENSOR"),),
        "ml.dropout", aliases=("Dropout",), stateless=True,
        description="Zeroes each input element with probability p while training; "
                    "passes the input through unchanged when evaluating.",
    ),
    NodeSpec(
        "BatchNormNode", "Batch Norm", "ml",
        (link("input", "TENSOR"), FLOAT("momentum", 0.1, 0.0, 1.0), FLOAT("eps", 1e-5, 0.0, 1.0)),
        (out("output", "TENSOR"),),
        "ml.batchnorm", aliases=("BatchNorm",), stateless=True,
        description="Normalises each feature over the batch with running mean and variance "
                    "(torch BatchNorm1d).",
    ),
    NodeSpec(
        "NetworkNode", "Network (MLP)", "ml",
        (link("input", "TENSOR"), STRING("hidden_sizes", "64,64"),
         INT("output_size", 1, 1, 1_000_000),
         COMBO("activation", ACTIVATIONS, "tanh")),
        (out("output", "TENSOR"),),
        "ml.network", aliases=("MLPNode",), stateless=True,
        description="A multilayer perceptron: hidden layers of the given sizes with the "
                    "activation between them, then a linear output layer.",
    ),
    NodeSpec(
        "SupervisedTrainerNode", "Supervised Trainer", "ml",
        (link("predictions", "TENSOR"), link("targets", "TENSOR"),
         COMBO("loss", ("mse", "l1", "huber")), COMBO("optimizer", ("adam", "sgd")),
         FLOAT("learning_rate", 1e-2, 0.0, 10.0), INT("log_interval", 100, 1, 10_000_000)),
        (out("loss", "TENSOR"), out("step_done", "SYNC")),
        "ml.supervised_trainer", aliases=("TrainerNode", "MSETrainer"),
        description="Minimises the loss of the upstream layers' predictions.",
    ),
    # ---------------------------------------------------------------- DNNE
    _dataset("MNISTDataset", "MNIST Dataset", "MNIST", "MNIST"),
    _dataset("CIFAR10Dataset", "CIFAR-10 Dataset", "CIFAR10", "CIFAR-10"),
    NodeSpec(
        "BatchSampler", "Batch Sampler", "ml",
        (
            link("dataset", "*DATASET_OBJ"),
            link("schema", "*SCHEMA_PYDICT"),
            INT("batch_size", 32, 1, 512),
            BOOL("shuffle", True),
            INT("seed", -1, -1, 2**32 - 1, tip="-1: from the run's seed."),
            COMBO("seed_control", ("fixed", "randomize"),
                  tip="randomize: a seed drawn from the run's seed."),
        ),
        (out("dataloader", "SAMPLER_BATCH_DATALOADER_OBJ"),
         out("schema", "SAMPLER_BATCH_SCHEMA_PYDICT")),
        "ml.batch_sampler", source="dnne",
        description="Batches a data set (a torch DataLoader), shuffled per epoch.",
    ),
    NodeSpec(
        "GetBatch", "Get Batch", "ml",
        (
            link("dataloader", "*DATALOADER_OBJ", mode="sticky"),
            link("schema", "*SCHEMA_PYDICT", mode="sticky"),
            link("trigger", "*TRIGGER", tip="Each message takes the next batch."),
        ),
        (out("images", "BATCH_IMAGE_TENSOR"), out("labels", "BATCH_LABEL_TENSOR"),
         out("epoch_complete", "BOOLEAN"), out("epoch_stats", "BATCH_EPOCH_STATS_PYDICT")),
        "ml.get_batch", source="dnne",
        description="One batch per trigger; says when an epoch is complete.",
    ),
    NodeSpec(
        "Network", "Neural Network", "ml",
        (
            link("input", "*TENSOR"),
            link("to_output", "*TENSOR", virtual=True,
                 tip="The last layer's output loops back here: it closes the layer chain."),
            BOOL("checkpoint_enabled", True),
            COMBO("checkpoint_trigger_type", ("epoch", "time", "best_metric", "end")),
            STRING("checkpoint_trigger_value", "50"),
            BOOL("checkpoint_load_on_start", False),
        ),
        (out("layers", "LAYER_TENSOR"), out("output", "NETWORK_OUTPUT_TENSOR"),
         out("model", "NETWORK_MODEL_OBJ")),
        "ml.dnne_network", aliases=("NetworkNodeDNNE",), source="dnne",
        description="The Linear Layer chain from 'layers' back to 'to_output', as one network.",
    ),
    NodeSpec(
        "LinearLayer", "Linear Layer", "ml",
        (
            link("input", "*TENSOR", virtual=True),
            INT("output_size", 128, 1, 4096),
            BOOL("bias", True),
            COMBO("activation", DNNE_ACTIVATIONS, "relu"),
            FLOAT("dropout", 0.0, 0.0, 0.9),
            COMBO("weight_init", WEIGHT_INITS, "auto"),
        ),
        (out("output", "LAYER_TENSOR"),),
        "ml.dnne_linear", virtual=True, source="dnne",
        description="One layer of a Neural Network (it runs inside the network).",
    ),
    NodeSpec(
        "CrossEntropyLoss", "Cross Entropy Loss", "ml",
        (link("predictions", "*TENSOR"), link("labels", "*TENSOR")),
        (out("loss", "CROSSENTROPY_LOSS_SCALAR"), out("accuracy", "CROSSENTROPY_ACCURACY_FLOAT")),
        "ml.cross_entropy", source="dnne",
        description="Mean cross-entropy of class scores against labels, and the accuracy.",
    ),
    NodeSpec(
        "SGDOptimizer", "SGD Optimizer", "ml",
        (
            link("model", "*MODEL_OBJ", virtual=True,
                 tip="The networks it trains (several links: all of them)."),
            link("loss", "*LOSS_SCALAR"),
            FLOAT("learning_rate", 0.01, 0.0001, 1.0),
            FLOAT("momentum", 0.9, 0.0, 0.999),
            FLOAT("weight_decay", 0.0, 0.0, 0.1),
            INT("batch_size", 1, 1, 128, tip="Losses accumulated per optimizer step."),
            BOOL("enable_bootstrap", True,
                 tip="Send one step_complete at the start, to start the training loop."),
        ),
        (out("step_complete", "TRAIN_STEP_TRIGGER"),),
        "ml.sgd", starts_cycle="enable_bootstrap", source="dnne",
        legacy_widgets=(("learning_rate", "momentum", "weight_decay", "enable_bootstrap"),),
        description="Backpropagates each loss and steps SGD on its networks.",
    ),
    NodeSpec(
        "TrainingSequencer", "Training Sequencer", "ml",
        (
            *(link(f"loss{i}", "*LOSS_SCALAR", required=False) for i in range(1, 5)),
            STRING("order", "1,2,3,4", required=False,
                   tip="The order the losses are backpropagated in, e.g. '2,1'."),
            BOOL("retain_graph", True, required=False),
        ),
        tuple(out(f"to_opt{i}", "SEQ_LOSS_SCALAR") for i in range(1, 5)),
        "ml.training_sequencer", source="dnne",
        description="Backpropagates each loss into its own optimizer only, in order.",
    ),
    NodeSpec(
        "EpochTracker", "Epoch Tracker", "ml",
        (
            link("epoch_stats", "*STATS_PYDICT"),
            link("loss", "*LOSS_SCALAR"),
            link("accuracy", "*ACCURACY_FLOAT"),
            INT("max_epochs", 10, 1, 1000, required=False, tip="Ends the run after this many."),
            COMBO("telemetry_level", TELEMETRY_LEVELS, required=False),
        ),
        (),
        "ml.epoch_tracker", source="dnne",
        description="Reports loss and accuracy per epoch; ends the run after max_epochs.",
    ),
)
