"""Score passages for a query: lexical (BM25), dense (MiniLM + FAISS), and their fusions.

What gets embedded is decided here (`units`): every answerable passage as a whole,
prefixed by the interviewer question it answers, and each of its sentences alone.
A passage's dense score comes from its best unit, so a one-sentence answer buried
in a long paragraph still surfaces; the sentence scores also pick the highlights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embeddings import Encoder, VectorIndex

from .lexical import LexicalIndex
from .records import Passage

RETRIEVERS = ("bm25", "dense", "hybrid", "full")
RRF_K = 60  # the usual reciprocal-rank-fusion constant
DENSE_DEPTH = 256  # nearest units fetched per query; enough to cover every candidate passage


@dataclass(frozen=True)
class Unit:
    """One embedded text: a whole passage (sentence -1) or one of its sentences."""

    passage: int  # index into the engine's passage list
    sentence: int
    text: str


@dataclass
class Scored:
    """A candidate passage with its score and one score per sentence, for highlighting."""

    passage: int
    score: float
    sentence_scores: np.ndarray


def build_units(passages: list[Passage]) -> list[Unit]:
    """The texts to embed, in a fixed order (their hash decides whether the index is stale)."""
    units = []
    for index, passage in enumerate(passages):
        if not passage.answerable:
            continue
        context = passage.citation.question
        units.append(Unit(index, -1, f"{context}\n{passage.text}" if context else passage.text))
        if len(passage.sentences) > 1:
            for number, (start, end) in enumerate(passage.sentences):
                units.append(Unit(index, number, passage.text[start:end]))
    return units


def lexical_text(passage: Passage) -> str:
    """What BM25 indexes: the passage, with the question it answers as context."""
    return f"{passage.citation.question or ''}\n{passage.text}"


class Retrieval:
    """Everything needed to score passages against a query, loaded once."""

    def __init__(self, passages: list[Passage], units: list[Unit], vectors: VectorIndex, encoder: Encoder):
        self.passages = passages
        self.units = units
        self.vectors = vectors
        self.encoder = encoder
        self.answerable = np.array([p.answerable for p in passages])
        self.lexical = LexicalIndex([lexical_text(p) for p in passages])
        self.unit_passage = np.array([u.passage for u in units])

    def rank(self, query: str, retriever: str = "full", depth: int = 10) -> list[Scored]:
        """The best `depth` answerable passages for `query`, best first."""
        if retriever not in RETRIEVERS:
            raise ValueError(f"unknown retriever {retriever!r}: choose from {', '.join(RETRIEVERS)}")
        dense, sentences = self.dense_scores(query) if retriever != "bm25" else (None, {})
        lexical = self.lexical.scores(query) if retriever != "dense" else None
        if retriever == "bm25":
            scores = lexical
        elif retriever == "dense":
            scores = dense
        elif retriever == "hybrid":
            scores = rrf(dense, lexical)
        else:
            scores = 0.6 * dense + 0.4 * scale(lexical)
        scores = np.where(self.answerable, scores, -np.inf)
        order = np.argsort(-scores, kind="stable")[:depth]
        empty = np.zeros(0, dtype=np.float32)
        return [Scored(int(i), float(scores[i]), sentences.get(int(i), empty)) for i in order if np.isfinite(scores[i])]

    def dense_scores(self, query: str) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Per passage, its best unit's cosine; per passage, each sentence's cosine."""
        vector = self.encoder.encode_query(query)
        cosines, rows = self.vectors.search(vector, DENSE_DEPTH)
        best = np.full(len(self.passages), -1.0, dtype=np.float32)
        sentences: dict[int, np.ndarray] = {}
        for cosine, row in zip(cosines[0], rows[0]):
            if row < 0:
                continue
            unit = self.units[row]
            best[unit.passage] = max(best[unit.passage], cosine)
            if unit.sentence >= 0:
                count = len(self.passages[unit.passage].sentences)
                sentences.setdefault(unit.passage, np.full(count, -1.0, dtype=np.float32))[unit.sentence] = cosine
        return best, sentences


def scale(scores: np.ndarray) -> np.ndarray:
    """Divide by the maximum, so a lexical score sits in [0, 1] like a cosine."""
    top = float(scores.max()) if scores.size else 0.0
    return scores / top if top > 0 else scores


def rrf(*score_lists: np.ndarray) -> np.ndarray:
    """Reciprocal rank fusion of several score vectors over the same passages."""
    fused = np.zeros_like(score_lists[0], dtype=np.float64)
    for scores in score_lists:
        ranks = np.empty(len(scores), dtype=np.int64)
        ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
        fused += 1.0 / (RRF_K + ranks)
    return fused.astype(np.float32)
