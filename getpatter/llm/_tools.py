"""Reading the provider-neutral tool declarations every LLM adapter receives (spec LLM-1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from getpatter.errors import ConfigError

_NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class ToolSpec:
    """One declared tool: its name, what it does, and the JSON-Schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


def tool_specs(tools: Sequence[Mapping[str, Any]]) -> list[ToolSpec]:
    """Check ``tools`` (``name``/``description``/``parameters`` dicts; other keys are ignored)."""
    if isinstance(tools, str | bytes | Mapping) or not isinstance(tools, Sequence):
        raise ConfigError(
            f"tools must be a list of dicts with 'name', 'description' and 'parameters', "
            f"got {type(tools).__name__}"
        )
    specs: list[ToolSpec] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise ConfigError(f"tools[{i}] must be a dict, got {type(tool).__name__}")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"tools[{i}] needs a non-empty 'name' str, got {name!r}")
        description = tool.get("description") or ""
        parameters = tool.get("parameters") or _NO_PARAMETERS
        if not isinstance(description, str):
            raise ConfigError(f"tool {name!r} description must be a str")
        if not isinstance(parameters, Mapping):
            raise ConfigError(f"tool {name!r} parameters must be a JSON-Schema dict")
        specs.append(ToolSpec(name, description, dict(parameters)))
    return specs
