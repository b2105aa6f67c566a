"""The query adapter: a learned map on question vectors, fitted by `rag.calibrate`, shipped in rag/."""

from __future__ import annotations

import re

import numpy as np
import pytest

import rag
from rag.adapter import AdapterError, QueryAdapter, adapter_for, fit_adapter, load_adapter
from tests.conftest import CORPUS

THIRD_VOLUME = "Volume 3: Stalin's Great Game"


def top_passage(retrieval, question: str, retriever: str = "dense") -> str:
    from rag import ranking

    scores = ranking.scores(retrieval.signals(question), retrieval.answerable, retriever)
    return retrieval.passages[int(np.argmax(scores))].text


def test_the_shipped_adapter_is_used_and_finds_what_the_bare_encoder_misses(engine):
    """MiniLM alone reads "the third book" as the author's remark on his trilogy as a whole (Q17);
    through the adapter it finds the paragraph on Volume 3."""
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
    units = retrieval.vectors.vectors()

    def firsts(adapter: QueryAdapter | None) -> list[int]:
        mapped = vectors if adapter is None else adapter.apply(vectors)
        best = np.full((len(questions), len(retrieval.passages)), -np.inf)
        for row, cosines in enumerate(mapped @ units.T):
            np.maximum.at(best[row], retrieval.unit_passage, cosines)
        best[:, ~retrieval.answerable] = -np.inf
        return best.argmax(axis=1).tolist()

    assert firsts(None) != wanted.tolist()
    adapter = fit_adapter(vectors, relevant, units, retrieval.unit_passage, retrieval.answerable, "m", strength=0.0)
    assert firsts(adapter) == wanted.tolist()
    assert np.allclose(np.linalg.norm(adapter.apply(vectors), axis=1), 1.0, atol=1e-5)


def test_nothing_to_learn_from_leaves_questions_as_encoded():
    vectors = np.eye(3, dtype=np.float32)
    adapter = fit_adapter(vectors, np.zeros((3, 2), dtype=bool), vectors, np.array([0, 1, 1]),
                          np.array([True, True]), "m")
    assert np.array_equal(adapter.matrix, np.eye(3))


def test_save_and_load_round_trip(tmp_path):
    adapter = QueryAdapter(np.arange(9, dtype=np.float32).reshape(3, 3), "all-MiniLM-L6-v2")
    adapter.save(tmp_path / "a.npz")
    loaded = load_adapter(tmp_path / "a.npz")
    assert loaded.model == adapter.model and np.array_equal(loaded.matrix, adapter.matrix)


@pytest.mark.parametrize(("content", "says"), [
    (None, "no query adapter at"),
    (b"not a numpy file", "is unreadable"),
    (b"", "is unreadable"),
    ("wrong model", "was fitted for other-model (3 dimensions), not all-MiniLM-L6-v2 (384)"),
    ("not square", "holds no square matrix"),
])
def test_a_missing_damaged_or_foreign_adapter_is_named_and_questions_are_still_answered(index_dir, tmp_path,
                                                                                        content, says):
    path = tmp_path / "adapter.npz"
    if content == "wrong model":
        QueryAdapter(np.eye(3, dtype=np.float32), "other-model").save(path)
    elif content == "not square":
        QueryAdapter(np.ones((2, 3), dtype=np.float32), "all-MiniLM-L6-v2").save(path)
    elif content is not None:
        path.write_bytes(content)
    notices: list[str] = []
    engine = rag.load(CORPUS, index_dir=index_dir, adapter_file=path, notice=notices.append)
    assert engine.retrieval.adapter is None
    assert [n for n in notices if says in n and n.endswith("questions are searched as encoded")], notices
    assert engine.ask("Who was Litvinov?").answers
    with pytest.raises(AdapterError, match=re.escape(says)):
        adapter_for("all-MiniLM-L6-v2", 384, path)
