"""Fit the query adapter and the `full` retriever's ranker, abstainer and highlight weights, and say how well
they generalise.

    python -m rag.calibrate QUESTIONS.jsonl [MORE.jsonl ...] [--folds 5] [--write] [--ablation] [--tradeoff]

Question files use the evaluation format (`expected: []` marks a question the
corpus does not answer). Every figure is printed three times: fitted on all
questions (in-sample, flattering: the adapter has seen each question); on held-out
folds (each question scored by a fit without it); and, given several files, by file
(each question scored by a fit on the other files only: the closest thing here to
questions written by someone else, since a writer's questions resemble each other).
A large gap means the fit learned the questions rather than the task.
`--write` saves the all-question fit to rag/model.json and rag/query_adapter.npz.

The abstainer is a plain (unweighted) logistic regression, so its probability, and
the `confidence` a Result reports, is calibrated to the mix of the question sets
it was fitted on (our own sets: about 1.8 answerable questions to one unanswerable).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import answer_type, config, evaluate, ranking
from .adapter import ADAPTER_FILE, QueryAdapter, fit_adapter
from .ranking import PASSAGE_FEATURES, QUERY_FEATURES, Highlighting, LinearModel, Models
from .retrieval import Retrieval, Signals

RANKER_C = 0.1  # L2 strength: strong, since a few dozen questions train it
MAX_WRONG_ABSTAIN = 0.05  # the share of answerable questions the abstainer may refuse
MAX_UNSURE = 0.20  # the share of answerable questions refused or answered with a "may not answer" warning
TRADEOFF_CAPS = (0.05, 0.10, 0.20, 0.30)
HIGHLIGHTINGS = [Highlighting(lexical, echo, length) for lexical in (0.0, 0.1, 0.2) for echo in (0.0, 0.25, 0.5, 0.75)
                 for length in (0.0, 0.025, 0.05, 0.1)]
INNER_FOLDS = 5  # the ranker and abstainer learn from questions measured through adapters that did not see them


@dataclass(frozen=True, eq=False)
class Labelled:
    """A question of a set (as `rag eval` reads it) and the passages that answer it; equal only to itself."""

    question: evaluate.Item
    relevant: np.ndarray  # bool per passage: it holds an expected substring

    @property
    def answerable(self) -> bool:
        return self.question.answerable


@dataclass
class Measured:
    """A labelled question measured against the corpus (through one adapter, or none)."""

    labelled: Labelled
    signals: Signals
    features: np.ndarray  # passage features, all passages

    @property
    def question(self) -> evaluate.Item:
        return self.labelled.question

    @property
    def relevant(self) -> np.ndarray:
        return self.labelled.relevant

    @property
    def answerable(self) -> bool:
        return self.labelled.answerable


@dataclass(frozen=True)
class Setup:
    """What a fit may use; the ablation takes one piece away at a time."""

    adapter: bool = True
    history: bool = True  # follow-ups searched with the question before them
    answer_type: bool = True  # the abstainer checks for the number or date asked for
    zeroed: tuple[str, ...] = ()  # passage features the ranker may not use


@dataclass(frozen=True)
class Fit:
    """What `--write` saves: the query adapter (None when the setup has none) and the models."""

    adapter: QueryAdapter | None
    models: Models


class RememberingEncoder:
    """The engine's encoder, remembering each query's vector: calibration measures every question many times."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.vectors: dict[str, np.ndarray] = {}

    def encode_query(self, text: str) -> np.ndarray:
        if text not in self.vectors:
            self.vectors[text] = self.encoder.encode_query(text)
        return self.vectors[text]


