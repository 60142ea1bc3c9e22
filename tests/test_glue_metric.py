"""The GLUE metric module shipped in scripts/metrics/glue: loads offline with evaluate.load(<path>) and computes each
task's official metrics exactly as scikit-learn / SciPy do."""

from pathlib import Path

import evaluate
import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef


METRIC_PATH = str(Path(__file__).resolve().parents[1] / "scripts" / "metrics" / "glue")

# task -> (number of classes, or None for regression; the metric keys the module must return)
TASKS = {
    "cola": (2, {"matthews_correlation"}),
    "sst2": (2, {"accuracy"}),
    "mrpc": (2, {"accuracy", "f1"}),
    "stsb": (None, {"pearson", "spearmanr"}),
    "qqp": (2, {"accuracy", "f1"}),
    "mnli": (3, {"accuracy"}),
    "mnli_matched": (3, {"accuracy"}),
    "mnli_mismatched": (3, {"accuracy"}),
    "qnli": (2, {"accuracy"}),
    "rte": (2, {"accuracy"}),
    "wnli": (2, {"accuracy"}),
    "ax": (3, {"matthews_correlation"}),
}


def fixed_inputs(num_classes, n=97, seed=0):
    """Predictions that agree with the references about 70% of the time (scores with noise for regression)."""
    rng = np.random.default_rng(seed)
    if num_classes is None:
        references = rng.uniform(0.0, 5.0, n).round(3)
        predictions = (references + rng.normal(0.0, 1.0, n)).astype(np.float32)
        return predictions.tolist(), references.tolist()
    references = rng.integers(0, num_classes, n)
    flip = rng.random(n) < 0.3
    predictions = np.where(flip, rng.integers(0, num_classes, n), references)
    return predictions.tolist(), references.tolist()


def expected(task, predictions, references):
    p, r = np.asarray(predictions), np.asarray(references)
    if task == "stsb":
        p32, r32 = p.astype(np.float32).astype(np.float64), r.astype(np.float32).astype(np.float64)
        return {"pearson": pearsonr(p32, r32)[0], "spearmanr": spearmanr(p32, r32)[0]}
    if task in ("cola", "ax"):
        return {"matthews_correlation": matthews_corrcoef(r, p)}
    if task in ("mrpc", "qqp"):
        return {"accuracy": accuracy_score(r, p), "f1": f1_score(r, p)}
    return {"accuracy": accuracy_score(r, p)}


@pytest.fixture(scope="module")
def glue_metric():
    cache = {}

    def load(task):
        if task not in cache:
            cache[task] = evaluate.load(METRIC_PATH, task, keep_in_memory=True)
        return cache[task]

    return load


@pytest.mark.parametrize("task", list(TASKS))
def test_metric_matches_sklearn_and_scipy(glue_metric, task):
    num_classes, keys = TASKS[task]
    predictions, references = fixed_inputs(num_classes)
    result = glue_metric(task).compute(predictions=predictions, references=references)
    assert set(result) == keys
    want = expected(task, predictions, references)
    for key in keys:
        assert isinstance(result[key], float)
        assert result[key] == pytest.approx(float(want[key]), abs=1e-9), key
    # the fixed inputs are informative, not degenerate
    assert all(0.0 < abs(value) < 1.0 for value in result.values())


@pytest.mark.parametrize("task", [t for t, (classes, _) in TASKS.items() if classes is not None])
def test_perfect_predictions_score_one(glue_metric, task):
    _, references = fixed_inputs(TASKS[task][0], seed=1)
    result = glue_metric(task).compute(predictions=references, references=references)
    assert all(value == pytest.approx(1.0) for value in result.values())


def test_stsb_metric_on_hand_computed_values(glue_metric):
    result = glue_metric("stsb").compute(predictions=[0.0, 1.0, 2.0, 3.0], references=[0.0, 1.0, 2.0, 3.5])
    assert result["spearmanr"] == pytest.approx(1.0)
    assert result["pearson"] == pytest.approx(pearsonr([0, 1, 2, 3], [0, 1, 2, 3.5])[0], abs=1e-7)


def test_mrpc_f1_is_that_of_the_positive_class(glue_metric):
    result = glue_metric("mrpc").compute(predictions=[1, 1, 0, 0], references=[1, 0, 0, 0])
    assert result == {"accuracy": 0.75, "f1": pytest.approx(2 / 3)}


def test_unknown_configuration_is_refused():
    with pytest.raises(KeyError, match="cola"):
        evaluate.load(METRIC_PATH, "not_a_task", keep_in_memory=True)


def test_mismatched_lengths_are_refused(glue_metric):
    with pytest.raises(ValueError):
        glue_metric("sst2").compute(predictions=[0, 1, 1], references=[0, 1])
