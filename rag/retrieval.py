"""Signals that say how well each passage matches a question, dense and lexical.

What gets embedded is decided here (`build_units`): every answerable passage whole,
the same with its context (speaker, the question it answers), each sentence, and each
sentence with its neighbours. A passage's dense signal per kind is its best unit's
cosine, so a one-sentence answer buried in a long paragraph still surfaces; the
sentence cosines also choose the highlights. Lexical signals come from BM25 over
passages (with their question) and over single sentences. A follow-up is searched
with the question before it (`followup`); the encoder sees the question without the
interviewee's name (`dense_query`), through the query adapter
(`adapter`) when one was fitted for the encoder; and whether a sentence holds the number or date
asked for is judged on demand (`answer_type`). For highlighting, each sentence also has its length
and how closely it restates the interviewer's question it answers (`echoes`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from embeddings import Encoder, VectorIndex

from . import answer_type
from .adapter import QueryAdapter
from .followup import Names, asks_again, refers_to_nothing, standalone_query
from .lexical import LexicalIndex
from .records import Passage
from .text import searchable, searchable_history

UNIT_KINDS = ("passage", "passage+context", "sentence", "window")  # the kinds a question's search finds
ASKED = "asked"  # an interviewer's question, once: never found, only compared with its answers' sentences
SEARCH_ALL_BELOW = 4096  # score every unit exactly for small indexes; past that, the nearest few hundred
DENSE_DEPTH = 512


@dataclass(frozen=True)
class Unit:
    """One embedded text and the passage (and sentence, or -1) it stands for."""

    passage: int  # index into the engine's passage list
    kind: str
    sentence: int
    text: str


@dataclass
class Signals:
    """Everything measured for one query, per passage and per sentence."""

    query: str  # what was searched: the question, followed by the earlier one for a follow-up
    dense: dict[str, np.ndarray]  # unit kind -> best cosine per passage (a floor where not retrieved)
    lexical: np.ndarray  # BM25 per passage (with its context)
    best_sentence_lexical: np.ndarray  # per passage, the BM25 of its best-matching sentence
    coverage: np.ndarray  # per passage, the share of the query's term weight (IDF) it contains
    unknown_share: float  # share of the query's term weight absent from the whole corpus
    sentence_dense: np.ndarray  # per sentence (all passages' sentences, in order), its cosine
    sentence_lexical: np.ndarray  # per sentence, its BM25
    sentence_start: np.ndarray  # per passage, where its sentences begin in the two arrays above
    asked: answer_type.Asked  # the number or date the question asks for, if any
    sentence_tokens: list[dict[str, frozenset[str]]]  # per sentence, its numbers and dates (shared, not copied)
    sentence_log_words: np.ndarray  # per sentence, the log of its word count (shared)
    echoes: Callable[[int], np.ndarray]  # per sentence of a passage, its cosine with the question the passage answers
    scope: np.ndarray  # per passage, whether it may answer: a question naming who answers keeps to their documents
    points_back_to_nothing: bool  # "what about him?" with nothing asked before it: nothing to search for

    def sentences_of(self, passage: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine and BM25 of each sentence of one passage."""
        span = slice(self.sentence_start[passage], self.sentence_start[passage + 1])
        return self.sentence_dense[span], self.sentence_lexical[span]

    def holds_answer(self, passage: int, sentence: int) -> bool:
        """Whether a passage's sentence holds the kind of answer asked for (True when none is)."""
        return self.asked.held_by(self.sentence_tokens[self.sentence_start[passage] + sentence])


