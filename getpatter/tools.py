"""Function-calling tools: the :class:`Tool` definition and the :func:`tool` factory/decorator.

A tool is run by an in-process ``handler(arguments, context)`` or by POSTing to ``webhook_url``
(spec 05). ``@tool`` turns a typed, documented function into a :class:`Tool`, inferring the
name, the description and the JSON schema of its arguments.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, overload
from urllib.parse import urlsplit

from getpatter._validation import require_callable, require_str
from getpatter.errors import ConfigError

__all__ = ["SEND_DTMF_TOOL", "SYSTEM_TOOL_NAMES", "Tool", "normalize_tools", "tool"]

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

#: Tools Patter adds (spec 05, ST-1; ``send_dtmf`` with ``agent(send_dtmf=True)``); user tools
#: may not reuse their names.
SYSTEM_TOOL_NAMES = frozenset({"transfer_call", "end_call", "send_dtmf"})

SYSTEM_TOOLS: tuple[dict[str, Any], ...] = (
    # What the model sees of the built-in tools every agent has (spec ST-1).
    {
        "name": "transfer_call",
        "description": "Transfer the caller to another phone number. Say goodbye first.",
        "parameters": {
            "type": "object",
            "properties": {
                "number": {"type": "string", "description": "E.164 number, e.g. +15550001234"}
            },
            "required": ["number"],
        },
    },
    {
        "name": "end_call",
        "description": "Hang up the call once the conversation is over. Say goodbye first.",
        "parameters": {
            "type": "object",
            "properties": {"reason": {"type": "string", "description": "Why the call ends"}},
            "required": ["reason"],
        },
    },
)

SEND_DTMF_TOOL: dict[str, Any] = {
    # What the model sees of send_dtmf, offered with agent(send_dtmf=True) or agent(ivr=...).
    "name": "send_dtmf",
    "description": (
        "Press keys on the phone keypad of this call, e.g. to choose an option of an automated "
        "menu. Say nothing while you press; then wait for the menu to answer."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "digits": {
                "type": "string",
                "description": (
                    "The keys, in order: 0-9, * and #; w pauses half a second. E.g. '2' or "
                    "'1234#'. No spaces"
                ),
            }
        },
        "required": ["digits"],
    },
}

#: The parameter name through which a decorated function receives the call context.
_CONTEXT_PARAM = "context"


@dataclass(frozen=True)
class Tool:
    """A function the model may call.

    Exactly one of ``handler`` (``handler(arguments: dict, context: dict) -> str | dict``, sync
    or async) and ``webhook_url`` (an http(s) URL that receives a JSON POST) must be given.
    ``parameters`` is a JSON-Schema object describing the arguments.
    """

    name: str
    description: str = ""
    parameters: dict[str, Any] | None = None
    handler: Callable[..., Any] | None = None
    webhook_url: str = ""

    def __post_init__(self) -> None:
        require_str("Tool name", self.name, allow_empty=False)
        if not _TOOL_NAME.fullmatch(self.name):
            raise ConfigError(
                f"Tool name {self.name!r} is invalid: use 1-64 letters, digits, '_' or '-' "
                "(models reject other names)"
            )
        require_str(f"Tool {self.name!r} description", self.description)
        if self.parameters is not None:
            _check_parameters_schema(self.name, self.parameters)
        require_str(f"Tool {self.name!r} webhook_url", self.webhook_url)
        if self.handler is None and not self.webhook_url:
            raise ConfigError(
                f"Tool {self.name!r} needs handler=<function> or webhook_url='https://...'"
            )
        if self.handler is not None and self.webhook_url:
            raise ConfigError(
                f"Tool {self.name!r} has both handler and webhook_url: keep one of them"
            )
        if self.handler is not None:
            require_callable(f"Tool {self.name!r} handler", self.handler)
        if self.webhook_url:
            parts = urlsplit(self.webhook_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(
                    f"Tool {self.name!r} webhook_url={self.webhook_url!r} must be an absolute "
                    "http(s) URL such as 'https://api.example.com/tools/lookup'"
                )

    def to_dict(self) -> dict[str, Any]:
        """The tool as the plain dict stored in ``Agent.tools``."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters or {"type": "object", "properties": {}},
            "handler": self.handler,
            "webhook_url": self.webhook_url,
        }


