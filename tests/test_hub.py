"""lion_bert.hub and scripts/push_to_hub.py: the dry-run upload folder holds exactly the expected files, links the
run's weights instead of copying them, validates, and loads with trust_remote_code in a fresh process where
`lion_bert` cannot be imported, with identical outputs; the code files are those trust_remote_code collects, and the
modeling file's closure holds no workflow module; bad run folders give clear errors and never a half-written folder;
the upload is one upload_folder call filtered by allow_patterns / ignore_patterns; the offline probe."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from huggingface_hub import metadata_load
from transformers.dynamic_module_utils import get_relative_import_files

import lion_bert
from lion_bert import hub
from lion_bert.hub import HubFolderError, code_files, validate_hub_folder

from fresh_python import WITHOUT_LION_BERT


REPO_ROOT = Path(__file__).resolve().parents[1]
# the script as a file, as `python scripts/push_to_hub.py` runs it: it needs nothing from scripts/ on sys.path
_spec = importlib.util.spec_from_file_location("push_to_hub", REPO_ROOT / "scripts" / "push_to_hub.py")
push_to_hub = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(push_to_hub)

UPLOAD_FILES = {
    "config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
    "eval_results.json", "README.md",
    "configuration_lion_bert.py", "modeling_lion_bert.py", "lion_attention.py", "tokenization_lion_bert.py",
}


FRESH_PROCESS = WITHOUT_LION_BERT + textwrap.dedent(
    r"""
    import json
    try:
        import lion_bert  # noqa: F401
        blocked = False
    except ImportError:
        blocked = True

    import torch
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer

    folder = sys.argv[1]
    reference = torch.load(sys.argv[3])
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True).eval()
    inputs = dict(tokenizer(reference["texts"], padding=True, return_tensors="pt"))
    with torch.no_grad():
        logits = model(**inputs).logits
        parallel = model(**inputs, attention_mode="parallel").logits
    report = {
        "blocked": blocked,
        "lion_bert_loaded": any(name == "lion_bert" or name.startswith("lion_bert.") for name in sys.modules),
        "model_class": type(model).__name__,
        "model_module": type(model).__module__,
        "tokenizer_class": type(tokenizer).__name__,
        "config_class": type(AutoConfig.from_pretrained(folder, trust_remote_code=True)).__name__,
        "inference_form": model.generation_config.attention_mode,
        "same_ids": all(torch.equal(inputs[k], v) for k, v in reference["inputs"].items()),
        "max_abs_diff": float((logits - reference["logits"]).abs().max()),
        "max_abs_diff_parallel": float((parallel - reference["logits"]).abs().max()),
    }
    # the card's usage snippet runs as written, against this folder instead of the Hub
    import contextlib, io, re
    card = open(os.path.join(folder, "README.md"), encoding="utf-8").read()
    snippet = re.search(r"## Usage.*?```python\n(.*?)```", card, re.S).group(1)
    snippet = re.sub(r'^repo = ".*?"', f"repo = {folder!r}", snippet, flags=re.M)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(compile(snippet, "README.md usage", "exec"), {})
    report["usage_snippet_output"] = printed.getvalue()
    print("\nREPORT " + json.dumps(report))
    """
)


def _dry_run(run, dest=None, repo_id="a/b"):
    return push_to_hub.main(["--run_dir", str(run), "--repo_id", repo_id, "--dry_run",
                             *(["--dry_run_dir", str(dest)] if dest is not None else [])])


def test_dry_run_writes_exactly_the_upload_folder_which_loads_without_the_package(tmp_path, mlm_run, capsys):
    dest = tmp_path / "upload"
    assert _dry_run(mlm_run, dest, repo_id="someone/lion-d-minilm") == 0
    printed = capsys.readouterr().out
    assert set(os.listdir(dest)) == UPLOAD_FILES
    for name in UPLOAD_FILES:
        assert name in printed
    assert "[FAIL]" not in printed and printed.count("[ok]") >= 10
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]  # no staging leftovers
    # the card now names the repository
    metadata = metadata_load(dest / "README.md")
    assert metadata["model-index"][0]["name"] == "lion-d-minilm"
    assert 'repo = "someone/lion-d-minilm"' in (dest / "README.md").read_text()
    assert validate_hub_folder(dest)[1] == []

    # reference outputs of the run's model (in its recurrent inference form)
    from lion_bert import LionBertForMaskedLM, LionBertTokenizer

    model = LionBertForMaskedLM.from_pretrained(mlm_run).eval()
    tokenizer = LionBertTokenizer.from_pretrained(mlm_run)
    texts = ["LION reads the sequence in both directions.", "A short [MASK] text."]
    inputs = dict(tokenizer(texts, padding=True, return_tensors="pt"))
    with torch.no_grad():
        logits = model(**inputs).logits
    torch.save({"texts": texts, "inputs": inputs, "logits": logits}, tmp_path / "reference.pt")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = elsewhere / "load.py"
    script.write_text(FRESH_PROCESS)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), TRANSFORMERS_VERBOSITY="error")
    result = subprocess.run([sys.executable, str(script), str(dest), str(REPO_ROOT), str(tmp_path / "reference.pt")],
                            cwd=elsewhere, env=env, capture_output=True, text=True, timeout=180,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads([line for line in result.stdout.splitlines() if line.startswith("REPORT ")][-1][7:])
    assert report["blocked"] and not report["lion_bert_loaded"]
    assert report["model_class"] == "LionBertForMaskedLM"
    assert report["model_module"].startswith("transformers_modules.")
    assert report["tokenizer_class"] == "LionBertTokenizer" and report["config_class"] == "LionBertConfig"
    assert report["inference_form"] == "recurrent" and report["same_ids"]
    assert report["max_abs_diff"] <= 1e-6  # the same computation (recurrent form, same weights)
    assert report["max_abs_diff_parallel"] < 1e-4  # and the parallel form agrees
    assert "'token_str'" in report["usage_snippet_output"]  # the fill-mask pipeline of the card's usage ran


def test_dry_run_links_the_weights_instead_of_copying_them(tmp_path, mlm_run):
    run = tmp_path / "run"
    shutil.copytree(mlm_run, run)
    assert _dry_run(run) == 0
    weights, linked = os.stat(run / "model.safetensors"), os.stat(run / "hub_ready" / "model.safetensors")
    assert linked.st_ino == weights.st_ino and linked.st_dev == weights.st_dev and weights.st_nlink == 2
    for name in ("README.md", "config.json"):  # the card is rewritten; small files are copies, safe to edit
        assert os.stat(run / "hub_ready" / name).st_ino != os.stat(run / name).st_ino, name
    # replacing the dry-run folder drops its links; the run's weights stay intact
    assert _dry_run(run, repo_id="a/c") == 0
    assert os.stat(run / "model.safetensors").st_nlink == 2
    shutil.rmtree(run / "hub_ready")
    assert os.stat(run / "model.safetensors").st_nlink == 1
    assert (run / "model.safetensors").read_bytes() == (mlm_run / "model.safetensors").read_bytes()


def test_dry_run_default_folder_and_replacement(tmp_path, mlm_run):
    run = tmp_path / "run"
    shutil.copytree(mlm_run, run)
    assert _dry_run(run) == 0
    assert set(os.listdir(run / "hub_ready")) == UPLOAD_FILES
    (run / "hub_ready" / "stale.txt").write_text("from an older dry run")
    assert _dry_run(run, repo_id="a/c") == 0
    assert "stale.txt" not in os.listdir(run / "hub_ready")  # replaced as a whole
    assert 'repo = "a/c"' in (run / "hub_ready" / "README.md").read_text()


def _broken_runs(base, mlm_run):
    def copy(name, ignore=()):
        folder = base / name
        shutil.copytree(mlm_run, folder, ignore=shutil.ignore_patterns("checkpoint-*", *ignore))
        return folder

    runs = {}
    runs["missing run dir"] = (base / "does-not-exist", "is not a folder")
    runs["no weights"] = (copy("no-weights", ["model.safetensors"]), "no model.safetensors")
    pickle_only = copy("pickle-only", ["model.safetensors"])
    torch.save({}, pickle_only / "pytorch_model.bin")
    runs["pickle weights"] = (pickle_only, "pytorch_model.bin (pickle)")
    corrupted = copy("corrupted-config")
    (corrupted / "config.json").write_text('{"model_type": "lion_bert", ')
    runs["corrupted config"] = (corrupted, "config.json is corrupted")
    no_tokenizer = copy("no-tokenizer", ["tokenizer.json", "vocab.txt"])
    runs["no tokenizer"] = (no_tokenizer, "no complete tokenizer")
    no_generation = copy("no-generation-config", ["generation_config.json"])
    runs["no generation config"] = (no_generation, "no generation_config.json")
    no_code = copy("no-attention-code", ["lion_attention.py"])
    runs["missing imported code"] = (no_code, "no lion_attention.py, which configuration_lion_bert.py imports")
    return runs


def test_bad_run_folders_give_a_clear_error_and_write_nothing(tmp_path, mlm_run, capsys):
    for label, (run, message) in _broken_runs(tmp_path, mlm_run).items():
        dest = tmp_path / f"dry-{run.name}"
        code = _dry_run(run, dest)
        err = capsys.readouterr().err
        assert code == 2, label
        assert message in err, (label, err)
        assert not dest.exists(), label
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


def test_validation_failures_leave_the_previous_folder_untouched(tmp_path, mlm_run, capsys):
    run = tmp_path / "run"
    shutil.copytree(mlm_run, run)
    dest = tmp_path / "upload"
    assert _dry_run(run, dest) == 0
    before = {name: (dest / name).read_bytes() for name in os.listdir(dest)}
    capsys.readouterr()
    # a card whose YAML does not parse, and an auto_map pointing to a class that does not exist
    (run / "README.md").write_text("---\ntags: [unclosed\n---\n# card\n")
    config = json.loads((run / "config.json").read_text())
    config["auto_map"]["AutoModel"] = "modeling_lion_bert.NoSuchClass"
    (run / "config.json").write_text(json.dumps(config))
    assert _dry_run(run, dest) == 1
    captured = capsys.readouterr()
    assert "defines no class NoSuchClass" in captured.out and "card (README.md) metadata is invalid" in captured.out
    assert "nothing was written" in captured.err
    assert {name: (dest / name).read_bytes() for name in os.listdir(dest)} == before
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


def test_code_files_are_those_trust_remote_code_collects(tmp_path, mlm_run):
    assert code_files(mlm_run, {"modeling_lion_bert"}) == [
        "configuration_lion_bert.py", "lion_attention.py", "modeling_lion_bert.py"]
    assert code_files(mlm_run, {"tokenization_lion_bert"}) == ["tokenization_lion_bert.py"]
    with pytest.raises(HubFolderError, match="no missing_module.py, which auto_map names"):
        code_files(mlm_run, {"missing_module"})
    # the package's modeling file ships with exactly what it needs: no workflow module (cards, Hub folders)
    package = Path(lion_bert.__file__).parent
    closure = {Path(f).name for f in get_relative_import_files(package / "modeling_lion_bert.py")}
    assert closure == {"configuration_lion_bert.py", "lion_attention.py"}


def test_upload_is_one_filtered_upload_folder_call(tmp_path, mlm_run, monkeypatch, capsys):
    import huggingface_hub

    run = tmp_path / "run"
    shutil.copytree(mlm_run, run)
    args = ["--run_dir", str(run), "--repo_id", "me/model", "--private", "--token", "t0k"]
    # offline (as in this test suite): a clear error before any work, nothing uploaded
    assert push_to_hub.main(args) == 2
    assert "unreachable" in capsys.readouterr().err

    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            calls["token"] = token

        def create_repo(self, repo_id, **kwargs):
            calls["create_repo"] = (repo_id, kwargs)
            return f"https://huggingface.co/{repo_id}"

        def upload_folder(self, *, repo_id, folder_path, **kwargs):
            folder = Path(folder_path)
            calls["upload_folder"] = (repo_id, sorted(os.listdir(folder)), kwargs)
            calls["linked"] = os.stat(folder / "model.safetensors").st_ino == os.stat(run / "model.safetensors").st_ino
            return "commit"

    monkeypatch.setattr(push_to_hub, "hub_is_reachable", lambda timeout=2.0: True)
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert push_to_hub.main(args) == 0
    assert calls["token"] == "t0k"
    assert calls["create_repo"] == ("me/model", {"private": True, "exist_ok": True, "repo_type": "model"})
    repo_id, files, kwargs = calls["upload_folder"]
    assert repo_id == "me/model" and set(files) == UPLOAD_FILES and kwargs["repo_type"] == "model"
    assert sorted(kwargs["allow_patterns"]) == sorted(UPLOAD_FILES)
    assert {"*.bin", "*.pt", "*.pkl", "*.pickle"} <= set(kwargs["ignore_patterns"])
    assert calls["linked"]  # built inside the run folder: the weights were linked, not copied
    assert "Uploaded 11 files" in capsys.readouterr().out
    assert not [name for name in os.listdir(run) if name.startswith(".")]  # the upload folder is gone


def test_hub_probe(monkeypatch):
    """Offline mode answers at once without a connection; otherwise a TCP connection to the endpoint decides."""
    import huggingface_hub

    def no_connection(*args, **kwargs):
        raise AssertionError("offline mode must not open a connection")

    monkeypatch.setattr(hub.socket, "create_connection", no_connection)
    start = time.perf_counter()
    assert huggingface_hub.is_offline_mode() and hub.hub_is_reachable() is False
    assert time.perf_counter() - start < 0.1

    class Connection:
        def close(self):
            pass

    monkeypatch.setattr(huggingface_hub, "is_offline_mode", lambda: False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    addresses = []
    monkeypatch.setattr(hub.socket, "create_connection", lambda address, timeout: addresses.append(address) or
                        Connection())
    assert hub.hub_is_reachable() is True and addresses[0][1] == 443

    def refused(address, timeout):
        raise ConnectionRefusedError(address)

    monkeypatch.setattr(hub.socket, "create_connection", refused)
    assert hub.hub_is_reachable() is False
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(hub.socket, "create_connection", no_connection)
    assert hub.hub_is_reachable() is False


def test_cli_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="--repo_id must look like user/name"):
        push_to_hub.main(["--run_dir", str(tmp_path), "--repo_id", "not a repo id", "--dry_run"])
    with pytest.raises(ValueError, match="--dry_run_dir needs --dry_run"):
        push_to_hub.main(["--run_dir", str(tmp_path), "--repo_id", "a/b", "--dry_run_dir", str(tmp_path / "x")])
    with pytest.raises(SystemExit):  # --run_dir is required
        push_to_hub.main(["--repo_id", "a/b", "--dry_run"])


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        push_to_hub.parse_args(["--help"])
    text = capsys.readouterr().out
    assert exit_info.value.code == 0 and "usage:" in text and "--dry_run_dir" in text and "--run_dir" in text
