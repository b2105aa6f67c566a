"""Answer questions from the corpus: retrieve, rank, decide to answer, warn or abstain, build the Result."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from embeddings import Encoder, IndexStore

from . import config, ranking
from .adapter import AdapterError, adapter_for
from .corpus import Corpus, read_corpus
from .ranking import RETRIEVERS
from .records import Answer, Passage, Result
from .retrieval import Retrieval, build_units
from .text import has_words

NOTHING_BEFORE = "This question points back to something said before, and nothing was asked before it: ask it in full."
CLOSEST = "Closest passages (not an answer)"  # heads the passages shown with an abstention


class QuestionError(ValueError):
    """The question or its options are unusable; the message says how to fix it."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load(corpus_dir: Path | str | None = None, *, index_dir: Path | str | None = None, model: str | None = None,
         adapter_file: Path | str | None = None, use_adapter: bool = True, rebuild: bool = False,
         notice: Callable[[str], None] = _stderr) -> Engine:
    """An Engine over `corpus_dir` (default: the repo's corpus/), building its index when needed.

    Questions go through the query adapter (`adapter_file`, default rag/query_adapter.npz) when it was
    fitted for this encoder; otherwise a notice says why not, and questions are searched as encoded.
    `use_adapter=False` (or RAG_QUERY_ADAPTER=none) searches them as encoded without a word.
    """
    corpus = read_corpus(Path(corpus_dir) if corpus_dir else config.corpus_dir())
    for message in corpus.notices:
        notice(message)
    encoder = Encoder(model or config.model_name())
    passages = corpus.passages
    units = build_units(passages)
    store = IndexStore(Path(index_dir) if index_dir else config.index_dir(), notice=notice)
    vectors = store.load_or_build(encoder=encoder, texts=[u.text for u in units],
                                  passages=len(passages), rebuild=rebuild)
    adapter = None
    path = Path(adapter_file) if adapter_file else config.adapter_file()
    if use_adapter and path is not None:
        try:
            adapter = adapter_for(vectors.manifest.model, vectors.manifest.dim, path)
        except AdapterError as error:
            notice(f"{error}; questions are searched without it, so answers and their confidence are less reliable")
    return Engine(corpus, Retrieval(passages, units, vectors, encoder, adapter))


class Engine:
    """A loaded corpus and index, answering questions."""

    def __init__(self, corpus: Corpus, retrieval: Retrieval):
        self.corpus = corpus
        self.retrieval = retrieval
        self.passages: list[Passage] = retrieval.passages
        # The sentences of a refusal and of a warning name the corpus as it is: "The interview does not
        # answer this question.", or "The documents do not..." once others have joined it.
        name = corpus.name.capitalize()
        self.not_answered = f"{name} {'do' if corpus.several else 'does'} not answer this question."
        self.unsure = f"{name} may not answer this question; here is what comes closest."

    def ask(self, question: str, history: Sequence[str] = (), k: int = 3, retriever: str = "full") -> Result:
        """The passages that answer `question`, verbatim and cited (with a warning when they may not), or an
        abstention with the closest ones."""
        question, history = validate(question, history, k)
        check_retriever(retriever)
        signals = self.retrieval.signals(question, history)
        scores = ranking.scores(signals, self.retrieval.answerable, retriever)
        ranked = ranking.best(scores, k)
        abstained = unsure = False
        confidence = None
        if retriever == "full" and ranked:
            judged = ranking.verdict(signals, ranked[0])
            abstained, unsure, confidence = judged.abstain, judged.unsure, round(1.0 - judged.probability, 3)
        answers = [Answer(text=self.passages[i].text, score=float(scores[i]),
                          highlights=ranking.highlight(self.passages[i], i, signals), citation=self.passages[i].citation,
                          passage_id=self.passages[i].id) for i in ranked]
        lost = retriever == "full" and signals.points_back_to_nothing  # "what about him?", first in a chat
        if lost:  # nothing was asked, so there is no chance of an answer to estimate
            abstained, unsure, confidence = True, False, None
        reason = (NOTHING_BEFORE if lost else self.not_answered if abstained or not answers
                  else self.unsure if unsure else "")
        return Result(question=question, abstained=abstained or not answers, answers=answers, query=signals.query,
                      reason=reason, unsure=unsure, confidence=confidence)


def check_retriever(name: str) -> None:
    """QuestionError unless `name` is one of RETRIEVERS."""
    if name not in RETRIEVERS:
        raise QuestionError(f"unknown retriever {name!r}: choose from {', '.join(RETRIEVERS)}")


def validate(question: object, history: object, k: object) -> tuple[str, list[str]]:
    """The question and history, checked; QuestionError with a plain message otherwise."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {_json_kind(question)}")
    question = question.strip()
    if not question:
        raise QuestionError("the question is empty: type a question")
    if len(question) > config.MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(question)} characters long; the limit is {config.MAX_QUESTION_CHARS}")
    _check_characters(question, "the question")
    if not has_words(question):  # "???", "🤔🤔", "<b></b>": nothing to search for
        raise QuestionError("the question has no words: ask it in words")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= config.MAX_K:
        raise QuestionError(f"k must be a whole number from 1 to {config.MAX_K}, not {_as_json(k)}")
    if history is None:
        history = []
    if not isinstance(history, (list, tuple)) or not all(isinstance(h, str) for h in history):
        raise QuestionError("history must be a list of earlier questions (strings)")
    history = [h[: config.MAX_QUESTION_CHARS] for h in history][-config.MAX_HISTORY:]
    for earlier in history:
        _check_characters(earlier, "an earlier question (history)")
    return question, history


def _json_kind(value: object) -> str:
    """A value's type as JSON names it ("a number", "an object"): questions mostly come as JSON."""
    if value is None or isinstance(value, bool):
        return _as_json(value)
    kinds = ((str, "text"), ((int, float), "a number"), ((list, tuple), "a list"), (dict, "an object"))
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def _as_json(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


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