class Calibration:
    """Labelled questions, fitted and measured on one engine's indexes in as many ways as asked."""

    def __init__(self, engine):
        self.engine = engine
        self.retrieval: Retrieval = engine.retrieval.with_adapter(None)  # a copy: its encoder is swapped next
        self.retrieval.encoder = RememberingEncoder(engine.retrieval.encoder)  # Retrieval only calls encode_query
        self.mask = engine.retrieval.answerable
        searched = engine.retrieval.searched  # the adapter learns from the units a search finds
        self.units = engine.retrieval.vectors.vectors()[searched]
        self.unit_passage = engine.retrieval.unit_passage[searched]
        self._adapters: dict[tuple, QueryAdapter | None] = {}

    def read(self, path: Path) -> list[Labelled]:
        """Every question of a file with what answers it; a file with an unusable line is an error."""
        read, skipped = evaluate.read_items(path)
        if skipped:
            raise SystemExit(f"{path}: {skipped[0]}")
        judge = evaluate.Judge(self.engine.passages)
        ids = [p.id for p in self.engine.passages]
        return [Labelled(q, np.isin(ids, list(judge.relevant(q)))) for q in read]

    def measured(self, labelled: list[Labelled], adapter: QueryAdapter | None, setup: Setup) -> list[Measured]:
        """The questions measured through `adapter` (None: as encoded), without what `setup` takes away."""
        retrieval = self.retrieval.with_adapter(adapter)
        columns = [PASSAGE_FEATURES.index(name) for name in setup.zeroed]
        items = []
        for one in labelled:
            signals = retrieval.signals(one.question.question, one.question.history if setup.history else ())
            if not setup.answer_type:
                signals = replace(signals, asked=answer_type.NOTHING)
            features = ranking.passage_features(signals, self.mask)
            features[:, columns] = 0.0
            items.append(Measured(one, signals, features))
        return items

    def adapter(self, labelled: list[Labelled], setup: Setup) -> QueryAdapter | None:
        """The adapter fitted on these questions (remembered: splits and ablations ask again)."""
        if not setup.adapter or not labelled:
            return None
        key = (setup.history, frozenset(labelled))
        if key not in self._adapters:
            vectors = np.concatenate([self.retrieval.encoded(self.retrieval.query(
                one.question.question, one.question.history if setup.history else ())) for one in labelled])
            self._adapters[key] = fit_adapter(vectors, np.stack([one.relevant for one in labelled]), self.units,
                                              self.unit_passage, self.mask,
                                              self.engine.retrieval.vectors.manifest.model)
        return self._adapters[key]

    def fit(self, labelled: list[Labelled], setup: Setup = Setup(), max_wrong: float = MAX_WRONG_ABSTAIN) -> Fit:
        """The adapter on all these questions; the ranker, highlight weights and abstainer on the same questions
        measured through adapters fitted without them, as new questions will be."""
        if setup.adapter:
            folds = np.arange(len(labelled)) % INNER_FOLDS
            np.random.default_rng(0).shuffle(folds)
            items = []
            for fold in range(INNER_FOLDS):
                inside = [one for one, f in zip(labelled, folds) if f != fold]
                items += self.measured([one for one, f in zip(labelled, folds) if f == fold],
                                       self.adapter(inside, setup), setup)
        else:
            items = self.measured(labelled, None, setup)
        return Fit(self.adapter(labelled, setup), fit_models(items, self.engine, max_wrong))

    def held_out(self, labelled: list[Labelled], folds: int, seed: int, setup: Setup = Setup(),
                 max_wrong: float = MAX_WRONG_ABSTAIN) -> list[tuple[Measured, Models]]:
        """Each question measured and judged by a fit on the folds that do not hold it."""
        fold_of = np.empty(len(labelled), dtype=np.int64)
        fold_of[np.random.default_rng(seed).permutation(len(labelled))] = np.arange(len(labelled)) % folds
        return [pair for fold in range(folds)
                for pair in self.scored([one for one, f in zip(labelled, fold_of) if f != fold],
                                        [one for one, f in zip(labelled, fold_of) if f == fold], setup, max_wrong)]

    def by_file(self, sets: dict[str, list[Labelled]]) -> list[tuple[Measured, Models]]:
        """Each question measured and judged by a fit on the other files only."""
        return [pair for name, subset in sets.items()
                for pair in self.scored([one for other, rest in sets.items() if other != name for one in rest], subset)]

    def scored(self, train: list[Labelled], test: list[Labelled], setup: Setup = Setup(),
               max_wrong: float = MAX_WRONG_ABSTAIN) -> list[tuple[Measured, Models]]:
        """The `test` questions, measured through a fit on `train` and paired with its models."""
        fitted = self.fit(train, setup, max_wrong)
        return [(item, fitted.models) for item in self.measured(test, fitted.adapter, setup)]


def fit_ranker(items: list[Measured], mask: np.ndarray) -> LinearModel:
    from sklearn.linear_model import LogisticRegression

    rows = [it for it in items if it.answerable and it.relevant.any()]
    features = np.concatenate([it.features[mask] for it in rows])
    labels = np.concatenate([it.relevant[mask] for it in rows])
    model = LogisticRegression(C=RANKER_C, class_weight="balanced", max_iter=5000).fit(features, labels)
    return LinearModel(PASSAGE_FEATURES, tuple(model.coef_[0]), float(model.intercept_[0]))


def ranked_passages(item: Measured, ranker: LinearModel, mask: np.ndarray) -> list[int]:
    """The best `evaluate.DEPTH` passages by the ranker, from the item's features (which an ablation may have zeroed)."""
    return ranking.best(ranking.only_eligible(ranker.score(item.features), item.signals, mask), evaluate.DEPTH)


