"""Answer questions from the corpus: retrieve, rank, decide to answer or abstain, build the Result."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from embeddings import Encoder, IndexStore

from . import config
from .corpus import Corpus, read_corpus
from .followup import standalone_query
from .records import Answer, Passage, Result
from .retrieval import RETRIEVERS, Retrieval, Scored, build_units

ABSTAIN_BELOW = 0.45  # full retriever's fused score under which the corpus is taken not to answer
HIGHLIGHT_MARGIN = 0.04  # a second sentence is highlighted when it scores this close to the best


class QuestionError(ValueError):
    """The question or its options are unusable; the message says how to fix it."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load(corpus_dir: Path | str | None = None, *, index_dir: Path | str | None = None, model: str | None = None,
         rebuild: bool = False, notice: Callable[[str], None] = _stderr) -> Engine:
    """An Engine over `corpus_dir` (default: the repo's corpus/), building its index when needed."""
    corpus = read_corpus(Path(corpus_dir) if corpus_dir else config.corpus_dir())
    for message in corpus.skipped:
        notice(message)
    encoder = Encoder(model or config.model_name())
    passages = corpus.passages
    units = build_units(passages)
    store = IndexStore(Path(index_dir) if index_dir else config.index_dir(), notice=notice)
    vectors = store.load_or_build(encoder=encoder, corpus_hash=corpus.content_hash, texts=[u.text for u in units],
                                  passages=len(passages), rebuild=rebuild)
    return Engine(corpus, Retrieval(passages, units, vectors, encoder))


class Engine:
    """A loaded corpus and index, answering questions."""

    def __init__(self, corpus: Corpus, retrieval: Retrieval):
        self.corpus = corpus
        self.retrieval = retrieval
        self.passages: list[Passage] = retrieval.passages
        self.by_id = {p.id: p for p in self.passages}

    def ask(self, question: str, history: Sequence[str] = (), k: int = 3, retriever: str = "full") -> Result:
        """The passages that answer `question`, verbatim and cited, or an abstention."""
        question, history = validate(question, history, k)
        query = standalone_query(question, history)
        ranked = self.retrieval.rank(query, retriever=retriever, depth=max(k, 10))
        answers = [self._answer(scored) for scored in ranked[:k]]
        top = ranked[0].score if ranked else 0.0
        abstained = retriever == "full" and top < ABSTAIN_BELOW
        reason = "The interview does not answer this question." if abstained else ""
        return Result(question=question, abstained=abstained, answers=answers, query=query, reason=reason)

    def _answer(self, scored: Scored) -> Answer:
        passage = self.passages[scored.passage]
        return Answer(text=passage.text, score=scored.score, highlights=highlights(passage, scored.sentence_scores),
                      citation=passage.citation, passage_id=passage.id)


def highlights(passage: Passage, sentence_scores: np.ndarray) -> list[tuple[int, int]]:
    """The sentence(s) that answer best: the top one, and a neighbour that scores nearly as well."""
    spans = list(passage.sentences) or [(0, len(passage.text))]
    if len(spans) == 1 or sentence_scores.size != len(spans):
        return [spans[0]] if len(spans) == 1 else [spans[0]]
    best = int(np.argmax(sentence_scores))
    chosen = {best}
    for neighbour in (best - 1, best + 1):
        if 0 <= neighbour < len(spans) and sentence_scores[neighbour] >= sentence_scores[best] - HIGHLIGHT_MARGIN:
            chosen.add(neighbour)
    return [spans[i] for i in sorted(chosen)]


def validate(question, history, k) -> tuple[str, list[str]]:
    """The question and history, checked; QuestionError with a plain message otherwise."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {'null' if question is None else type(question).__name__}")
    question = question.strip()
    if not question:
        raise QuestionError("the question is empty: ask something about the interview")
    if len(question) > config.MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(question)} characters long; the limit is {config.MAX_QUESTION_CHARS}")
    _check_characters(question, "the question")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= config.MAX_K:
        raise QuestionError(f"k must be a whole number from 1 to {config.MAX_K}, not {k!r}")
    if history is None:
        history = []
    if not isinstance(history, (list, tuple)) or not all(isinstance(h, str) for h in history):
        raise QuestionError("history must be a list of earlier questions (strings)")
    history = [h[: config.MAX_QUESTION_CHARS] for h in history][-10:]
    for earlier in history:
        _check_characters(earlier, "an earlier question (history)")
    return question, history


# Characters no typed question holds: C0/C1 controls other than whitespace (tab, line breaks, form
# feed), and lone surrogates (what an undecodable byte on the command line, or a "\ud800" JSON
# escape, becomes; the encoder cannot take them).
CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
SURROGATE = re.compile(r"[\ud800-\udfff]")


def _check_characters(text: str, what: str) -> None:
    """QuestionError naming the first character that has no place in a question."""
    if SURROGATE.search(text):
        raise QuestionError(f"{what} is not valid text: it holds invalid UTF-8 or a lone surrogate")
    if control := CONTROL.search(text):
        char = control.group()
        name = "a NUL byte" if char == "\0" else f"a control character (U+{ord(char):04X})"
        raise QuestionError(f"{what} contains {name}: send plain text")


__all__ = ["Engine", "QuestionError", "RETRIEVERS", "load"]