def build_units(passages: list[Passage]) -> list[Unit]:
    """The texts to embed, in a fixed order (their hash decides whether the index is stale)."""
    units = []
    for index, passage in enumerate(passages):
        if not passage.answerable:
            continue
        units.append(Unit(index, "passage", -1, passage.text))
        if passage.citation.question:
            units.append(Unit(index, "passage+context", -1, lexical_text(passage)))
        spans = passage.sentences
        if len(spans) > 1:
            for number, (start, end) in enumerate(spans):
                units.append(Unit(index, "sentence", number, passage.text[start:end]))
            for number in range(len(spans)):
                first, last = spans[max(0, number - 1)], spans[min(len(spans) - 1, number + 1)]
                units.append(Unit(index, "window", number, passage.text[first[0]:last[1]]))
    asked = {}  # each question with several-sentence answers, once (see `Retrieval.echoes`)
    for index, passage in enumerate(passages):
        if passage.answerable and passage.citation.question and len(passage.sentences) > 1:
            asked.setdefault(passage.citation.question, index)
    return units + [Unit(index, ASKED, -1, question) for question, index in asked.items()]


TITLES = r"(?i:(?:professor|prof|dr|mr|mrs|ms)\.?\s+)?"
MIN_CONTENT_WORDS_LEFT = 2  # "Where does Carley teach?" keeps its name: without it, too little is left


def speaker_patterns(passages: list[Passage]) -> dict[str, re.Pattern]:
    """Per person whose words answer, the mentions of them ("Michael Jabara Carley", "Professor Carley's",
    "Michael J. Carley"): the surname, led by any of the given names, initials or a title. Typed in any
    case, unless the corpus uses the surname as an ordinary lower-case word ("may", "long"); then only
    capitalised."""
    speakers = sorted({p.citation.speaker for p in passages if p.answerable and p.citation.speaker})
    patterns = {}
    for speaker in speakers:
        *given, surname = speaker.split()
        plain_word = re.compile(rf"\b{re.escape(surname.lower())}\b")
        any_case = "(?i:" if not any(plain_word.search(p.text) for p in passages) else "(?:"
        leading = "".join(rf"{any_case}(?:{re.escape(g)}|{re.escape(g[0])}\.?)\s+)?" for g in given)
        patterns[speaker] = re.compile(rf"\b{TITLES}{leading}{any_case}{re.escape(surname)}(?:['’]?s)?)\b")
    return patterns


def lexical_text(passage: Passage) -> str:
    """What BM25 sees of a passage: who speaks it, the question it answers, then its words.

    A question naming the interviewee ("what does Carley think...") should match his own
    answers, which rarely name him, as well as the introduction, which does.
    """
    return "\n".join(filter(None, (passage.citation.speaker, passage.citation.question, passage.text)))


