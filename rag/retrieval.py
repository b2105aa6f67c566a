"""Signals that say how well each passage matches a query, dense and lexical.

What gets embedded is decided here (`build_units`): every answerable passage whole,
the same with its context (speaker, the question it answers), each sentence, and each
sentence with its neighbours. A passage's dense signal per kind is its best unit's
cosine, so a one-sentence answer buried in a long paragraph still surfaces; the
sentence cosines also choose the highlights. Lexical signals come from BM25 over
passages (with their question) and over single sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embeddings import Encoder, VectorIndex

from .lexical import LexicalIndex
from .records import Passage

UNIT_KINDS = ("passage", "passage+context", "sentence", "window")
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
    """Everything measured for one query: per passage (arrays) and per sentence (dicts)."""

    query: str
    dense: dict[str, np.ndarray]  # kind -> best cosine per passage (floor where not retrieved)
    sentence_dense: dict[int, np.ndarray]  # passage -> cosine per sentence
    lexical: np.ndarray  # BM25 per passage (with its question)
    sentence_lexical: dict[int, np.ndarray]  # passage -> BM25 per sentence
    coverage: np.ndarray  # share of the query's term weight (IDF) present in each passage
    unknown_share: float  # share of the query's term weight absent from the whole corpus


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
    return units


def lexical_text(passage: Passage) -> str:
    """What BM25 sees of a passage: who speaks it, the question it answers, then its words.

    A question naming the interviewee ("what does Carley think...") should match his own
    answers, which never name him, as well as the introduction, which does.
    """
    return "\n".join(filter(None, (passage.citation.speaker, passage.citation.question, passage.text)))


class Retrieval:
    """The indexes for one corpus, loaded once, measuring queries against every passage."""

    def __init__(self, passages: list[Passage], units: list[Unit], vectors: VectorIndex, encoder: Encoder):
        self.passages = passages
        self.units = units
        self.vectors = vectors
        self.encoder = encoder
        self.answerable = np.array([p.answerable for p in passages])
        self.lexical = LexicalIndex([lexical_text(p) for p in passages])
        self.sentence_owner = [(i, n) for i, p in enumerate(passages) if p.answerable for n in range(len(p.sentences))]
        self.sentence_lexical = LexicalIndex([passages[i].text[slice(*passages[i].sentences[n])]
                                              for i, n in self.sentence_owner])
        self.term_sets = [set(terms) for terms in self.lexical.corpus_terms]
        self.idf = self.lexical.idf

    def signals(self, query: str, dense_query: str | None = None) -> Signals:
        """Measure `query` against every passage; `dense_query` lets embedding see a different wording."""
        dense, sentence_dense = self._dense(dense_query or query)
        terms = self.lexical.terms(query)
        weights = {term: self.idf.get(term, self.lexical.unknown_idf) for term in set(terms)}
        total = sum(weights.values())
        coverage = np.array([sum(w for t, w in weights.items() if t in passage_terms) / total if total else 0.0
                             for passage_terms in self.term_sets], dtype=np.float32)
        unknown = sum(w for t, w in weights.items() if t not in self.idf) / total if total else 0.0
        sentence_lexical: dict[int, np.ndarray] = {}
        for (passage, number), score in zip(self.sentence_owner, self.sentence_lexical.scores(query)):
            sentence_lexical.setdefault(passage, np.zeros(len(self.passages[passage].sentences), np.float32))[number] = score
        return Signals(query=query, dense=dense, sentence_dense=sentence_dense, lexical=self.lexical.scores(query),
                       sentence_lexical=sentence_lexical, coverage=coverage, unknown_share=float(unknown))

    def _dense(self, query: str) -> tuple[dict[str, np.ndarray], dict[int, np.ndarray]]:
        vector = self.encoder.encode_query(query)
        count = self.vectors.manifest.count
        cosines, rows = self.vectors.search(vector, count if count <= SEARCH_ALL_BELOW else DENSE_DEPTH)
        valid = rows[0] >= 0
        cosines, rows = cosines[0][valid], rows[0][valid]
        floor = float(cosines.min()) if cosines.size else 0.0
        best = {kind: np.full(len(self.passages), floor, dtype=np.float32) for kind in UNIT_KINDS}
        sentences: dict[int, np.ndarray] = {}
        for cosine, row in zip(cosines, rows):
            unit = self.units[row]
            per_kind = best[unit.kind]
            per_kind[unit.passage] = max(per_kind[unit.passage], cosine)
            if unit.kind == "sentence":
                count = len(self.passages[unit.passage].sentences)
                sentences.setdefault(unit.passage, np.full(count, floor, dtype=np.float32))[unit.sentence] = cosine
        # A passage without a question or of one sentence has no such unit: its whole stands in.
        for kind in ("passage+context", "sentence", "window"):
            best[kind] = np.maximum(best[kind], best["passage"])
        return best, sentences

