import pytest

from getpatter.pipeline import SentenceChunker, filter_emoji, filter_for_tts, filter_markdown

LLM_REPLY = """## Your options

Here's what I found for **tonight**:

1. **Pasta Carbonara** – $14
2. *Margherita pizza* – $12
- See the [full menu](https://example.com/menu) ![logo](https://example.com/logo.png)

> Note: `prices` include tax.

| Dish | Price |
|:-----|------:|
| Pasta | $14 |

---

```
book_table(size=4)
```
Price: ~~$20~~ $15."""


def test_filter_markdown_keeps_the_words_of_a_realistic_reply() -> None:
    assert filter_markdown(LLM_REPLY).splitlines() == [
        "Your options",
        "",
        "Here's what I found for tonight:",
        "",
        "Pasta Carbonara – $14",
        "Margherita pizza – $12",
        "See the full menu ",
        "",
        "Note: prices include tax.",
        "",
        "Dish, Price",
        "Pasta, $14",
        "",
        "",
        "book_table(size=4)",
        "Price:  $15.",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**Bold** and __strong__ words", "Bold and strong words"),
        ("*Italic* and _emphasis_ here", "Italic and emphasis here"),
        ("Run `pip install getpatter` now", "Run pip install getpatter now"),
        ("### Step one ###", "Step one"),
        ("> > quoted twice", "quoted twice"),
        ("  * nested bullet", "nested bullet"),
        ("3) third item", "third item"),
        ("Open <https://example.com> today", "Open https://example.com today"),
        ("Read [Rome](https://en.wikipedia.org/wiki/Rome_(city)) first", "Read Rome first"),
        ('A [link](https://example.com "Title") here', "A link here"),
    ],
)
def test_filter_markdown_inline_and_line_markup(text: str, expected: str) -> None:
    assert filter_markdown(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "snake_case_name stays",
        "2*3 is six and 5 * 3 is fifteen",
        "#hashtag is not a heading",
        "-5 degrees outside",
        "The year 2024. was odd",
        "Wait... what?",
    ],
)
def test_filter_markdown_leaves_plain_text_alone(text: str) -> None:
    assert filter_markdown(text) == text


def test_filter_markdown_cleans_a_bold_span_split_across_sentences() -> None:
    chunker = SentenceChunker()
    sentences = chunker.push("**First I will check. Then I will book.** Done.") + chunker.flush()
    assert sentences == ["**First I will check.", "Then I will book.**", "Done."]
    assert [filter_markdown(s) for s in sentences] == [
        "First I will check.",
        "Then I will book.",
        "Done.",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Great job! 🎉", "Great job! "),
        ("Confirmed ✅ for 👍🏽 you", "Confirmed  for  you"),
        ("Family 👨‍👩‍👧‍👦 and pride 🏳️‍🌈 and fire ❤️‍🔥.", "Family  and pride  and fire ."),
        ("Coder 🧑🏽‍💻 here", "Coder  here"),
        ("Flags 🇮🇹🇺🇸 and 🏴󠁧󠁢󠁳󠁣󠁴󠁿 wave", "Flags  and  wave"),
        ("Press 1️⃣ or #️⃣", "Press 1 or "),
        ("Stars ★★★ and ♥ and ✓ and ⭐ and ☀️", "Stars  and  and  and  and "),
        ("Copyright ©️ emoji", "Copyright  emoji"),
        ("Time ⌛ out", "Time  out"),
    ],
)
def test_filter_emoji_removes_pictographs(text: str, expected: str) -> None:
    assert filter_emoji(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Caffè, perché, naïve, São Paulo, Zürich",
        "東京は晴れです。今日は、ありがとう！",
        "Price €12.50, £10 or ¥1500; 20°C, 50% off, § 3",
        "© 2024 Acme® Widget™ — a → b, 3 × 4 ≤ 15 ± 1",
        "क्‍ष and ‌ Persian ZWNJ stay",
        "Quotes “like this” and ‘that’ and «ces» stay",
        ":) is an emoticon, not an emoji",
    ],
)
def test_filter_emoji_keeps_letters_and_ordinary_symbols(text: str) -> None:
    assert filter_emoji(text) == text


def test_filter_emoji_drops_text_presentation_selector_but_keeps_the_symbol() -> None:
    assert filter_emoji("Back ↩︎ now") == "Back ↩ now"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**Done** ✅. Your table is booked! 🎉", "Done. Your table is booked!"),
        ("## Summary\n\n- Table for **4**\n- 8 pm 🕗", "Summary Table for 4 8 pm"),
        ("Sure thing 👍 , I'll   check.", "Sure thing, I'll check."),
        ("   ", ""),
    ],
)
def test_filter_for_tts_gives_speakable_text(text: str, expected: str) -> None:
    assert filter_for_tts(text) == expected


def test_filters_are_plain_str_transforms() -> None:
    transforms = [filter_markdown, filter_emoji, filter_for_tts]
    text = "**Hi** 👋"
    for transform in transforms:
        text = transform(text)
    assert text == "Hi"
