"""Turn a query's signals into a ranking, the highlighted sentences, and a verdict: answer, warn, or abstain.

The baselines (`bm25`, `dense`, `hybrid`) use one signal or a rank fusion of two.
`full` scores passages with a linear model over several signals, and judges with a
logistic model over evidence about the best passage (how close its best unit is, how
much of the question's term weight it holds, how much of the question's wording the
corpus has never seen, whether its best sentence, or the next, holds the number or date
asked for) how likely the corpus is not to answer: above one threshold it abstains,
above a lower one it answers with a warning. The weights and thresholds live in `model.json`, fitted
by `python -m rag.calibrate` with k-fold cross-validation on question sets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from .records import Passage
from .retrieval import UNIT_KINDS, Signals

RETRIEVERS = ("bm25", "dense", "hybrid", "full")
MODEL_FILE = Path(__file__).with_name("model.json")
RRF_K = 60  # the usual reciprocal-rank-fusion constant
HIGHLIGHT_MARGIN = 0.05  # a neighbour sentence scoring this close to the best is highlighted too
PASSAGE_FEATURES = tuple(f"dense_{k}" for k in UNIT_KINDS) + ("lexical_z", "lexical_scaled", "sentence_lexical",
                                                               "coverage")
# On scales that do not move when the ranker is refitted: the ranker's own top score and margin made an
# abstainer that transferred worse to a question set written by someone else (`calibrate` by-file figures).
QUERY_FEATURES = ("top_cosine", "top_coverage", "unknown_share", "best_sentence_or_next_holds_answer")


@dataclass(frozen=True)
class LinearModel:
    """weights · features + bias; for the abstainer, read as a logistic probability."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float

    def score(self, matrix: np.ndarray) -> np.ndarray:
        return matrix @ np.asarray(self.weights, dtype=np.float32) + self.bias

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.score(matrix)))

    def to_dict(self) -> dict:
        return {"features": list(self.features), "weights": [round(float(w), 6) for w in self.weights],
                "bias": round(float(self.bias), 6)}


@dataclass(frozen=True)
class Highlighting:
    """How a sentence's score for highlighting is made from its cosine with the question."""

    lexical: float = 0.0  # plus its word overlap with the question (BM25, scaled to the passage's best)
    echo: float = 0.0  # less its cosine with the interviewer's question: restating it is not answering it
    length: float = 0.0  # plus the log of its word count: "Yes, then there was Poland." says little

    def to_dict(self) -> dict:
        return {"lexical": self.lexical, "echo": self.echo, "length": self.length}


@dataclass(frozen=True)
class Models:
    ranker: LinearModel
    abstainer: LinearModel
    highlighting: Highlighting
    abstain_threshold: float  # abstainer probability from which the question is refused
    unsure_threshold: float  # abstainer probability from which an answer carries a warning

    def to_dict(self) -> dict:
        """What rag/model.json holds."""
        return {"ranker": self.ranker.to_dict(),
                "abstainer": {**self.abstainer.to_dict(), "threshold": round(self.abstain_threshold, 6),
                              "unsure_threshold": round(self.unsure_threshold, 6)},
                "highlighting": self.highlighting.to_dict()}


@dataclass(frozen=True)
class Verdict:
    """Whether the corpus answers a query: abstain, answer with a warning (unsure), or answer."""

    probability: float  # that the corpus does not answer
    abstain: bool
    unsure: bool  # answered, but likely enough not to be an answer that the reader should be told


@cache
def load_models(path: Path = MODEL_FILE) -> Models:
    data = json.loads(path.read_text(encoding="utf-8"))
    ranker, abstainer = (LinearModel(tuple(d["features"]), tuple(d["weights"]), d["bias"])
                         for d in (data["ranker"], data["abstainer"]))
    if ranker.features != PASSAGE_FEATURES or abstainer.features != QUERY_FEATURES:
        raise ValueError(f"{path} was fitted for other features: run python -m rag.calibrate")
    return Models(ranker, abstainer, Highlighting(**data["highlighting"]), float(data["abstainer"]["threshold"]),
                  float(data["abstainer"]["unsure_threshold"]))


def passage_features(signals: Signals, answerable: np.ndarray) -> np.ndarray:
    """One row per passage, one column per PASSAGE_FEATURES name."""
    lexical = signals.lexical
    columns = [_z(signals.dense[kind], answerable) for kind in UNIT_KINDS]
    columns += [_z(lexical, answerable), _scaled(lexical), _scaled(signals.best_sentence_lexical), signals.coverage]
    return np.stack(columns, axis=1).astype(np.float32)


