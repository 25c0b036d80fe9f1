import dataclasses
import time

import pytest

from getpatter.errors import ConfigError, InputValidationError
from getpatter.pipeline import ChatContext, ChatMessage, ToolCall

WEATHER = ToolCall(id="call_1", name="get_weather", arguments='{"city": "Rome"}')
TIME = ToolCall(id="call_2", name="get_time", arguments="")


def booking_conversation() -> ChatContext:
    ctx = ChatContext("You are a helpful receptionist.")
    ctx.add_user("What's the weather in Rome and the time?")
    ctx.add_assistant("Let me check.", tool_calls=[WEATHER, TIME])
    ctx.add_tool_result("call_1", "get_weather", '{"temp_c": 21}')
    ctx.add_tool_result("call_2", "get_time", "18:05")
    ctx.add_assistant("It's 21 degrees and 6:05 pm in Rome.")
    ctx.add_user("Thanks!")
    return ctx


def test_messages_record_the_conversation_in_order() -> None:
    ctx = booking_conversation()
    assert len(ctx) == 6
    assert [m.role for m in ctx.messages] == [
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
        "user",
    ]
    assert ctx.messages[1].tool_calls == (WEATHER, TIME)
    assert ctx.messages[2].tool_call_id == "call_1"
    assert ctx.messages[2].name == "get_weather"


def test_messages_is_a_read_only_snapshot() -> None:
    ctx = ChatContext()
    snapshot = ctx.messages
    ctx.add_user("Hi")
    assert snapshot == ()
    assert isinstance(ctx.messages, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.messages[0].content = "changed"  # type: ignore[misc]


def test_messages_get_unix_timestamps() -> None:
    before = time.time()
    message = ChatContext().add_user("Hi")
    assert before <= message.timestamp <= time.time()


def test_history_holds_user_and_assistant_text_only() -> None:
    ctx = booking_conversation()
    history = ctx.history()
    assert [(h["role"], h["text"]) for h in history] == [
        ("user", "What's the weather in Rome and the time?"),
        ("assistant", "Let me check."),
        ("assistant", "It's 21 degrees and 6:05 pm in Rome."),
        ("user", "Thanks!"),
    ]
    assert all(set(h) == {"role", "text", "timestamp"} for h in history)
    assert all(isinstance(h["timestamp"], float) for h in history)


def test_history_skips_assistant_turns_that_only_called_tools() -> None:
    ctx = ChatContext()
    ctx.add_user("Weather?")
    ctx.add_assistant("", tool_calls=[WEATHER])
    ctx.add_tool_result("call_1", "get_weather", "sunny")
    ctx.add_assistant("Sunny.")
    assert [h["text"] for h in ctx.history()] == ["Weather?", "Sunny."]


def test_to_openai() -> None:
    assert booking_conversation().to_openai() == [
        {"role": "system", "content": "You are a helpful receptionist."},
        {"role": "user", "content": "What's the weather in Rome and the time?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'},
        {"role": "tool", "tool_call_id": "call_2", "content": "18:05"},
        {"role": "assistant", "content": "It's 21 degrees and 6:05 pm in Rome."},
        {"role": "user", "content": "Thanks!"},
    ]


def test_to_openai_without_system_prompt_and_with_tool_only_turn() -> None:
    ctx = ChatContext()
    ctx.add_user("Weather?")
    ctx.add_assistant("", tool_calls=[WEATHER])
    messages = ctx.to_openai()
    assert messages[0] == {"role": "user", "content": "Weather?"}
    assert messages[1]["content"] is None


def test_to_anthropic() -> None:
    system, messages = booking_conversation().to_anthropic()
    assert system == "You are a helpful receptionist."
    assert messages == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "What's the weather in Rome and the time?"}],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
                {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": '{"temp_c": 21}'},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "18:05"},
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "It's 21 degrees and 6:05 pm in Rome."}],
        },
        {"role": "user", "content": [{"type": "text", "text": "Thanks!"}]},
    ]


def test_to_anthropic_merges_consecutive_roles_and_collects_system_messages() -> None:
    ctx = ChatContext("Be brief.")
    ctx.add_user("Hello?")
    ctx.add_user("Are you there?")
    ctx.add(ChatMessage("system", "The caller is a VIP."))
    ctx.add_assistant("Yes. ")
    ctx.add_assistant("How can I help?")
    system, messages = ctx.to_anthropic()
    assert system == "Be brief.\n\nThe caller is a VIP."
    assert messages == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Hello?"},
                {"type": "text", "text": "Are you there?"},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Yes."},
                {"type": "text", "text": "How can I help?"},
            ],
        },
    ]
    assert ctx.to_openai()[3] == {"role": "system", "content": "The caller is a VIP."}


def test_to_gemini() -> None:
    system, contents = booking_conversation().to_gemini()
    assert system == "You are a helpful receptionist."
    assert contents == [
        {"role": "user", "parts": [{"text": "What's the weather in Rome and the time?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Let me check."},
                {"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Rome"}}},
                {"functionCall": {"id": "call_2", "name": "get_time", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "id": "call_1",
                        "name": "get_weather",
                        "response": {"output": '{"temp_c": 21}'},
                    }
                },
                {
                    "functionResponse": {
                        "id": "call_2",
                        "name": "get_time",
                        "response": {"output": "18:05"},
                    }
                },
            ],
        },
        {"role": "model", "parts": [{"text": "It's 21 degrees and 6:05 pm in Rome."}]},
        {"role": "user", "parts": [{"text": "Thanks!"}]},
    ]


