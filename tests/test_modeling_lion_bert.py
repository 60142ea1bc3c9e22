"""LionBert models: every head, BERT parity, the three LION forms, padding, outputs, checkpointing, save/load,
the inference form chosen by the generation config, mask-predict generation and the input checks."""

import json

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertModel
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.testing_utils import CaptureLogger
from transformers.utils import logging

from lion_bert import (
    ATTENTION_VARIANTS,
    LionBertConfig,
    LionBertForMaskedLM,
    LionBertForMultipleChoice,
    LionBertForQuestionAnswering,
    LionBertForSequenceClassification,
    LionBertForTokenClassification,
    LionBertModel,
    LionGenerationConfig,
    modeling_lion_bert,
)

from model_classes import FORMS, HEAD_CLASSES, LION_VARIANTS, VARIANTS


# the parameters LION adds to a BERT layer when converting it, per variant (no attention LayerNorm: BERT has none)
LION_PARAMETERS = {
    "lion_lit": (),
    "lion_d": ("attention.self.decay_logits",),
    "lion_s": ("attention.self.gate.weight", "attention.self.gate.bias"),
    "softmax": (),
}
ATOL = 1e-5


class LionBertModelTester:
    """Tiny configs and inputs, and one check per head (the transformers ModelTester pattern)."""

    def __init__(
        self,
        batch_size=3,
        seq_length=9,
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        type_vocab_size=2,
        max_position_embeddings=64,
        num_labels=3,
        num_choices=4,
    ):
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.type_vocab_size = type_vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.num_labels = num_labels
        self.num_choices = num_choices

    def get_config(self, **overrides) -> LionBertConfig:
        kwargs = dict(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            type_vocab_size=self.type_vocab_size,
            max_position_embeddings=self.max_position_embeddings,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            num_labels=self.num_labels,
        )
        kwargs.update(overrides)
        return LionBertConfig(**kwargs)

    def prepare_inputs(self, seed=0):
        """Right-padded batch: lengths seq_length, seq_length - 3, seq_length - 5; pads hold id 0."""
        generator = torch.Generator().manual_seed(seed)
        shape = (self.batch_size, self.seq_length)
        input_ids = torch.randint(5, self.vocab_size, shape, generator=generator)
        lengths = torch.tensor([self.seq_length, self.seq_length - 3, self.seq_length - 5])[: self.batch_size]
        attention_mask = (torch.arange(self.seq_length)[None, :] < lengths[:, None]).long()
        input_ids = input_ids.masked_fill(attention_mask == 0, 0)
        token_type_ids = torch.randint(0, self.type_vocab_size, shape, generator=generator) * attention_mask
        return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}

    def build(self, model_class, **overrides):
        if model_class is LionBertForQuestionAnswering:
            overrides.setdefault("num_labels", 2)  # start and end logits
        torch.manual_seed(0)
        return model_class(self.get_config(**overrides)).eval()

    # -- one check per head -----------------------------------------------------------------------------------

    def check_model(self, attention_type):
        model = self.build(LionBertModel, attention_type=attention_type)
        inputs = self.prepare_inputs()
        output = model(**inputs)
        assert output.last_hidden_state.shape == (self.batch_size, self.seq_length, self.hidden_size)
        assert output.pooler_output.shape == (self.batch_size, self.hidden_size)
        assert torch.isfinite(output.last_hidden_state).all()
        no_pooler = LionBertModel(self.get_config(attention_type=attention_type), add_pooling_layer=False).eval()
        assert no_pooler(**inputs).pooler_output is None

    def check_masked_lm(self, attention_type):
        model = self.build(LionBertForMaskedLM, attention_type=attention_type)
        inputs = self.prepare_inputs()
        labels = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)
        output = model(**inputs, labels=labels)
        assert output.logits.shape == (self.batch_size, self.seq_length, self.vocab_size)
        expected = torch.nn.functional.cross_entropy(output.logits.view(-1, self.vocab_size), labels.view(-1))
        torch.testing.assert_close(output.loss, expected)

    def check_sequence_classification(self, attention_type):
        inputs = self.prepare_inputs()
        # single label: class ids
        model = self.build(LionBertForSequenceClassification, attention_type=attention_type)
        labels = torch.tensor([0, 2, 1])[: self.batch_size]
        output = model(**inputs, labels=labels)
        assert output.logits.shape == (self.batch_size, self.num_labels)
        torch.testing.assert_close(output.loss, torch.nn.functional.cross_entropy(output.logits, labels))
        assert model.config.problem_type == "single_label_classification"
        # multi label: multi-hot floats
        model = self.build(LionBertForSequenceClassification, attention_type=attention_type)
        multi_hot = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])[: self.batch_size]
        output = model(**inputs, labels=multi_hot)
        expected = torch.nn.functional.binary_cross_entropy_with_logits(output.logits, multi_hot)
        torch.testing.assert_close(output.loss, expected)
        assert model.config.problem_type == "multi_label_classification"
        # regression: one float target
        model = self.build(LionBertForSequenceClassification, attention_type=attention_type, num_labels=1)
        targets = torch.tensor([0.5, -1.0, 2.0])[: self.batch_size]
        output = model(**inputs, labels=targets)
        assert output.logits.shape == (self.batch_size, 1)
        torch.testing.assert_close(output.loss, torch.nn.functional.mse_loss(output.logits.squeeze(), targets))
        assert model.config.problem_type == "regression"

    def check_token_classification(self, attention_type):
        model = self.build(LionBertForTokenClassification, attention_type=attention_type)
        inputs = self.prepare_inputs()
        labels = torch.randint(0, self.num_labels, (self.batch_size, self.seq_length)).masked_fill(
            inputs["attention_mask"] == 0, -100
        )
        output = model(**inputs, labels=labels)
        assert output.logits.shape == (self.batch_size, self.seq_length, self.num_labels)
        expected = torch.nn.functional.cross_entropy(output.logits.view(-1, self.num_labels), labels.view(-1))
        torch.testing.assert_close(output.loss, expected)

    def check_question_answering(self, attention_type):
        model = self.build(LionBertForQuestionAnswering, attention_type=attention_type)
        inputs = self.prepare_inputs()
        start, end = torch.tensor([1, 2, 0]), torch.tensor([3, 4, 100])  # 100 lies outside the input: ignored
        output = model(**inputs, start_positions=start, end_positions=end)
        assert output.start_logits.shape == output.end_logits.shape == (self.batch_size, self.seq_length)
        ignored = self.seq_length
        loss_fct = torch.nn.CrossEntropyLoss(ignore_index=ignored)
        expected = (
            loss_fct(output.start_logits, start) + loss_fct(output.end_logits, end.clamp(0, ignored))
        ) / 2
        torch.testing.assert_close(output.loss, expected)

    def check_multiple_choice(self, attention_type):
        model = self.build(LionBertForMultipleChoice, attention_type=attention_type)
        inputs = self.prepare_inputs()
        choices = {k: v[:, None, :].expand(-1, self.num_choices, -1).contiguous() for k, v in inputs.items()}
        choices["input_ids"] = torch.randint(5, self.vocab_size, choices["input_ids"].shape) * choices["attention_mask"]
        labels = torch.tensor([0, 3, 1])[: self.batch_size]
        output = model(**choices, labels=labels)
        assert output.logits.shape == (self.batch_size, self.num_choices)
        torch.testing.assert_close(output.loss, torch.nn.functional.cross_entropy(output.logits, labels))
        # each choice scored as if alone
        alone = model(**{k: v[:, 2:3] for k, v in choices.items()}).logits
        assert alone.shape == (self.batch_size, 1)
        torch.testing.assert_close(output.logits[:, 2], alone[:, 0], atol=ATOL, rtol=0)


