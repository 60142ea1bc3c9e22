#!/usr/bin/env python3
"""Short STS-B fine-tunes of all-MiniLM-L6-v2 converted to LION, to find why the converted model learns STS-B
poorly (README "Known limits"). One run per call; prints one JSON line with the settings and the dev scores.

    python scripts/diagnose_converted_stsb.py --attention_type lion_s --steps 150 --lr 1e-4
    python scripts/diagnose_converted_stsb.py --attention_type lion_s --zero_shot_only

The recipe mirrors run_glue.py's quickstart (batch 16, AdamW, 10% warm-up then linear decay, max length 128,
MSE on the regression head over the [CLS] pooler) so that the baseline reproduces it; the flags change one thing at
a time: learning rate (whole model, or only LION's new parameters), feature map, scaling, attention LayerNorm,
position embeddings, the initial decay, and [CLS]-pooler vs mean pooling.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr

SCRIPTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS_DIR))
try:
    import lion_bert  # noqa: F401
except ImportError:
    sys.path.insert(0, str(SCRIPTS_DIR.parent))
    import lion_bert  # noqa: F401
from lion_bert import LionBertForSequenceClassification, LionBertTokenizer  # noqa: E402
from run_glue import embedded_model_path, embedded_stsb  # noqa: E402

NEW_PARAMETER_MARKERS = ("attention.self.gate", "attention.self.decay_logits", "attention.self.attn_norm")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--attention_type", default="lion_s", choices=["lion_lit", "lion_d", "lion_s", "softmax"])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4, help="learning rate of the BERT weights and the head")
    p.add_argument("--lion_lr", type=float, default=None, help="learning rate of LION's new parameters (default --lr)")
    p.add_argument("--warmup", type=float, default=0.1)
    p.add_argument("--feature_map", default=None, choices=[None, "silu_norm", "elu_plus_one", "identity"])
    p.add_argument("--scaled", default=None, choices=[None, "true", "false"])
    p.add_argument("--attention_layer_norm", default=None, choices=[None, "true", "false"])
    p.add_argument("--position_embedding_type", default=None, choices=[None, "absolute", "none"])
    p.add_argument("--decay_init", type=float, default=None,
                   help="set every initial decay to this lambda (gate bias / decay logit = logit(lambda), gate "
                        "weights zeroed); default: the model's spread of 1-1/4 .. 1-1/512")
    p.add_argument("--pooling", default="cls", choices=["cls", "mean"])
    p.add_argument("--max_eval", type=int, default=None, help="evaluate on the first N dev pairs (default all 1500)")
    p.add_argument("--eval_form", default="parallel", choices=["parallel", "chunk", "recurrent"])
    p.add_argument("--zero_shot_only", action="store_true", help="only the zero-shot embedding scores")
    p.add_argument("--seed", type=int, default=42)
    return p.parse_args(argv)


def build_model(args):
    overrides = {"num_labels": 1, "problem_type": "regression", "attention_type": args.attention_type}
    if args.feature_map:
        overrides["feature_map"] = args.feature_map
    if args.scaled:
        overrides["scaled"] = args.scaled == "true"
    if args.attention_layer_norm:
        overrides["attention_layer_norm"] = args.attention_layer_norm == "true"
    if args.position_embedding_type:
        overrides["position_embedding_type"] = args.position_embedding_type
    torch.manual_seed(args.seed)
    model = LionBertForSequenceClassification.from_pretrained(embedded_model_path(), **overrides)
    if args.decay_init is not None:
        logit = math.log(args.decay_init / (1 - args.decay_init))
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name.endswith("attention.self.gate.weight"):
                    param.zero_()
                elif name.endswith("attention.self.gate.bias") or name.endswith("attention.self.decay_logits"):
                    param.fill_(logit)
    return model


def encode(tokenizer, first, second=None, max_length=128):
    return tokenizer(first, second, truncation=True, max_length=max_length, padding=True, return_tensors="pt")


def pooled(model, batch, pooling):
    out = model.bert(**batch)
    if pooling == "cls":
        return out.pooler_output
    mask = batch["attention_mask"].unsqueeze(-1).to(out.last_hidden_state.dtype)
    return (out.last_hidden_state * mask).sum(1) / mask.sum(1)


def predict(model, batch, pooling):
    return model.classifier(model.dropout(pooled(model, batch, pooling))).squeeze(-1)


@torch.no_grad()
def zero_shot(model, tokenizer, dev, form):
    """Spearman of cosine similarities of separately embedded sentences (mean pooling and [CLS]-pooler)."""
    model.eval()
    scores = {"mean": [], "cls": []}
    for start in range(0, len(dev), 64):
        rows = dev[start: start + 64]
        a = encode(tokenizer, rows["sentence1"])
        b = encode(tokenizer, rows["sentence2"])
        for pooling in scores:
            ea = pooled_form(model, a, pooling, form)
            eb = pooled_form(model, b, pooling, form)
            scores[pooling].extend(torch.nn.functional.cosine_similarity(ea, eb).tolist())
    labels = np.asarray(dev["label"])
    return {f"zero_shot_{k}_spearman": float(spearmanr(v, labels)[0]) for k, v in scores.items()}


def pooled_form(model, batch, pooling, form):
    out = model.bert(**batch, attention_mode=form)
    if pooling == "cls":
        return out.pooler_output
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return (out.last_hidden_state * mask).sum(1) / mask.sum(1)


@torch.no_grad()
def evaluate(model, tokenizer, dev, pooling, form):
    model.eval()
    preds = []
    for start in range(0, len(dev), 64):
        rows = dev[start: start + 64]
        batch = encode(tokenizer, rows["sentence1"], rows["sentence2"])
        out = model.bert(**batch, attention_mode=form)
        if pooling == "cls":
            feats = out.pooler_output
        else:
            mask = batch["attention_mask"].unsqueeze(-1).float()
            feats = (out.last_hidden_state * mask).sum(1) / mask.sum(1)
        preds.extend(model.classifier(feats).squeeze(-1).tolist())
    labels = np.asarray(dev["label"])
    preds = np.asarray(preds)
    return {"pearson": float(pearsonr(preds, labels)[0]), "spearman": float(spearmanr(preds, labels)[0]),
            "mse": float(np.mean((preds - labels) ** 2)), "pred_std": float(preds.std())}


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    started = time.time()
    data = embedded_stsb()
    dev = data["validation"]
    if args.max_eval:
        dev = dev.select(range(min(args.max_eval, len(dev))))
    tokenizer = LionBertTokenizer.from_pretrained(embedded_model_path())
    model = build_model(args)
    settings = {k: v for k, v in vars(args).items() if v is not None and v is not False}
    result = {"settings": settings}
    if args.zero_shot_only:
        result.update(zero_shot(model, tokenizer, dev, args.eval_form))
        print(json.dumps(result), flush=True)
        return result

    new = [p for n, p in model.named_parameters() if any(m in n for m in NEW_PARAMETER_MARKERS)]
    new_ids = {id(p) for p in new}
    rest = [p for p in model.parameters() if id(p) not in new_ids]
    groups = [{"params": rest, "lr": args.lr}]
    if new:
        groups.append({"params": new, "lr": args.lion_lr or args.lr})
    optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
    warmup = max(1, int(math.ceil(args.warmup * args.steps)))

    def schedule(step):
        return step / warmup if step < warmup else max(0.0, (args.steps - step) / max(1, args.steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    train = data["train"].shuffle(seed=args.seed)
    generator = np.random.default_rng(args.seed)
    order = np.concatenate([generator.permutation(len(train)) for _ in range(1 + args.steps * args.batch_size // len(train))])
    model.train()
    losses = []
    for step in range(args.steps):
        rows = train[order[step * args.batch_size: (step + 1) * args.batch_size]]
        batch = encode(tokenizer, rows["sentence1"], rows["sentence2"])
        labels = torch.tensor(rows["label"], dtype=torch.float32)
        loss = torch.nn.functional.mse_loss(predict(model, batch, args.pooling), labels)
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            print(f"step {step + 1}/{args.steps} loss {np.mean(losses[-50:]):.3f} ({time.time() - started:.0f} s)",
                  file=sys.stderr, flush=True)
    result["train_loss_last50"] = float(np.mean(losses[-50:]))
    result.update(evaluate(model, tokenizer, dev, args.pooling, args.eval_form))
    result["seconds"] = round(time.time() - started, 1)
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
