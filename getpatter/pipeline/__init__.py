"""Text and conversation services of pipeline mode: sentence chunking, TTS text filters and
the chat context an LLM sees (spec 04, CH / TX / LLM-8)."""

from __future__ import annotations

from getpatter.llm.chat_context import ChatContext, ChatMessage, Role, ToolCall
from getpatter.pipeline.chunker import SentenceChunker
from getpatter.pipeline.text_filters import (
    TextTransform,
    filter_emoji,
    filter_for_tts,
    filter_markdown,
)

__all__ = [
    "ChatContext",
    "ChatMessage",
    "Role",
    "SentenceChunker",
    "TextTransform",
    "ToolCall",
    "filter_emoji",
    "filter_for_tts",
    "filter_markdown",
]
