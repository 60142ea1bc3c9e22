"""Distilling a softmax BERT into LION: the losses, and the 🤗 Trainer that runs one stage of a conversion.

A BERT converted to LION keeps every weight, but its query/key weights were trained for exp(q . k / sqrt(d)):
through a fixed feature map they give nearly uniform attention. Following Hedgehog (Zhang et al. 2024) and LoLCATs
(Zhang et al. 2025), conversion runs in stages, each a 🤗 Trainer run against the frozen softmax model (the
teacher); :func:`train_stage` runs one:

* ``"attention"`` (attention transfer, :class:`AttentionTransfer`): teacher-forced, layer by layer. Each student
  layer's LION attention is computed from the hidden states the *teacher* feeds that layer and compared with the
  teacher's softmax attention: KL divergence between the attention rows (``"kl"``), squared error of the attention
  outputs (``"mse"``), or both. Only the learned feature maps and LION's own parameters (decays, attention
  LayerNorm) are trained (``STAGE_PARAMETERS``); every BERT weight stays. Before it trains, each head's decay
  (LION-D, and the average decay of LION-S's gate) starts where the teacher's rows point (:func:`fit_decays`): the
  decay lambda whose rows lambda^|i-j| best explain that head's softmax rows. A local head starts local and a head
  that looks across the whole input starts with lambda near 1, rather than at a spread that ignores the teacher.
* ``"model"`` (model distillation): free-running. Every hidden state of the student is compared with the
  teacher's (squared error relative to the teacher's mean square, so that every layer counts alike) and, when both
  models have a task head, the teacher's logits are soft targets next to the labels (:class:`DistillationTrainer`).
  Every parameter is trained.

Losses are averaged over real tokens only (``attention_mask`` 1); shapes are stated on each function.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from safetensors.torch import load_file
from transformers import Trainer, TrainerState, TrainingArguments
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import SAFE_WEIGHTS_NAME

from .conversion import CONVERSION_RECIPES, recipe_default_text
from .modeling_lion_bert import DECAY_KINDS, AttentionForm


ATTENTION_LOSSES = ("kl", "mse", "kl+mse")
DISTILLATION_STAGES = ("attention", "model")
# what each stage trains: the attention stage adapts only what LION adds to BERT (the learned feature maps, decays and
# the attention LayerNorm); the model stage everything
STAGE_PARAMETERS: dict[str, re.Pattern] = {
    "attention": re.compile(r"(^|\.)(query_feature_map|key_feature_map|gate|decay_logits|attn_norm)(\.|$)"),
    "model": re.compile(r""),
}
_TINY = 1e-12  # floor of a probability before its log: a LION weight can round to 0 where softmax's is ~0 too
# the decays fit_decays chooses from: 1 - lambda from 1/2 to 2^-14 in quarter octaves (ranges of ~2 to ~16,000
# tokens; the upper end is "no decay" at any length a BERT was trained on)
DECAY_CANDIDATES = 1.0 - torch.exp2(-torch.arange(4, 57, dtype=torch.float64) / 4)
DECAY_FIT_EXAMPLES = 256  # training examples whose teacher attention fit_decays reads


@dataclass
class ConversionStageArguments:
    """The command-line arguments that every entry point converting a BERT shares (``run_glue.py`` and
    ``convert_bert_to_lion.py`` extend this dataclass with their own), checked when parsed."""

    attention_transfer_steps: int | None = field(default=None, metadata={
        "help": "Steps of attention transfer (0: skip). Default: the LION variant's conversion recipe, "
                f"{recipe_default_text('attention_transfer_steps')}."})
    attention_transfer_learning_rate: float = field(default=1e-2, metadata={"help": "Its peak learning rate."})
    student_attention_dropout: float = field(default=0.0, metadata={
        "help": "Attention dropout of the LION model while it is distilled (the softmax teacher keeps its own). "
                "Default 0: it learns the teacher's attention, not a noisy copy, and trains in the fused parallel "
                "form."})

    def __post_init__(self):
        if self.attention_transfer_steps is not None and self.attention_transfer_steps < 0:
            raise ValueError(f"--attention_transfer_steps must be >= 0 (0 skips the stage), got "
                             f"{self.attention_transfer_steps}.")
        if not self.attention_transfer_learning_rate > 0:
            raise ValueError("--attention_transfer_learning_rate must be positive, got "
                             f"{self.attention_transfer_learning_rate}.")
        if not 0.0 <= self.student_attention_dropout < 1.0:
            raise ValueError(f"--student_attention_dropout must lie in [0, 1), got {self.student_attention_dropout}.")

    def fill_variant_defaults(self, attention_type: str) -> None:
        """Set what was left to the conversion recipe of `attention_type` (``CONVERSION_RECIPES``); softmax, which
        has nothing to transfer, gets 0 steps."""
        if self.attention_transfer_steps is None:
            recipe = CONVERSION_RECIPES.get(attention_type)
            self.attention_transfer_steps = recipe.attention_transfer_steps if recipe else 0


def attention_kl(teacher_weights: torch.Tensor, student_weights: torch.Tensor, query_mask: torch.Tensor) -> torch.Tensor:
    """KL(teacher row || student row), averaged over the real query rows of every head.

    teacher_weights, student_weights: (batch, heads, length, length), rows summing to 1 over the real keys;
    query_mask: (batch, length) bool, True for real tokens. Returns a scalar (nats)."""
    log_ratio = teacher_weights.clamp_min(_TINY).log() - student_weights.clamp_min(_TINY).log()
    per_row = (teacher_weights * log_ratio).sum(-1)  # (batch, heads, length)
    return per_row.transpose(1, 2)[query_mask].mean()


def relative_mse(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the real tokens divided by the teacher's mean square (0 = equal, 1 = as far as a zero
    output). student, teacher: (batch, length, features); mask: (batch, length) bool. Returns a scalar."""
    teacher = teacher[mask]
    return (student[mask] - teacher).pow(2).mean() / teacher.pow(2).mean().clamp_min(_TINY)


