"""What kind of answer a question asks for (a number, a date), and whether a sentence holds one.

"When did Stalin die?" is answered by a sentence with a date in it. A passage about
Stalin whose best sentence has no date is a near miss, the commonest way a question
the interview does not answer looks answerable. The cues are ordinary English question
phrases ("how many", "when", "what year"), read in the user's own question, in its last
clause that asks something (not in the earlier question a follow-up is searched with).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NUMBER = "number"
DATE = "date"
YEAR = r"(?:1\d{3}|20\d{2})"
TOKEN_PATTERNS = {
    # A count or amount: digits that are not a year, or a number word ("one" is as often a pronoun).
    NUMBER: re.compile(rf"(?<![\d.,])(?!{YEAR}s?\b)\d+(?:[.,]\d+)*\b|\b(?:two|three|four|five|six|seven|eight|"
                       r"nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundreds?|thousands?|millions?|"
                       r"billions?|dozens?)\b"),
    # A year or decade, a month ("may" and "march" only beside a number), a season of a year.
    DATE: re.compile(rf"\b{YEAR}s?\b|\b\d0s\b|\b(?:twenties|thirties|forties|fifties|sixties|interwar|century|"
                     r"decades?)\b|\b(?:january|february|april|june|july|august|september|october|november|"
                     rf"december)\b|\b(?:may|march)\s+\d+\b|\b\d{{1,2}}\s+(?:may|march)\b|"
                     rf"\b(?:spring|summer|autumn|fall|winter)(?:\s+of)?\s+{YEAR}\b"),
}
EMPTY = {kind: frozenset() for kind in TOKEN_PATTERNS}
# "when" asks for a date where it opens the clause ("and when did...", "until when..."), or joins
# another question word ("where and when"), not in "even when a clash seemed unavoidable".
OPENING = r"^\W*(?:(?:and|but|so|or|then)\s+)*(?:(?:on|in|at|from|since|until|till|by|for)\s+)?"
ASKS = (
    ((NUMBER,), re.compile(r"\bhow (?:many|old)\b|\bhow much (?!(?:did|does|do|was|is|were|has|had|have|can|could|"
                           r"would|will|should|of|more|less)\b)\w+")),  # "how much aid", not "how much did he care"
    ((NUMBER, DATE), re.compile(r"\bhow long\b")),
    ((DATE,), re.compile(OPENING + r"when\b|\b(?:who|what|where|why|how|and)\s+when\b|"
                         r"\b(?:what|which) (?:year|date|month|day|decade)\b")),
)
QUESTION_WORDS = r"(?:who|whom|whose|what|when|where|which|why|how)"
QUESTION_WORD = re.compile(rf"\b{QUESTION_WORDS}\b")
AUXILIARY = r"(?:did|do|does|was|were|is|are|has|had|have|will|would|could|can|should|might|must|shall)"
# "When Moscow sounded the alarm, how did the west read it?" asks how, not when: a "when" followed by
# its own subject (not "when did...") and then, after a comma, the question proper.
SUBORDINATE_WHEN = re.compile(OPENING + rf"when\s+(?!{AUXILIARY}\b)[^,]*,\s*(?=(?:{QUESTION_WORDS}|{AUXILIARY})\b)")


@dataclass(frozen=True)
class Asked:
    """The kinds of answer a question asks for, and the tokens of those kinds the query already holds
    ("killed between June 1941 and September 1943?" is not answered by "1941")."""

    kinds: tuple[str, ...]
    given: dict[str, frozenset[str]]

    def held_by(self, tokens: dict[str, frozenset[str]]) -> bool:
        """Whether a sentence with these `answer_tokens` holds such an answer; True when none is asked for."""
        return not self.kinds or any(tokens[kind] - self.given[kind] for kind in self.kinds)


NOTHING = Asked((), EMPTY)


def asked(question: str, query: str) -> Asked:
    """What the user's `question` asks for, not counting what the searched `query` already says."""
    kinds = asked_for(question)
    return Asked(kinds, answer_tokens(query)) if kinds else NOTHING


def asked_for(question: str) -> tuple[str, ...]:
    """The kinds of token an answer must hold; () when the question names none.

    Clauses end at "?" or "!" (not at "." so "the U.S." stays whole); the last one with a
    question word decides, so "When did Stalin die? Thanks." still asks for a date.
    """
    clauses = [c.strip() for c in re.split(r"[?!]+", question.lower()) if c.strip()]
    asking = [c for c in clauses if QUESTION_WORD.search(c)] or clauses
    if not asking:
        return ()
    clause = SUBORDINATE_WHEN.sub("", asking[-1], count=1)
    for kinds, pattern in ASKS:
        if pattern.search(clause):
            return kinds
    return ()


def answer_tokens(text: str) -> dict[str, frozenset[str]]:
    """The numbers and dates in a text, lowercased, by kind (one shared value when it has none)."""
    lowered = text.lower()
    tokens = {kind: frozenset(pattern.findall(lowered)) for kind, pattern in TOKEN_PATTERNS.items()}
    return tokens if any(tokens.values()) else EMPTY
