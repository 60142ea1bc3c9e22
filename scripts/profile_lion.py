#!/usr/bin/env python
"""Where the time goes: torch.profiler tables behind the README's "what limits the missed targets".

    python scripts/profile_lion.py train   # one training step, 1 layer at BERT-base width, 128 x 128 tokens:
                                           # BERT (SDPA) beside LION-LIT, LION-D and LION-S (parallel form)
    python scripts/profile_lion.py chunk   # LION-S chunk form alone, inference, (1, 12, 8192, 64), chunk size 64

Each table lists the operators with the most self CPU time (summed over the profiled calls).
"""

import sys
from argparse import RawDescriptionHelpFormatter
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.profiler import profile
from transformers import HfArgumentParser

from lion_bert.benchmarking import BERT, BERT_BASE_DIMS, LABELS, LION_VARIANTS, build_encoder, train_step
from lion_bert.cli import parse_known_flags
from lion_bert.lion_attention import lion_attention, silu_norm

TOP_OPERATORS = 12


def print_table(title, profiled):
    events = profiled.key_averages()
    total_ms = sum(event.self_cpu_time_total for event in events) / 1e3
    print(f"\n## {title}: {total_ms:.0f} ms of self CPU time")
    for event in sorted(events, key=lambda e: -e.self_cpu_time_total)[:TOP_OPERATORS]:
        print(f"  {event.key[:45]:45s} {event.self_cpu_time_total / 1e3:9.1f} ms {event.count:6d} calls")


def profile_training_step(length=128, batch=128):
    """One training step of `lion_bert.benchmarking.train_step` per model, 1 layer at BERT-base width."""
    dims = {**BERT_BASE_DIMS, "layers": 1}
    names = {BERT: "BERT (SDPA)", **{variant: LABELS[variant] for variant in LION_VARIANTS}}
    models = {model: build_encoder(model, dims, max_positions=512) for model in names}
    input_ids = torch.randint(1000, 2000, (batch, length))
    optimizers = {model: torch.optim.AdamW(encoder.parameters(), lr=1e-5) for model, encoder in models.items()}
    for model in models:  # warm-up: AdamW state, kernels
        train_step(models[model], optimizers[model], input_ids)
    for model, name in names.items():
        with profile() as profiled:
            train_step(models[model], optimizers[model], input_ids)
        print_table(f"{name}, one training step, {batch} x {length} tokens", profiled)


def profile_chunk_form(length=8192, heads=12, head_dim=64, calls=3):
    q, k, v = (torch.randn(1, heads, length, head_dim) for _ in range(3))
    q, k = silu_norm(q), silu_norm(k)
    log_lambda = F.logsigmoid(torch.randn(1, heads, length) + 3)
    with torch.inference_mode():
        lion_attention(q, k, v, log_lambda, mode="chunk", chunk_size=64)
        with profile() as profiled:
            for _ in range(calls):
                lion_attention(q, k, v, log_lambda, mode="chunk", chunk_size=64)
    print_table(f"LION-S chunk form, inference, (1, {heads}, {length}, {head_dim}), {calls} calls", profiled)


@dataclass
class ProfileArguments:
    what: str = field(metadata={"help": "train: one training step of each model; chunk: the LION-S chunk form "
                                        "(also as the first word: profile_lion.py train)",
                                "choices": ("train", "chunk")})


def parse_args(argv=None) -> ProfileArguments:
    """ProfileArguments from a list of strings, or sys.argv; a first word that is not a flag is --what's value."""
    parser = HfArgumentParser(ProfileArguments, description=__doc__, formatter_class=RawDescriptionHelpFormatter)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):
        argv.insert(0, "--what")
    (args,) = parse_known_flags(parser, argv)
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    (profile_training_step if args.what == "train" else profile_chunk_form)()


if __name__ == "__main__":
    main()
