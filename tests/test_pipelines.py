"""🤗 pipelines with tiny LionBert models and the bert-base-uncased tokenizer: fill-mask, text-classification,
token-classification, feature-extraction. transformers 5.x removed the question-answering pipeline
(pipelines.REMOVED_TASKS), so extractive QA is checked end to end by hand: tokenize with offsets, pick the best span,
map it back to the context."""

import pytest
import torch
from transformers import pipeline
from transformers.pipelines import REMOVED_TASKS

from lion_bert import (
    LionBertConfig,
    LionBertForMaskedLM,
    LionBertForQuestionAnswering,
    LionBertForSequenceClassification,
    LionBertForTokenClassification,
    LionBertModel,
)


@pytest.fixture(autouse=True)
def no_grad():
    with torch.no_grad():
        yield


def _tiny(model_class, tokenizer, attention_type="lion_s", **overrides):
    torch.manual_seed(0)
    config = LionBertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=128, attention_type=attention_type, **overrides,
    )
    return model_class(config).eval()


@pytest.mark.parametrize("attention_type", ["lion_s", "softmax"])
def test_fill_mask(bert_uncased_tokenizer, attention_type):
    model = _tiny(LionBertForMaskedLM, bert_uncased_tokenizer, attention_type)
    fill_mask = pipeline("fill-mask", model=model, tokenizer=bert_uncased_tokenizer)
    predictions = fill_mask("Paris is the [MASK] of France.", top_k=4)
    assert len(predictions) == 4
    scores = [p["score"] for p in predictions]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
    for prediction in predictions:
        assert prediction["token_str"] == bert_uncased_tokenizer.decode([prediction["token"]])
        assert prediction["sequence"].startswith("paris is the") and "[MASK]" not in prediction["sequence"]
    # the pipeline's scores are the model's softmax at the mask
    inputs = bert_uncased_tokenizer("Paris is the [MASK] of France.", return_tensors="pt")
    position = (inputs["input_ids"][0] == bert_uncased_tokenizer.mask_token_id).nonzero().item()
    probabilities = model(**inputs).logits[0, position].softmax(-1)
    assert predictions[0]["token"] == int(probabilities.argmax())
    assert predictions[0]["score"] == pytest.approx(float(probabilities.max()), rel=1e-4)


def test_text_classification(bert_uncased_tokenizer):
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    model = _tiny(
        LionBertForSequenceClassification, bert_uncased_tokenizer, "lion_d",
        id2label=labels, label2id={v: k for k, v in labels.items()},
    )
    classify = pipeline("text-classification", model=model, tokenizer=bert_uncased_tokenizer)
    results = classify(["I loved it.", "It was a long and rather boring film, honestly."])
    assert len(results) == 2
    for text, result in zip(["I loved it.", "It was a long and rather boring film, honestly."], results):
        logits = model(**bert_uncased_tokenizer(text, return_tensors="pt")).logits[0]
        assert result["label"] == labels[int(logits.argmax())]
        assert result["score"] == pytest.approx(float(logits.softmax(-1).max()), rel=1e-4)


def test_token_classification(bert_uncased_tokenizer):
    labels = {0: "O", 1: "B-PER", 2: "B-LOC"}
    model = _tiny(
        LionBertForTokenClassification, bert_uncased_tokenizer, "lion_lit",
        id2label=labels, label2id={v: k for k, v in labels.items()},
    )
    text = "john lives in paris"
    tagger = pipeline("token-classification", model=model, tokenizer=bert_uncased_tokenizer)
    entities = tagger(text)
    predicted = model(**bert_uncased_tokenizer(text, return_tensors="pt")).logits[0, 1:-1].argmax(-1).tolist()
    expected_words = [word for word, label in zip(text.split(), predicted) if labels[label] != "O"]
    assert [entity["word"] for entity in entities] == expected_words
    for entity in entities:
        assert entity["entity"] in ("B-PER", "B-LOC")
        assert text[entity["start"] : entity["end"]] == entity["word"]


@pytest.mark.parametrize("attention_type", ["lion_d", "softmax"])
def test_feature_extraction(bert_uncased_tokenizer, attention_type):
    model = _tiny(LionBertModel, bert_uncased_tokenizer, attention_type)
    extract = pipeline("feature-extraction", model=model, tokenizer=bert_uncased_tokenizer)
    features = torch.tensor(extract("hello world"))
    inputs = bert_uncased_tokenizer("hello world", return_tensors="pt")
    assert features.shape == (1, inputs["input_ids"].shape[1], 32)
    torch.testing.assert_close(features, model(**inputs).last_hidden_state, atol=1e-6, rtol=0)


def test_pipeline_from_a_saved_folder(tmp_path, bert_uncased_tokenizer):
    model = _tiny(LionBertForMaskedLM, bert_uncased_tokenizer, "lion_d")
    model.save_pretrained(tmp_path)
    bert_uncased_tokenizer.save_pretrained(tmp_path)
    fill_mask = pipeline("fill-mask", model=str(tmp_path))
    assert type(fill_mask.model) is LionBertForMaskedLM
    expected = pipeline("fill-mask", model=model, tokenizer=bert_uncased_tokenizer)("a [MASK] day", top_k=3)
    assert fill_mask("a [MASK] day", top_k=3) == expected


def test_extractive_question_answering_by_hand(bert_uncased_tokenizer):
    assert "question-answering" in REMOVED_TASKS  # why this test does not use pipeline()
    model = _tiny(LionBertForQuestionAnswering, bert_uncased_tokenizer, "lion_s", num_labels=2)
    question, context = "Where does John live?", "John lives in Paris, the capital of France."
    inputs = bert_uncased_tokenizer(question, context, return_offsets_mapping=True, return_tensors="pt")
    offsets = inputs.pop("offset_mapping")[0]
    output = model(**inputs)
    in_context = torch.tensor([sequence == 1 for sequence in inputs.sequence_ids(0)])
    start_logits = output.start_logits[0].masked_fill(~in_context, float("-inf"))
    end_logits = output.end_logits[0].masked_fill(~in_context, float("-inf"))
    scores = start_logits[:, None] + end_logits[None, :]
    scores = scores.masked_fill(~torch.ones_like(scores, dtype=torch.bool).triu(), float("-inf"))  # start <= end
    start, end = divmod(int(scores.argmax()), scores.shape[1])
    answer = context[int(offsets[start][0]) : int(offsets[end][1])]
    assert start <= end and in_context[start] and in_context[end]
    assert answer and answer in context
    assert bert_uncased_tokenizer.decode(inputs["input_ids"][0, start : end + 1]) == answer.lower()
