"""BM25 with bm25s: English stopwords, Snowball stemming, and one-character tokens kept.

bm25s's default token pattern drops one-character words, and with them the
numbers people ask about ("volume 2"); this index keeps them.
"""

from __future__ import annotations

import math

import numpy as np

TOKEN_PATTERN = r"(?u)\b\w+\b"  # noqa: S105 - a word-token regex, not a password


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english").stemWords


class LexicalIndex:
    """BM25 scores of a query against every text it was built on, and the corpus's term statistics."""

    def __init__(self, texts: list[str]):
        import bm25s

        self._bm25s = bm25s
        self._stem = _stemmer()
        corpus_terms = self._tokenize(texts)
        self.retriever = bm25s.BM25()
        self.retriever.index(corpus_terms, show_progress=False)
        self.size = len(texts)
        self.idf = _idf(corpus_terms)
        self._presence = _presence(corpus_terms, self.idf)
        self.unknown_idf = math.log((self.size + 1) / 0.5)  # what a term found nowhere weighs

    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        return self._bm25s.tokenize(texts, stopwords="en", stemmer=self._stem, token_pattern=TOKEN_PATTERN,
                                    return_ids=False, show_progress=False)

    def terms(self, text: str) -> list[str]:
        """The text's stemmed content terms, as the index sees them."""
        return self._tokenize([text])[0]

    def presence(self, terms: list[str]):
        """A sparse (texts x terms) 0/1 matrix: which texts contain each of these known terms."""
        matrix, column = self._presence
        return matrix[:, [column[t] for t in terms]]

    def scores(self, terms: list[str]) -> np.ndarray:
        """One BM25 score per indexed text for a query's `terms` (0 where none matches)."""
        known = [term for term in terms if term in self.idf]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores(known), dtype=np.float32)


def _presence(document_terms: list[list[str]], vocabulary: dict[str, float]):
    """Which text contains which term, as a CSC matrix for fast column picks, and the column of each term."""
    from scipy.sparse import csc_matrix

    column = {term: n for n, term in enumerate(vocabulary)}
    rows, columns = [], []
    for row, terms in enumerate(document_terms):
        for term in set(terms):
            rows.append(row)
            columns.append(column[term])
    matrix = csc_matrix((np.ones(len(rows), dtype=np.float32), (rows, columns)),
                        shape=(len(document_terms), len(column)))
    return matrix, column


def _idf(document_terms: list[list[str]]) -> dict[str, float]:
    """Smoothed inverse document frequency of every term in the corpus."""
    counts: dict[str, int] = {}
    for terms in document_terms:
        for term in set(terms):
            counts[term] = counts.get(term, 0) + 1
    total = len(document_terms)
    return {term: math.log((total + 1) / (count + 0.5)) for term, count in counts.items()}
