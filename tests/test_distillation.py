"""lion_bert.distillation: the losses against their definitions, then each stage of DistillationTrainer on tiny
models (what it trains, that it lowers its loss), then the stages on the real all-MiniLM-L6-v2."""

import math

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from transformers import DataCollatorWithPadding, HfArgumentParser, TrainingArguments

from lion_bert import LionBertForSequenceClassification, LionBertModel
from lion_bert.conversion import CONVERSION_RECIPES, convert
from lion_bert.distillation import (
    DECAY_CANDIDATES,
    AttentionTransfer,
    ConversionStageArguments,
    DistillationTrainer,
    attention_kl,
    attention_transfer_losses,
    decay_fit_losses,
    fit_decays,
    hidden_state_losses,
    relative_mse,
    select_trained_parameters,
    self_attentions,
    soft_target_loss,
    train_stage,
)


def _rows(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).softmax(-1)


def test_attention_kl_is_the_mean_kl_of_the_real_rows():
    teacher, student = _rows(2, 3, 5, 5, seed=1), _rows(2, 3, 5, 5, seed=2)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    expected = []
    for b in range(2):
        for h in range(3):
            for i in range(5):
                if mask[b, i]:
                    p, q = teacher[b, h, i], student[b, h, i]
                    expected.append((p * (p / q).log()).sum())
    assert torch.allclose(attention_kl(teacher, student, mask), torch.stack(expected).mean(), atol=1e-6)
    assert attention_kl(teacher, teacher, mask).abs() < 1e-7
    # a student weight rounded to 0 gives a large but finite loss, not inf
    zero = student.clone()
    zero[..., 0] = 0.0
    assert torch.isfinite(attention_kl(teacher, zero, mask))


def test_relative_mse_ignores_pads_and_is_scale_free():
    teacher = torch.randn(2, 4, 3)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    student = teacher.clone()
    student[0, 2:] = 1e6  # pads do not count
    assert relative_mse(student, teacher, mask) == 0
    assert torch.allclose(relative_mse(torch.zeros_like(teacher), teacher, mask), torch.tensor(1.0))
    assert torch.allclose(relative_mse(torch.zeros_like(teacher), 7 * teacher, mask), torch.tensor(1.0))
    assert torch.allclose(relative_mse(7 * (teacher + 0.5), 7 * teacher, mask), relative_mse(teacher + 0.5, teacher, mask))


def test_soft_target_loss():
    student, teacher = torch.randn(4, 3), torch.randn(4, 3)
    assert torch.allclose(soft_target_loss(student[:, :1], teacher[:, :1], regression=True),
                          F.mse_loss(student[:, :1], teacher[:, :1]))
    t = 2.0
    p, log_q = (teacher / t).softmax(-1), (student / t).log_softmax(-1)
    expected = (p * (p.log() - log_q)).sum(-1).mean() * t**2
    assert torch.allclose(soft_target_loss(student, teacher, regression=False, temperature=t), expected)
    assert soft_target_loss(teacher, teacher, regression=False).abs() < 1e-6


def test_the_softmax_model_has_zero_transfer_loss_against_itself(tiny_config):
    """attention_transfer_losses runs each student layer on the teacher's hidden states: a student that is the
    teacher must score 0 in both losses."""
    teacher = LionBertModel(tiny_config(attention_type="softmax")).eval()
    ids = torch.randint(0, 99, (3, 11))
    mask = torch.ones(3, 11, dtype=torch.bool)
    mask[1, 7:] = False
    out = teacher(ids, attention_mask=mask, output_hidden_states=True, output_attentions=True)
    losses = attention_transfer_losses(self_attentions(teacher), out, mask, "kl+mse", self_attentions(teacher))
    assert losses.shape == (2,) and losses.abs().max() < 1e-6
    assert hidden_state_losses(out.hidden_states, out.hidden_states, mask).abs().max() == 0


def test_attention_stage_selects_only_what_lion_adds(tiny_config):
    model = LionBertModel(tiny_config(attention_type="lion_d", feature_map="hedgehog"))
    count = select_trained_parameters(model, "attention")
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trained and all(("feature_map" in name) or name.endswith("decay_logits") for name in trained)
    assert count == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert select_trained_parameters(model, "model") == sum(p.numel() for p in model.parameters())
    lit = LionBertModel(tiny_config(attention_type="lion_lit", feature_map="silu_norm", attention_layer_norm=False))
    with pytest.raises(ValueError, match="feature_map='hedgehog'"):
        select_trained_parameters(lit, "attention")


def _pure_decay_rows(decays, mask):
    """(batch, heads, length, length) rows lambda_h^|i-j| over the real keys of `mask` (batch, length)."""
    positions = torch.arange(mask.shape[1], dtype=torch.float64)
    distance = (positions[:, None] - positions[None, :]).abs()
    logits = distance * decays.log()[:, None, None]  # (heads, length, length)
    return logits[None].masked_fill(~mask[:, None, None, :], float("-inf")).softmax(-1)


