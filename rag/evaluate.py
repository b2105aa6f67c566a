"""Offline evaluation: a question set run through one loaded engine, retriever by retriever, scored with ranx.

Relevance is judged by content, so it survives any re-chunking: a passage is relevant
to a question when its text contains one of the question's expected substrings, both
sides normalised with `rag.text.normalise`. `expected: []` marks a question the
interview does not answer.

How to read the figures:
- Every question asks for the top DEPTH (10) passages. hit@k, MRR@10 and nDCG@10 (ranx)
  judge that ranking over the answerable questions whether or not the retriever
  abstained: the closest passages of an abstention are still ranked. Abstention is
  scored on its own: the share of unanswerable questions abstained on (higher is
  better) and the share of answerable ones wrongly abstained on (lower is better).
  Only `full` abstains or warns; the other retrievers never do. "Abstained or unsure" also
  counts answers given with a warning that the interview may not answer (`unsure`).
- nDCG's ideal ranking counts every passage the engine can return (interviewer
  questions, titles and bylines never are) that contains an expected substring.
- span@1: the top passage's highlighted sentences contain an expected substring.
- Latency: wall time of one `Engine.ask`, after one warm-up question.
"""

from __future__ import annotations

import codecs
import json
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import CUTOFFS
from .engine import Engine, QuestionError, validate
from .measure import percentiles
from .records import Passage, Result
from .text import normalise

DEPTH = 10  # passages asked for per question; the metrics look no deeper
RANX_METRICS = [f"hit_rate@{k}" for k in range(1, DEPTH + 1)] + [f"mrr@{DEPTH}", f"ndcg@{DEPTH}"]


@dataclass(frozen=True)
class Item:
    """One line of the question set."""

    line: int  # 1-based line number in the file: the item's key
    id: object  # as given; the line number when absent
    question: str
    expected: tuple[str, ...]  # verbatim substrings of a right answer; () when unanswerable
    kind: str
    history: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.expected)


class ItemError(ValueError):
    """A line of the question set is unusable; the message says why."""


