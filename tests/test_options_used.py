"""Nothing the public API accepts is silently ignored.

Walks every public constructor and function exported from ``getpatter`` (plus
``Patter.agent``/``serve``/``call``/``test``) and follows each parameter through the source:
it must be read, and what it is read into must be read in turn. A value that only feeds a
validation call whose result is dropped, or is stored on ``self`` and never read back
anywhere in the package, or is a local nobody reads, is flagged. Passed on by keyword to
another function or class of the package, the parameter is followed into that callee.

This is a static check: it proves a value reaches code that reads it, not that the code does
the right thing with it (each option's own tests do that). Records the package hands out
(metrics, events, errors) are not options and are left out; so are parameters listed in
:data:`NOT_OPTIONS` with the reason.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import inspect
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import getpatter
from getpatter.client import Patter

PACKAGE_ROOT = Path(getpatter.__file__).parent

RECORDS = {
    # What the package gives the user (reports, events, chunks, errors): data, not options.
    "AllProvidersFailedError",
    "AuthenticationError",
    "CallEvent",
    "CallMetrics",
    "ChatMessage",
    "ConfigError",
    "CostBreakdown",
    "DtmfEvent",
    "ErrorCode",
    "HookContext",
    "IncomingMessage",
    "InputValidationError",
    "IVREvent",
    "LLMChunk",
    "LatencyBreakdown",
    "PartialStreamError",
    "PatterConnectionError",
    "PatterError",
    "PatterEventType",
    "PatterToolResult",
    "PolicyError",
    "ProvisionError",
    "RateLimitError",
    "TurnMetrics",
    # A call's handle is built by the session, never by users.
    "CallControl",
}

NOT_OPTIONS: dict[str, str] = {
    # "Owner.parameter": why it is not an option that must be read.
}

_VALIDATORS = ("require_", "_require", "_check", "_refuse", "_validate", "validate_", "check_")


def _public() -> Iterator[tuple[str, Callable[..., Any]]]:
    for name in getpatter.__all__:
        if name in RECORDS:
            continue
        obj = getattr(getpatter, name)
        if inspect.isclass(obj):
            if issubclass(obj, enum.Enum | BaseException):
                continue
            yield name, obj
        elif callable(obj):
            yield name, obj
    for method in ("agent", "serve", "call", "test"):
        yield f"Patter.{method}", getattr(Patter, method)


@functools.cache
def _package_reads() -> frozenset[str]:
    """Every attribute name read anywhere in the package (``x.name``, ``getattr(x, "name")``)."""
    names: set[str] = set()
    for path in PACKAGE_ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                names.add(node.attr)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"getattr", "hasattr"}
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                names.add(node.args[1].value)
    return frozenset(names)


def _function_of(target: Callable[..., Any]) -> Callable[..., Any] | None:
    """The Python function whose source holds ``target``'s parameters, if there is one."""
    if inspect.isclass(target):
        init = target.__dict__.get("__init__") or getattr(target, "__init__", None)
        if init is None or init is object.__init__:
            return None
        return init  # type: ignore[no-any-return]
    func = inspect.unwrap(target)
    if isinstance(func, staticmethod | classmethod):
        func = func.__func__
    return func if inspect.isfunction(func) else None