def test_to_gemini_merges_roles_collects_system_messages_and_names_nameless_results() -> None:
    ctx = ChatContext("Be brief.")
    ctx.add_user("Hello?")
    ctx.add(ChatMessage("system", "The caller is a VIP."))
    ctx.add_assistant("", tool_calls=[WEATHER])
    ctx.add_tool_result("call_1", "", "sunny")
    ctx.add_user("And tomorrow?")
    system, contents = ctx.to_gemini()
    assert system == "Be brief.\n\nThe caller is a VIP."
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"] == [
        {"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Rome"}}}
    ]
    assert contents[2]["parts"] == [
        {
            "functionResponse": {
                "id": "call_1",
                "name": "get_weather",
                "response": {"output": "sunny"},
            }
        },
        {"text": "And tomorrow?"},
    ]


def test_to_anthropic_leaves_out_empty_text() -> None:
    ctx = ChatContext()
    ctx.add_user("Weather?")
    ctx.add_assistant("", tool_calls=[WEATHER])
    _, messages = ctx.to_anthropic()
    assert messages[1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Rome"}}
    ]


def test_truncate_last_assistant_keeps_what_was_heard() -> None:
    ctx = ChatContext()
    ctx.add_user("Tell me the menu.")
    spoken = ctx.add_assistant("We have pasta, pizza and salad. The pasta is fresh.")
    ctx.truncate_last_assistant("We have pasta, pizza ")
    assert ctx.messages[-1].content == "We have pasta, pizza"
    assert ctx.messages[-1].timestamp == spoken.timestamp
    assert ctx.history()[-1]["text"] == "We have pasta, pizza"


def test_truncate_last_assistant_removes_an_unheard_reply() -> None:
    ctx = ChatContext()
    ctx.add_user("Hi")
    ctx.add_assistant("Hello! How can I help?")
    ctx.truncate_last_assistant("  ")
    assert [m.role for m in ctx.messages] == ["user"]


def test_truncate_last_assistant_targets_the_latest_assistant_message() -> None:
    ctx = ChatContext()
    ctx.add_assistant("Welcome to Acme.")
    ctx.add_user("Hi")
    ctx.add_assistant("Sure, the hours are nine to five.")
    ctx.add_user("Wait")
    ctx.truncate_last_assistant("Sure,")
    assert [m.content for m in ctx.messages] == ["Welcome to Acme.", "Hi", "Sure,", "Wait"]


def test_truncate_last_assistant_keeps_tool_calls_when_nothing_was_heard() -> None:
    ctx = ChatContext()
    ctx.add_assistant("Let me look that up.", tool_calls=[WEATHER])
    ctx.add_tool_result("call_1", "get_weather", "sunny")
    ctx.truncate_last_assistant("")
    assert ctx.messages[0].content == ""
    assert ctx.messages[0].tool_calls == (WEATHER,)


def test_truncate_last_assistant_without_assistant_message_changes_nothing() -> None:
    ctx = ChatContext()
    ctx.add_user("Hi")
    ctx.truncate_last_assistant("")
    assert len(ctx) == 1


def test_copy_is_independent() -> None:
    ctx = booking_conversation()
    clone = ctx.copy()
    clone.add_user("One more thing")
    clone.system_prompt = "Changed"
    assert len(ctx) == 6
    assert len(clone) == 7
    assert ctx.system_prompt == "You are a helpful receptionist."


def test_tool_call_arguments_must_be_a_json_object() -> None:
    assert TIME.arguments == "{}"
    assert WEATHER.parsed_arguments() == {"city": "Rome"}
    with pytest.raises(InputValidationError, match="get_weather"):
        ToolCall(id="c", name="get_weather", arguments="{city: Rome")
    with pytest.raises(InputValidationError, match="object"):
        ToolCall(id="c", name="get_weather", arguments="[1, 2]")
    with pytest.raises(ConfigError, match="id"):
        ToolCall(id="", name="get_weather")


def test_tool_result_must_answer_an_earlier_call() -> None:
    ctx = ChatContext()
    ctx.add_user("Weather?")
    with pytest.raises(InputValidationError, match="call_9"):
        ctx.add_tool_result("call_9", "get_weather", "sunny")


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: ChatMessage("robot", "hi"), "role"),  # type: ignore[arg-type]
        (lambda: ChatMessage("user", 5), "content"),  # type: ignore[arg-type]
        (lambda: ChatMessage("user", "hi", tool_calls=(WEATHER,)), "tool_calls"),
        (lambda: ChatMessage("assistant", "hi", tool_calls=("call_1",)), "tool_calls"),  # type: ignore[arg-type]
        (lambda: ChatMessage("tool", "sunny"), "tool_call_id"),
        (lambda: ChatMessage("user", "hi", tool_call_id="call_1"), "tool_call_id"),
        (lambda: ChatMessage("user", "hi", timestamp="now"), "timestamp"),  # type: ignore[arg-type]
        (lambda: ChatContext(system_prompt=None), "system_prompt"),  # type: ignore[arg-type]
        (lambda: ChatContext().add_user(""), "text"),
        (lambda: ChatContext().add_assistant(""), "text or tool_calls"),
        (lambda: ChatContext().add_assistant("hi", tool_calls="call_1"), "ToolCall"),  # type: ignore[arg-type]
        (lambda: ChatContext().add({"role": "user"}), "ChatMessage"),  # type: ignore[arg-type]
    ],
)
def test_validation_raises_config_error(build: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build()  # type: ignore[operator]
