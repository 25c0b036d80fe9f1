"""Ready-made text transforms that clean LLM output before it is spoken (spec 04, TX).

Each filter is a plain ``(str) -> str`` callable, usable in ``agent(text_transforms=[...])``.
Transforms run on each sentence produced by the :class:`~getpatter.pipeline.SentenceChunker`,
not on the whole response, so every filter copes with fragments: a bold span cut in two by a
sentence boundary loses its stray markers too.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["TextTransform", "filter_emoji", "filter_for_tts", "filter_markdown"]

#: The shape of an entry of ``agent(text_transforms=[...])``.
TextTransform = Callable[[str], str]

_M = re.MULTILINE

# Whole lines, with their line break, that carry only markup: code fences, horizontal rules,
# setext underlines and table separator rows.
_FENCE_LINE = re.compile(r"^[ \t]*(?:```|~~~).*$\n?", _M)
_RULE_LINE = re.compile(r"^[ \t]*(?:(?:[-*_][ \t]*){3,}|=+)[ \t]*$\n?", _M)
_TABLE_SEPARATOR = re.compile(
    r"^[ \t]*\|?(?:[ \t]*:?-{3,}:?[ \t]*\|)+(?:[ \t]*:?-{3,}:?)?[ \t]*$\n?", _M
)
_TABLE_ROW = re.compile(r"^[ \t]*\|(.*)\|[ \t]*$", _M)
# Line prefixes.
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", _M)
_QUOTE = re.compile(r"^[ \t]*(?:>[ \t]?)+", _M)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+", _M)
# Inline markup.
# A link target may hold one level of parentheses ("https://en.wikipedia.org/wiki/Rome_(city)").
_TARGET = r"\((?:[^()]|\([^()]*\))*\)"
_IMAGE = re.compile(rf"!\[[^\]]*\]{_TARGET}")
_LINK = re.compile(rf"\[([^\]]+)\]{_TARGET}")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_CODE = re.compile(r"`+")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS = re.compile(r"(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\1(?![\w*])")
_STRIKE = re.compile(r"~~.+?~~")
# Markers left unpaired when a sentence boundary split a span: "**", "~~", and a single "*"
# or "_" that touches a word on one side only ("*Note", "done*"); "2*3" and "my_var" survive.
_STRAY_MARKERS = re.compile(r"\*{2,}|~~|(?<![\w_])_{2,}|_{2,}(?![\w_])")
_STRAY_SINGLE = re.compile(r"(?<=\w)[*_](?![\w*_])|(?<![\w*_])[*_](?=\w)")

_KEYCAP_DIGIT = re.compile(r"([0-9])\uFE0F?\u20E3")
_KEYCAP_SYMBOL = re.compile(r"[#*]\uFE0F?\u20E3")
# Characters that are pictographs whatever follows them: the emoji planes, misc symbols and
# dingbats, geometric shapes, the arrows/stars block, and the watch/hourglass/media keys.
_PICTOGRAPH = (
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u25a0-\u25ff"
    "\u231a\u231b\u2328\u23cf\u23e9-\u23f3\u23f8-\u23fa]"
)
# Any other visible character forced to emoji presentation by VS-16 ("©️", "‼️", "↩️").
_PRESENTED = r"[^\s\uFE0E\uFE0F\u200D]\uFE0F"
# Skin tones, variation selectors and tag characters (subdivision flags).
_MODIFIER = "[\U0001f3fb-\U0001f3ff\ufe0e\ufe0f\U000e0020-\U000e007f]"
_ATOM = f"(?:{_PRESENTED}|{_PICTOGRAPH}){_MODIFIER}*"
_EMOJI = re.compile(f"{_ATOM}(?:\u200d{_ATOM})*")
_VARIATION_SELECTOR = re.compile("[\ufe0e\ufe0f]")

_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r" +([,.;:!?…])")


def filter_markdown(text: str) -> str:
    """Remove Markdown syntax, keeping the words a listener should hear.

    Drops code-fence lines (the code between them stays), headings' ``#``, block-quote ``>``,
    list bullets and numbers at line starts, horizontal rules, table separator rows, images
    (alt text included), struck-through text (``~~$20~~ $15`` is read "$15"), and the markers
    of bold, italic and inline code. Links keep their text (``[docs](https://...)`` ->
    ``docs``); table rows become their cells joined by ", ". Line breaks are kept; the result
    is stripped.
    """
    text = _FENCE_LINE.sub("", text)
    text = _TABLE_SEPARATOR.sub("", text)
    text = _RULE_LINE.sub("", text)
    text = _TABLE_ROW.sub(_table_cells, text)
    text = _HEADING.sub(r"\1", text)
    text = _QUOTE.sub("", text)
    text = _LIST_ITEM.sub("", text)
    text = _IMAGE.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _CODE.sub("", text)
    text = _STRONG.sub(r"\2", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _STRIKE.sub("", text)
    text = _STRAY_MARKERS.sub("", text)
    text = _STRAY_SINGLE.sub("", text)
    return text.strip()


def filter_emoji(text: str) -> str:
    """Remove emoji and pictographs, keeping letters of every script and ordinary symbols.

    Removed: emoji with their skin tones, variation selectors and ZWJ joins (one family emoji
    goes as a whole), flags (regional-indicator pairs and tag sequences), pictographic symbols
    such as ★ ✓ ♥ ● ➡, and any character shown as emoji by VS-16 ("©️"). A keycap keeps its
    digit ("1️⃣" -> "1"); "#️⃣" and "*️⃣" go. Kept: punctuation, accented letters, CJK and other
    scripts (including their own zero-width joiners), currency signs (€ £ ¥), ° % §, math
    signs, plain arrows (→), and © ® ™ written without VS-16. Spaces next to a removed emoji
    are left in place; :func:`filter_for_tts` tidies them.
    """
    text = _KEYCAP_DIGIT.sub(r"\1", text)
    text = _KEYCAP_SYMBOL.sub("", text)
    text = _EMOJI.sub("", text)
    return _VARIATION_SELECTOR.sub("", text)


def filter_for_tts(text: str) -> str:
    """:func:`filter_markdown`, then :func:`filter_emoji`, then whitespace collapsing.

    Every run of whitespace (line breaks included) becomes one space, spaces before
    punctuation left behind by removed emoji go ("Done ✅." -> "Done."), and the ends are
    stripped.
    """
    text = filter_emoji(filter_markdown(text))
    text = _SPACES.sub(" ", text)
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text).strip()


def _table_cells(row: re.Match[str]) -> str:
    cells = (cell.strip() for cell in row.group(1).split("|"))
    return ", ".join(cell for cell in cells if cell)