def scores(signals: Signals, answerable: np.ndarray, retriever: str, models: Models | None = None) -> np.ndarray:
    """A score per passage (higher is better; -inf for passages that are never answers, or not to this query:
    outside the documents of the person it names)."""
    if retriever == "bm25":
        result = signals.lexical.astype(np.float64)
    elif retriever == "dense":
        result = best_cosine(signals).astype(np.float64)
    elif retriever == "hybrid":
        result = rrf(best_cosine(signals), signals.lexical)
    elif retriever == "full":
        result = (models or load_models()).ranker.score(passage_features(signals, answerable)).astype(np.float64)
    else:
        raise ValueError(f"unknown retriever {retriever!r}: choose from {', '.join(RETRIEVERS)}")
    return only_eligible(result, signals, answerable)


def only_eligible(result: np.ndarray, signals: Signals, answerable: np.ndarray) -> np.ndarray:
    """The scores of the passages that may answer this query; -inf for the rest."""
    return np.where(answerable & signals.scope, result, -np.inf)


def best(scores: np.ndarray, k: int) -> list[int]:
    """The indices of the `k` best scores, best first, ties in passage order; never an ineligible passage."""
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k] if np.isfinite(scores[i])]


def best_cosine(signals: Signals) -> np.ndarray:
    """Per passage, the best cosine of any of its units."""
    return np.max([signals.dense[kind] for kind in UNIT_KINDS], axis=0)


def query_features(signals: Signals, top: int, highlighting: Highlighting) -> np.ndarray:
    """One row of QUERY_FEATURES: the evidence that the corpus answers this query at all, from the best passage
    found (`top`)."""
    top_cosine = max(float(signals.dense[kind][top]) for kind in UNIT_KINDS)  # one passage's, not every one's
    sentences = sentence_scores(signals, top, highlighting)
    holds_answer = True
    if len(sentences):
        # The answer is often the sentence after the one that best echoes the question ("Russophobia
        # is not really a subject directly treated in my work. It is a form of western racism...").
        best = int(np.argmax(sentences))
        holds_answer = any(signals.holds_answer(top, n) for n in (best, best + 1) if n < len(sentences))
    return np.array([[top_cosine, signals.coverage[top], signals.unknown_share, float(holds_answer)]],
                    dtype=np.float32)


def verdict(signals: Signals, top: int, models: Models | None = None) -> Verdict:
    """The abstainer's judgement of the best passage found for a query."""
    models = models or load_models()
    features = query_features(signals, top, models.highlighting)
    probability = float(models.abstainer.probability(features)[0])
    abstain = probability >= models.abstain_threshold
    unsure = not abstain and probability >= models.unsure_threshold
    return Verdict(probability, abstain, unsure)


def sentence_scores(signals: Signals, index: int, highlighting: Highlighting) -> np.ndarray:
    """How well each sentence of a passage answers, as `highlighting` weighs it. The best is highlighted, and
    the abstainer checks it and the next for the number or date asked for."""
    cosines, lexical = signals.sentences_of(index)
    words = signals.sentence_log_words[signals.sentence_start[index]:signals.sentence_start[index + 1]]
    scores = cosines + highlighting.lexical * _scaled(lexical) + highlighting.length * words
    return scores - highlighting.echo * signals.echoes(index) if highlighting.echo else scores


def highlight(passage: Passage, index: int, signals: Signals,
              highlighting: Highlighting | None = None) -> list[tuple[int, int]]:
    """The sentence(s) of a passage that answer best: the top one, and a neighbour scoring nearly as well, or
    nearly as close to the question by cosine alone (the length and echo weights choose the best sentence;
    they should not part "...the Second World War, and on major current issues." from "He is a Professor
    of history at the University of Montreal.")."""
    spans = list(passage.sentences) or [(0, len(passage.text))]
    if len(spans) == 1:
        return spans
    by_sentence = sentence_scores(signals, index, highlighting or load_models().highlighting)
    cosines, _ = signals.sentences_of(index)
    best = int(np.argmax(by_sentence))
    chosen = {best} | {n for n in (best - 1, best + 1) if 0 <= n < len(spans) and (
        by_sentence[n] >= by_sentence[best] - HIGHLIGHT_MARGIN or cosines[n] >= cosines[best] - HIGHLIGHT_MARGIN)}
    return [spans[n] for n in sorted(chosen)]


def rrf(*score_lists: np.ndarray) -> np.ndarray:
    """Reciprocal rank fusion of several score vectors over the same passages."""
    fused = np.zeros(len(score_lists[0]), dtype=np.float64)
    for values in score_lists:
        ranks = np.empty(len(values), dtype=np.int64)
        ranks[np.argsort(-values, kind="stable")] = np.arange(1, len(values) + 1)
        fused += 1.0 / (RRF_K + ranks)
    return fused


def _z(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Standardised over the passages that can be answers, so scales compare across queries."""
    subset = values[mask]
    spread = float(subset.std()) if subset.size else 0.0
    return (values - float(subset.mean() if subset.size else 0.0)) / (spread if spread > 1e-9 else 1.0)


def _scaled(values: np.ndarray) -> np.ndarray:
    top = float(values.max()) if values.size else 0.0
    return values / top if top > 0 else values
