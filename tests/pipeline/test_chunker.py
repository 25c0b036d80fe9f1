import random

import pytest

from getpatter.errors import ConfigError, InputValidationError
from getpatter.pipeline import SentenceChunker


def whole(text: str, **options: object) -> list[str]:
    chunker = SentenceChunker(**options)  # type: ignore[arg-type]
    return chunker.push(text) + chunker.flush()


def streamed(text: str, seed: int, **options: object) -> list[str]:
    """Feed ``text`` in random pieces of 1 to 3 characters, like an LLM token stream."""
    rng = random.Random(seed)
    chunker = SentenceChunker(**options)  # type: ignore[arg-type]
    sentences: list[str] = []
    i = 0
    while i < len(text):
        step = rng.randint(1, 3)
        sentences += chunker.push(text[i : i + step])
        i += step
    return sentences + chunker.flush()


def assert_chunks(text: str, expected: list[str], **options: object) -> None:
    assert whole(text, **options) == expected
    for seed in range(8):
        assert streamed(text, seed, **options) == expected, f"seed {seed}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hello there. How are you today? I'm doing great!",
            ["Hello there.", "How are you today?", "I'm doing great!"],
        ),
        ("Pi is 3.14159. That is a decimal.", ["Pi is 3.14159.", "That is a decimal."]),
        (
            "It costs $4.50 today. Version 2.0. Done.",
            ["It costs $4.50 today.", "Version 2.0.", "Done."],
        ),
        (
            "Well... I think so?! Let me check.",
            ["Well...", "I think so?!", "Let me check."],
        ),
        ("Wait… Really? Yes.", ["Wait…", "Really?", "Yes."]),
        (
            'She said "Go now." Then (quietly.) she left. Ok?',
            ['She said "Go now."', "Then (quietly.) she left.", "Ok?"],
        ),
        ("**Your order is ready.** Anything else?", ["**Your order is ready.**", "Anything else?"]),
        (
            "Visit example.com/help?q=1 for details. Bye.",
            ["Visit example.com/help?q=1 for details.", "Bye."],
        ),
        ("Use e.g. the blue one. Thanks.", ["Use e.g. the blue one.", "Thanks."]),
        ('"Wow!" she said. Okay.', ['"Wow!" she said.', "Okay."]),
        ("No trailing terminator", ["No trailing terminator"]),
    ],
)
def test_sentences_are_the_same_streamed_or_whole(text: str, expected: list[str]) -> None:
    assert_chunks(text, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Mr. Smith and Mrs. Jones saw Dr. Brown. They left.",
            ["Mr. Smith and Mrs. Jones saw Dr. Brown.", "They left."],
        ),
        ("Meet me on Main St. Tomorrow works.", ["Meet me on Main St. Tomorrow works."]),
        ("Apples, pears, etc. And more. Fine.", ["Apples, pears, etc. And more.", "Fine."]),
        ("DR. Who? MR. Bean.", ["DR. Who?", "MR. Bean."]),
        ("It arrives Jan. 5. Ok then.", ["It arrives Jan. 5.", "Ok then."]),
        ("It weighs 5 kg. Next question.", ["It weighs 5 kg. Next question."]),
        ("See you at 5 p.m. Tomorrow is fine.", ["See you at 5 p.m. Tomorrow is fine."]),
        ("J. R. R. Tolkien wrote it. Great.", ["J. R. R. Tolkien wrote it.", "Great."]),
        ("Neither do I. Let's go.", ["Neither do I.", "Let's go."]),
    ],
)
def test_no_split_after_english_abbreviations(text: str, expected: list[str]) -> None:
    assert_chunks(text, expected)


def test_italian_abbreviations_apply_in_italian() -> None:
    text = (
        "Il Sig. Rossi e la Dott. Bianchi lavorano alla ACME S.p.A. con sede a Roma. "
        "Anche la Tech S.r.l. e l'Avv. Verdi, ecc. Arrivederci."
    )
    expected = [
        "Il Sig. Rossi e la Dott. Bianchi lavorano alla ACME S.p.A. con sede a Roma.",
        "Anche la Tech S.r.l. e l'Avv. Verdi, ecc. Arrivederci.",
    ]
    assert_chunks(text, expected, language="it")
    assert_chunks(
        "Ing. Neri. Prof. Gialli. Fine.", ["Ing. Neri.", "Prof. Gialli.", "Fine."], language="IT-it"
    )


def test_italian_only_abbreviations_split_in_english() -> None:
    assert_chunks("Come on. Let's go.", ["Come on.", "Let's go."])
    assert_chunks("Come on. Let's go.", ["Come on. Let's go."], language="it")


def test_numbered_list_markers_do_not_split_but_numbers_ending_sentences_do() -> None:
    text = (
        "Here are the options:\n1. Pasta\n2. Pizza\n  10. Salad. Which one?\nIt was 2024. Or 5. Ok."
    )
    expected = [
        "Here are the options:",
        "1. Pasta",
        "2. Pizza",
        "10. Salad.",
        "Which one?",
        "It was 2024.",
        "Or 5.",
        "Ok.",
    ]
    assert_chunks(text, expected)


def test_a_list_marker_at_the_start_of_the_response() -> None:
    assert_chunks("1. Book the table.", ["1. Book the table."])


def test_a_number_split_across_tokens_is_not_a_boundary() -> None:
    chunker = SentenceChunker()
    assert chunker.push("The value is 3.") == []
    assert chunker.push("14 exactly") == []
    assert chunker.flush() == ["The value is 3.14 exactly"]