TESTER = LionBertModelTester()


def _right_padded_alone(model, inputs, form=None):
    """Outputs of each sequence of the batch run alone (its pads removed)."""
    outputs = []
    for i in range(inputs["input_ids"].shape[0]):
        keep = inputs["attention_mask"][i].bool()
        single = {k: v[i][keep][None] for k, v in inputs.items() if k != "attention_mask"}
        outputs.append(model(**single, attention_mode=form).last_hidden_state[0])
    return outputs


# ------------------------------------------------------------------------------------------------------------------
# Heads: shapes and losses
# ------------------------------------------------------------------------------------------------------------------


HEAD_CHECKS = ["model", "masked_lm", "sequence_classification", "token_classification", "question_answering",
               "multiple_choice"]


@pytest.mark.parametrize("head", HEAD_CHECKS)
@pytest.mark.parametrize("attention_type", VARIANTS)
def test_head(attention_type, head):
    getattr(TESTER, f"check_{head}")(attention_type)


@pytest.mark.parametrize("ignore_index", [-100, -1])
@pytest.mark.parametrize("attention_type", ["lion_lit", "softmax"])
def test_sparse_prediction_matches_dense(attention_type, ignore_index):
    """ModernBERT's sparse_prediction: logits only at labelled positions (row-major), the same loss and gradients."""
    dense = TESTER.build(LionBertForMaskedLM, attention_type=attention_type)
    sparse = TESTER.build(LionBertForMaskedLM, attention_type=attention_type, sparse_prediction=True,
                          sparse_pred_ignore_index=ignore_index)
    inputs = TESTER.prepare_inputs()
    picked = torch.zeros_like(inputs["input_ids"], dtype=torch.bool)
    picked[0, 1], picked[0, 4], picked[-1, 2] = True, True, True
    labels = inputs["input_ids"].masked_fill(~picked, -100)
    dense_output = dense(**inputs, labels=labels)
    sparse_output = sparse(**inputs, labels=labels.masked_fill(~picked, ignore_index))
    assert sparse_output.logits.shape == (3, TESTER.vocab_size)
    torch.testing.assert_close(sparse_output.logits, dense_output.logits[picked])
    torch.testing.assert_close(sparse_output.loss, dense_output.loss)
    dense_output.loss.backward()
    sparse_output.loss.backward()
    for (name, a), b in zip(dense.named_parameters(), sparse.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)
    assert sparse(**inputs).logits.shape == (TESTER.batch_size, TESTER.seq_length, TESTER.vocab_size)  # no labels


@pytest.mark.parametrize("attention_type", ["lion_d", "lion_s"])
def test_decay_parameters_receive_gradients(attention_type):
    model = TESTER.build(LionBertForMaskedLM, attention_type=attention_type).train()
    inputs = TESTER.prepare_inputs()
    model(**inputs, labels=inputs["input_ids"]).loss.backward()
    decay_grads = [p.grad for name, p in model.named_parameters() if "decay_logits" in name or ".gate." in name]
    per_layer = {"lion_d": 1, "lion_s": 2}[attention_type]  # decay_logits | gate.weight, gate.bias
    assert len(decay_grads) == per_layer * TESTER.num_hidden_layers
    assert all(g is not None and g.abs().sum() > 0 for g in decay_grads)


def test_return_dict_false_gives_tuples():
    model = TESTER.build(LionBertForSequenceClassification)
    inputs = TESTER.prepare_inputs()
    as_tuple = model(**inputs, labels=torch.tensor([0, 1, 2]), return_dict=False)
    as_dict = model(**inputs, labels=torch.tensor([0, 1, 2]))
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 2
    torch.testing.assert_close(as_tuple[0], as_dict.loss)
    torch.testing.assert_close(as_tuple[1], as_dict.logits)


def test_inputs_embeds_match_input_ids():
    model = TESTER.build(LionBertModel, attention_type="lion_lit")
    inputs = TESTER.prepare_inputs()
    embeds = model.get_input_embeddings()(inputs["input_ids"])
    from_ids = model(**inputs).last_hidden_state
    from_embeds = model(
        inputs_embeds=embeds, attention_mask=inputs["attention_mask"], token_type_ids=inputs["token_type_ids"]
    ).last_hidden_state
    torch.testing.assert_close(from_ids, from_embeds)


