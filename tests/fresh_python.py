"""The start of a script for a fresh Python process in which `lion_bert` cannot be imported, as for a Hub user
who never installed the package. The script takes the repository root as its second argument."""

import textwrap


# Clearing PYTHONPATH and running from another folder is not enough when the project is pip-installed (editable
# installs put it on sys.path through a .pth file or an import hook), so the repository is also dropped from sys.path
# and a meta-path finder refuses the package.
WITHOUT_LION_BERT = textwrap.dedent(
    r"""
    import importlib.abc, os, sys

    repo_root = os.path.realpath(sys.argv[2])
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.getcwd()) != repo_root]

    class NoLionBert(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "lion_bert" or name.startswith("lion_bert."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, NoLionBert())
    """
)