def attention_transfer_losses(
    student_attentions, teacher_outputs, attention_mask: torch.Tensor, loss: str = "kl", teacher_attentions=None
) -> torch.Tensor:
    """Teacher-forced loss of every student layer's attention: (layers,).

    student_attentions: the student's self-attention modules, one per layer; teacher_outputs: the teacher base
    model's output with `hidden_states` (embeddings, then each layer) and, for "kl", `attentions` ((batch, heads,
    length, length) per layer); attention_mask: (batch, length) bool. `loss`: one of ``ATTENTION_LOSSES``; "mse"
    compares the attention outputs (batch, length, hidden) before the output projection and needs the teacher's
    self-attention modules, `teacher_attentions`.
    """
    losses = []
    for index, attention in enumerate(student_attentions):
        hidden = teacher_outputs.hidden_states[index]
        output, weights = attention(hidden, attention_mask, AttentionForm("parallel", 64), output_attentions="kl" in loss)
        total = 0.0
        if "kl" in loss:
            total = total + attention_kl(teacher_outputs.attentions[index], weights, attention_mask)
        if "mse" in loss:
            with torch.no_grad():
                target = teacher_attentions[index](hidden, attention_mask)[0]
            total = total + relative_mse(output, target, attention_mask)
        losses.append(total)
    return torch.stack(losses)


def self_attentions(model: nn.Module) -> list[nn.Module]:
    """The self-attention module of every encoder layer of a LionBert model (any head)."""
    return [layer.attention.self for layer in model.base_model.encoder.layer]


def hidden_state_losses(student_hidden_states, teacher_hidden_states, attention_mask: torch.Tensor) -> torch.Tensor:
    """`relative_mse` of every layer's output (the embeddings excluded): (layers,). The hidden states are tuples of
    (batch, length, hidden) tensors, as models return with output_hidden_states=True."""
    return torch.stack(
        [relative_mse(s, t, attention_mask) for s, t in zip(student_hidden_states[1:], teacher_hidden_states[1:])]
    )


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, regression: bool,
                     temperature: float = 1.0) -> torch.Tensor:
    """The teacher's predictions as targets: squared error for regression; otherwise KL between the softened
    distributions, scaled by temperature^2 (Hinton et al. 2015) so that its gradients keep their size.
    logits: (batch, num_labels)."""
    if regression:
        return F.mse_loss(student_logits, teacher_logits)
    student = F.log_softmax(student_logits / temperature, dim=-1)
    teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    return F.kl_div(student, teacher, log_target=True, reduction="batchmean") * temperature**2


