"""Fit the `full` retriever's ranker, abstainer and highlight weight, and say how well they generalise.

    python -m rag.calibrate QUESTIONS.jsonl [MORE.jsonl ...] [--folds 5] [--write] [--ablation] [--tradeoff]

Question files use the evaluation format (`expected: []` marks a question the
corpus does not answer). Every figure is printed three times: fitted on all
questions (in-sample); on held-out folds (each question scored by models fitted
without it); and, given several files, by file (each question scored by models
fitted on the other files only: the closest thing here to questions written by
someone else, since a writer's questions resemble each other). A large gap means
the models learned the questions rather than the task.
`--write` saves the all-question fit to rag/model.json.

The abstainer is a plain (unweighted) logistic regression, so its probability, and
the `confidence` a Result reports, is calibrated to the mix of the question sets
it was fitted on (a little over two answerable questions to one unanswerable).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import answer_type, ranking
from . import evaluate as questions
from .ranking import PASSAGE_FEATURES, QUERY_FEATURES, LinearModel, Models
from .retrieval import Signals

RANKER_C = 0.1  # L2 strength: strong, since a few dozen questions train it
MAX_WRONG_ABSTAIN = 0.05  # the share of answerable questions the abstainer may refuse
MAX_UNSURE = 0.20  # the share of answerable questions refused or answered with a "may not answer" warning
TRADEOFF_CAPS = (0.05, 0.10, 0.20, 0.30)
HIGHLIGHT_WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)


@dataclass
class Item:
    """A question of a set (as `rag eval` reads it), measured against the corpus."""

    question: questions.Item
    signals: Signals
    features: np.ndarray  # passage features, all passages
    relevant: np.ndarray  # bool per passage: it holds an expected substring

    @property
    def answerable(self) -> bool:
        return self.question.answerable


def load_items(engine, paths: list[Path]) -> list[Item]:
    """Every question of the files, measured; a file with an unusable line is an error."""
    judge = questions.Judge(engine.passages)
    items = []
    for path in paths:
        read, skipped = questions.read_items(path)
        if skipped:
            raise SystemExit(f"{path}: {skipped[0]}")
        items += [measured(engine, judge, question) for question in read]
    return items


def measured(engine, judge: questions.Judge, question: questions.Item, use_history: bool = True) -> Item:
    signals = engine.retrieval.signals(question.question, question.history if use_history else ())
    answering = judge.relevant(question)
    return Item(question, signals, ranking.passage_features(signals, engine.retrieval.answerable),
                np.array([p.id in answering for p in engine.passages]))


def fit_ranker(items: list[Item], mask: np.ndarray) -> LinearModel:
    from sklearn.linear_model import LogisticRegression

    rows = [it for it in items if it.answerable and it.relevant.any()]
    features = np.concatenate([it.features[mask] for it in rows])
    labels = np.concatenate([it.relevant[mask] for it in rows])
    model = LogisticRegression(C=RANKER_C, class_weight="balanced", max_iter=5000).fit(features, labels)
    return LinearModel(PASSAGE_FEATURES, tuple(model.coef_[0]), float(model.intercept_[0]))


def ranked_passages(item: Item, ranker: LinearModel, mask: np.ndarray) -> list[int]:
    scores = np.where(mask, ranker.score(item.features), -np.inf)
    return [int(i) for i in np.argsort(-scores, kind="stable")[:10]]


def fit_abstainer(items: list[Item], tops: list[int], highlight_lexical_weight: float,
                  max_wrong: float = MAX_WRONG_ABSTAIN) -> tuple[LinearModel, float]:
    """Logistic on query evidence, and two thresholds: at most `max_wrong` of the answerable
    questions are refused, and at most MAX_UNSURE refused or warned about. `tops` holds
    each item's best passage."""
    from sklearn.linear_model import LogisticRegression

    features = np.concatenate([ranking.query_features(it.signals, top, highlight_lexical_weight)
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
    return (LinearModel(abstainer.features, abstainer.weights, abstainer.bias, refuse),
            min(threshold(MAX_UNSURE), refuse))


def span_hit(item: Item, engine, highlight_lexical_weight: float, top: int) -> bool:
    passage = engine.passages[top]
    return questions.highlights_hold_answer(item.question, passage.text,
                                            ranking.highlight(passage, top, item.signals, highlight_lexical_weight))


def fit(items: list[Item], engine, max_wrong: float = MAX_WRONG_ABSTAIN) -> Models:
    mask = engine.retrieval.answerable
    ranker = fit_ranker(items, mask)
    tops = [ranked_passages(it, ranker, mask)[0] for it in items]
    best_weight = max(HIGHLIGHT_WEIGHTS, key=lambda w: sum(
        span_hit(it, engine, w, top) for it, top in zip(items, tops) if it.answerable))
    abstainer, unsure_threshold = fit_abstainer(items, tops, best_weight, max_wrong)
    return Models(ranker, abstainer, best_weight, unsure_threshold)


def measure(items: list[Item], engine, models_for) -> dict[str, float]:
    """hit@k, span@1, abstention and warnings, each item scored by `models_for(item)`."""
    mask = engine.retrieval.answerable
    hits = {1: 0, 3: 0, 5: 0}
    span = abstained_right = abstained_wrong = doubted_right = doubted_wrong = 0  # doubted: abstained or unsure
    answerable = [it for it in items if it.answerable]
    for item in items:
        models = models_for(item)
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
        span += span_hit(item, engine, models.highlight_lexical_weight, ranked[0])
    unanswerable = len(items) - len(answerable)
    return {**{f"hit@{k}": v / max(len(answerable), 1) for k, v in hits.items()},
            "span@1": span / max(len(answerable), 1),
            "abstain_unanswerable": abstained_right / max(unanswerable, 1),
            "abstain_answerable": abstained_wrong / max(len(answerable), 1),
            "abstain_or_unsure_unanswerable": doubted_right / max(unanswerable, 1),
            "abstain_or_unsure_answerable": doubted_wrong / max(len(answerable), 1)}


def held_out(items: list[Item], engine, folds: int, seed: int, max_wrong: float = MAX_WRONG_ABSTAIN):
    """For each item, the models fitted on the folds that do not hold it."""
    order = np.random.default_rng(seed).permutation(len(items))
    fold_of = {items[i].question.id: n % folds for n, i in enumerate(order)}
    fitted = [fit([it for it in items if fold_of[it.question.id] != f], engine, max_wrong) for f in range(folds)]
    return lambda item: fitted[fold_of[item.question.id]]


def by_file(sets: dict[str, list[Item]], engine) -> Callable[[Item], Models]:
    """For each item, the models fitted on the other files."""
    fitted = {name: fit([it for other, subset in sets.items() if other != name for it in subset], engine)
              for name in sets}
    file_of = {id(it): name for name, subset in sets.items() for it in subset}
    return lambda item: fitted[file_of[id(item)]]


# Signal groups whose worth the ablation measures: each is zeroed, the models refitted, the rest kept.
ABLATIONS = {
    "dense, whole passage": ("dense_passage",),
    "dense, passage with context": ("dense_passage+context",),
    "dense, sentences and windows": ("dense_sentence", "dense_window"),
    "BM25, passages and sentences": ("lexical_z", "lexical_scaled", "sentence_lexical"),
    "term coverage": ("coverage",),
}


def without(items: list[Item], names: tuple[str, ...]) -> list[Item]:
    """The items with these passage features zeroed: a model fitted on them cannot use them."""
    columns = [PASSAGE_FEATURES.index(name) for name in names]
    stripped = []
    for item in items:
        features = item.features.copy()
        features[:, columns] = 0.0
        stripped.append(replace(item, features=features))
    return stripped


def untyped(items: list[Item]) -> list[Item]:
    """The items as if no question asked for a number or a date."""
    return [replace(item, signals=replace(item.signals, asked=answer_type.NOTHING)) for item in items]


def without_history(engine, items: list[Item]) -> list[Item]:
    """The items as if each question were asked alone: follow-ups measured again without their history."""
    judge = questions.Judge(engine.passages)
    return [measured(engine, judge, it.question, use_history=False) if it.question.history else it for it in items]


def ablation(engine, items: list[Item], folds: int, seeds: int) -> None:
    """Held-out figures of the full model, then of the model refitted without each piece."""
    variants = [("full", items), *((f"without {name}", without(items, names)) for name, names in ABLATIONS.items()),
                ("without answer type (abstainer)", untyped(items)),
                ("without follow-up context", without_history(engine, items))]
    keys = ("hit@1", "hit@3", "hit@5", "span@1", "abstain_unanswerable", "abstain_answerable")
    widths = [max(8, len(k)) + 2 for k in keys]
    header = "".join(f"{k:>{w}}" for k, w in zip(keys, widths))
    print(f"\nablation, held-out ({folds}-fold, {seeds} splits){'':4}{header}")
    for name, variant in variants:
        cv = [measure(variant, engine, held_out(variant, engine, folds, seed)) for seed in range(seeds)]
        print(f"  {name:42}" + "".join(f"{np.mean([c[k] for c in cv]):{w}.3f}" for k, w in zip(keys, widths)))


def tradeoff(engine, items: list[Item], folds: int, seeds: int) -> None:
    """Held-out abstention when the threshold may refuse more answerable questions: the price of silence."""
    print(f"\nabstention trade-off, held-out ({folds}-fold, {seeds} splits)")
    print(f"  {'allowed wrong refusals':24}{'abstained, unanswerable':>26}{'abstained, answerable':>24}")
    for max_wrong in TRADEOFF_CAPS:
        cv = [measure(items, engine, held_out(items, engine, folds, seed, max_wrong)) for seed in range(seeds)]
        print(f"  {max_wrong:<24.2f}{np.mean([c['abstain_unanswerable'] for c in cv]):26.3f}"
              f"{np.mean([c['abstain_answerable'] for c in cv]):24.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3, help="repeat the fold split this many times")
    parser.add_argument("--write", action="store_true", help=f"save the fit to {ranking.MODEL_FILE}")
    parser.add_argument("--ablation", action="store_true", help="also refit without each signal group")
    parser.add_argument("--tradeoff", action="store_true",
                        help="also show abstention when more wrong refusals are allowed")
    args = parser.parse_args(argv)

    import rag

    engine = rag.load()
    names = [path.name for path in args.files]  # a file's name labels it, or its path when two share a name
    sets = {path.name if names.count(path.name) == 1 else str(path): load_items(engine, [path]) for path in args.files}
    items = [item for subset in sets.values() for item in subset]
    models = fit(items, engine)
    splits = [held_out(items, engine, args.folds, seed) for seed in range(args.seeds)]
    other_files = by_file(sets, engine) if len(sets) > 1 else None
    print(f"{len(items)} questions, {sum(it.answerable for it in items)} answerable; "
          f"held-out = {args.folds}-fold cross-validation, averaged over {args.seeds} splits"
          + ("; by file = fitted on the other files only" if other_files else ""))
    for name, subset in [("all", items), *sets.items()]:
        in_sample = measure(subset, engine, lambda item: models)
        cv = [measure(subset, engine, split) for split in splits]
        left_out = measure(subset, engine, other_files) if other_files else {}
        width = max(map(len, in_sample)) + 2
        print(f"\n{name:{width + 2}}{'in-sample':>10}{'held-out':>10}" + (f"{'by file':>10}" if left_out else ""))
        for key in in_sample:
            print(f"  {key:{width}}{in_sample[key]:10.3f}{np.mean([c[key] for c in cv]):10.3f}"
                  + (f"{left_out[key]:10.3f}" if left_out else ""))
    if args.ablation:
        ablation(engine, items, args.folds, args.seeds)
    if args.tradeoff:
        tradeoff(engine, items, args.folds, args.seeds)
    print("ranker:", dict(zip(models.ranker.features, np.round(models.ranker.weights, 3))))
    print("abstainer:", dict(zip(models.abstainer.features, np.round(models.abstainer.weights, 3))),
          f"threshold {models.abstainer.threshold:.3f}, unsure from {models.unsure_threshold:.3f}; "
          f"highlight lexical weight {models.highlight_lexical_weight}")
    if args.write:
        ranking.MODEL_FILE.write_text(json.dumps({"ranker": models.ranker.to_dict(),
                                                  "abstainer": {**models.abstainer.to_dict(),
                                                                "unsure_threshold": round(models.unsure_threshold, 6)},
                                                  "highlight_lexical_weight": models.highlight_lexical_weight},
                                                 indent=2) + "\n", encoding="utf-8")
        print(f"wrote {ranking.MODEL_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
