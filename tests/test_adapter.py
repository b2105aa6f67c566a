"""The query adapter: a learned map on question vectors, fitted by `rag.calibrate`, shipped in rag/."""

from __future__ import annotations

import re

import numpy as np
import pytest

import rag
from rag.adapter import AdapterError, QueryAdapter, fit_adapter, load_adapter
from tests.conftest import CORPUS

THIRD_VOLUME = "Volume 3: Stalin's Great Game"


def top_passage(retrieval, question: str, retriever: str = "dense") -> str:
    from rag import ranking

    scores = ranking.scores(retrieval.signals(question), retrieval.answerable, retriever)
    return retrieval.passages[int(np.argmax(scores))].text


def test_the_shipped_adapter_is_used_and_finds_what_the_bare_encoder_misses(engine):
    """MiniLM alone reads "the third book" as the author's remark on his trilogy as a whole (Q17);
    through the adapter, fitted on questions like this one (fresh5 asks for "the 3rd book"), it finds
    the paragraph on Volume 3."""
    assert engine.retrieval.adapter is not None
    question = "What is the name of the third book?"
    assert THIRD_VOLUME not in top_passage(engine.retrieval.with_adapter(None), question)
    assert THIRD_VOLUME in top_passage(engine.retrieval, question)
    assert THIRD_VOLUME in engine.ask(question).answers[0].text


def test_fitting_brings_each_question_to_the_passage_it_was_paired_with(engine):
    retrieval = engine.retrieval
    candidates = np.flatnonzero(retrieval.answerable)
    questions = ["What is the name of the third book?", "Who wrote the introduction?", "Why did the war start?"]
    vectors = np.concatenate([retrieval.encoded(q) for q in questions])
    wanted = candidates[[5, 17, 29]]  # arbitrary passages: only fitting can make them first
    relevant = np.zeros((len(questions), len(retrieval.passages)), dtype=bool)
    relevant[np.arange(len(questions)), wanted] = True
    units, owner = retrieval.vectors.vectors()[retrieval.searched], retrieval.unit_passage[retrieval.searched]

    def firsts(adapter: QueryAdapter | None) -> list[int]:
        mapped = vectors if adapter is None else adapter.apply(vectors)
        best = np.full((len(questions), len(retrieval.passages)), -np.inf)
        for row, cosines in enumerate(mapped @ units.T):
            np.maximum.at(best[row], owner, cosines)
        best[:, ~retrieval.answerable] = -np.inf
        return best.argmax(axis=1).tolist()

    assert firsts(None) != wanted.tolist()
    adapter = fit_adapter(vectors, relevant, units, owner, retrieval.answerable, "m", strength=0.0)
    assert firsts(adapter) == wanted.tolist()
    assert np.allclose(np.linalg.norm(adapter.apply(vectors), axis=1), 1.0, atol=1e-5)


def test_nothing_to_learn_from_leaves_questions_as_encoded():
    vectors = np.eye(3, dtype=np.float32)
    adapter = fit_adapter(vectors, np.zeros((3, 2), dtype=bool), vectors, np.array([0, 1, 1]),
                          np.array([True, True]), "m")
    assert np.array_equal(adapter.matrix, np.eye(3))


def test_save_and_load_round_trip(tmp_path):
    adapter = QueryAdapter(np.eye(3, dtype=np.float32) * 2 + 0.25, "all-MiniLM-L6-v2")
    adapter.save(tmp_path / "a.npz")
    loaded = load_adapter(tmp_path / "a.npz")
    assert loaded.model == adapter.model and np.array_equal(loaded.matrix, adapter.matrix)


def test_no_usable_adapter_is_named_and_questions_are_still_answered(index_dir, tmp_path):
    foreign = tmp_path / "foreign.npz"
    QueryAdapter(np.eye(3, dtype=np.float32), "other-model").save(foreign)
    for path, says in [(tmp_path / "missing.npz", "no query adapter at"),
                       (foreign, "was fitted for other-model (3 dimensions), not all-MiniLM-L6-v2 (384)")]:
        notices: list[str] = []
        engine = rag.load(CORPUS, index_dir=index_dir, adapter_file=path, notice=notices.append)
        assert engine.retrieval.adapter is None
        assert [n for n in notices if says in n and "searched without it" in n], notices
        assert engine.ask("Who was Litvinov?").answers


def test_the_adapter_can_be_switched_off_without_a_word(index_dir, monkeypatch):
    monkeypatch.setenv("RAG_QUERY_ADAPTER", "none")
    notices: list[str] = []
    engine = rag.load(CORPUS, index_dir=index_dir, notice=notices.append)
    assert engine.retrieval.adapter is None and not notices


def saved(path, **arrays) -> None:
    with path.open("wb") as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize(("write", "says"), [
    (lambda p: p.write_bytes(b""), "is not a .npz archive"),
    (lambda p: p.write_bytes(b"not a numpy file"), "is not a .npz archive"),
    (lambda p: np.save(p.open("wb"), np.eye(3)), "is not a .npz archive"),
    (lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 40), "is not a .npz archive"),
    (lambda p: saved(p, matrix=np.eye(3)), "is unreadable (KeyError"),
    (lambda p: saved(p, matrix=np.eye(3), model=np.array(["a", "b"])), "does not name its model"),
    (lambda p: saved(p, matrix=np.ones(3), model=np.array("m")), "no usable square matrix"),
    (lambda p: saved(p, matrix=np.full((3, 3), np.nan), model=np.array("m")), "no usable square matrix"),
    (lambda p: saved(p, matrix=np.zeros((3, 3)), model=np.array("m")), "no usable square matrix"),
    (lambda p: saved(p, matrix=np.array([["a"] * 3] * 3), model=np.array("m")), "no usable square matrix"),
])
def test_a_damaged_or_foreign_file_is_refused_with_what_is_wrong(tmp_path, write, says):
    path = tmp_path / "adapter.npz"
    write(path)
    with pytest.raises(AdapterError, match=re.escape(says)):
        load_adapter(path)


def test_calibration_never_measures_a_question_through_an_adapter_fitted_on_it(engine, monkeypatch):
    """Held out means held out: every adapter a question is measured through was fitted without it."""
    from rag import calibrate
    from tests.conftest import QUESTIONS

    calibration = calibrate.Calibration(engine)
    labelled = calibration.read(QUESTIONS / "fresh.jsonl")
    fitted_on: dict[int, set[str]] = {}
    measured_through: list[tuple[str, int]] = []
    real_adapter, real_measured = calibration.adapter, calibration.measured

    def recording_adapter(training, setup):
        adapter = real_adapter(training, setup)
        fitted_on[id(adapter)] = {one.question.question for one in training}
        return adapter

    def recording_measured(subset, adapter, setup):
        measured_through.extend((one.question.question, id(adapter)) for one in subset)
        return real_measured(subset, adapter, setup)

    monkeypatch.setattr(calibration, "adapter", recording_adapter)
    monkeypatch.setattr(calibration, "measured", recording_measured)
    assert len(calibration.held_out(labelled, folds=2, seed=0)) == len(labelled)
    assert measured_through and all(adapter in fitted_on for _, adapter in measured_through)
    assert not [question for question, adapter in measured_through if question in fitted_on[adapter]]
