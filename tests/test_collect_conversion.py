"""scripts/collect_conversion.py: its command line (the call of scripts/reproduce_conversion.sh) and a run over no runs."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "collect_conversion.py"
_spec = importlib.util.spec_from_file_location("collect_conversion", SCRIPT)
collect_conversion = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(collect_conversion)


def test_flags_parse_with_dashes_and_underscores_and_settings_repeat():
    dashed = collect_conversion.parse_args(["--runs-dir", "r", "--out-dir", "o", "--setting", "mode=full",
                                            "--setting", "seed=42 (every run)"])
    underscored = collect_conversion.parse_args(["--runs_dir", "r", "--out_dir", "o", "--setting", "mode=full",
                                                 "--setting", "seed=42 (every run)"])
    assert dashed == underscored and (dashed.runs_dir, dashed.out_dir) == (Path("r"), Path("o"))
    assert dashed.setting == ["mode=full", "seed=42 (every run)"]  # every --setting is kept, not only the last
    assert collect_conversion.parse_args(["--runs_dir", "r", "--out_dir", "o"]).setting == []


def test_a_missing_flag_is_named(capsys):
    with pytest.raises(SystemExit) as exited:
        collect_conversion.parse_args(["--runs_dir", "r"])
    assert exited.value.code == 2 and "--out_dir" in capsys.readouterr().err


def test_no_runs_gives_no_tables_and_no_plots(tmp_path):
    out = tmp_path / "out"
    evidence = collect_conversion.main(["--runs_dir", str(tmp_path / "none"), "--out_dir", str(out),
                                        "--setting", "a=b", "--setting", "c=d"])
    assert evidence["runs"] == [] and evidence["softmax"] is None
    assert json.loads((out / "conversion.json").read_text())["settings"] == ["a=b", "c=d"]
    markdown = (out / "conversion.md").read_text()
    assert "Settings: a=b; c=d." in markdown and "Softmax baseline" not in markdown and "|" not in markdown
    assert not list(out.glob("*.png"))


def test_a_task_free_conversion_alone_gets_its_table_and_layer_plot(tmp_path):
    """--task-free-only: one convert_bert_to_lion.py folder and no fine-tune; its errors per layer are plotted."""
    folder = tmp_path / "runs" / "convert-lion_s"
    folder.mkdir(parents=True)
    errors = lambda kl, hidden: {"attention_kl": kl, "hidden_relative_error": hidden}  # noqa: E731
    (folder / "conversion_results.json").write_text(json.dumps({
        "errors_before": errors([2.0, 1.0], [0.3, 0.8]), "errors_after_attention": errors([0.2, 0.1], [0.1, 0.4]),
        "errors_after_model": errors([0.3, 0.2], [0.05, 0.125]), "stages": {"model": {"steps": 5, "eval_loss": 0.1}},
        "zero_shot_sts_b": {"student": 0.85, "teacher": 0.867}}))
    out = tmp_path / "out"
    evidence = collect_conversion.main(["--runs_dir", str(tmp_path / "runs"), "--out_dir", str(out)])
    assert evidence["conversions"]["lion_s"]["hidden_error_after"] == [0.05, 0.125]
    markdown = (out / "conversion.md").read_text()
    assert "| LION-S | 0.850 (0.867) | 1.500 -> 0.250 | 0.800 -> 0.125 |" in markdown
    assert "Softmax baseline" not in markdown
    assert (out / "conversion_layers.png").stat().st_size > 10_000 and not (out / "conversion.png").exists()
