"""Security: weights are read from safetensors only (a pickle is never unpickled unless asked for, and then only
with torch.load(weights_only=True)); the code has no other torch.load or pickle; importing the Hub code files opens
no network connection and writes no file."""

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from lion_bert import LionBertForMaskedLM

from test_robustness import tiny


REPO_ROOT = Path(__file__).resolve().parents[1]
# the code that ships: the package (its Hub code files and __init__) and the scripts
SHIPPED_CODE = sorted((REPO_ROOT / "lion_bert").rglob("*.py")) + sorted((REPO_ROOT / "scripts").rglob("*.py"))
HUB_CODE_FILES = [
    "configuration_lion_bert.py", "modeling_lion_bert.py", "lion_attention.py", "tokenization_lion_bert.py",
]


# ------------------------------------------------------------------------------------------------------------------
# A malicious pickle is never executed
# ------------------------------------------------------------------------------------------------------------------


class _Payload:
    """Unpickling this creates a file: the stand-in for arbitrary code run by a malicious checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def malicious_folder(tmp_path):
    """A LionBert folder (config, code) whose only weights are a pytorch_model.bin that runs code when unpickled."""
    folder = tmp_path / "model"
    torch.manual_seed(0)
    LionBertForMaskedLM(tiny("lion_s")).save_pretrained(folder)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "pwned"
    torch.save({"bert.embeddings.word_embeddings.weight": _Payload(str(marker))}, folder / "pytorch_model.bin")
    assert not marker.exists()
    return folder, marker


def test_malicious_pickle_is_not_loaded_by_default(malicious_folder):
    folder, marker = malicious_folder
    with pytest.raises(OSError, match="safetensors only"):
        LionBertForMaskedLM.from_pretrained(folder)
    assert not marker.exists()


def test_malicious_pickle_is_refused_by_weights_only_when_asked_for(malicious_folder):
    """use_safetensors=False reads the pickle with torch.load(weights_only=True), which refuses to call `open`."""
    folder, marker = malicious_folder
    with pytest.raises(Exception, match="[Ww]eights only load failed|weights_only"):
        LionBertForMaskedLM.from_pretrained(folder, use_safetensors=False)
    assert not marker.exists()


def test_the_payload_does_run_when_unpickled(malicious_folder):
    """Positive control: the payload is live, so the two tests above would see it run."""
    folder, marker = malicious_folder
    torch.load(folder / "pytorch_model.bin", weights_only=False)
    assert marker.exists()


# ------------------------------------------------------------------------------------------------------------------
# No torch.load without weights_only=True, no pickle, in the shipped code
# ------------------------------------------------------------------------------------------------------------------

UNPICKLERS = {("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("dill", "load"), ("dill", "loads"),
              ("joblib", "load"), ("cloudpickle", "load"), ("cloudpickle", "loads")}


def unsafe_loads(source: str) -> list[str]:
    """`torch.load(...)` calls (also `torch.serialization.load`, or `load` imported from torch) without the literal
    keyword `weights_only=True`, unpickler calls (pickle, dill, joblib, cloudpickle) and `numpy.load(...,
    allow_pickle=True)`, as "line: code" strings."""
    tree = ast.parse(source)
    imported = [  # (module, name, local name) of every `from module import name [as local]`
        (node.module, alias.name, alias.asname or alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]
    torch_load_names = {local for module, name, local in imported
                        if module in ("torch", "torch.serialization") and name == "load"}
    unpickler_names = {local for module, name, local in imported if (module, name) in UNPICKLERS}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = ast.unparse(node.func)
        parts = tuple(function.split("."))
        keywords = {k.arg: k.value for k in node.keywords}
        is_torch_load = function in ("torch.load", "torch.serialization.load") or function in torch_load_names
        if is_torch_load:
            weights_only = keywords.get("weights_only")
            if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif parts[-2:] in UNPICKLERS or function in unpickler_names:
            found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif function in ("np.load", "numpy.load"):
            allow = keywords.get("allow_pickle")
            if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_scanner_finds_unsafe_loads():
    """Positive control of `unsafe_loads`: every unsafe form is flagged, the safe ones are not."""
    unsafe = textwrap.dedent(
        """
        import pickle, torch, numpy as np
        from torch import load as tload
        from pickle import loads as unpickle
        torch.load(path)
        torch.load(path, weights_only=False)
        torch.load(path, weights_only=flag)
        torch.serialization.load(path)
        tload(path)
        pickle.loads(data)
        pickle.Unpickler(handle).load()
        unpickle(data)
        np.load(path, allow_pickle=True)
        """
    )
    assert len(unsafe_loads(unsafe)) == 9, unsafe_loads(unsafe)
    safe = "import torch, numpy\ntorch.load(path, weights_only=True, map_location='cpu')\nnumpy.load(path)\nload(x)\n"
    assert unsafe_loads(safe) == []


@pytest.mark.parametrize("path", SHIPPED_CODE, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_shipped_code_has_no_unsafe_load(path):
    assert unsafe_loads(path.read_text(encoding="utf-8")) == []


def test_every_code_file_was_scanned():
    names = {p.name for p in SHIPPED_CODE}
    assert set(HUB_CODE_FILES) <= names and {"run_glue.py", "run_mlm.py", "push_to_hub.py"} <= names


# ------------------------------------------------------------------------------------------------------------------
# Import hygiene: no network, no file written
# ------------------------------------------------------------------------------------------------------------------

IMPORT_HYGIENE_SCRIPT = textwrap.dedent(
    r"""
    import builtins, importlib, io, json, os, socket, sys, tempfile

    sys.dont_write_bytecode = True  # __pycache__ files are Python's, not the package's
    repo_root, scratch = sys.argv[1], sys.argv[2]
    # What torch and transformers do at import is theirs: run the package's own import statements first.
    for statement in json.loads(sys.argv[3]):
        exec(statement, {})

    events = []

    def refuse(what):
        events.append(what)
        raise OSError(f"refused by the import-hygiene test: {what}")

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    socket.socket.connect = lambda self, address: refuse(f"socket.connect {address!r}")
    socket.socket.connect_ex = lambda self, address: refuse(f"socket.connect_ex {address!r}")
    socket.create_connection = lambda address, *a, **k: refuse(f"socket.create_connection {address!r}")
    socket.getaddrinfo = lambda host, *a, **k: refuse(f"socket.getaddrinfo {host!r}")
    socket.gethostbyname = lambda host: refuse(f"socket.gethostbyname {host!r}")

    real_open, real_os_open = builtins.open, os.open

    def open_(file, mode="r", *args, **kwargs):
        if isinstance(mode, str) and set(mode) & set("wax+"):
            refuse(f"open {file!r} {mode!r}")
        return real_open(file, mode, *args, **kwargs)

    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def os_open(path, flags, *args, **kwargs):
        if flags & write_flags:
            refuse(f"os.open {path!r}")
        return real_os_open(path, flags, *args, **kwargs)

    builtins.open = io.open = open_
    os.open = os_open
    for name in ("mkdir", "makedirs", "rename", "replace", "remove", "unlink", "rmdir", "symlink", "link",
                 "truncate"):
        setattr(os, name, (lambda name: lambda path, *a, **k: refuse(f"os.{name} {path!r}"))(name))

    sys.path.insert(0, repo_root)
    import lion_bert
    from lion_bert import configuration_lion_bert, lion_attention, modeling_lion_bert, tokenization_lion_bert
    import lion_bert.lion_attention_reference
    during_import = list(events)

    # positive controls: each kind of access is seen
    for attempt in (
        lambda: open(os.path.join(scratch, "written.txt"), "w"),
        lambda: os.open(os.path.join(scratch, "created"), os.O_CREAT | os.O_WRONLY),
        lambda: os.makedirs(os.path.join(scratch, "folder")),
        lambda: socket.create_connection(("example.com", 443), timeout=1),
        lambda: socket.socket().connect(("127.0.0.1", 9)),
    ):
        try:
            attempt()
        except OSError:
            pass
    print("REPORT " + json.dumps({
        "module": lion_bert.__file__, "during_import": during_import, "controls": events[len(during_import):],
    }))
    """
)


def _package_import_statements():
    """The absolute import statements at the top level of the package's modules, as source."""
    statements = []
    for path in sorted((REPO_ROOT / "lion_bert").glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and node.level == 0):
                statements.append(ast.unparse(node))
    return statements


def test_importing_the_hub_code_opens_no_connection_and_writes_no_file(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "PYTHONPATH")}
    env.update(HF_HOME=str(tmp_path / "hf_home"), PYTHONDONTWRITEBYTECODE="1")
    statements = _package_import_statements()
    assert any("transformers" in s for s in statements) and any("torch" in s for s in statements)
    script = tmp_path / "import_hygiene.py"
    script.write_text(IMPORT_HYGIENE_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), str(REPO_ROOT), str(tmp_path), json.dumps(statements)],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads(lines[-1][len("REPORT "):])
    assert Path(report["module"]).resolve() == (REPO_ROOT / "lion_bert" / "__init__.py").resolve()
    assert report["during_import"] == []
    controls = report["controls"]
    assert len(controls) == 5, controls
    assert [c.split(" ")[0] for c in controls] == [
        "open", "os.open", "os.makedirs", "socket.create_connection", "socket.connect",
    ]
    assert not (tmp_path / "written.txt").exists() and not (tmp_path / "hf_home").exists()