def test_initial_decays_span_short_and_long_ranges():
    model = TESTER.build(LionBertModel, attention_type="lion_d", num_attention_heads=8, hidden_size=64)
    decays = torch.sigmoid(model.encoder.layer[0].attention.self.decay_logits.detach())
    torch.testing.assert_close(decays, modeling_lion_bert.initial_decays(8).float())
    assert decays[0] == pytest.approx(0.75, abs=1e-6) and decays[-1] == pytest.approx(1 - 1 / 512, abs=1e-6)
    assert (decays.diff() > 0).all()
    gate = TESTER.build(LionBertModel, attention_type="lion_s").encoder.layer[1].attention.self.gate
    torch.testing.assert_close(torch.sigmoid(gate.bias.detach()), modeling_lion_bert.initial_decays(4).float())
    assert 0.01 < gate.weight.std() < 0.03  # normal(0, initializer_range=0.02)


# ------------------------------------------------------------------------------------------------------------------
# Save / load
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attention_type", VARIANTS)
@pytest.mark.parametrize("model_class", HEAD_CLASSES, ids=lambda c: c.__name__)
def test_save_load_identical_outputs(tmp_path, model_class, attention_type):
    model = TESTER.build(model_class, attention_type=attention_type)
    with torch.no_grad():  # move every parameter off its initial value, so a re-initialisation on load would show
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    inputs = TESTER.prepare_inputs()
    if model_class is LionBertForMultipleChoice:
        inputs = {k: v[:, None, :].expand(-1, 2, -1) for k, v in inputs.items()}
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and not (tmp_path / "pytorch_model.bin").exists()
    loaded = model_class.from_pretrained(tmp_path)
    assert not loaded.training
    for (name, tensor), (loaded_name, loaded_tensor) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert name == loaded_name and torch.equal(tensor, loaded_tensor), name
    expected, actual = model(**inputs), loaded(**inputs)
    for key in expected.keys():
        # same weights bit for bit (checked above); the kernels may still round differently on another memory layout
        torch.testing.assert_close(actual[key], expected[key], atol=1e-6, rtol=0)


def test_mlm_decoder_is_tied_to_embeddings(tmp_path):
    model = TESTER.build(LionBertForMaskedLM)
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    model.save_pretrained(tmp_path)
    loaded = LionBertForMaskedLM.from_pretrained(tmp_path)
    assert loaded.cls.predictions.decoder.weight.data_ptr() == loaded.bert.embeddings.word_embeddings.weight.data_ptr()


def test_resize_token_embeddings_keeps_the_tie(tmp_path):
    model = TESTER.build(LionBertForMaskedLM)
    model.resize_token_embeddings(TESTER.vocab_size + 21, mean_resizing=False)
    size = TESTER.vocab_size + 21
    assert model.config.vocab_size == size
    assert model.bert.embeddings.word_embeddings.weight.shape == (size, TESTER.hidden_size)
    assert model.cls.predictions.decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()
    assert model.cls.predictions.bias.shape == model.cls.predictions.decoder.bias.shape == (size,)
    logits = model(torch.tensor([[2, size - 1, 3]])).logits
    assert logits.shape == (1, 3, size)
    model.save_pretrained(tmp_path)
    loaded = LionBertForMaskedLM.from_pretrained(tmp_path)
    torch.testing.assert_close(loaded(torch.tensor([[2, size - 1, 3]])).logits, logits)


# ------------------------------------------------------------------------------------------------------------------
# BERT parity and BERT checkpoint conversion
# ------------------------------------------------------------------------------------------------------------------


def _random_bert(tmp_path, model_class=BertModel):
    torch.manual_seed(1)
    config = BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
        max_position_embeddings=64,
    )
    bert = model_class(config).eval()
    bert.save_pretrained(tmp_path)
    return bert


def test_softmax_matches_random_bert(tmp_path):
    bert = _random_bert(tmp_path)
    model, info = LionBertModel.from_pretrained(tmp_path, attention_type="softmax", output_loading_info=True)
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set()
    inputs = TESTER.prepare_inputs()
    expected, actual = bert(**inputs), model(**inputs)
    torch.testing.assert_close(actual.last_hidden_state, expected.last_hidden_state, atol=ATOL, rtol=0)
    torch.testing.assert_close(actual.pooler_output, expected.pooler_output, atol=ATOL, rtol=0)


def test_softmax_attentions_match_bert_eager(tmp_path):
    _random_bert(tmp_path)
    bert = BertModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    model = LionBertModel.from_pretrained(tmp_path, attention_type="softmax")
    inputs = TESTER.prepare_inputs()
    expected = bert(**inputs, output_attentions=True).attentions
    actual = model(**inputs, output_attentions=True).attentions
    assert len(actual) == len(expected) == 2
    for a, e in zip(actual, expected):
        keys = inputs["attention_mask"].bool()[:, None, None, :].expand_as(a)
        torch.testing.assert_close(a[keys], e[keys], atol=ATOL, rtol=0)


def test_softmax_mlm_matches_random_bert_for_masked_lm(tmp_path):
    bert = _random_bert(tmp_path, BertForMaskedLM)
    model, info = LionBertForMaskedLM.from_pretrained(tmp_path, attention_type="softmax", output_loading_info=True)
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set()
    inputs = TESTER.prepare_inputs()
    torch.testing.assert_close(model(**inputs).logits, bert(**inputs).logits, atol=ATOL, rtol=0)


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_softmax_matches_real_minilm(minilm_dir, bert_uncased_tokenizer, implementation):
    bert = BertModel.from_pretrained(minilm_dir, attn_implementation=implementation).eval()
    model = LionBertModel.from_pretrained(minilm_dir, attention_type="softmax", attn_implementation=implementation)
    assert model.config._attn_implementation == bert.config._attn_implementation == implementation
    texts = ["LION is linear attention for bidirectional sequence modeling.", "A short one.", "Paris is in France"]
    inputs = bert_uncased_tokenizer(texts, padding=True, return_tensors="pt")
    expected, actual = bert(**inputs).last_hidden_state, model(**inputs).last_hidden_state
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=0)
    assert expected.abs().max() > 0.1  # real activations, not a degenerate comparison


def _softmax_models(**overrides):
    """One random softmax LionBertModel per attention implementation, with the same weights."""
    models = {}
    for implementation in ("eager", "sdpa", "flex_attention"):
        models[implementation] = TESTER.build(
            LionBertModel, attention_type="softmax", attn_implementation=implementation, **overrides
        )
        assert models[implementation].config._attn_implementation == implementation
    return models


