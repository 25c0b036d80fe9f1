"""The instructions an agent runs with: the phone preamble and ``{variable}`` substitution."""

from __future__ import annotations

import re
from collections.abc import Mapping

from getpatter.errors import ConfigError, InputValidationError

__all__ = [
    "MAX_VARIABLE_LENGTH",
    "PHONE_PREAMBLE",
    "build_instructions",
    "substitute",
    "validate_variables",
]

#: The longest value one variable may hold (spec VAR-1).
MAX_VARIABLE_LENGTH = 500

#: Prepended to the system prompt unless ``disable_phone_preamble=True``. It shapes replies for
#: the ear; it never claims or denies being an AI (spec VAR-3).
PHONE_PREAMBLE = (
    "You are speaking with a person on a phone call. Everything you write is read aloud by a "
    "text-to-speech voice, so reply in plain spoken sentences: no markdown, emojis, lists, "
    "tables or URLs. Spell out numbers, dates, times and symbols the way a person would say "
    "them. Keep replies short, one to three sentences, and ask one question at a time."
)

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate_variables(param: str, variables: object) -> dict[str, str]:
    """Check ``variables`` and return it with every value as a str.

    Names must be identifiers (they appear as ``{name}``); values are str, int, float or bool and
    at most :data:`MAX_VARIABLE_LENGTH` characters once converted.
    """
    if not isinstance(variables, Mapping):
        raise ConfigError(
            f"{param} must be a dict such as {{'name': 'Ada'}}, got {type(variables).__name__}"
        )
    result: dict[str, str] = {}
    for name, value in variables.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(
                f"{param} key {name!r} must be an identifier (letters, digits, '_'), "
                "as it is written {name} in the prompt"
            )
        if isinstance(value, str):
            text = value
        elif isinstance(value, int | float | bool):
            text = str(value)
        else:
            raise ConfigError(
                f"{param}[{name!r}] must be a str or a number, got {type(value).__name__}"
            )
        if len(text) > MAX_VARIABLE_LENGTH:
            raise InputValidationError(
                f"{param}[{name!r}] is {len(text)} characters; the limit is {MAX_VARIABLE_LENGTH}. "
                "Shorten it or put long reference text in the system prompt itself"
            )
        result[name] = text
    return result


def substitute(text: str, variables: Mapping[str, str] | None) -> str:
    """Replace each ``{name}`` whose name is in ``variables``; leave other braces untouched."""
    if not variables:
        return text
    return _PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), text)


def build_instructions(
    system_prompt: str, variables: Mapping[str, str] | None, *, phone_preamble: bool = True
) -> str:
    """The full instructions: the phone preamble (unless disabled), then the substituted prompt."""
    prompt = substitute(system_prompt, variables)
    if not phone_preamble:
        return prompt
    return f"{PHONE_PREAMBLE}\n\n{prompt}" if prompt else PHONE_PREAMBLE