def decay_fit_losses(teacher_weights: torch.Tensor, query_mask: torch.Tensor, log_decays: torch.Tensor) -> torch.Tensor:
    """For each candidate decay: the cross-entropy of each head's teacher rows against the pure-decay rows
    lambda^|i-j| (normalised over the real keys), summed over the real query rows.

    teacher_weights: (batch, heads, length, length); query_mask: (batch, length) bool, True for real tokens;
    log_decays: (candidates,), log(lambda) < 0. Returns (candidates, heads), in nats."""
    length = query_mask.shape[1]
    positions = torch.arange(length, device=teacher_weights.device)
    distance = (positions[:, None] - positions[None, :]).abs().to(teacher_weights.dtype)  # (length, length)
    # a large finite bias rather than -inf: a padded key has teacher weight 0, and 0 * -inf would be NaN
    key_bias = (~query_mask)[:, None, None, :].to(teacher_weights.dtype) * -1e9  # (batch, 1, 1, length)
    rows = query_mask[:, None, :].to(teacher_weights.dtype)  # (batch, 1, length)
    losses = []
    for log_decay in log_decays.to(teacher_weights.dtype):
        log_rows = (distance * log_decay + key_bias).log_softmax(-1)  # (batch, 1, length, length)
        cross_entropy = -(teacher_weights * log_rows).sum(-1)  # (batch, heads, length)
        losses.append((cross_entropy * rows).sum((0, 2)))
    return torch.stack(losses)


@torch.no_grad()
def fit_decays(student: nn.Module, teacher: nn.Module, batches) -> list[list[float]] | None:
    """Start each LION head's decay where the teacher's attention points: the candidate of ``DECAY_CANDIDATES``
    whose pure-decay rows lambda^|i-j| have the least cross-entropy against that head's softmax rows over
    `batches` (dicts of model inputs with an attention_mask; labels are ignored). LION-D gets it as its decay,
    LION-S as the bias of its gate (the decay of an average token).

    Returns the chosen decays, (layers, heads) as lists, or None (and changes nothing) when the student's attention
    has no decay."""
    attentions = self_attentions(student)
    parameters = [DECAY_KINDS[attention.decay_kind].head_logits(attention) for attention in attentions]
    if any(parameter is None for parameter in parameters):
        return None
    log_decays = DECAY_CANDIDATES.log()
    totals = None  # (layers, candidates, heads), summed over the batches
    for batch in batches:
        batch = {key: value for key, value in batch.items() if key != "labels"}
        mask = batch["attention_mask"].bool()
        weights = teacher.base_model(**batch, output_attentions=True).attentions
        losses = torch.stack([decay_fit_losses(w.double(), mask, log_decays) for w in weights])
        totals = losses if totals is None else totals + losses
    if totals is None:
        raise ValueError("fit_decays needs at least one batch.")
    decays = DECAY_CANDIDATES[totals.argmin(1)]  # (layers, heads)
    for parameter, layer_decays in zip(parameters, decays):
        parameter.copy_(torch.logit(layer_decays))
    return decays.tolist()


class AttentionTransfer(nn.Module):
    """The attention-transfer stage as a model a Trainer can train (and DDP can wrap): `forward(**batch)` returns
    the mean over layers of `attention_transfer_losses`. It holds the student's self-attention modules (shared: the
    student is trained in place) and the frozen teacher; only parameters with requires_grad train (select them with
    `select_trained_parameters(student, "attention")`)."""

    def __init__(self, student: nn.Module, teacher: nn.Module, loss: str = "kl"):
        super().__init__()
        if loss not in ATTENTION_LOSSES:
            raise ValueError(f"`attention_loss` must be one of {ATTENTION_LOSSES}, got {loss!r}.")
        self.attentions = nn.ModuleList(self_attentions(student))
        self.teacher = teacher.eval().requires_grad_(False)
        self.loss = loss

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # no dropout in the targets
        return self

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, return_loss=True, **unused):
        """input_ids, attention_mask, token_type_ids: (batch, length). Returns {"loss", "layer_losses" (layers,)}."""
        mask = attention_mask.bool()
        with torch.no_grad():
            targets = self.teacher.base_model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                              output_hidden_states=True, output_attentions="kl" in self.loss)
        losses = attention_transfer_losses(self.attentions, targets, mask, self.loss, self_attentions(self.teacher))
        return {"loss": losses.mean(), "layer_losses": losses}


