import enum
from typing import Literal

import pytest

from getpatter import ConfigError, Tool, tool


class Size(enum.Enum):
    SMALL = "small"
    LARGE = "large"


def test_decorator_infers_name_description_and_schema():
    @tool
    async def book_table(
        party: int,
        day: Literal["fri", "sat"],
        size: Size,
        notes: str | None = None,
        tags: list[str] | None = None,
    ) -> str:
        """Book a table at the restaurant.

        Args:
            party: How many people.
            day: The day of the booking.
        """
        return f"{party} {day}"

    assert isinstance(book_table, Tool)
    assert book_table.name == "book_table"
    assert book_table.description == "Book a table at the restaurant."
    assert book_table.parameters == {
        "type": "object",
        "properties": {
            "party": {"type": "integer", "description": "How many people."},
            "day": {"enum": ["fri", "sat"], "description": "The day of the booking."},
            "size": {"enum": ["small", "large"]},
            "notes": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["party", "day", "size"],
    }


async def test_decorated_handler_follows_the_arguments_context_convention():
    @tool
    async def greet(name: str, context: dict) -> str:
        """Greet someone."""
        return f"hi {name} from {context['caller']}"

    @tool
    def add(a: float, b: float) -> float:
        """Add."""
        return a + b

    assert (
        await greet.handler({"name": "Ada"}, {"caller": "+15550000001"})
        == "hi Ada from +15550000001"
    )
    assert "context" not in greet.parameters["properties"]
    assert add.handler({"a": 1, "b": 2.5}, {}) == 3.5


def test_decorator_with_overrides():
    @tool(name="lookup_order", description="Find an order.")
    def find(order_id: str) -> dict:
        return {"id": order_id}

    assert (find.name, find.description) == ("lookup_order", "Find an order.")
    assert find.parameters["required"] == ["order_id"]


def test_factory_returns_a_tool():
    t = tool(name="x", webhook_url="https://api.example.com/x", description="d")
    assert t == Tool(name="x", description="d", webhook_url="https://api.example.com/x")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "x"}, "needs handler=<function> or webhook_url"),
        ({"name": "x", "handler": print, "webhook_url": "https://a.b/c"}, "keep one of them"),
        ({"name": "has space", "handler": print}, "1-64 letters"),
        ({"name": "x", "webhook_url": "ftp://a.b/c"}, "absolute http"),
        ({"name": "x", "handler": "not callable"}, "must be a function"),
        ({"name": "x", "handler": print, "parameters": {"type": "array"}}, "JSON-Schema object"),
        (
            {
                "name": "x",
                "handler": print,
                "parameters": {"type": "object", "properties": {}, "required": ["a"]},
            },
            "required",
        ),
    ],
)
def test_bad_tools_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Tool(**kwargs)


def test_untyped_parameter_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="needs a type hint"):

        @tool
        def f(city):
            return city


def test_unsupported_type_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="no JSON-Schema form"):

        @tool
        def f(when: complex) -> str:
            return ""


def test_a_decorated_function_cannot_also_get_a_handler_or_a_webhook():
    def lookup(order: str) -> str:
        return order

    with pytest.raises(ConfigError, match="handler= and webhook_url= cannot be added"):
        tool(lookup, webhook_url="https://api.example.com/lookup")  # type: ignore[call-overload]
    with pytest.raises(ConfigError, match="handler= and webhook_url= cannot be added"):
        tool(lookup, handler=print)  # type: ignore[call-overload]
