"""Follow-up questions: when a question cannot stand alone, search with its context.

"when was that treaty signed?" after "What was the Rapallo policy?" means the
Rapallo treaty; the words that make a question lean on earlier ones are ordinary
English (pronouns, demonstratives, a leading "and"/"so"/"what about"), not corpus words.
A follow-up that names something new and points at nothing ("what about France?" after
"What was the role of Poland?") asks the earlier question of a new subject: the earlier
question is searched without the names it does not share (`Names`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

# Words that point back at something said before: people, in a question of any length...
REFERRING_TO_PEOPLE = {"he", "him", "his", "she", "her", "hers", "they", "them", "their", "theirs"}
# ...things, in one shorter than SELF_CONTAINED_WORDS...
REFERRING = {"it", "its", "that", "this", "those", "these", "former", "latter"}
# ...and these only in a short question: "what happened there?", "which one?", "were there others?", but
# "Is there a difference...?", "directed at one nationality", "ok with fascism back then" stand alone.
SHORT_REFERRING = {"there", "then", "such", "same", "one", "ones", "else", "other", "another"}
LEADING = {"and", "but", "so", "also", "then", "what about", "how about", "why", "why not", "how come",
           "when", "where", "really", "which"}
# Whole questions that ask to go on with what was said before.
CONTINUING = re.compile(r"^(?:please\s+)?(?:tell me more|say more|go on|more|continue|keep going|elaborate|"
                        r"explain(?: that| more| further)?|what else)\b")
WORD = re.compile(r"[a-z']+")
STANDALONE_WORDS = 6  # a question this long with no referring word stands alone
# A question this long says what it is about: its "it" or "that" points inside it ("What was the working
# title of Carley's project before it became a trilogy?"). Every follow-up of our sets is shorter, or
# points at a person ("was there anyone over there who actually wanted to work with him?").
SELF_CONTAINED_WORDS = 12
MAX_EARLIER = 3  # a chain of follow-ups is searched with at most this many earlier questions
ASKING = {"why", "when", "where", "which", "who", "whom", "whose", "how", "what", "really"}


def needs_context(question: str) -> bool:
    """True when the question leans on earlier ones to be understood.

    A short question opening with "when", "why", "tell me more"... leans on the one before only when it
    names at most one thing of its own: "which year?", "why Poland?", "tell me more about him" do;
    "When did Stalin die?" and "Where does Carley teach?" stand alone, whatever was asked before.
    """
    words = WORD.findall(question.lower())
    if not words:
        return False
    first_two = " ".join(words[:2])
    if words[0] in {"and", "but", "so", "also"} or first_two in LEADING:
        return True
    if any(w in REFERRING_TO_PEOPLE for w in words):
        return True
    if len(words) >= SELF_CONTAINED_WORDS:
        return False
    if any(w in REFERRING for w in words):
        return True
    short = len(words) < STANDALONE_WORDS
    if short and any(w in SHORT_REFERRING for w in words):
        return True
    opens = words[0] in LEADING or CONTINUING.match(" ".join(words))
    return len(words) < 3 or (short and bool(opens) and len(_own_words(words)) <= 1)


NAME_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’])*")  # letters of any script: "Beneš", "Kraków"
COMPOUND = re.compile(rf"{NAME_WORD.pattern}(?:[-–]{NAME_WORD.pattern})*")  # "Molotov–Ribbentrop", "anti-Nazi"
NAME_SHARE = 0.8  # a word the corpus writes capitalised this often, past a sentence's first word, is a name
CONJUNCTIONS = {"and", "but", "so", "also"}  # "and why Poland?" asks as "why Poland?" does
# A follow-up opening with one of these narrows the earlier question rather than changing its subject:
# "and in May 1939?", "and after Munich?" ("and for Britain?" does change it).
NARROWING = {"in", "after", "before", "during", "since", "until", "till", "by", "at", "on", "from", "under",
             "between", "around", "within", "without", "with"}


@dataclass(frozen=True)
class Names:
    """Which words of a question name someone or something ("Poland", "france", "Churchill"), so that a
    follow-up naming a new subject can take the place of the earlier question's.

    A word the corpus uses is a name when the corpus writes it capitalised, past a sentence's first word,
    at least NAME_SHARE of the time; a word it never uses there is one when typed capitalised ("Maisky?").
    A stopword ("I", "The") is never a name. The names of the people who answer (`kept`) are never
    dropped: they keep the search to their documents.
    """

    capitalised: frozenset[str] = frozenset()  # lower-case words the corpus writes capitalised
    seen: frozenset[str] = frozenset()  # lower-case words the corpus uses past a sentence's first word
    kept: re.Pattern | None = None

    @classmethod
    def of(cls, sentences: Iterable[str], kept: re.Pattern | None = None) -> Names:
        capitalised, total = Counter(), Counter()
        for sentence in sentences:
            for word in NAME_WORD.findall(sentence)[1:]:
                lower = _bare(word).lower()
                total[lower] += 1
                capitalised[lower] += word[0].isupper()
        names = (w for w in total if capitalised[w] >= NAME_SHARE * total[w])
        return cls(frozenset(names) - _pointing_words(), frozenset(total), kept)

    def in_text(self, text: str) -> set[str]:
        """The names a text holds, in lower case, without those of the people who answer."""
        found = set()
        for word in NAME_WORD.findall(text):
            bare = _bare(word)
            lower = bare.lower()
            named = lower in self.capitalised if lower in self.seen else word[0].isupper()
            if named and lower not in _pointing_words() and not (self.kept and self.kept.fullmatch(bare)):
                found.add(lower)
        return found

    def without(self, text: str, names: set[str]) -> str:
        """The text with these names (and their possessives) left out, and compounds made only of them
        ("Molotov–Ribbentrop", not "anti-Nazi")."""
        def kept(compound: re.Match) -> str:
            parts = NAME_WORD.findall(compound[0])
            return "" if all(_bare(part).lower() in names for part in parts) else compound[0]

        left = COMPOUND.sub(kept, text)
        return " ".join(piece for piece in left.split() if any(c.isalnum() for c in piece))  # no stray "?"


def _bare(word: str) -> str:
    """A word without its possessive: "Carley's" is "Carley"."""
    return re.sub(r"['’]s$", "", word)


def standalone_query(question: str, history: Sequence[str], names: Names = Names()) -> str:
    """The text to search for: the question, followed by the last earlier question when it needs one,
    and by the ones before that while they lean on earlier ones too ("what book did they quote?"
    after "did he warn the west?" after "Who was Litvinov?").

    The question comes first: what must be answered leads, and the earlier question
    supplies what "that" or "it" means. Measured on our follow-ups, the passage is
    found first and its answering sentence highlighted more often this way round.
    A question that names something of its own and asks the earlier one again ("and Britain?", "what about
    Churchill?") replaces the earlier ones' names: they are searched without them. Down a chain, the
    latest such question decides: "why was that?" after "what about France?" after "What was the role
    of Poland?" is about France.
    """
    earlier = [h.strip() for h in history if isinstance(h, str) and h.strip()]
    if not earlier or not needs_context(question):
        return question.strip()
    parts, subject = [], set()  # subject: the names the chain was last turned to
    for number, text in enumerate([question.strip(), *reversed(earlier[-MAX_EARLIER:])]):
        again, named = asks_again(text), names.in_text(text)
        searched = names.without(text, named - subject) if subject else text
        if number == 0 or not again or _own_words(WORD.findall(searched.lower())):
            parts.append(searched)  # not the "and" left of "and France?"; "Who was" of "Who was Litvinov?" stays
        if not subject and again:
            subject = named
        if number and not needs_context(text):
            break
    return " ".join(parts)


def asks_again(question: str) -> bool:
    """Whether a follow-up asks the earlier question again, of what it names ("and Britain?", "what about
    Churchill?", "same for Italy"): it points at nothing said before ("did he...?", "when was that?"), asks
    nothing of its own ("why Poland?", "and when did Britain drop out?" add to the earlier question) and
    does not narrow it ("and after Munich?")."""
    words = WORD.findall(question.lower())
    if any(w in REFERRING_TO_PEOPLE or w in REFERRING for w in words):
        return False
    while words and words[0] in CONJUNCTIONS:
        words = words[1:]
    if not words or words[0] in NARROWING:
        return False
    return words[0] not in ASKING or " ".join(words[:2]) in {"what about", "how about"}


def refers_to_nothing(question: str, history: Sequence[str]) -> bool:
    """True for a question made only of words that point back ("what about him?", "why?", "tell me more")
    when nothing was asked before it: there is nothing to search for."""
    if any(isinstance(h, str) and h.strip() for h in history) or not needs_context(question):
        return False
    return not _own_words(WORD.findall(question.lower()))


def _own_words(words: list[str]) -> list[str]:
    """The words of a question that name something, past any "tell me more" and the words that point back."""
    rest = CONTINUING.sub("", " ".join(words), count=1)
    return [w for w in rest.split() if w not in _pointing_words()]


@cache
def _pointing_words() -> frozenset[str]:
    """Words that carry no subject of their own: referring and leading words, and stopwords."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(REFERRING_TO_PEOPLE | REFERRING | SHORT_REFERRING | set(STOPWORDS_EN_PLUS)
                     | {w for phrase in LEADING for w in phrase.split()} | {"please"})