def test_a_sentence_is_released_once_the_next_word_starts() -> None:
    chunker = SentenceChunker()
    assert chunker.push("Hello there.") == []
    assert chunker.push(" ") == []
    assert chunker.push("How") == ["Hello there."]
    assert chunker.flush() == ["How"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好。我很好！谢谢你？好的", ["你好。", "我很好！", "谢谢你？", "好的"]),
        ("こんにちは。元気ですか？", ["こんにちは。", "元気ですか？"]),
        ("他说：“你好。”然后走了。", ["他说：“你好。”", "然后走了。"]),
        ("नमस्ते। आप कैसे हैं?", ["नमस्ते।", "आप कैसे हैं?"]),
        ("مرحبا؟ كيف حالك؟", ["مرحبا؟", "كيف حالك؟"]),
        ("ሰላም። እንዴት ነህ፧", ["ሰላም።", "እንዴት ነህ፧"]),
    ],
)
def test_other_scripts_split_at_their_terminators(text: str, expected: list[str]) -> None:
    assert_chunks(text, expected)


def test_full_width_terminator_waits_for_a_closing_quote() -> None:
    chunker = SentenceChunker()
    assert chunker.push("「你好。") == []
    assert chunker.push("」再见") == ["「你好。」"]


def test_short_pieces_join_the_next_sentence() -> None:
    assert_chunks("Ok. Let me check that for you.", ["Ok.", "Let me check that for you."])
    assert_chunks(
        "Ok. Let me check that for you.",
        ["Ok. Let me check that for you."],
        min_chars=8,
    )
    assert_chunks("No. Go. Run.", ["No.", "Go.", "Run."])
    assert_chunks("No. Go. Run.", ["No. Go. Run."], min_chars=8)


def test_line_breaks_end_sentences() -> None:
    assert_chunks(
        "Your options\n\n- Pasta with tomato\n- Pizza margherita\n",
        ["Your options", "- Pasta with tomato", "- Pizza margherita"],
    )


LONG_FIRST = (
    "Sure, I can definitely help you with booking that table for tonight, and I will check "
    "the availability right away. Great, see you then."
)


def test_aggressive_first_flush_ends_the_first_chunk_at_a_comma() -> None:
    assert_chunks(
        LONG_FIRST,
        [
            "Sure, I can definitely help you with booking that table for tonight,",
            "and I will check the availability right away.",
            "Great, see you then.",
        ],
        aggressive_first_flush=True,
    )


def test_aggressive_first_flush_off_by_default() -> None:
    assert_chunks(
        LONG_FIRST,
        [
            "Sure, I can definitely help you with booking that table for tonight, and I will "
            "check the availability right away.",
            "Great, see you then.",
        ],
    )


@pytest.mark.parametrize("language", ["it", "it-IT", "IT", "it_CH"])
def test_aggressive_first_flush_has_no_effect_in_italian(language: str) -> None:
    text = "Certo, posso sicuramente aiutarla a prenotare quel tavolo per stasera, e controllo. Ok."
    assert whole(text, language=language, aggressive_first_flush=True) == [
        "Certo, posso sicuramente aiutarla a prenotare quel tavolo per stasera, e controllo.",
        "Ok.",
    ]


def test_aggressive_first_flush_splits_at_dashes_but_not_ranges() -> None:
    assert_chunks(
        "The restaurant is open from 5–10 every evening of the week — I can book it. Done.",
        [
            "The restaurant is open from 5–10 every evening of the week —",
            "I can book it.",
            "Done.",
        ],
        aggressive_first_flush=True,
    )
    assert_chunks(
        "Your reservation for four people is confirmed—see you tonight at eight. Bye.",
        ["Your reservation for four people is confirmed—", "see you tonight at eight.", "Bye."],
        aggressive_first_flush=True,
    )


def test_aggressive_first_flush_ignores_thousands_separators() -> None:
    assert_chunks(
        "The total for the whole group tonight comes to 1,250 dollars, including tax. Ok.",
        ["The total for the whole group tonight comes to 1,250 dollars,", "including tax.", "Ok."],
        aggressive_first_flush=True,
    )


def test_flush_rearms_the_first_chunk_rule_for_each_response() -> None:
    chunker = SentenceChunker(aggressive_first_flush=True)
    first = chunker.push(LONG_FIRST) + chunker.flush()
    second = chunker.push(LONG_FIRST) + chunker.flush()
    assert first == second
    assert first[0].endswith("tonight,")


def test_reset_drops_buffered_text_and_rearms_the_first_chunk_rule() -> None:
    chunker = SentenceChunker(aggressive_first_flush=True)
    chunker.push("Sure, I can definitely help you with booking that table. And then")
    chunker.reset()
    assert chunker.push(LONG_FIRST)[0].endswith("tonight,")


def test_reset_on_barge_in_forgets_the_interrupted_sentence() -> None:
    chunker = SentenceChunker()
    chunker.push("I was saying that")
    chunker.reset()
    assert chunker.push("New answer. ") == []
    assert chunker.flush() == ["New answer."]


def test_flush_returns_nothing_for_whitespace_and_resets() -> None:
    chunker = SentenceChunker()
    assert chunker.push("  \n ") == []
    assert chunker.flush() == []
    assert chunker.push("Next response") == []
    assert chunker.flush() == ["Next response"]


def test_validation() -> None:
    with pytest.raises(ConfigError, match="language"):
        SentenceChunker(language=3)  # type: ignore[arg-type]
    with pytest.raises(InputValidationError, match="language"):
        SentenceChunker(language="english please")
    with pytest.raises(ConfigError, match="aggressive_first_flush"):
        SentenceChunker(aggressive_first_flush=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="min_chars"):
        SentenceChunker(min_chars=-1)
    with pytest.raises(ConfigError, match="text"):
        SentenceChunker().push(None)  # type: ignore[arg-type]
