"""The realtime core stays free of web frameworks, Socket.IO, eventlet and Redis."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import webapp.backends.base
import webapp.backends.memory
import webapp.realtime

FORBIDDEN = ("flask", "flask_socketio", "socketio", "engineio", "eventlet", "redis")
CORE = sorted(Path(webapp.realtime.__file__).parent.glob("*.py")) + [
    Path(webapp.backends.base.__file__),
    Path(webapp.backends.memory.__file__),
]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", CORE, ids=lambda path: path.name)
def test_core_module_imports_no_framework(path):
    for name in imported_modules(path):
        assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
