"""The codebase itself: one database, and the frameworks used through their public API only."""

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("asgiref", "channels", "channels_redis")
# Internal state without an underscore: asgiref's per-thread record of the loop a sync thread serves.
UNDERSCORELESS_INTERNALS = {"threadlocal"}
NOT_PRODUCTION = {"tests", "bench", ".venv", "var", "node_modules", "staticfiles"}


def production_modules() -> list[Path]:
    return sorted(
        path for path in ROOT.rglob("*.py")
        if not NOT_PRODUCTION.intersection(path.relative_to(ROOT).parts) and "migrations" not in path.parts
    )


def framework_private_names() -> set[str]:
    """Every underscore name the frameworks define for themselves (functions, methods, attributes)."""
    names: set[str] = set()
    for package in FRAMEWORKS:
        folder = Path(importlib.util.find_spec(package).origin).parent
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                name = None
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = node.name
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    name = node.attr
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    name = node.id
                if name and name.startswith("_") and not name.startswith("__"):
                    names.add(name)
    return names | UNDERSCORELESS_INTERNALS


def private_framework_uses(source: str, framework_private: set[str]) -> list[str]:
    """Imports of underscore names from asgiref/channels/channels_redis, and reads of the frameworks'
    own underscore attributes (`layer._get_shard()`, `getattr(layer, "_remove_channel")`) that this
    module does not define itself."""
    tree = ast.parse(source)
    own = {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    own |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)}
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FRAMEWORKS and any(p.startswith("_") for p in alias.name.split(".")):
                    found.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in FRAMEWORKS:
            if any(part.startswith("_") for part in node.module.split(".")):
                found.append(f"line {node.lineno}: from {node.module}")
            found += [f"line {node.lineno}: from {node.module} import {alias.name}"
                      for alias in node.names if alias.name.startswith("_")]
        elif isinstance(node, ast.Attribute) and node.attr in framework_private and node.attr not in own:
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
              and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
              and node.args[1].value in framework_private and node.args[1].value not in own):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return sorted(found, key=lambda line: int(line.split()[1].rstrip(":")))


def test_the_checker_sees_private_framework_uses():
    source = (
        "from asgiref.sync import SyncToAsync, _private\n"
        "from channels_redis.pubsub import RedisPubSubChannelLayer\n"
        "class Layer(RedisPubSubChannelLayer):\n"
        "    def _mine(self):\n"
        "        return self._get_layer()._get_shard('x'), self._mine(), self.send\n"
        "flush = getattr(Layer(), '_get_layer', None)\n"
        "loop = SyncToAsync.threadlocal\n"
    )
    assert private_framework_uses(source, framework_private_names()) == [
        "line 1: from asgiref.sync import _private",
        "line 5: self._get_layer()._get_shard",
        "line 5: self._get_layer",
        "line 6: getattr(Layer(), '_get_layer', None)",
        "line 7: SyncToAsync.threadlocal",
    ]


def test_no_module_uses_private_names_of_asgiref_channels_or_channels_redis():
    framework_private = framework_private_names()
    offenders = {
        str(path.relative_to(ROOT)): uses
        for path in production_modules()
        if (uses := private_framework_uses(path.read_text(), framework_private))
    }
    assert offenders == {}


def test_production_code_knows_only_postgresql():
    mentions = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in production_modules()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "sqlite" in line.lower()
    ]
    assert mentions == []