def select_trained_parameters(model: nn.Module, stage: str) -> int:
    """Set requires_grad on the parameters `stage` trains (``STAGE_PARAMETERS``), off on the others; returns how many
    values are trained. Raises ValueError when the stage would train nothing."""
    pattern = STAGE_PARAMETERS[stage]
    count = 0
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(pattern.search(name) is not None)
        count += parameter.numel() if parameter.requires_grad else 0
    if count == 0:
        raise ValueError(
            f"The {stage!r} distillation stage found no parameter to train: it needs a LION model with a learned "
            f"feature map (feature_map='hedgehog') or LION's own parameters."
        )
    return count


class DistillationTrainer(Trainer):
    """A Trainer whose loss is model distillation against a frozen softmax teacher (see the module docstring): the
    relative error of every hidden state, plus the teacher's logits as soft targets when both models have a task
    head, plus the label loss when the batch has labels.

    Args:
        teacher: the softmax model, with the student's head class; moved to the training device, frozen, eval mode.
        label_weight: with labels in the batch, the weight of the label loss; the hidden states and soft targets
            take ``1 - label_weight``. Ignored without labels.
        temperature: softening of the classification soft targets.
        Other arguments: as for `transformers.Trainer`.
    """

    def __init__(self, *args, teacher: nn.Module, label_weight: float = 0.5, temperature: float = 1.0, **kwargs):
        if not 0.0 <= label_weight <= 1.0:
            raise ValueError(f"`label_weight` must lie in [0, 1], got {label_weight!r}.")
        if not temperature > 0:
            raise ValueError(f"`temperature` must be positive, got {temperature!r}.")
        super().__init__(*args, **kwargs)
        self.teacher = teacher.to(self.args.device).eval().requires_grad_(False)
        self.label_weight, self.temperature = label_weight, temperature

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.get("labels")
        # accelerate's autocast covers the prepared student only; the teacher runs in the same precision
        with torch.no_grad(), self.accelerator.autocast():
            teacher_outputs = self.teacher(**{k: v for k, v in inputs.items() if k != "labels"},
                                           output_hidden_states=True)
        outputs = model(**inputs, output_hidden_states=True)
        mask = inputs["attention_mask"].bool()
        loss = hidden_state_losses(outputs.hidden_states, teacher_outputs.hidden_states, mask).mean()
        student_logits, teacher_logits = getattr(outputs, "logits", None), getattr(teacher_outputs, "logits", None)
        if student_logits is not None and teacher_logits is not None and student_logits.dim() == 2:
            regression = student_logits.shape[-1] == 1
            loss = loss + soft_target_loss(student_logits, teacher_logits, regression, self.temperature)
        if labels is not None and outputs.loss is not None:
            loss = (1.0 - self.label_weight) * loss + self.label_weight * outputs.loss
        return (loss, outputs) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """With labels, Trainer's own (loss and logits, for `compute_metrics`); without, the distillation loss."""
        if "labels" in inputs:  # the hidden states the loss needed are not predictions
            ignore_keys = [*(ignore_keys or []), "hidden_states"]
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None


