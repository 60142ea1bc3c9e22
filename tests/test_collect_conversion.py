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


@pytest.mark.filterwarnings("ignore:No artists with labels")  # an empty plot
def test_no_runs_gives_empty_tables(tmp_path):
    out = tmp_path / "out"
    evidence = collect_conversion.main(["--runs_dir", str(tmp_path / "none"), "--out_dir", str(out),
                                        "--setting", "a=b", "--setting", "c=d"])
    assert evidence["runs"] == [] and evidence["softmax"] is None
    assert json.loads((out / "conversion.json").read_text())["settings"] == ["a=b", "c=d"]
    assert "Settings: a=b; c=d." in (out / "conversion.md").read_text() and (out / "conversion.png").is_file()
