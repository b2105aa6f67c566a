"""Text helpers shared by parsing, answering and evaluation.

`normalise` is the comparison rule of the verbatim contract: markdown markup
(`*`, `\\`, link syntax) dropped and whitespace collapsed, so the same words
compare equal whether they come from the raw file or from a passage.
"""

from __future__ import annotations

import re

BLANK_LINE = r"\n[ \t\u00a0]*\n"  # a paragraph break; the parser splits documents at these
# A markdown link [text](url), within one paragraph (`strip_markup` hands it one line at a time). Neither
# part holds a "[": a run of unclosed brackets is then scanned once, not once per bracket.
LINK = re.compile(r"\[([^\[\]\n]*)\]\([^)\[\n]*\)")
MAX_LINK_NESTING = 32  # passes of link-dropping; deeper nesting is an attack, not a document
WHITESPACE = re.compile(r"\s+")
# A tag of an HTML element people paste, bounded: "Who was <Litvinov>?" and "x<y and y>z" are not tags.
HTML_TAG = re.compile(r"</?(?:a|abbr|b|big|blockquote|body|br|button|center|code|del|div|em|font|form|h[1-6]|head"
                      r"|hr|html|i|iframe|img|input|ins|kbd|label|li|link|mark|meta|object|ol|p|pre|q|s|script"
                      r"|small|span|strike|strong|style|sub|sup|svg|table|tbody|td|th|thead|title|tr|tt|u|ul|video)"
                      r"\b[^<>\n]{0,200}>", re.IGNORECASE)
# Markdown a question may carry beyond what `strip_markup` drops: _emphasis_ or __strong__ (not a
# snake_case word's underscores), `code` marks, and a line opened by a heading's "#" or a quote's ">".
UNDERSCORE_EMPHASIS = re.compile(r"(?<!\w)(_{1,3})(?=\S)([^_\n]+?)(?<=\S)\1(?!\w)")
CODE_SPAN = re.compile(r"(?<!\w)(`+)([^`\n]+?)\1(?!\w)")  # "Hitler`s or Stalin`s": apostrophes, not code
LINE_MARK = re.compile(r"^[ \t]*(?:(?:#{1,6}|>+)[ \t]+)+", re.MULTILINE)
WORD = re.compile(r"[^\W_]")  # a letter or digit, in any script
SCRIPT = re.compile(r"<(script|style)\b[^<>]{0,200}>.{0,2000}?</\1\s*>", re.IGNORECASE | re.DOTALL)  # code
# Words that end in a period without ending a sentence.
ABBREVIATIONS = {"vol", "vols", "no", "nos", "pp", "p", "ed", "eds", "mr", "mrs", "ms", "dr",
                 "prof", "st", "vs", "cf", "e.g", "i.e", "etc", "al", "ch", "fig", "jr", "sr"}
# A run of end marks (taken whole, from its first mark: a long run of dots is one try, not one per
# dot), closing quotes or brackets, then a space and what can open a sentence.
SENTENCE_END = re.compile(r"(?<![.!?…])[.!?…]++[\"'”’)\]]*+(?=\s+[\"'“‘(\[]?[A-Z0-9])")
WORD_WINDOW = 40  # characters looked back for the word before an end mark; abbreviations are short


def strip_markup(text: str) -> str:
    """Drop markdown markup, keeping the words: `*` and `\\` go, links keep their text.

    A link may wrap onto a new line but never crosses a paragraph break of the text as
    given, the blank lines the parser splits at: each paragraph is stripped on its own,
    as one line, so a line that markup leaves empty ("***", "[](x)") cannot turn into a
    break on one side of the comparison and not on the other. Links are dropped until
    none is left, since dropping one can reveal another (`[a]([b](c)`): applied twice,
    this gives what it gave once, so a passage and the file it came from compare alike.
    """
    return "\n\n".join(_strip_paragraph(paragraph) for paragraph in re.split(BLANK_LINE, text))


def _strip_paragraph(text: str) -> str:
    text = text.replace("\\", "").replace("*", "").replace("\n", " ")
    for _ in range(MAX_LINK_NESTING):
        stripped = LINK.sub(r"\1", text)
        if stripped == text:
            break
        text = stripped
    return text


def normalise(text: str) -> str:
    """The verbatim-comparison form: markup dropped, whitespace collapsed, trimmed."""
    return WHITESPACE.sub(" ", strip_markup(text)).strip()


def sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Split prose into sentences, as (start, end) offsets; initials and abbreviations don't split."""
    spans = []
    start = 0
    for match in SENTENCE_END.finditer(text):
        before = text[max(start, match.start() - WORD_WINDOW):match.start()].rsplit(None, 1)
        last_word = before[-1].lower().strip("(\"'“‘") if before else ""
        if match.group().startswith(".") and (last_word in ABBREVIATIONS or re.fullmatch(r"[a-z]", last_word)):
            continue
        spans.append((start, match.end()))
        start = match.end()
        while start < len(text) and text[start].isspace():
            start += 1
    if start < len(text.rstrip()):
        spans.append((start, len(text.rstrip())))
    return tuple(spans)


def without_markup(text: str) -> str:
    """The text with HTML tags, a script's code and markdown markup dropped ("" when that is all it holds)."""
    text = CODE_SPAN.sub(r"\2", HTML_TAG.sub(" ", SCRIPT.sub(" ", text)))
    return normalise(LINE_MARK.sub("", UNDERSCORE_EMPHASIS.sub(r"\2", text)))


def has_words(text: str) -> bool:
    """Whether the text, without its markup, has a letter or digit to search for ("???", "<b></b>" have not)."""
    return bool(WORD.search(without_markup(text)))


def searchable(question: str) -> str:
    """A question as it is searched: without markup, as the corpus's text has none ("<b>Who was
    Litvinov?</b>" is "Who was Litvinov?"); the question itself when nothing would be left."""
    return without_markup(question) or question


def searchable_history(history: list[str] | tuple[str, ...]) -> list[str]:
    """The earlier questions as they are searched: those with words, without their markup ("<b></b>" is
    not an earlier question: a follow-up after it has nothing to lean on)."""
    return [without_markup(h) for h in history if has_words(h)]
