"""Every public module of the API and its services exports exactly what it defines."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "mpi.api",
    "mpi.api.app",
    "mpi.api.auth",
    "mpi.api.deps",
    "mpi.api.fhir",
    "mpi.metrics",
    "mpi.service.review",
    "mpi.service.stewardship",
    "mpi.service.training",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_once(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported))
    for item in exported:
        assert hasattr(module, item), f"{name}.{item} is exported but not defined"
