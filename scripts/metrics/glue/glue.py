"""GLUE metric for 🤗 `evaluate`, shipped with lion-bert so that it loads offline.

    import evaluate
    metric = evaluate.load("scripts/metrics/glue", "mrpc")   # a path: nothing is downloaded
    metric.compute(predictions=[0, 1, 1], references=[0, 1, 0])
    # {'accuracy': 0.666..., 'f1': 0.666...}

`evaluate.load("glue")` fetches the Hub's module; this one computes the same official metrics with scikit-learn
and SciPy:

========  ==========================================  ==========================
task      metrics                                     predictions / references
========  ==========================================  ==========================
cola      matthews_correlation                        class ids
sst2      accuracy                                    class ids
mrpc      accuracy, f1 (positive class 1)             class ids
stsb      pearson, spearmanr                          floats (regression)
qqp       accuracy, f1 (positive class 1)             class ids
mnli      accuracy (also mnli_matched, mnli_mismatched,  class ids
          ax: the same accuracy / MCC as the Hub module)
qnli      accuracy                                    class ids
rte       accuracy                                    class ids
wnli      accuracy                                    class ids
========  ==========================================  ==========================

The configuration names and the returned keys are those of the Hub's `glue` module.
"""

import datasets
import evaluate
import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef


_CITATION = """\
@inproceedings{wang2019glue,
  title={{GLUE}: A Multi-Task Benchmark and Analysis Platform for Natural Language Understanding},
  author={Wang, Alex and Singh, Amanpreet and Michael, Julian and Hill, Felix and Levy, Omer and Bowman, Samuel R.},
  booktitle={International Conference on Learning Representations},
  year={2019}
}
"""

_DESCRIPTION = """\
The official metric of each GLUE task: Matthews correlation (CoLA), accuracy (SST-2, MNLI, QNLI, RTE, WNLI),
accuracy and F1 (MRPC, QQP), Pearson and Spearman correlation (STS-B).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted labels (class ids), or scores for stsb.
    references: gold labels (class ids), or scores for stsb.
Returns: depending on the configuration,
    "accuracy": fraction of exact matches;
    "f1": F1 of the positive class (label 1);
    "pearson": Pearson correlation; "spearmanr": Spearman rank correlation;
    "matthews_correlation": Matthews correlation coefficient.
Example:
    >>> glue_metric = evaluate.load("scripts/metrics/glue", "stsb")
    >>> glue_metric.compute(predictions=[0.0, 1.0, 2.0], references=[0.0, 1.0, 2.5])
    {'pearson': 0.99..., 'spearmanr': 1.0}
"""

TASK_METRICS = {
    "cola": ("matthews_correlation",),
    "sst2": ("accuracy",),
    "mrpc": ("accuracy", "f1"),
    "stsb": ("pearson", "spearmanr"),
    "qqp": ("accuracy", "f1"),
    "mnli": ("accuracy",),
    "mnli_matched": ("accuracy",),
    "mnli_mismatched": ("accuracy",),
    "qnli": ("accuracy",),
    "rte": ("accuracy",),
    "wnli": ("accuracy",),
    "hans": ("accuracy",),
    "ax": ("matthews_correlation",),
}


def simple_accuracy(preds, labels):
    return float(accuracy_score(labels, preds))


def acc_and_f1(preds, labels):
    return {"accuracy": simple_accuracy(preds, labels), "f1": float(f1_score(y_true=labels, y_pred=preds))}


def pearson_and_spearman(preds, labels):
    return {"pearson": float(pearsonr(preds, labels)[0]), "spearmanr": float(spearmanr(preds, labels)[0])}


def glue_compute(config_name, predictions, references):
    """The metrics of `config_name` (a key of TASK_METRICS) as a dict of Python floats."""
    if config_name not in TASK_METRICS:
        raise KeyError(f"Unknown GLUE configuration {config_name!r}; choose one of {sorted(TASK_METRICS)}.")
    predictions = np.asarray(predictions)
    references = np.asarray(references)
    if predictions.shape != references.shape:
        raise ValueError(
            f"predictions and references must have the same length, got {predictions.shape} and {references.shape}."
        )
    if predictions.size == 0:
        raise ValueError("GLUE metrics need at least one prediction.")
    if config_name == "stsb":
        return pearson_and_spearman(predictions.astype(np.float64), references.astype(np.float64))
    if config_name in ("cola", "ax"):
        return {"matthews_correlation": float(matthews_corrcoef(references, predictions))}
    if config_name in ("mrpc", "qqp"):
        return acc_and_f1(predictions, references)
    return {"accuracy": simple_accuracy(predictions, references)}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Glue(evaluate.Metric):
    def _info(self):
        if self.config_name not in TASK_METRICS:
            raise KeyError(
                f"You should supply a configuration name selected in {sorted(TASK_METRICS)}, got {self.config_name!r}."
            )
        value_type = "float32" if self.config_name == "stsb" else "int64"
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value(value_type), "references": datasets.Value(value_type)}
            ),
            codebase_urls=[],
            reference_urls=["https://gluebenchmark.com/"],
            format="numpy",
        )

    def _compute(self, predictions, references):
        return glue_compute(self.config_name, predictions, references)
