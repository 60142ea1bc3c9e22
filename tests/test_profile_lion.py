"""scripts/profile_lion.py's command line: what to profile, as a flag or as the first word (nothing is profiled)."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "profile_lion.py"
_spec = importlib.util.spec_from_file_location("profile_lion", SCRIPT)
profile_lion = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(profile_lion)


@pytest.mark.parametrize("argv, what", [(["train"], "train"), (["chunk"], "chunk"), (["--what", "chunk"], "chunk"),
                                        (["--what=train"], "train")])
def test_what_parses_as_a_word_or_a_flag(argv, what):
    assert profile_lion.parse_args(argv).what == what


@pytest.mark.parametrize("argv", [[], ["forward"], ["train", "--extra"]])
def test_a_bad_command_line_is_refused(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        profile_lion.parse_args(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and ("--what" in err or "--extra" in err)