def test_softmax_attention_implementations_agree():
    models = _softmax_models()
    inputs = TESTER.prepare_inputs()
    with torch.no_grad():  # flex_attention has no backward on CPU
        outputs = {name: model(**inputs).last_hidden_state for name, model in models.items()}
    for name in ("sdpa", "flex_attention"):
        torch.testing.assert_close(outputs[name], outputs["eager"], atol=ATOL, rtol=0, msg=name)


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_attn_implementation_picks_the_attention_function(monkeypatch, implementation):
    calls = []

    def spy(name, function):
        def run(module, query, key, value, attention_mask, **kwargs):
            calls.append((name, type(attention_mask), getattr(attention_mask, "dtype", None)))
            return function(module, query, key, value, attention_mask, **kwargs)

        return run

    monkeypatch.setattr(modeling_lion_bert, "eager_attention_forward",
                        spy("eager", modeling_lion_bert.eager_attention_forward))
    monkeypatch.setitem(ALL_ATTENTION_FUNCTIONS._global_mapping, "sdpa", spy("sdpa", sdpa_attention_forward))
    model = TESTER.build(LionBertModel, attention_type="softmax", attn_implementation=implementation)
    model(**TESTER.prepare_inputs())
    # each function gets the mask it takes: additive floats for eager, booleans (True = attend) for sdpa
    mask_dtype = torch.float32 if implementation == "eager" else torch.bool
    assert calls == [(implementation, torch.Tensor, mask_dtype)] * TESTER.num_hidden_layers
    calls.clear()
    type(modeling_lion_bert.logger).warning_once.cache_clear()  # the warning may have been given by another test
    capture = CaptureLogger(modeling_lion_bert.logger)
    with capture:
        output = model(**TESTER.prepare_inputs(), output_attentions=True)
    # only eager attention has weights: output_attentions runs it whatever the implementation
    assert [name for name, *_ in calls] == ["eager"] * TESTER.num_hidden_layers
    assert all(weights.shape[-2:] == (TESTER.seq_length,) * 2 for weights in output.attentions)
    assert ("runs eagerly" in capture.out) == (implementation != "eager")


@pytest.mark.parametrize("attention_type", LION_VARIANTS)
def test_lion_from_real_bert_loads_every_bert_weight(minilm_dir, attention_type):
    capture = CaptureLogger(logging.get_logger("transformers"))
    with capture:
        model, info = LionBertModel.from_pretrained(minilm_dir, attention_type=attention_type, output_loading_info=True)
    assert "model of type" not in capture.out
    expected_missing = {
        f"encoder.layer.{layer}.{name}" for layer in range(6) for name in LION_PARAMETERS[attention_type]
    }
    assert info["missing_keys"] == expected_missing
    # LION-D and LION-S leave BERT's learned positions out by default: inputs of any length
    positions = ATTENTION_VARIANTS[attention_type].position_embedding_type
    dropped = {"embeddings.position_embeddings.weight"} if positions == "none" else set()
    assert info["unexpected_keys"] == dropped and info["mismatched_keys"] == set()
    bert_state = BertModel.from_pretrained(minilm_dir).state_dict()
    lion_state = model.state_dict()
    assert set(bert_state) - {"embeddings.token_type_ids"} - dropped <= set(lion_state)
    for name, tensor in bert_state.items():
        if name in lion_state:
            assert torch.equal(lion_state[name], tensor), name
    assert model.config.resolved_position_embedding_type == positions
    assert torch.isfinite(model(torch.tensor([[101, 7592, 2088, 102]])).last_hidden_state).all()


# ------------------------------------------------------------------------------------------------------------------
# The three forms, padding
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attention_type", LION_VARIANTS)
@pytest.mark.parametrize("chunk_size", [2, 4])
def test_forms_agree_on_a_padded_batch(attention_type, chunk_size):
    model = TESTER.build(LionBertModel, attention_type=attention_type, chunk_size=chunk_size)
    inputs = TESTER.prepare_inputs()
    outputs = {form: model(**inputs, attention_mode=form) for form in FORMS}
    for form in ("chunk", "recurrent"):
        torch.testing.assert_close(
            outputs[form].last_hidden_state, outputs["parallel"].last_hidden_state, atol=ATOL, rtol=0
        )
        torch.testing.assert_close(outputs[form].pooler_output, outputs["parallel"].pooler_output, atol=ATOL, rtol=0)