def test_decay_fit_recovers_the_decay_that_made_the_rows():
    """Rows made from pure decays (one per head, with a padded batch row) have their least cross-entropy at exactly
    those decays, among all candidates; the loss is finite although padded keys have weight 0."""
    chosen = torch.tensor([3, 20, 41, 52])
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[1, 25:] = False
    rows = _pure_decay_rows(DECAY_CANDIDATES[chosen], mask)
    losses = decay_fit_losses(rows, mask, DECAY_CANDIDATES.log())
    assert losses.shape == (len(DECAY_CANDIDATES), 4) and torch.isfinite(losses).all()
    assert torch.equal(losses.argmin(0), chosen)


@pytest.mark.parametrize("attention_type", ["lion_d", "lion_s", "lion_lit"])
def test_fit_decays_sets_each_head_from_the_teacher(tiny_config, attention_type):
    """A teacher whose heads all attend uniformly (zero query weights) is best explained by the slowest candidate
    decay: LION-D gets it as its decays, LION-S as its gate bias; LION-LIT, with no decay, is left unchanged."""
    teacher = LionBertModel(tiny_config(attention_type="softmax")).eval()
    for layer in teacher.encoder.layer:
        torch.nn.init.zeros_(layer.attention.self.query.weight)
        torch.nn.init.zeros_(layer.attention.self.query.bias)
    student = LionBertModel(tiny_config(attention_type=attention_type, feature_map="hedgehog"))
    before = {name: p.detach().clone() for name, p in student.named_parameters()}
    mask = torch.ones(3, 17, dtype=torch.long)
    mask[2, 9:] = 0
    batches = [{"input_ids": torch.randint(0, 99, (3, 17)), "attention_mask": mask, "labels": torch.zeros(3)}]
    decays = fit_decays(student, teacher, batches)
    changed = {name for name, p in student.named_parameters() if not torch.equal(p, before[name])}
    if attention_type == "lion_lit":
        assert decays is None and not changed
        return
    heads = student.config.num_attention_heads
    assert decays == [[DECAY_CANDIDATES[-1].item()] * heads] * student.config.num_hidden_layers
    expected = {"lion_d": "decay_logits", "lion_s": "gate.bias"}[attention_type]
    assert changed and all(name.endswith(expected) for name in changed)
    logits = [p for name, p in student.named_parameters() if name.endswith(expected)]
    assert torch.allclose(torch.sigmoid(torch.stack(logits).double()), DECAY_CANDIDATES[-1].expand(2, heads))
    with pytest.raises(ValueError, match="at least one batch"):
        fit_decays(student, teacher, [])


def _pairs_dataset(tokenizer, n=24, labels=True):
    words = "the cat sat on a mat while dogs ran in the park and birds sang".split()
    rows = {"sentence1": [" ".join(words[i % 7: i % 7 + 5]) for i in range(n)],
            "sentence2": [" ".join(words[(i * 3) % 9: (i * 3) % 9 + 4]) for i in range(n)]}
    encoded = tokenizer(rows["sentence1"], rows["sentence2"], truncation=True, max_length=32)
    if labels:
        encoded["labels"] = [float(i % 5) for i in range(n)]
    return Dataset.from_dict(dict(encoded))


def _arguments(tmp_path, stage, steps=8, learning_rate=1e-2):
    return TrainingArguments(
        output_dir=str(tmp_path / stage), max_steps=steps, per_device_train_batch_size=4, learning_rate=learning_rate,
        report_to=[], save_strategy="no", disable_tqdm=True, use_cpu=True, seed=0, lr_scheduler_type="constant")


