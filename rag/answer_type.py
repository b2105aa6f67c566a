"""What kind of answer a question asks for (a number, a date), and which sentences hold one.

"When did Stalin die?" is answered by a sentence with a date in it. A passage about
Stalin whose best sentence has no date is a near miss, the commonest way a question
the interview does not answer looks answerable. The cues are ordinary English
question words, read in the last clause of the user's own question (not in the
earlier question a follow-up is searched with).
"""

from __future__ import annotations

import re

import numpy as np

NUMBER = "number"
DATE = "date"
TOKENS = {
    NUMBER: re.compile(r"\b(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|"
                       r"thirty|forty|fifty|hundreds?|thousands?|millions?|billions?|dozens?|half)\b"),
    DATE: re.compile(r"\b(?:1\d{3}|20\d{2}|january|february|march|april|may|june|july|august|september|october|"
                     r"november|december|spring|summer|autumn|winter|century|decade)\b"),
}
# "when" asks for a date only where it opens the clause ("and when did...", "until when..."),
# not in "even when a clash seemed unavoidable".
OPENING = r"^\W*(?:(?:and|but|so|or|then|where|who)\s+)*(?:(?:on|in|at|from|since|until|till|by|for)\s+)?"
ASKS = (
    ((NUMBER,), re.compile(r"\bhow (?:many|much|old)\b|\bpopulation\b|\bwhat percentage\b")),
    ((NUMBER, DATE), re.compile(r"\bhow long\b")),
    ((DATE,), re.compile(OPENING + r"when\b|\b(?:what|which) (?:year|date|month)\b")),
)
WORD = re.compile(r"\w+")


def asked_for(question: str) -> tuple[str, ...]:
    """The kinds of token an answer to the question's last clause must hold; () when it names none."""
    clauses = [c.strip() for c in re.split(r"[?.!]+", question.lower()) if c.strip()]
    if not clauses:
        return ()
    for kinds, pattern in ASKS:
        if pattern.search(clauses[-1]):
            return kinds
    return ()


def found(text: str) -> dict[str, frozenset[str]]:
    """The numbers and dates in a text, lowercased, by kind."""
    lowered = text.lower()
    return {kind: frozenset(pattern.findall(lowered)) for kind, pattern in TOKENS.items()}


def holding(sentence_tokens: list[dict[str, frozenset[str]]], question: str) -> np.ndarray:
    """Per sentence (given its `found` tokens), whether it holds the kind of answer the question asks
    for and does not itself contain ("killed between June 1941 and September 1943?" is not answered
    by "1941"); all True when the question asks for no kind."""
    kinds = asked_for(question)
    if not kinds:
        return np.ones(len(sentence_tokens), dtype=bool)
    asked = set(WORD.findall(question.lower()))
    return np.array([any(tokens[kind] - asked for kind in kinds) for tokens in sentence_tokens], dtype=bool)