def test_forms_give_the_same_gradients():
    inputs = TESTER.prepare_inputs()
    gradients = {}
    for form in FORMS:
        model = TESTER.build(LionBertForMaskedLM, attention_type="lion_s", chunk_size=4, attention_mode=form).train()
        model(**inputs, labels=inputs["input_ids"]).loss.backward()
        gradients[form] = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    for form in ("chunk", "recurrent"):
        assert gradients[form].keys() == gradients["parallel"].keys()
        for name, grad in gradients["parallel"].items():
            torch.testing.assert_close(gradients[form][name], grad, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("attention_type", LION_VARIANTS)
@pytest.mark.parametrize("form", FORMS)
def test_layers_read_no_tensor_values(monkeypatch, attention_type, form):
    """The model reads the mask's values once, with its input checks: no layer waits for the device."""
    model = TESTER.build(LionBertModel, attention_type=attention_type, chunk_size=4)

    def refuse(*args, **kwargs):
        raise AssertionError("a layer read a tensor value into Python")

    def start(module, args):
        for name in ("__bool__", "__int__", "__float__", "item", "tolist"):
            monkeypatch.setattr(torch.Tensor, name, refuse)

    model.encoder.register_forward_pre_hook(start)
    model.encoder.register_forward_hook(lambda module, args, output: monkeypatch.undo())
    inputs = TESTER.prepare_inputs()
    assert not inputs["attention_mask"].all()  # padded: the masked path runs
    output = model(**inputs, attention_mode=form)
    assert output.last_hidden_state.shape == (TESTER.batch_size, TESTER.seq_length, TESTER.hidden_size)


def test_a_mask_without_pads_is_dropped_before_the_layers(monkeypatch):
    masks = []
    real = modeling_lion_bert.lion_attention

    def spy(q, k, v, log_lambda, attention_mask, **kwargs):
        masks.append(attention_mask)
        return real(q, k, v, log_lambda, attention_mask, **kwargs)

    monkeypatch.setattr(modeling_lion_bert, "lion_attention", spy)
    model = TESTER.build(LionBertModel, attention_type="lion_d")
    inputs = TESTER.prepare_inputs()
    model(**inputs)
    assert masks[0].dtype == torch.bool and torch.equal(masks[0], inputs["attention_mask"].bool())
    masks.clear()
    full = {key: value[:1] for key, value in inputs.items()}  # the first row has no pads
    with_mask = model(**full).last_hidden_state
    without = model(full["input_ids"], token_type_ids=full["token_type_ids"]).last_hidden_state
    assert masks == [None] * (2 * TESTER.num_hidden_layers)
    torch.testing.assert_close(with_mask, without, atol=0, rtol=0)


# ------------------------------------------------------------------------------------------------------------------
# The learned feature map (feature_map="hedgehog")
# ------------------------------------------------------------------------------------------------------------------


def _hedgehog_model(model_class, attention_type, **overrides):
    """A tiny model with a learned feature map moved off its identity initialisation."""
    model = TESTER.build(model_class, attention_type=attention_type, feature_map="hedgehog", **overrides)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "feature_map" in name:
                parameter.add_(torch.randn_like(parameter) * 0.3)
    return model


def test_hedgehog_parameters_are_per_layer_and_head_and_start_as_identity():
    model = TESTER.build(LionBertModel, attention_type="lion_s", feature_map="hedgehog", feature_map_size=6)
    head_dim = TESTER.hidden_size // TESTER.num_attention_heads
    for layer in model.encoder.layer:
        attention = layer.attention.self
        assert attention.query_feature_map is not attention.key_feature_map
        for feature_map in (attention.query_feature_map, attention.key_feature_map):
            assert feature_map.weight.shape == (TESTER.num_attention_heads, head_dim, 6)
            assert torch.equal(feature_map.weight, torch.eye(head_dim, 6).expand(TESTER.num_attention_heads, -1, -1))
            assert torch.equal(feature_map.bias, torch.zeros(TESTER.num_attention_heads, 6))
    fixed = TESTER.build(LionBertModel, attention_type="lion_s")
    assert not any("feature_map" in name for name, _ in fixed.named_parameters())


def test_hedgehog_features_beyond_head_dim_start_distinct():
    """Logits beyond head_dim start from random unit directions, each different: zero columns would get equal
    gradients and stay one feature in many copies."""
    model = TESTER.build(LionBertModel, attention_type="lion_d", feature_map="hedgehog", feature_map_size=20)
    head_dim = TESTER.hidden_size // TESTER.num_attention_heads
    weight = model.encoder.layer[0].attention.self.query_feature_map.weight.detach()
    assert torch.equal(weight[..., :head_dim], torch.eye(head_dim).expand(TESTER.num_attention_heads, -1, -1))
    extra = weight[..., head_dim:]
    torch.testing.assert_close(extra.norm(dim=1), torch.ones(TESTER.num_attention_heads, 20 - head_dim))
    for head in range(TESTER.num_attention_heads):
        columns = extra[head].T  # (extra, head_dim)
        assert torch.unique(columns, dim=0).shape[0] == columns.shape[0]


@pytest.mark.parametrize("attention_type", LION_VARIANTS)
def test_hedgehog_forms_agree_and_train_alike(attention_type):
    inputs = TESTER.prepare_inputs()
    outputs, gradients = {}, {}
    for form in FORMS:
        model = _hedgehog_model(LionBertForMaskedLM, attention_type, chunk_size=4, attention_mode=form).train()
        output = model(**inputs, labels=inputs["input_ids"])
        output.loss.backward()
        outputs[form] = output.logits
        gradients[form] = {name: p.grad for name, p in model.named_parameters() if "feature_map" in name}
    assert len(gradients["parallel"]) == 4 * TESTER.num_hidden_layers
    for form in ("chunk", "recurrent"):
        torch.testing.assert_close(outputs[form], outputs["parallel"], atol=ATOL, rtol=0)
        for name, grad in gradients["parallel"].items():
            assert grad.abs().max() > 0, name
            torch.testing.assert_close(gradients[form][name], grad, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("form", FORMS)
def test_hedgehog_padding_is_transparent(form):
    model = _hedgehog_model(LionBertModel, "lion_s", chunk_size=4)
    inputs = TESTER.prepare_inputs()
    padded = model(**inputs, attention_mode=form).last_hidden_state
    for row in range(TESTER.batch_size):
        length = int(inputs["attention_mask"][row].sum())
        alone = model(**{k: v[row:row + 1, :length] for k, v in inputs.items()}, attention_mode=form)
        torch.testing.assert_close(padded[row:row + 1, :length], alone.last_hidden_state, atol=ATOL, rtol=0)


@pytest.mark.parametrize("model_class", HEAD_CLASSES, ids=lambda c: c.__name__)
def test_hedgehog_save_load_identical_outputs(tmp_path, model_class):
    model = _hedgehog_model(model_class, "lion_d", feature_map_size=5)
    inputs = TESTER.prepare_inputs()
    if model_class is LionBertForMultipleChoice:
        inputs = {k: v[:, None, :].expand(-1, 2, -1) for k, v in inputs.items()}
    model.save_pretrained(tmp_path)
    loaded = model_class.from_pretrained(tmp_path)
    assert loaded.config.feature_map == "hedgehog" and loaded.config.feature_map_size == 5
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    expected, actual = model(**inputs), loaded(**inputs)
    for key in expected.keys():
        torch.testing.assert_close(actual[key], expected[key], atol=1e-6, rtol=0)


PADDING_CASES = [
    (attention_type, form, side)
    for attention_type in LION_VARIANTS
    for form in FORMS
    for side in (("right", "left", "middle") if attention_type in ("lion_d", "lion_s") else ("right",))
] + [("softmax", "parallel", "right")]


@pytest.mark.parametrize("attention_type, form, side", PADDING_CASES)
def test_padding_is_transparent(attention_type, form, side):
    """Every real token's output equals that of its sequence alone (absolute positions: right padding only)."""
    model = TESTER.build(LionBertModel, attention_type=attention_type, chunk_size=3)
    generator = torch.Generator().manual_seed(3)
    lengths, total = [9, 6, 4], 9
    sequences = [torch.randint(5, TESTER.vocab_size, (n,), generator=generator) for n in lengths]
    input_ids = torch.zeros(len(lengths), total, dtype=torch.long)
    attention_mask = torch.zeros(len(lengths), total, dtype=torch.long)
    for i, sequence in enumerate(sequences):
        n = len(sequence)
        positions = {
            "right": torch.arange(n),
            "left": torch.arange(total - n, total),
            "middle": torch.cat([torch.arange((n + 1) // 2), torch.arange(total - n // 2, total)]),
        }[side]
        input_ids[i, positions] = sequence
        attention_mask[i, positions] = 1
    batch = model(input_ids, attention_mask=attention_mask, attention_mode=form).last_hidden_state
    assert torch.isfinite(batch).all()
    for i, sequence in enumerate(sequences):
        alone = model(sequence[None], attention_mode=form).last_hidden_state[0]
        torch.testing.assert_close(batch[i][attention_mask[i].bool()], alone, atol=ATOL, rtol=0)


def test_left_padding_is_transparent_for_lion_lit_without_positions():
    model = TESTER.build(LionBertModel, attention_type="lion_lit", position_embedding_type="none")
    input_ids = torch.tensor([[0, 0, 0, 11, 12, 13], [21, 22, 23, 24, 25, 26]])
    attention_mask = (input_ids != 0).long()
    batch = model(input_ids, attention_mask=attention_mask, attention_mode="recurrent").last_hidden_state
    alone = model(input_ids[:1, 3:], attention_mode="recurrent").last_hidden_state
    torch.testing.assert_close(batch[:1, 3:], alone, atol=ATOL, rtol=0)


# ------------------------------------------------------------------------------------------------------------------
# output_attentions, output_hidden_states, dropout, gradient checkpointing
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attention_type", LION_VARIANTS)
def test_output_attentions_returns_normalised_lion_weights(attention_type):
    model = TESTER.build(LionBertModel, attention_type=attention_type)
    inputs = TESTER.prepare_inputs()
    with_weights = model(**inputs, output_attentions=True, attention_mode="recurrent")
    without = model(**inputs, attention_mode="recurrent")
    torch.testing.assert_close(with_weights.last_hidden_state, without.last_hidden_state, atol=ATOL, rtol=0)
    attentions = with_weights.attentions
    assert len(attentions) == TESTER.num_hidden_layers
    mask = inputs["attention_mask"].bool()
    for weights in attentions:
        assert weights.shape == (TESTER.batch_size, TESTER.num_attention_heads, TESTER.seq_length, TESTER.seq_length)
        assert (weights >= 0).all()
        rows = weights.sum(-1)  # (batch, heads, queries)
        real_rows = rows[mask[:, None, :].expand_as(rows)]
        assert real_rows.numel() == int(mask.sum()) * TESTER.num_attention_heads
        torch.testing.assert_close(real_rows, torch.ones_like(real_rows))
        assert (rows[~mask[:, None, :].expand_as(rows)] == 0).all()  # padded queries
        assert (weights.transpose(-1, -2)[~mask[:, None, :].expand_as(rows)] == 0).all()  # padded keys


def test_output_attentions_with_decay_follows_the_mask():
    """LION-D weights: for a constant-feature input, weight ratio of keys at distances 2 and 1 is lambda_h."""
    model = TESTER.build(LionBertModel, attention_type="lion_d")
    weights = model(torch.full((1, 7), 9), output_attentions=True).attentions[0][0]  # (heads, L, L)
    decays = torch.sigmoid(model.encoder.layer[0].attention.self.decay_logits.detach())
    torch.testing.assert_close(weights[:, 3, 1] / weights[:, 3, 2], decays, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights[:, 3, 5] / weights[:, 3, 4], decays, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("attention_type", VARIANTS)
def test_output_hidden_states(attention_type):
    model = TESTER.build(LionBertForTokenClassification, attention_type=attention_type)
    inputs = TESTER.prepare_inputs()
    output = model(**inputs, output_hidden_states=True)
    assert len(output.hidden_states) == TESTER.num_hidden_layers + 1
    embeddings = model.bert.embeddings(inputs["input_ids"], inputs["token_type_ids"])
    torch.testing.assert_close(output.hidden_states[0], embeddings)
    torch.testing.assert_close(output.hidden_states[-1], model.bert(**inputs).last_hidden_state)
    assert output.attentions is None


def test_attention_dropout_needs_the_parallel_form():
    model = TESTER.build(LionBertModel, attention_type="lion_s", attention_probs_dropout_prob=0.5).train()
    inputs = TESTER.prepare_inputs()
    torch.manual_seed(0)
    first = model(**inputs, attention_mode="parallel").last_hidden_state
    second = model(**inputs, attention_mode="parallel").last_hidden_state
    assert not torch.allclose(first, second)  # dropout on the parallel weights
    chunked = [model(**inputs, attention_mode="chunk").last_hidden_state for _ in range(2)]
    torch.testing.assert_close(chunked[0], chunked[1])  # the chunk form trains without attention dropout
    torch.testing.assert_close(chunked[0], model.eval()(**inputs, attention_mode="parallel").last_hidden_state)


@pytest.mark.parametrize("attention_type", ["lion_s", "softmax"])
def test_gradient_checkpointing_gives_the_same_gradients(attention_type):
    inputs = TESTER.prepare_inputs()
    model = TESTER.build(LionBertForMaskedLM, attention_type=attention_type).train()
    calls = []
    model.bert.encoder.layer[0].attention.register_forward_hook(lambda *args: calls.append(1))

    def gradients():
        model.zero_grad()
        model(**inputs, labels=inputs["input_ids"]).loss.backward()
        return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    plain = gradients()
    assert len(calls) == 1
    model.activation_checkpointing_enable()
    assert all(layer.gradient_checkpointing for layer in model.bert.encoder.layer)
    checkpointed = gradients()
    assert len(calls) == 3  # forward, then the recompute during backward
    assert plain.keys() == checkpointed.keys()
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, atol=1e-6, rtol=1e-6, msg=name)


# ------------------------------------------------------------------------------------------------------------------
# Which form runs: generation config (eval), config (train), forward argument (both)
# ------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def forms_run(monkeypatch):
    """Records (mode, chunk_size) of every lion_attention call made by the model."""
    calls = []
    real = modeling_lion_bert.lion_attention

    def spy(*args, **kwargs):
        calls.append((kwargs["mode"], kwargs["chunk_size"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(modeling_lion_bert, "lion_attention", spy)
    return calls


def test_eval_mode_runs_the_generation_configs_form(forms_run):
    model = TESTER.build(LionBertModel, chunk_size=16)
    inputs = TESTER.prepare_inputs()
    model(**inputs)  # default "auto": 9 tokens <= 256 -> parallel
    model.generation_config.attention_mode = "recurrent"
    model(**inputs)
    model.generation_config.update(attention_mode="chunk", chunk_size=4)
    model(**inputs)
    model.generation_config.update(attention_mode="auto", chunk_size=None, auto_parallel_max_length=8)
    model(**inputs)  # 9 tokens > 8 -> chunk, with config.chunk_size
    model(**{k: v[:, :8] for k, v in inputs.items()})  # 8 tokens -> parallel
    per_call = forms_run[:: TESTER.num_hidden_layers]
    assert len(forms_run) == 5 * TESTER.num_hidden_layers
    assert per_call == [("parallel", 16), ("recurrent", 16), ("chunk", 4), ("chunk", 16), ("parallel", 16)]


def test_train_mode_runs_the_configs_form(forms_run):
    model = TESTER.build(LionBertModel, attention_mode="recurrent", chunk_size=5).train()
    model.generation_config.update(attention_mode="chunk", chunk_size=2)  # ignored in training
    model(**TESTER.prepare_inputs())
    assert set(forms_run) == {("recurrent", 5)}


def test_forward_argument_overrides_both(forms_run):
    model = TESTER.build(LionBertModel, attention_mode="recurrent")
    model.generation_config.attention_mode = "parallel"
    inputs = TESTER.prepare_inputs()
    model(**inputs, attention_mode="chunk", chunk_size=3)
    model.train()
    model(**inputs, attention_mode="chunk", chunk_size=3)
    assert set(forms_run) == {("chunk", 3)}


@pytest.mark.parametrize("model_class", HEAD_CLASSES[1:], ids=lambda c: c.__name__)
def test_heads_use_their_own_generation_config(forms_run, model_class):
    model = TESTER.build(model_class)
    model.generation_config.attention_mode = "recurrent"  # the inner model keeps its own default ("auto")
    inputs = TESTER.prepare_inputs()
    if model_class is LionBertForMultipleChoice:
        inputs = {k: v[:, None, :] for k, v in inputs.items()}
    model(**inputs)
    assert forms_run and set(mode for mode, _ in forms_run) == {"recurrent"}


def test_output_attentions_runs_the_parallel_weights(forms_run):
    model = TESTER.build(LionBertModel)
    model.generation_config.attention_mode = "recurrent"
    output = model(**TESTER.prepare_inputs(), output_attentions=True)
    assert forms_run == [] and len(output.attentions) == TESTER.num_hidden_layers


@pytest.mark.parametrize("model_class", HEAD_CLASSES, ids=lambda c: c.__name__)
def test_generation_config_round_trip(tmp_path, forms_run, model_class):
    model = TESTER.build(model_class, attention_type="lion_d")
    model.generation_config = LionGenerationConfig(attention_mode="recurrent", chunk_size=5, max_iterations=3)
    capture = CaptureLogger(logging.get_logger("transformers"))
    with capture:
        model.save_pretrained(tmp_path)
        loaded = model_class.from_pretrained(tmp_path)
    assert "generation" not in capture.out.lower()  # no GenerationConfig validation warnings
    saved = json.loads((tmp_path / "generation_config.json").read_text())
    assert (saved["attention_mode"], saved["chunk_size"], saved["max_iterations"]) == ("recurrent", 5, 3)
    assert isinstance(loaded.generation_config, LionGenerationConfig)
    assert loaded.generation_config == model.generation_config
    inputs = TESTER.prepare_inputs()
    if model_class is LionBertForMultipleChoice:
        inputs = {k: v[:, None, :] for k, v in inputs.items()}
    loaded(**inputs)
    assert forms_run and set(forms_run) == {("recurrent", 5)}


def test_bert_checkpoint_without_generation_config_gets_the_defaults(tmp_path):
    _random_bert(tmp_path)
    assert not (tmp_path / "generation_config.json").exists()
    model = LionBertModel.from_pretrained(tmp_path, attention_type="lion_s")
    assert isinstance(model.generation_config, LionGenerationConfig)
    assert model.generation_config == LionGenerationConfig()


def test_every_head_has_a_generation_config():
    for model_class in HEAD_CLASSES:
        assert model_class.can_generate()
        assert isinstance(TESTER.build(model_class).generation_config, LionGenerationConfig)


# ------------------------------------------------------------------------------------------------------------------
# Mask-predict generation
# ------------------------------------------------------------------------------------------------------------------

MASK = 4


def _masked_batch():
    input_ids = torch.tensor(
        [
            [2, MASK, MASK, 10, MASK, MASK, 11, MASK, 3],
            [2, 12, MASK, 13, MASK, 3, MASK, 0, 0],  # the last MASK sits on padding: never filled
        ]
    )
    attention_mask = torch.tensor([[1] * 9, [1] * 6 + [0] * 3])
    return input_ids, attention_mask


def test_generate_fills_every_mask():
    model = TESTER.build(LionBertForMaskedLM)
    model.generation_config.mask_token_id = MASK
    input_ids, attention_mask = _masked_batch()
    filled = model.generate(input_ids, attention_mask=attention_mask)
    real = attention_mask.bool()
    was_masked = (input_ids == MASK) & real
    assert filled.shape == input_ids.shape and filled.dtype == torch.long
    assert not (filled[real] == MASK).any()
    assert torch.equal(filled[~was_masked], input_ids[~was_masked])  # other tokens and padding unchanged


def test_generate_with_one_round_is_the_argmax():
    model = TESTER.build(LionBertForMaskedLM)
    input_ids, attention_mask = _masked_batch()
    filled = model.generate(input_ids, attention_mask=attention_mask, max_iterations=1, mask_token_id=MASK)
    logits = model(input_ids, attention_mask=attention_mask).logits
    logits[..., MASK] = float("-inf")
    was_masked = (input_ids == MASK) & attention_mask.bool()
    assert torch.equal(filled[was_masked], logits.argmax(-1)[was_masked])


def test_generate_keeps_the_most_confident_and_remasks_the_rest(monkeypatch):
    model = TESTER.build(LionBertForMaskedLM)
    input_ids, attention_mask = _masked_batch()  # 5 and 2 masks on real tokens
    seen = []
    forward = model.forward

    def recording_forward(*args, **kwargs):
        seen.append(args[0].clone())
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", recording_forward)
    generation_config = LionGenerationConfig(max_iterations=3, mask_token_id=MASK)
    filled = model.generate(input_ids, attention_mask=attention_mask, generation_config=generation_config)
    real = attention_mask.bool()
    masks_per_round = [((ids == MASK) & real).sum(1).tolist() for ids in seen]
    # masks left after round t: floor(N * (T - t) / T)
    assert masks_per_round == [[5, 2], [3, 1], [1, 0]]
    # round 1 kept the two most confident predictions of the first sequence
    probabilities = forward(seen[0], attention_mask).logits
    probabilities[..., MASK] = float("-inf")
    confidence, prediction = probabilities.softmax(-1).max(-1)
    masked = (seen[0][0] == MASK).nonzero().flatten()
    kept = masked[confidence[0, masked].topk(2).indices]
    assert set(((seen[1][0] != MASK) & (seen[0][0] == MASK)).nonzero().flatten().tolist()) == set(kept.tolist())
    assert torch.equal(seen[1][0, kept], prediction[0, kept])
    assert not (filled[real] == MASK).any()


def test_generate_runs_the_generation_configs_form(forms_run):
    model = TESTER.build(LionBertForMaskedLM)
    input_ids, attention_mask = _masked_batch()
    model.generate(input_ids, attention_mask=attention_mask, mask_token_id=MASK, attention_mode="chunk", chunk_size=2)
    assert forms_run and set(forms_run) == {("chunk", 2)}


def test_generate_errors():
    model = TESTER.build(LionBertForMaskedLM)
    input_ids, _ = _masked_batch()
    with pytest.raises(ValueError, match="mask_token_id"):
        model.generate(input_ids)
    with pytest.raises(ValueError, match="not LionGenerationConfig fields"):
        model.generate(input_ids, mask_token_id=MASK, temprature=0.5)
    with pytest.raises(ValueError, match="max_iterations"):
        model.generate(input_ids, mask_token_id=MASK, max_iterations=0)


# ------------------------------------------------------------------------------------------------------------------
# Bad input: ValueError with one clear message, before any compute
# ------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def untouched_model():
    """A LION-LIT model (absolute positions, max_position_embeddings=64) that fails the test if its embeddings run."""
    model = TESTER.build(LionBertForMaskedLM, attention_type="lion_lit")

    def fail(*args):
        raise AssertionError("the model computed before rejecting its input")

    model.bert.embeddings.register_forward_pre_hook(fail)
    return model


def _ids(length=9, batch=2):
    return torch.randint(5, TESTER.vocab_size, (batch, length))


BOTH_OR_NEITHER = "exactly one of input_ids or inputs_embeds"
MODES = "`attention_mode` must be one of 'auto', 'parallel', 'chunk', 'recurrent'"


@pytest.mark.parametrize(
    "make_kwargs, message",
    [
        (lambda: {}, BOTH_OR_NEITHER),
        (lambda: {"input_ids": _ids(), "inputs_embeds": torch.zeros(2, 9, 32)}, BOTH_OR_NEITHER),
        (
            lambda: {"input_ids": _ids(), "attention_mask": torch.ones(2, 10)},
            "attention_mask must have shape (batch_size, sequence_length) = (2, 9), got (2, 10)",
        ),
        (lambda: {"input_ids": _ids(), "attention_mask": torch.ones(9)}, "attention_mask must have shape"),
        (
            lambda: {"input_ids": _ids(), "token_type_ids": torch.zeros(1, 9, dtype=torch.long)},
            "token_type_ids must have shape",
        ),
        (lambda: {"input_ids": _ids(length=65)}, "max_position_embeddings=64"),
        (lambda: {"input_ids": _ids(), "attention_mode": "sideways"}, MODES),
        (lambda: {"input_ids": _ids(), "chunk_size": 0}, "`chunk_size` must be a positive int"),
        (lambda: {"input_ids": torch.ones(9, dtype=torch.long)}, "input_ids must have shape (batch_size, seq"),
        (lambda: {"inputs_embeds": torch.zeros(2, 9, 31)}, "inputs_embeds must have shape"),
    ],
)
def test_bad_input_raises_before_compute(untouched_model, make_kwargs, message):
    with pytest.raises(ValueError) as error:
        untouched_model(**make_kwargs())
    assert message in str(error.value)


def test_too_long_input_names_the_limit_and_the_fix(untouched_model):
    with pytest.raises(ValueError) as error:
        untouched_model(_ids(length=80))
    text = str(error.value)
    assert "max_position_embeddings=64" in text and "position_embedding_type='none'" in text
    assert "larger max_position_embeddings" in text


def test_no_length_limit_without_position_embeddings():
    model = TESTER.build(LionBertModel, attention_type="lion_s", max_position_embeddings=16)
    assert model.embeddings.position_embeddings is None
    output = model(_ids(length=40, batch=1), attention_mode="chunk", chunk_size=8)
    assert output.last_hidden_state.shape == (1, 40, TESTER.hidden_size)


def test_question_answering_needs_two_labels():
    with pytest.raises(ValueError, match="num_labels=2"):
        LionBertForQuestionAnswering(TESTER.get_config(num_labels=3))


def test_multiple_choice_needs_a_choice_dimension():
    model = TESTER.build(LionBertForMultipleChoice)
    with pytest.raises(ValueError, match="num_choices"):
        model(_ids())


def test_a_bert_config_object_is_refused_with_the_conversion_hint():
    with pytest.raises(TypeError, match="LionBertConfig.from_dict"):
        LionBertModel(BertConfig(hidden_size=32, num_attention_heads=4))