def _parsed(func: Callable[..., Any]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return None  # generated (a dataclass __init__): handled as fields
    node = ast.parse(source).body[0]
    return node if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else None


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


class _Walk:
    """Follows one function's parameters; ``problems`` collects what is ignored."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self._seen: set[tuple[Callable[..., Any], str]] = set()

    def check(self, owner: str, func: Callable[..., Any], parameter: str) -> None:
        if (func, parameter) in self._seen:
            return
        self._seen.add((func, parameter))
        tree = _parsed(func)
        if tree is None:
            return
        why = self._ignored(owner, func, tree, parameter, set())
        if why:
            self.problems.append(f"{owner}({parameter}=...): {why}")

    def _ignored(
        self,
        owner: str,
        func: Callable[..., Any],
        tree: ast.FunctionDef | ast.AsyncFunctionDef,
        name: str,
        followed: set[str],
    ) -> str:
        """Why ``name`` is ignored in ``tree``, or ``""`` when something reads it."""
        followed.add(name)
        parents = _parents(tree)
        uses = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load)
        ]
        if not uses:
            return "never read"
        reasons: list[str] = []
        for use in uses:
            why = self._use_ignored(owner, func, tree, parents, use, followed)
            if not why:
                return ""
            reasons.append(why)
        return "; ".join(sorted(set(reasons)))

    def _use_ignored(
        self,
        owner: str,
        func: Callable[..., Any],
        tree: ast.FunctionDef | ast.AsyncFunctionDef,
        parents: dict[ast.AST, ast.AST],
        use: ast.AST,
        followed: set[str],
    ) -> str:
        node = use
        parent = parents.get(node)
        # Climb through plain expressions (an f-string, arithmetic, a tuple, `x or y`...).
        while isinstance(
            parent,
            ast.BoolOp
            | ast.BinOp
            | ast.UnaryOp
            | ast.IfExp
            | ast.Tuple
            | ast.List
            | ast.Set
            | ast.Starred
            | ast.FormattedValue
            | ast.JoinedStr
            | ast.Await,
        ):
            node, parent = parent, parents.get(parent)
        if isinstance(parent, ast.keyword) and isinstance(parents.get(parent), ast.Call):
            call = parents[parent]
            assert isinstance(call, ast.Call)
            return self._call_ignored(owner, func, parents, call, parent.arg, followed)
        if isinstance(parent, ast.Call) and node in parent.args:
            return self._call_ignored(owner, func, parents, parent, None, followed)
        if isinstance(parent, ast.Assign | ast.AnnAssign) and node is parent.value:
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Attribute) and isinstance(leaf.ctx, ast.Store):
                        if leaf.attr in _package_reads():
                            return ""
                    elif isinstance(leaf, ast.Name) and isinstance(leaf.ctx, ast.Store):
                        if leaf.id in followed:
                            continue
                        if not self._ignored(owner, func, tree, leaf.id, followed):
                            return ""
                    elif isinstance(leaf, ast.Subscript):
                        return ""  # stored into a mapping or list that is passed on
            return "stored where nothing reads it"
        return ""  # a condition, a return, a comparison, a subscript...: it is read

    def _call_ignored(
        self,
        owner: str,
        func: Callable[..., Any],
        parents: dict[ast.AST, ast.AST],
        call: ast.Call,
        keyword: str | None,
        followed: set[str],
    ) -> str:
        name = _call_name(call)
        statement = parents.get(call)
        while isinstance(statement, ast.Await):
            statement = parents.get(statement)
        if isinstance(statement, ast.Expr) and name.startswith(_VALIDATORS):
            return f"only checked by {name}(), whose result is dropped"
        if keyword is None or not isinstance(call.func, ast.Name):
            return ""
        callee = func.__globals__.get(call.func.id)
        module = getattr(callee, "__module__", "") or ""
        if callee is None or not module.startswith("getpatter"):
            return ""
        target = _function_of(callee)
        if target is None:
            if dataclasses.is_dataclass(callee):
                return "" if keyword in _package_reads() else f"{name}.{keyword} is never read"
            return ""
        parameters = inspect.signature(target).parameters
        if keyword not in parameters:
            return ""  # taken by **kwargs: followed no further
        tree = _parsed(target)
        if tree is None:
            return ""
        why = self._ignored(name, target, tree, keyword, set())
        return f"passed to {name}({keyword}=...), which ignores it: {why}" if why else ""


def _parameters(func: Callable[..., Any]) -> list[str]:
    return [
        name
        for name, parameter in inspect.signature(func).parameters.items()
        if name not in {"self", "cls"}
        and parameter.kind not in {parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD}
    ]


CASES = list(_public())


@pytest.mark.parametrize(("name", "target"), CASES, ids=[name for name, _ in CASES])
def test_every_parameter_is_read(name: str, target: Callable[..., Any]) -> None:
    walk = _Walk()
    if inspect.isclass(target) and dataclasses.is_dataclass(target):
        reads = _package_reads()
        for field in dataclasses.fields(target):
            if field.init and field.name not in reads and f"{name}.{field.name}" not in NOT_OPTIONS:
                walk.problems.append(f"{name}({field.name}=...): nothing reads .{field.name}")
    else:
        func = _function_of(target)
        if func is None:
            pytest.skip(f"{name} takes no parameters")
        for parameter in _parameters(func):
            if f"{name}.{parameter}" not in NOT_OPTIONS:
                walk.check(name, func, parameter)
    assert not walk.problems, "\n".join(walk.problems)


def test_the_walk_finds_an_ignored_option() -> None:
    """The check itself can fail: a stored-and-forgotten option and a checked-only one."""

    class Provider:
        def __init__(self, volume: int = 1, speed: float = 1.0, pitch: int = 0) -> None:
            self._volume_never_read_anywhere = volume
            _require_positive(speed)
            self.name = pitch  # `.name` is read all over the package

    def _require_positive(value: float) -> float:
        return value

    walk = _Walk()
    for parameter in ("volume", "speed", "pitch"):
        walk.check("Provider", Provider.__init__, parameter)
    assert walk.problems == [
        "Provider(volume=...): stored where nothing reads it",
        "Provider(speed=...): only checked by _require_positive(), whose result is dropped",
    ]