@dataclass(frozen=True)
class Skipped:
    """A line left out of the run, and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def parse_item(text: str, line: int) -> Item:
    """One JSON line as an Item; ItemError with a plain reason otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ItemError(f"not JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise ItemError('each line must be a JSON object like {"question": ..., "expected": [...]}')
    if "question" not in data:
        raise ItemError('no "question" key')
    expected = data.get("expected")
    if not isinstance(expected, list) or not all(isinstance(e, str) and normalise(e) for e in expected):
        raise ItemError('"expected" must be a list of non-empty strings ([] when the interview does not answer)')
    kind = data.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise ItemError('"kind" must be text')
    kind = (kind or "").strip() or "other"  # absent, null or "": a question of no particular kind
    try:
        question, history = validate(data["question"], data.get("history") or [], DEPTH)
    except QuestionError as error:
        raise ItemError(str(error)) from None
    return Item(line=line, id=data.get("id", line), question=question, expected=tuple(expected), kind=kind,
                history=tuple(history))


def read_items(path: Path) -> tuple[list[Item], list[Skipped]]:
    """The usable items of a JSON-lines file, and the lines skipped with their reasons."""
    try:
        raw = Path(path).read_bytes().removeprefix(codecs.BOM_UTF8)  # a file saved by Notepad
    except OSError as error:
        raise OSError(f"cannot read {path}: {error.strerror or error}") from None
    items, skipped = [], []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(parse_item(line.decode("utf-8"), number))
        except UnicodeDecodeError:
            skipped.append(Skipped(number, "not UTF-8 text"))
        except ItemError as error:
            skipped.append(Skipped(number, str(error)))
    return items, skipped


class Judge:
    """Which passages answer which item, by the normalised-substring rule."""

    def __init__(self, passages: Iterable[Passage]):
        self.texts = {p.id: normalise(p.text) for p in passages if p.answerable}

    def relevant(self, item: Item) -> frozenset[str]:
        wanted = [normalise(e) for e in item.expected]
        return frozenset(pid for pid, text in self.texts.items() if any(w in text for w in wanted))

    @staticmethod
    def span_hit(item: Item, result: Result) -> bool:
        """The top answer's highlighted sentences hold an expected substring."""
        if not item.expected or not result.answers:
            return False
        top = result.answers[0]
        return highlights_hold_answer(item, top.text, top.highlights)


def highlights_hold_answer(item: Item, text: str, highlights: Iterable[tuple[int, int]]) -> bool:
    """The highlighted sentences of a passage's text hold one of the item's expected substrings."""
    shown = normalise(" ".join(text[start:end] for start, end in highlights))
    return any(normalise(e) in shown for e in item.expected)


@dataclass
class Outcome:
    """One item answered by one retriever, judged."""

    item: Item
    retriever: str
    result: Result
    seconds: float
    relevant: frozenset[str]  # passage ids of the corpus that answer the item
    span: bool

    @property
    def key(self) -> str:
        return str(self.item.line)

    @property
    def ranks(self) -> list[int]:
        """1-based ranks of the returned passages that are relevant."""
        return [rank for rank, a in enumerate(self.result.answers, start=1) if a.passage_id in self.relevant]

    def record(self) -> dict:
        """The Result JSON with the item's id and how it was judged: one line of `--results`."""
        return {"id": self.item.id, "line": self.item.line, "retriever": self.retriever, "kind": self.item.kind,
                **self.result.to_dict(),
                "relevant_ranks": self.ranks, "span@1": self.span, "latency_ms": round(self.seconds * 1000, 2)}


def run(engine: Engine, items: list[Item], retrievers: list[str],
        notice: Callable[[str], None] = lambda message: None) -> dict[str, list[Outcome]]:
    """Every item through every retriever on the one engine, in input order.

    Retrievers take turns question by question, so a slow spell of a shared machine, or
    the encoder still warming up, falls on all of them alike.
    """
    judge = Judge(engine.passages)
    if items:
        engine.ask(items[0].question, k=DEPTH)  # warm-up: the first call pays one-off start-up costs
    outcomes: dict[str, list[Outcome]] = {retriever: [] for retriever in retrievers}
    for item in items:
        relevant = judge.relevant(item)
        for retriever in retrievers:
            asked = time.perf_counter()
            result = engine.ask(item.question, history=list(item.history), k=DEPTH, retriever=retriever)
            seconds = time.perf_counter() - asked
            outcomes[retriever].append(Outcome(item, retriever, result, seconds, relevant,
                                               judge.span_hit(item, result)))
    for retriever, group in outcomes.items():
        notice(f"eval: {retriever}: {len(group)} questions in {sum(o.seconds for o in group):.1f}s")
    return outcomes


def unjudgeable(outcomes: list[Outcome]) -> list[str]:
    """Answerable items whose expected text no returnable passage contains: they can only miss."""
    return [f"line {o.item.line} ({o.item.id}): no passage contains its expected text; it counts as a miss"
            for o in outcomes if o.item.answerable and not o.relevant]


def ranking_scores(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    """ranx's per-question hit_rate@1..10, MRR@10 and nDCG@10 over answerable outcomes, by outcome key. A
    question whose expected text no passage holds scores 0 (`unjudgeable`): ranx takes no empty judgement."""
    scores = {o.key: dict.fromkeys(RANX_METRICS, 0.0) for o in outcomes}
    judged = [o for o in outcomes if o.relevant]
    if not judged:
        return scores
    with warnings.catch_warnings():  # numba's type-safety chatter is not the user's concern
        warnings.simplefilter("ignore")
        from ranx import Qrels, Run, evaluate

        qrels = Qrels.from_dict({o.key: {pid: 1 for pid in o.relevant} for o in judged})
        ranking = Run.from_dict({o.key: {a.passage_id: float(DEPTH - rank) for rank, a in enumerate(o.result.answers)}
                                 for o in judged})
        evaluate(qrels, ranking, RANX_METRICS)
    scores.update({o.key: {metric: float(ranking.scores[metric][o.key]) for metric in RANX_METRICS} for o in judged})
    return scores


def share(flags: list[bool]) -> float | None:
    return float(np.mean(flags)) if flags else None


def summarise(outcomes: list[Outcome], scores: dict[str, dict[str, float]], cutoffs=CUTOFFS) -> dict:
    """The figures of a group of outcomes (a retriever's, or one kind's); None where they don't apply."""
    answerable = [o for o in outcomes if o.item.answerable]
    unanswerable = [o for o in outcomes if not o.item.answerable]

    def mean_of(metric: str) -> float | None:
        return float(np.mean([scores[o.key][metric] for o in answerable])) if answerable else None

    figures: dict = {"questions": len(outcomes), "answerable": len(answerable), "unanswerable": len(unanswerable)}
    for k in cutoffs:
        figures[f"hit@{k}"] = mean_of(f"hit_rate@{k}")
    figures[f"mrr@{DEPTH}"] = mean_of(f"mrr@{DEPTH}")
    figures[f"ndcg@{DEPTH}"] = mean_of(f"ndcg@{DEPTH}")
    figures["span@1"] = share([o.span for o in answerable])
    figures["abstained_unanswerable"] = share([o.result.abstained for o in unanswerable])
    figures["abstained_answerable"] = share([o.result.abstained for o in answerable])
    figures["abstained_or_unsure_unanswerable"] = share([o.result.abstained or o.result.unsure for o in unanswerable])
    figures["abstained_or_unsure_answerable"] = share([o.result.abstained or o.result.unsure for o in answerable])
    figures["latency_ms"] = percentiles([o.seconds for o in outcomes]) if outcomes else None
    figures["hit_curve"] = [mean_of(f"hit_rate@{k}") for k in range(1, DEPTH + 1)]
    return figures


def figures_by_retriever(outcomes: dict[str, list[Outcome]], cutoffs=CUTOFFS) -> dict[str, dict]:
    """Per retriever: overall figures and the same figures per kind (the `--json` output)."""
    report = {}
    for retriever, group in outcomes.items():
        scores = ranking_scores([o for o in group if o.item.answerable])
        figures = summarise(group, scores, cutoffs)
        kinds = dict.fromkeys(o.item.kind for o in group)
        figures["by_kind"] = {kind: summarise([o for o in group if o.item.kind == kind], scores, cutoffs)
                              for kind in kinds}
        report[retriever] = figures
    return report