def _check_parameters_schema(name: str, schema: object) -> None:
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise ConfigError(
            f"Tool {name!r} parameters must be a JSON-Schema object such as "
            "{'type': 'object', 'properties': {...}, 'required': [...]}"
        )
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise ConfigError(f"Tool {name!r} parameters['properties'] must be a dict")
    required = schema.get("required", [])
    if not isinstance(required, list) or any(r not in properties for r in required):
        raise ConfigError(
            f"Tool {name!r} parameters['required'] must list names found in 'properties'"
        )


@overload
def tool(func: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    func: None = None,
    /,
    *,
    name: str = "",
    description: str = "",
    parameters: dict[str, Any] | None = None,
    handler: Callable[..., Any] | None = None,
    webhook_url: str = "",
) -> Any: ...


def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str = "",
    description: str = "",
    parameters: dict[str, Any] | None = None,
    handler: Callable[..., Any] | None = None,
    webhook_url: str = "",
) -> Any:
    """Define a tool, or decorate a function to become one.

    - ``tool(name=..., handler=...)`` or ``tool(name=..., webhook_url=...)`` returns a :class:`Tool`.
    - ``@tool`` on a function returns a :class:`Tool` named after the function, described by its
      docstring, with a schema inferred from its type hints. The function is called with the
      model's arguments as keyword arguments, plus ``context`` if it declares that parameter.
    - ``@tool(name=..., description=...)`` does the same with explicit overrides.
    """
    if func is not None and (handler is not None or webhook_url):
        raise ConfigError(
            f"tool({getattr(func, '__name__', 'func')}, ...) makes the function the handler: "
            "handler= and webhook_url= cannot be added to it. Use tool(name=..., handler=...) "
            "or tool(name=..., webhook_url=...) instead"
        )
    if func is not None:
        return _tool_from_function(func, name=name, description=description, parameters=parameters)
    if handler is not None or webhook_url:
        return Tool(
            name=name,
            description=description,
            parameters=parameters,
            handler=handler,
            webhook_url=webhook_url,
        )

    def decorate(fn: Callable[..., Any]) -> Tool:
        return _tool_from_function(fn, name=name, description=description, parameters=parameters)

    return decorate


def _tool_from_function(
    fn: Callable[..., Any], *, name: str, description: str, parameters: dict[str, Any] | None
) -> Tool:
    require_callable("@tool target", fn)
    summary, arg_docs = _parse_docstring(inspect.getdoc(fn) or "")
    tool_name = name or getattr(fn, "__name__", "")
    schema = (
        parameters if parameters is not None else _schema_from_signature(fn, tool_name, arg_docs)
    )
    return Tool(
        name=tool_name,
        description=description or summary,
        parameters=schema,
        handler=_keyword_adapter(fn),
    )