def fit_abstainer(items: list[Measured], tops: list[int], highlighting: Highlighting,
                  max_wrong: float = MAX_WRONG_ABSTAIN) -> tuple[LinearModel, float, float]:
    """Logistic on query evidence, and two thresholds: at most `max_wrong` of the answerable
    questions are refused, and at most MAX_UNSURE refused or warned about. `tops` holds
    each item's best passage."""
    from sklearn.linear_model import LogisticRegression

    features = np.concatenate([ranking.query_features(it.signals, top, highlighting)
                               for it, top in zip(items, tops)])
    labels = np.array([not it.answerable for it in items])
    model = LogisticRegression(C=1.0, max_iter=5000).fit(features, labels)
    abstainer = LinearModel(QUERY_FEATURES, tuple(model.coef_[0]), float(model.intercept_[0]))
    answerable_probabilities = np.sort(abstainer.probability(features[~labels]))

    def threshold(share: float) -> float:
        """A probability flagging at most `share` of the answerable questions, midway between two of
        them so that rounding the saved model cannot move a question across it."""
        count = len(answerable_probabilities)
        if not count:
            return 0.5
        allowed = int(np.floor(share * count))
        below = float(answerable_probabilities[count - allowed - 1])
        above = float(answerable_probabilities[count - allowed]) if allowed else 1.0
        return max((below + above) / 2, 0.05)

    refuse = threshold(max_wrong)
    return abstainer, refuse, min(threshold(MAX_UNSURE), refuse)


def span_hit(item: Measured, engine, highlighting: Highlighting, top: int) -> bool:
    passage = engine.passages[top]
    return evaluate.highlights_hold_answer(item.question, passage.text,
                                           ranking.highlight(passage, top, item.signals, highlighting))


def fit_models(items: list[Measured], engine, max_wrong: float = MAX_WRONG_ABSTAIN) -> Models:
    mask = engine.retrieval.answerable
    ranker = fit_ranker(items, mask)
    tops = [ranked_passages(it, ranker, mask)[0] for it in items]
    highlighting = max(HIGHLIGHTINGS, key=lambda h: sum(  # ties: the first, the plainest
        span_hit(it, engine, h, top) for it, top in zip(items, tops) if it.answerable))
    abstainer, refuse, unsure = fit_abstainer(items, tops, highlighting, max_wrong)
    return Models(ranker, abstainer, highlighting, refuse, unsure)


def measure(pairs: list[tuple[Measured, Models]], engine) -> dict[str, float]:
    """hit@k, span@1, abstention and warnings, each item judged by the models paired with it."""
    mask = engine.retrieval.answerable
    hits = {1: 0, 3: 0, 5: 0}
    span = abstained_right = abstained_wrong = doubted_right = doubted_wrong = 0  # doubted: abstained or unsure
    answerable = sum(item.answerable for item, _ in pairs)
    for item, models in pairs:
        ranked = ranked_passages(item, models.ranker, mask)
        judged = ranking.verdict(item.signals, ranked[0], models)
        if not item.answerable:
            abstained_right += judged.abstain
            doubted_right += judged.abstain or judged.unsure
            continue
        abstained_wrong += judged.abstain
        doubted_wrong += judged.abstain or judged.unsure
        for k in hits:
            hits[k] += bool(item.relevant[ranked[:k]].any())
        span += span_hit(item, engine, models.highlighting, ranked[0])
    unanswerable = len(pairs) - answerable
    return {**{f"hit@{k}": v / max(answerable, 1) for k, v in hits.items()},
            "span@1": span / max(answerable, 1),
            "abstain_unanswerable": abstained_right / max(unanswerable, 1),
            "abstain_answerable": abstained_wrong / max(answerable, 1),
            "abstain_or_unsure_unanswerable": doubted_right / max(unanswerable, 1),
            "abstain_or_unsure_answerable": doubted_wrong / max(answerable, 1)}


def among(pairs: list[tuple[Measured, Models]], subset: list[Labelled]) -> list[tuple[Measured, Models]]:
    """The pairs whose question is one of `subset`."""
    wanted = set(subset)
    return [(item, models) for item, models in pairs if item.labelled in wanted]


# Pieces whose worth the ablation measures: each is taken away, the models refitted, the rest kept.
ABLATIONS = {
    "query adapter": Setup(adapter=False),
    "dense, whole passage": Setup(zeroed=("dense_passage",)),
    "dense, passage with context": Setup(zeroed=("dense_passage+context",)),
    "dense, sentences and windows": Setup(zeroed=("dense_sentence", "dense_window")),
    "BM25, passages and sentences": Setup(zeroed=("lexical_z", "lexical_scaled", "sentence_lexical")),
    "term coverage": Setup(zeroed=("coverage",)),
    "answer type (abstainer)": Setup(answer_type=False),
    "follow-up context": Setup(history=False),
}


