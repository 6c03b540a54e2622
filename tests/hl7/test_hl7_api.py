"""The public API: ``hl7.__all__`` is complete and importable; hl7 imports only matching.record."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import hl7


def test_all_names_are_importable() -> None:
    for name in hl7.__all__:
        assert getattr(hl7, name) is not None, name
    assert len(set(hl7.__all__)) == len(hl7.__all__)


def test_all_lists_every_public_name_of_every_module() -> None:
    missing = []
    for info in pkgutil.iter_modules(hl7.__path__):
        module = importlib.import_module(f"hl7.{info.name}")
        for name in getattr(module, "__all__", ()):
            if name not in hl7.__all__:
                missing.append(f"hl7.{info.name}.{name}")
    # helpers of hl7.datatypes are reachable through the module, not re-exported
    assert [m for m in missing if not m.startswith("hl7.datatypes.")] == []


def test_every_module_declares_all() -> None:
    for info in pkgutil.iter_modules(hl7.__path__):
        module = importlib.import_module(f"hl7.{info.name}")
        assert isinstance(getattr(module, "__all__", None), list), info.name
        for name in module.__all__:
            assert hasattr(module, name), f"hl7.{info.name}.{name}"


def test_public_functions_have_docstrings() -> None:
    for name in hl7.__all__:
        obj = getattr(hl7, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__, name


def test_hl7_imports_nothing_of_ours_but_matching_record() -> None:
    root = Path(hl7.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                top = node.module.split(".")[0]
                if top in ("matching", "mpi"):
                    assert node.module == "matching.record", f"{path.name}: {node.module}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] not in ("matching", "mpi", "hl7apy"), path.name
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("hl7apy"), f"{path.name}: hl7apy on the hot path"
