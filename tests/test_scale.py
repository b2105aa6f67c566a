"""The pieces of the scale benchmark: reproducible synthetic corpora, composed vectors, the exact/IVF switch."""

from __future__ import annotations

import numpy as np

from embeddings import IndexStore
from embeddings import store as store_module
from rag.corpus import read_corpus
from rag.synthetic import Composer, source_sentences, split_thirds, write_corpus

from .conftest import build_index

TEXTS = ["Stalin supported Litvinov.", "Poland signed a pact with Germany in 1934.", "A poster by Koretsky.",
         "Britain dropped out of the alliance.", "The famine hit Ukraine hardest."]


def test_synthetic_corpus_is_reproducible_and_reads_as_interviews(engine, tmp_path):
    thirds = split_thirds(source_sentences(engine.corpus, limit=20))
    assert len(thirds[0]) == 20 and all(start[0].isupper() for start in thirds[0])
    write_corpus(tmp_path / "a", 2100, thirds)
    write_corpus(tmp_path / "b", 2100, thirds)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["synthetic-0001.md", "synthetic-0001.meta.json", "synthetic-0002.md", "synthetic-0002.meta.json"]
    assert all((tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes() for name in files)
    corpus = read_corpus(tmp_path / "a")
    answers = [p for p in corpus.passages if p.answerable]
    assert len(answers) == 2100 and {p.role for p in answers} == {"answer"}
    assert all(p.citation.question and p.citation.speaker == "Michael Jabara Carley" for p in answers)


def test_composed_vectors_are_the_weighted_sum_of_their_pieces(encoder):
    pieces = ["Stalin supported", "Litvinov at the NKID."]
    vectors = encoder.encode(pieces)
    composer = Composer(pieces, vectors, encoder.name)
    got = composer.encode(["Stalin supported Litvinov at the NKID.", "Stalin supported Koretsky"])
    first = 2 * vectors[0] + 4 * vectors[1]
    second = 2 * vectors[0] + encoder.encode(["Koretsky"])[0]  # a word no piece covers: encoded alone
    assert np.allclose(got[0], first / np.linalg.norm(first), atol=1e-6)
    assert np.allclose(got[1], second / np.linalg.norm(second), atol=1e-6)
    assert composer.unknown_words == 1


def test_past_the_threshold_the_store_builds_an_ivf_index_that_reloads(tmp_path, encoder, monkeypatch):
    import faiss

    monkeypatch.setattr(store_module, "EXACT_UP_TO", 4)
    index = build_index(IndexStore(tmp_path, notice=lambda m: None), encoder, texts=TEXTS)
    assert isinstance(index.faiss_index, faiss.IndexIVFFlat)
    notices = []
    again = build_index(IndexStore(tmp_path, notice=notices.append), encoder, texts=TEXTS)
    assert notices == [] and isinstance(again.faiss_index, faiss.IndexIVFFlat)  # loaded, not rebuilt
    scores, rows = again.search(encoder.encode(["Which pact did Poland sign?"]), 2)
    assert rows[0][0] == 1
    assert np.allclose(again.vectors(), encoder.encode(TEXTS), atol=1e-6)


def test_below_the_threshold_search_stays_exact(encoder):
    vectors = encoder.encode(TEXTS)
    assert type(store_module.build_faiss_index(vectors)).__name__ == "IndexFlatIP"
    assert type(store_module.build_faiss_index(vectors, approximate=True)).__name__ == "IndexIVFFlat"