@pytest.mark.slow
@pytest.mark.parametrize("attention_type", ["lion_lit", "lion_d", "lion_s"])
def test_stages_on_minilm_lower_their_loss_and_train_what_they_say(tmp_path, minilm_dir, attention_type):
    teacher = convert(str(minilm_dir), attention_type="softmax", head="sequence-classification", num_labels=1,
                      load_tokenizer=False).model
    conversion = convert(str(minilm_dir), attention_type=attention_type, head="sequence-classification",
                         num_labels=1, **CONVERSION_RECIPES[attention_type].config_defaults)
    student, tokenizer = conversion.model, conversion.tokenizer
    student.classifier.load_state_dict(teacher.classifier.state_dict())
    before = {name: p.detach().clone() for name, p in student.named_parameters()}
    collator = DataCollatorWithPadding(tokenizer)
    unlabelled = _pairs_dataset(tokenizer, labels=False)

    _, metrics = train_stage(student, teacher, "attention", _arguments(tmp_path, "attention"), unlabelled,
                             unlabelled, data_collator=collator)
    assert math.isfinite(metrics["eval_loss"]) and metrics["eval_loss"] < 0.8 * metrics["eval_loss_before"]
    layers, heads = student.config.num_hidden_layers, student.config.num_attention_heads
    if attention_type == "lion_lit":
        assert metrics["fitted_decays"] is None
    else:  # every fitted decay is a candidate, and MiniLM's heads do not all look alike
        decays = torch.tensor(metrics["fitted_decays"], dtype=torch.float64)
        assert decays.shape == (layers, heads) and torch.isin(decays, DECAY_CANDIDATES).all()
        assert len(decays.unique()) > 3
    changed = {name for name, p in student.named_parameters() if not torch.equal(p, before[name])}
    assert changed and all("feature_map" in name or "gate" in name or "decay_logits" in name for name in changed)
    assert all(p.requires_grad for p in student.parameters())  # given back after the stage

    _, metrics = train_stage(student, teacher, "model", _arguments(tmp_path, "model", learning_rate=1e-4),
                             unlabelled, unlabelled, data_collator=collator)
    assert metrics["eval_loss"] < metrics["eval_loss_before"]
    assert not torch.equal(student.bert.encoder.layer[0].intermediate.dense.weight,
                           before["bert.encoder.layer.0.intermediate.dense.weight"])

    # with labels: the label loss joins in, and evaluation gives Trainer's predictions for compute_metrics
    labelled = _pairs_dataset(tokenizer, labels=True)
    trainer = DistillationTrainer(model=student, teacher=teacher, label_weight=1.0, args=_arguments(tmp_path, "x"),
                                  data_collator=collator)
    batch = trainer._prepare_inputs(collator([labelled[i] for i in range(4)]))
    loss, outputs = trainer.compute_loss(student, batch, return_outputs=True)
    assert torch.allclose(loss, outputs.loss)  # label_weight 1: the label loss alone
    prediction = trainer.predict(labelled)
    assert prediction.predictions.shape == (len(labelled), 1) and math.isfinite(prediction.metrics["test_loss"])


def test_attention_transfer_model_and_the_trainer_refuse_bad_settings(tmp_path, tiny_config):
    model = LionBertForSequenceClassification(tiny_config(num_labels=1))
    with pytest.raises(ValueError, match="`attention_loss`"):
        AttentionTransfer(model, model, "l1")
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    with pytest.raises(ValueError, match="`stage`"):
        train_stage(model, model, "both", args, None)


@pytest.mark.parametrize("bf16", [True, False], ids=["bf16", "float32"])
def test_the_teacher_runs_in_the_precision_of_the_student(tmp_path, tiny_config, bf16):
    torch.manual_seed(0)
    teacher = LionBertForSequenceClassification(tiny_config(attention_type="softmax", num_labels=1))
    student = LionBertForSequenceClassification(tiny_config(attention_type="lion_s", feature_map="hedgehog",
                                                            num_labels=1))
    dtypes = {}

    def record(name):
        def hook(module, inputs, output):
            dtypes.setdefault(name, output.dtype)
        return hook

    for name, model in (("teacher", teacher), ("student", student)):
        model.bert.encoder.layer[0].intermediate.dense.register_forward_hook(record(name))
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4, report_to=[],
                             save_strategy="no", disable_tqdm=True, use_cpu=True, bf16=bf16)
    data = Dataset.from_dict({"input_ids": [[2, 5, 7, 3]] * 4, "attention_mask": [[1] * 4] * 4, "labels": [1.0] * 4})
    DistillationTrainer(model=student, teacher=teacher, args=args, train_dataset=data).train()
    expected = torch.bfloat16 if bf16 else torch.float32
    assert dtypes == {"teacher": expected, "student": expected}


def test_trainer_refuses_bad_settings(tmp_path, tiny_config):
    model = LionBertForSequenceClassification(tiny_config(num_labels=1))
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    for kwargs, message in [(dict(label_weight=1.5), "`label_weight`"), (dict(temperature=0), "`temperature`")]:
        with pytest.raises(ValueError, match=message):
            DistillationTrainer(model=model, teacher=model, args=args, **kwargs)


@pytest.mark.parametrize("flags, message", [
    (["--attention_transfer_steps", "-1"], "--attention_transfer_steps must be >= 0"),
    (["--attention_transfer_learning_rate", "0"], "--attention_transfer_learning_rate must be positive"),
    (["--student_attention_dropout", "1"], r"--student_attention_dropout must lie in \[0, 1\)"),
], ids=["steps", "learning-rate", "dropout"])
def test_conversion_stage_arguments_refuse_bad_values_when_parsed(flags, message):
    parser = HfArgumentParser(ConversionStageArguments)
    (defaults,) = parser.parse_args_into_dataclasses(args=[])
    # the transfer steps are left to the variant's recipe (tests/test_conversion.py)
    assert (defaults.attention_transfer_steps, defaults.student_attention_dropout) == (None, 0.0)
    with pytest.raises(ValueError, match=message):
        parser.parse_args_into_dataclasses(args=flags)