def train_stage(student: nn.Module, teacher: nn.Module, stage: str, args: TrainingArguments, train_dataset,
                eval_dataset=None, attention_loss: str = "kl", **trainer_kwargs) -> tuple[Trainer, dict]:
    """Run one conversion stage on `student` (in place): select the parameters it trains, train it with a Trainer
    (the "attention" stage starts the decays at `fit_decays` on the first ``DECAY_FIT_EXAMPLES`` training examples,
    then trains an `AttentionTransfer`; the "model" stage is a `DistillationTrainer`), resuming
    from the newest checkpoint in `args.output_dir` when there is one, and give every parameter back its gradient.

    `trainer_kwargs` go to the Trainer (data_collator, ...). Returns the trainer and its metrics: Trainer's train
    metrics, the attention stage's ``fitted_decays`` (unless it resumes from a checkpoint) and, with an
    `eval_dataset` (no labels), the held-out stage loss before (``eval_loss_before``, after the decay fit) and after
    (``eval_loss``) training."""
    if stage not in DISTILLATION_STAGES:
        raise ValueError(f"`stage` must be one of {DISTILLATION_STAGES}, got {stage!r}.")
    trained = select_trained_parameters(student, stage)
    made_folder = not os.path.exists(args.output_dir)
    common = dict(args=args, train_dataset=train_dataset, eval_dataset=eval_dataset, **trainer_kwargs)
    if stage == "attention":
        trainer = Trainer(model=AttentionTransfer(student, teacher, attention_loss), **common)
    else:
        trainer = DistillationTrainer(model=student, teacher=teacher, **common)
    metrics = {"trained_parameters": trained}
    checkpoint = get_last_checkpoint(args.output_dir) if os.path.isdir(args.output_dir) else None
    if stage == "attention" and checkpoint is None:  # a resumed stage takes its checkpoint's decays instead
        fit_examples = train_dataset.select(range(min(DECAY_FIT_EXAMPLES, len(train_dataset))))
        metrics["fitted_decays"] = fit_decays(student, teacher, trainer.get_eval_dataloader(fit_examples))
    if eval_dataset is not None:
        metrics["eval_loss_before"] = trainer.evaluate()["eval_loss"]
    if checkpoint is not None and 0 < args.max_steps <= TrainerState.load_from_json(
            os.path.join(checkpoint, TRAINER_STATE_NAME)).global_step:
        # the stage had finished: take its weights (resuming at the last step in mid-epoch, Trainer trains one more)
        trainer.model.load_state_dict(load_file(os.path.join(checkpoint, SAFE_WEIGHTS_NAME)), strict=False)
        metrics["resumed_finished_stage"] = checkpoint
    else:
        metrics.update(trainer.train(resume_from_checkpoint=checkpoint).metrics)
    if eval_dataset is not None:
        metrics["eval_loss"] = trainer.evaluate()["eval_loss"]
    student.requires_grad_(True)
    if made_folder:  # Trainer makes its output folder even when it saves nothing there
        with contextlib.suppress(FileNotFoundError):  # under torchrun another process may have removed it first
            if not os.listdir(args.output_dir):
                os.rmdir(args.output_dir)
    return trainer, metrics


@torch.no_grad()
def layer_errors(student: nn.Module, teacher: nn.Module, batches) -> dict[str, list[float]]:
    """Per layer, averaged over `batches` (dicts of model inputs with an attention_mask): the teacher-forced attention
    KL (nats per row) and the free-running relative error of the hidden state (`relative_mse`). Both models must be
    in eval mode; the student's LION attention runs in the parallel form."""
    kl_sum, hidden_sum, count = 0.0, 0.0, 0
    for batch in batches:
        batch = {key: value for key, value in batch.items() if key != "labels"}
        mask = batch["attention_mask"].bool()
        teacher_outputs = teacher.base_model(**batch, output_hidden_states=True, output_attentions=True)
        kl_sum = kl_sum + attention_transfer_losses(self_attentions(student), teacher_outputs, mask, "kl")
        student_hidden = student.base_model(**batch, output_hidden_states=True).hidden_states
        hidden_sum = hidden_sum + hidden_state_losses(student_hidden, teacher_outputs.hidden_states, mask)
        count += 1
    if count == 0:
        raise ValueError("layer_errors needs at least one batch.")
    return {"attention_kl": (kl_sum / count).tolist(), "hidden_relative_error": (hidden_sum / count).tolist()}


__all__ = [
    "ATTENTION_LOSSES",
    "AttentionTransfer",
    "ConversionStageArguments",
    "DECAY_CANDIDATES",
    "DECAY_FIT_EXAMPLES",
    "DISTILLATION_STAGES",
    "DistillationTrainer",
    "STAGE_PARAMETERS",
    "attention_kl",
    "attention_transfer_losses",
    "decay_fit_losses",
    "fit_decays",
    "hidden_state_losses",
    "layer_errors",
    "relative_mse",
    "select_trained_parameters",
    "self_attentions",
    "soft_target_loss",
    "train_stage",
]
