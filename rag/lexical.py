"""BM25 over passages with bm25s: English stopwords and Snowball stemming."""

from __future__ import annotations

import numpy as np


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english").stemWords


class LexicalIndex:
    """BM25 scores of a query against every document text it was built on."""

    def __init__(self, texts: list[str]):
        import bm25s

        self._bm25s = bm25s
        self._stem = _stemmer()
        self.retriever = bm25s.BM25()
        tokens = self.tokenize(texts)
        self.retriever.index(tokens, show_progress=False)
        self.vocabulary = set(tokens.vocab)
        self.size = len(texts)

    def tokenize(self, texts: list[str]):
        return self._bm25s.tokenize(texts, stopwords="en", stemmer=self._stem, show_progress=False)

    def terms(self, text: str) -> list[str]:
        """The query's stemmed content terms, as the index sees them."""
        return self._bm25s.tokenize([text], stopwords="en", stemmer=self._stem, return_ids=False,
                                    show_progress=False)[0]

    def scores(self, query: str) -> np.ndarray:
        """One BM25 score per indexed text (0 where no term matches)."""
        known = [term for term in self.terms(query) if term in self.vocabulary]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores(known), dtype=np.float32)