def ablation(calibration: Calibration, labelled: list[Labelled], folds: int, seeds: int) -> None:
    """Held-out figures of the full model, then of the model refitted without each piece."""
    keys = ("hit@1", "hit@3", "hit@5", "span@1", "abstain_unanswerable", "abstain_answerable")
    widths = [max(8, len(k)) + 2 for k in keys]
    header = "".join(f"{k:>{w}}" for k, w in zip(keys, widths))
    print(f"\nablation, held-out ({folds}-fold, {seeds} splits){'':4}{header}")
    for name, setup in [("full", Setup()), *((f"without {name}", setup) for name, setup in ABLATIONS.items())]:
        cv = [measure(calibration.held_out(labelled, folds, seed, setup), calibration.engine) for seed in range(seeds)]
        print(f"  {name:42}" + "".join(f"{np.mean([c[k] for c in cv]):{w}.3f}" for k, w in zip(keys, widths)))


def tradeoff(calibration: Calibration, labelled: list[Labelled], folds: int, seeds: int) -> None:
    """Held-out abstention when the threshold may refuse more answerable questions: the price of silence."""
    print(f"\nabstention trade-off, held-out ({folds}-fold, {seeds} splits)")
    print(f"  {'allowed wrong refusals':24}{'abstained, unanswerable':>26}{'abstained, answerable':>24}")
    for max_wrong in TRADEOFF_CAPS:
        cv = [measure(calibration.held_out(labelled, folds, seed, max_wrong=max_wrong), calibration.engine)
              for seed in range(seeds)]
        print(f"  {max_wrong:<24.2f}{np.mean([c['abstain_unanswerable'] for c in cv]):26.3f}"
              f"{np.mean([c['abstain_answerable'] for c in cv]):24.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3, help="repeat the fold split this many times")
    parser.add_argument("--write", action="store_true",
                        help=f"save the fit to {ranking.MODEL_FILE} and the adapter to {ADAPTER_FILE} "
                             "(or RAG_QUERY_ADAPTER)")
    parser.add_argument("--ablation", action="store_true", help="also refit without each signal group")
    parser.add_argument("--tradeoff", action="store_true",
                        help="also show abstention when more wrong refusals are allowed")
    args = parser.parse_args(argv)

    import rag

    calibration = Calibration(rag.load(use_adapter=False))  # it fits its own
    engine = calibration.engine
    names = [path.name for path in args.files]  # a file's name labels it, or its path when two share a name
    sets = {path.name if names.count(path.name) == 1 else str(path): calibration.read(path) for path in args.files}
    labelled = [one for subset in sets.values() for one in subset]
    fitted = calibration.fit(labelled)
    in_sample = [(item, fitted.models) for item in calibration.measured(labelled, fitted.adapter, Setup())]
    splits = [calibration.held_out(labelled, args.folds, seed) for seed in range(args.seeds)]
    other_files = calibration.by_file(sets) if len(sets) > 1 else None
    print(f"{len(labelled)} questions, {sum(one.answerable for one in labelled)} answerable; "
          f"held-out = {args.folds}-fold cross-validation, averaged over {args.seeds} splits"
          + ("; by file = fitted on the other files only" if other_files else ""))
    for name, subset in [("all", labelled), *sets.items()]:
        own = measure(among(in_sample, subset), engine)
        cv = [measure(among(split, subset), engine) for split in splits]
        left_out = measure(among(other_files, subset), engine) if other_files else {}
        width = max(map(len, own)) + 2
        print(f"\n{name:{width + 2}}{'in-sample':>10}{'held-out':>10}" + (f"{'by file':>10}" if left_out else ""))
        for key in own:
            print(f"  {key:{width}}{own[key]:10.3f}{np.mean([c[key] for c in cv]):10.3f}"
                  + (f"{left_out[key]:10.3f}" if left_out else ""))
    if args.ablation:
        ablation(calibration, labelled, args.folds, args.seeds)
    if args.tradeoff:
        tradeoff(calibration, labelled, args.folds, args.seeds)
    models = fitted.models
    print("ranker:", dict(zip(models.ranker.features, np.round(models.ranker.weights, 3))))
    print("abstainer:", dict(zip(models.abstainer.features, np.round(models.abstainer.weights, 3))),
          f"threshold {models.abstain_threshold:.3f}, unsure from {models.unsure_threshold:.3f}; "
          f"highlighting {models.highlighting}")
    if args.write:
        adapter_path = config.adapter_file() or ADAPTER_FILE
        fitted.adapter.save(adapter_path)
        partial = ranking.MODEL_FILE.with_suffix(".partial")
        partial.write_text(json.dumps(models.to_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(partial, ranking.MODEL_FILE)
        print(f"wrote {ranking.MODEL_FILE} and {adapter_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