class Retrieval:
    """The indexes for one corpus, loaded once, measuring queries against every passage."""

    def __init__(self, passages: list[Passage], units: list[Unit], vectors: VectorIndex, encoder: Encoder,
                 adapter: QueryAdapter | None = None):
        self.passages = passages
        self.vectors = vectors
        self.encoder = encoder
        self.adapter = adapter
        self.answerable = np.array([p.answerable for p in passages])
        patterns = speaker_patterns(passages)
        # Mentions of anyone who answers, dropped from what the encoder sees (see `dense_query`).
        self.names = re.compile("|".join(p.pattern for p in patterns.values())) if patterns else None
        # Per person who answers, their name and the passages of the documents they answer in: the scope
        # of a question naming them ("What does Carley say about railways?" is not answered from another
        # interview, and "Who is Carley?" still from his interview's introduction).
        self.speakers = {}
        for speaker, pattern in patterns.items():
            documents = {p.citation.doc for p in passages if p.citation.speaker == speaker}
            self.speakers[speaker] = (pattern, np.array([p.citation.doc in documents for p in passages]))
        self.lexical = LexicalIndex([lexical_text(p) for p in passages])
        # Every sentence of every passage, flat; passage i owns sentence_start[i]:sentence_start[i + 1].
        counts = [len(p.sentences) for p in passages]
        self.sentence_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.sentence_owner = np.repeat(np.arange(len(passages)), counts)
        sentence_texts = [p.text[start:end] for p in passages for start, end in p.sentences]
        self.sentence_lexical = LexicalIndex(sentence_texts)
        self.follow_up_names = Names.of(sentence_texts, self.names)
        self.sentence_tokens = [answer_type.answer_tokens(text) for text in sentence_texts]
        self.unit_passage = np.array([u.passage for u in units], dtype=np.int64)
        self.unit_kind = np.array([(*UNIT_KINDS, ASKED).index(u.kind) for u in units], dtype=np.int64)
        self.searched = self.unit_kind < len(UNIT_KINDS)  # per unit: one a question's search may find
        self.asked_row = {u.text: row for row, u in enumerate(units) if u.kind == ASKED}
        self.unit_sentence = np.array([self.sentence_start[u.passage] + u.sentence if u.kind == "sentence" else -1
                                       for u in units], dtype=np.int64)
        self.sentence_row = np.full(len(sentence_texts), -1, dtype=np.int64)  # its unit, if it has one of its own
        self.sentence_row[self.unit_sentence[self.unit_sentence >= 0]] = np.flatnonzero(self.unit_sentence >= 0)
        self.sentence_log_words = np.log([max(1, len(text.split())) for text in sentence_texts]).astype(np.float32)

    def with_adapter(self, adapter: QueryAdapter | None) -> Retrieval:
        """The same indexes, searched through another adapter (calibration compares several)."""
        other = copy.copy(self)
        other.adapter = adapter
        return other

    def signals(self, question: str, history: Sequence[str] = ()) -> Signals:
        """Measure a question (searched with the earlier question when it leans on it) against every
        passage and sentence. Markup is not searched, as the corpus's text has none, and is dropped before
        the question is read: "<b>why?</b>" is the follow-up it would be without it."""
        question, history = searchable(question), searchable_history(history)
        query = standalone_query(question, history, self.follow_up_names)
        dense, sentence_dense = self._dense(query)
        terms = self.lexical.terms(query)  # the sentence index tokenises alike
        idf = self.lexical.idf
        weights = {term: idf.get(term, self.lexical.unknown_idf) for term in set(terms)}
        total = sum(weights.values())
        known = [term for term in weights if term in idf]
        coverage = self.lexical.presence(known) @ np.array([weights[t] for t in known], dtype=np.float32)
        sentence_lexical = self.sentence_lexical.scores(terms)
        best_sentence = np.zeros(len(self.passages), dtype=np.float32)
        np.maximum.at(best_sentence, self.sentence_owner, sentence_lexical)
        return Signals(query=query, dense=dense, lexical=self.lexical.scores(terms),
                       best_sentence_lexical=best_sentence,
                       coverage=(coverage / total if total else coverage).astype(np.float32),
                       unknown_share=sum(weights[t] for t in weights if t not in idf) / total if total else 0.0,
                       sentence_dense=sentence_dense, sentence_lexical=sentence_lexical,
                       sentence_start=self.sentence_start, asked=answer_type.asked(question, query),
                       sentence_tokens=self.sentence_tokens, sentence_log_words=self.sentence_log_words,
                       echoes=self.echoes,
                       scope=self.scope(question, query) if asks_again(question) else self.scope(query),
                       points_back_to_nothing=refers_to_nothing(question, history))

    def echoes(self, passage: int) -> np.ndarray:
        """Per sentence of a passage, its cosine with the interviewer's question it answers (0 without one).

        A sentence that restates the question ("Yes, then there was Poland.") matches a reader's question
        on the same subject as well as the sentence that answers it. Both vectors are in the index (the
        question as an ASKED unit), so this is a few stored rows and a dot product.
        """
        rows = self.sentence_row[self.sentence_start[passage]:self.sentence_start[passage + 1]]
        asked = self.asked_row.get(self.passages[passage].citation.question)
        if asked is None or (rows < 0).any():
            return np.zeros(len(rows), dtype=np.float32)
        vectors = self.vectors.rows(np.append(rows, asked))
        return (vectors[:-1] @ vectors[-1]).astype(np.float32)

    def query(self, question: str, history: Sequence[str] = ()) -> str:
        """What is searched for a question: without markup, and with the earlier question when it leans on it."""
        return standalone_query(searchable(question), searchable_history(history), self.follow_up_names)

    def scope(self, *texts: str) -> np.ndarray:
        """The passages that may answer: those of the documents where the people named answer, or every
        passage when nobody who answers is named. The first text naming someone decides: for a follow-up
        asking the earlier question again ("and Carley?"), its own, before the earlier question searched
        with it ("What is Voss working on?")."""
        for text in texts:
            named = [documents for pattern, documents in self.speakers.values() if pattern.search(text)]
            if named:
                return np.logical_or.reduce(named)
        return np.ones(len(self.passages), dtype=bool)

    def dense_query(self, query: str) -> str:
        """The query as the encoder sees it: without the name of whoever answers.

        An interviewee's answers rarely name him (only their context units carry his
        name, all alike), so "What period does Carley's trilogy span?" is drawn by its name
        towards passages *about* him (the introduction, his remarks on his own career)
        rather than what he says. BM25 keeps the name. When several people answer, in several
        documents, the name has done its work before this: it keeps the search to the documents
        its owner answers in (`scope`).
        """
        if self.names is None:
            return query
        from bm25s.stopwords import STOPWORDS_EN_PLUS

        without = " ".join(self.names.sub(" ", query).split())
        content = {w for w in re.findall(r"\w+", without.lower()) if w not in STOPWORDS_EN_PLUS}
        return without if len(content) >= MIN_CONTENT_WORDS_LEFT else query

    def encoded(self, query: str) -> np.ndarray:
        """The query's vector as the encoder gives it, before any adapter: what an adapter is fitted on."""
        return self.encoder.encode_query(self.dense_query(query))

    def _dense(self, query: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Per kind, each passage's best unit cosine; and each sentence's cosine, which chooses highlights.

        With an adapter, passages are found through the adapted question, and a sentence scores the mean
        of its cosines with the adapted and the encoded question: the adapter was fitted to find the
        passage, not the sentence of it that answers (span@1 by file 0.702 with the mean, 0.697 adapted
        alone, 0.685 encoded alone).
        """
        encoded = self.encoded(query)
        queries = encoded if self.adapter is None else np.vstack([self.adapter.apply(encoded), encoded])
        count = self.vectors.manifest.count
        found = self.vectors.search(queries, count if count <= SEARCH_ALL_BELOW else DENSE_DEPTH)
        per_query = []
        for cosines, rows in zip(*found):
            kept = (rows >= 0) & self.searched[np.maximum(rows, 0)]  # an interviewer's question is never found
            per_query.append((cosines[kept], rows[kept]))
        floor = min((float(cosines.min()) for cosines, _ in per_query if cosines.size), default=0.0)
        cosines, rows = per_query[0]
        best = {}
        for number, kind in enumerate(UNIT_KINDS):
            of_kind = self.unit_kind[rows] == number
            best[kind] = np.full(len(self.passages), floor, dtype=np.float32)
            np.maximum.at(best[kind], self.unit_passage[rows[of_kind]], cosines[of_kind])
        # A passage without context or of one sentence has no such unit: its whole stands in.
        for kind in ("passage+context", "sentence", "window"):
            best[kind] = np.maximum(best[kind], best["passage"])
        sentences = np.zeros(len(self.sentence_owner), dtype=np.float32)
        for cosines, rows in per_query:
            by_sentence = np.full(len(self.sentence_owner), floor, dtype=np.float32)
            is_sentence = self.unit_sentence[rows] >= 0
            by_sentence[self.unit_sentence[rows[is_sentence]]] = cosines[is_sentence]
            sentences += by_sentence / len(per_query)
        return best, sentences
