"""Every public name documents itself: a docstring, and an ``Args:`` section naming each
parameter (Google style) whenever it takes any beyond ``self``/``cls``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import shadow_audit as sa

SECTION = re.compile(r"^(Args|Returns|Yields|Raises|Example|Examples|Note|Notes):\s*$", re.M)
ARG = re.compile(r"^\s+\**(\w+)(?:\s*\([^)]*\))?:", re.M)


# The faces document themselves through --help and pytest's option help.
FACES = ("shadow_audit.cli", "shadow_audit.pytest_plugin")


def package_names() -> dict[str, Any]:
    """Every public function and class defined in a module of the package (not the faces)."""
    found: dict[str, Any] = {}
    for info in pkgutil.walk_packages(sa.__path__, "shadow_audit."):
        if info.name.startswith(FACES) or any(p.startswith("_") for p in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                found[f"{module.__name__}.{name}"] = obj
    return found


def public_callables(
    names: dict[str, Any] | None = None,
) -> Iterator[tuple[str, Callable[..., Any], bool]]:
    """(qualified name, function, takes self or cls) for ``sa.__all__`` (or ``names``) and
    the public methods and properties of its classes, including those they inherit from
    the package."""
    if names is None:
        names = {name: getattr(sa, name) for name in sa.__all__}  # resolves the lazy names
    for name, obj in names.items():
        if inspect.isfunction(obj):
            yield name, obj, False
        elif inspect.isclass(obj):
            yield name, obj, False
            seen: set[str] = set()
            for klass in obj.__mro__:
                if not klass.__module__.startswith("shadow_audit"):
                    continue
                for attr, raw in vars(klass).items():
                    if attr.startswith("_") or attr in seen:
                        continue
                    seen.add(attr)
                    if isinstance(raw, staticmethod):
                        yield f"{name}.{attr}", raw.__func__, False
                    elif isinstance(raw, classmethod):
                        yield f"{name}.{attr}", raw.__func__, True
                    elif isinstance(raw, property) and raw.fget is not None:
                        yield f"{name}.{attr}", raw.fget, True
                    elif inspect.isfunction(raw):
                        yield f"{name}.{attr}", raw, True


def documented_args(doc: str) -> set[str]:
    """The parameter names listed in the ``Args:`` section of a Google-style docstring."""
    parts = SECTION.split(doc)
    names: set[str] = set()
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        if title == "Args":
            names |= set(ARG.findall(body))
    return names


def problems_of(name: str, fn: Any, bound: bool) -> list[str]:
    if inspect.isclass(fn):
        return [] if inspect.getdoc(fn) else [f"{name}: no docstring"]
    doc = inspect.getdoc(fn) or ""
    if not doc:
        return [f"{name}: no docstring"]
    params = list(inspect.signature(fn).parameters.values())[1 if bound else 0 :]
    wanted = [p.name for p in params]
    if wanted and "Args:" not in doc:
        return [f"{name}: takes {wanted} but its docstring has no Args: section"]
    missing = [p for p in wanted if p not in documented_args(doc)]
    return [f"{name}: Args: does not document {missing}"] if missing else []


def test_the_walk_covers_the_public_api():
    names = {name for name, _, _ in public_callables()}
    for expected in [
        "audit",
        "backfill",
        "load_config",
        "DualWriter.save_manifest",
        "DualWriter.update",
        "JsonStore.lock",
        "SqliteShadow.import_manifest",
        "GatePolicy.from_config",
        "DocumentMap.root",
        "validate_document",
    ]:
        assert expected in names


def test_every_public_function_and_method_documents_its_parameters():
    problems = [p for name, fn, bound in public_callables() for p in problems_of(name, fn, bound)]
    assert problems == []


def test_so_does_every_public_name_of_every_module():
    names = package_names()
    assert "shadow_audit.repair.fingerprint" in names
    assert "shadow_audit.stores.json_store.JsonStore" in names
    walked = public_callables(names)
    problems = [p for name, fn, bound in walked for p in problems_of(name, fn, bound)]
    assert problems == []


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ("", "no docstring"),
        ("Save it.", "no Args: section"),
        ("Save it.\n\nArgs:\n    path: where.\n\nReturns:\n    Nothing.", "does not document"),
    ],
)
def test_the_check_catches_an_undocumented_parameter(doc, problem):
    def save(path: str, document: dict[str, Any]) -> None:
        pass

    save.__doc__ = doc
    assert problem in " ".join(problems_of("save", save, False))


def test_the_check_accepts_google_style():
    def save(path: str, *, document: dict[str, Any]) -> None:
        """Save it.

        Args:
            path: where.
            document (dict): what, on
                two lines.

        Returns:
            Nothing.
        """

    assert problems_of("save", save, False) == []
    assert documented_args(inspect.getdoc(save) or "") == {"path", "document"}