def _keyword_adapter(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``fn(**arguments)`` into the ``handler(arguments, context)`` convention."""
    wants_context = _CONTEXT_PARAM in inspect.signature(fn).parameters

    def _kwargs(arguments: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
        kwargs = dict(arguments)
        if wants_context:
            kwargs[_CONTEXT_PARAM] = dict(context)
        return kwargs

    if inspect.iscoroutinefunction(fn):

        async def async_handler(arguments: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
            return await fn(**_kwargs(arguments, context))

        handler: Callable[..., Any] = async_handler
    else:

        def sync_handler(arguments: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
            return fn(**_kwargs(arguments, context))

        handler = sync_handler
    handler.__name__ = getattr(fn, "__name__", "tool")
    handler.__doc__ = fn.__doc__
    handler.__wrapped__ = fn  # type: ignore[attr-defined]
    return handler


def _schema_from_signature(
    fn: Callable[..., Any], tool_name: str, arg_docs: dict[str, str]
) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:
        raise ConfigError(f"@tool {tool_name!r}: could not read the type hints ({exc})") from exc
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(fn).parameters.values():
        if param.name == _CONTEXT_PARAM:
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise ConfigError(
                f"@tool {tool_name!r}: parameter {param.name!r} must be a plain named parameter "
                "(no *args, **kwargs or positional-only parameters)"
            )
        if param.name not in hints:
            raise ConfigError(
                f"@tool {tool_name!r}: parameter {param.name!r} needs a type hint "
                "(str, int, float, bool, list[...], dict, Literal[...] or an Enum)"
            )
        prop = _json_schema(hints[param.name], f"@tool {tool_name!r} parameter {param.name!r}")
        if param.name in arg_docs:
            prop["description"] = arg_docs[param.name]
        properties[param.name] = prop
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


_SCALARS: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _json_schema(annotation: Any, where: str) -> dict[str, Any]:
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        non_null = [a for a in args if a is not type(None)]
        if len(non_null) == 1:
            return _json_schema(non_null[0], where)
        return {"anyOf": [_json_schema(a, where) for a in non_null]}
    if origin is Literal:
        return {"enum": list(args)}
    if annotation is list or origin is list:
        schema: dict[str, Any] = {"type": "array"}
        if args:
            schema["items"] = _json_schema(args[0], where)
        return schema
    if annotation is dict or origin is dict:
        return {"type": "object"}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {"enum": [member.value for member in annotation]}
    raise ConfigError(
        f"{where}: type {annotation!r} has no JSON-Schema form; use str, int, float, bool, "
        "list[...], dict, Literal[...] or an Enum, or pass parameters={...} to @tool(...)"
    )


_ARGS_HEADER = re.compile(r"^(Args|Arguments|Parameters):\s*$")
_ARG_LINE = re.compile(r"^\s+(\w+)(?:\s*\([^)]*\))?\s*:\s*(.+)$")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its summary paragraph and per-argument text."""
    summary_lines: list[str] = []
    arg_docs: dict[str, str] = {}
    lines = doc.splitlines()
    i = 0
    while i < len(lines) and lines[i].strip():
        summary_lines.append(lines[i].strip())
        i += 1
    in_args = False
    current = ""
    for line in lines[i:]:
        if _ARGS_HEADER.match(line):
            in_args = True
            continue
        if in_args:
            match = _ARG_LINE.match(line)
            if match:
                current = match.group(1)
                arg_docs[current] = match.group(2).strip()
            elif line.startswith("        ") and current:
                arg_docs[current] += " " + line.strip()
            elif line.strip() and not line.startswith(" "):
                in_args = False
    return " ".join(summary_lines), arg_docs


def normalize_tools(tools: object) -> list[dict[str, Any]] | None:
    """Turn ``agent(tools=...)`` (Tools, ``tool(...)`` results and dicts, mixed) into dicts."""
    if tools is None:
        return None
    if not isinstance(tools, list | tuple):
        raise ConfigError(f"tools must be a list of Tool or dict, got {type(tools).__name__}")
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(tools):
        definition = _as_tool(item, i)
        if definition.name in SYSTEM_TOOL_NAMES:
            raise ConfigError(
                f"tools[{i}] is named {definition.name!r}, which Patter adds to every agent "
                "already: choose another name"
            )
        if definition.name in seen:
            raise ConfigError(f"tools[{i}]: the name {definition.name!r} is used twice")
        seen.add(definition.name)
        result.append(definition.to_dict())
    return result


_TOOL_KEYS = frozenset({"name", "description", "parameters", "handler", "webhook_url"})


def _as_tool(item: object, index: int) -> Tool:
    if isinstance(item, Tool):
        return item
    if isinstance(item, dict):
        unknown = set(item) - _TOOL_KEYS
        if unknown:
            raise ConfigError(
                f"tools[{index}] has unknown keys {sorted(unknown)}; allowed: {sorted(_TOOL_KEYS)}"
            )
        if "name" not in item:
            raise ConfigError(f"tools[{index}] needs a 'name'")
        return Tool(**item)
    if callable(item):
        raise ConfigError(
            f"tools[{index}] is a plain function: decorate it with @getpatter.tool so its name "
            "and argument schema are known"
        )
    raise ConfigError(f"tools[{index}] must be a Tool or a dict, got {type(item).__name__}")
