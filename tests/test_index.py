"""The FAISS index on disk: built once, reused, rebuilt when stale or damaged, never loaded wrong."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from embeddings import IndexStore, IndexStoreError
from embeddings.encoder import ModelNotFound, resolve_model
from embeddings.store import FORMAT_VERSION

from .conftest import INDEX_TEXTS, build_index


def test_the_packaged_model_loads_offline(encoder):
    assert resolve_model("all-MiniLM-L6-v2").joinpath("config.json").exists()
    vectors = encoder.encode(["hello there"])
    assert vectors.shape == (1, 384) and abs(float(np.linalg.norm(vectors[0])) - 1) < 1e-5
    with pytest.raises(ModelNotFound, match="not installed"):
        resolve_model("no-such-model")


def test_build_then_reuse_with_manifest(tmp_path, encoder):
    notices = []
    store = IndexStore(tmp_path, notice=notices.append)
    index = build_index(store, encoder)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["model"] == "all-MiniLM-L6-v2" and manifest["dim"] == 384 and manifest["count"] == 3
    assert manifest["format_version"] == FORMAT_VERSION and manifest["built_at"]
    scores, rows = index.search(encoder.encode(["Which pact did Poland sign?"]), 1)
    assert rows[0][0] == 1
    notices.clear()
    build_index(store, encoder)
    assert notices == []  # loaded, not rebuilt


def test_index_files_are_readable_as_the_umask_allows(tmp_path, encoder):
    """Written to temporary files then renamed: once owner-only, so another account could not serve them."""
    old = os.umask(0o022)
    try:
        build_index(IndexStore(tmp_path), encoder)
    finally:
        os.umask(old)
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in tmp_path.iterdir() if not f.name.startswith(".")}
    assert modes and set(modes.values()) == {0o644}, modes


@pytest.mark.parametrize("damage, reason", [
    (lambda d: (d / "index.faiss").write_bytes((d / "index.faiss").read_bytes()[:100]), "truncated or corrupt"),
    (lambda d: (d / "index.faiss").write_bytes(b"x" * (d / "index.faiss").stat().st_size), "truncated or corrupt"),
    (lambda d: (d / "index.faiss").unlink(), "missing"),
    (lambda d: (d / "manifest.json").unlink(), "no index yet"),
    (lambda d: (d / "manifest.json").write_text("{not json"), "unreadable"),
    (lambda d: (d / "manifest.json").write_text(
        (d / "manifest.json").read_text().replace('"all-MiniLM-L6-v2"', '"other-model"')), "built with model other-model"),
    (lambda d: (d / "manifest.json").write_text(
        (d / "manifest.json").read_text().replace(f'"format_version": {FORMAT_VERSION}', '"format_version": 0')), "format 0"),
    (lambda d: (d / "manifest.json").write_text(
        (d / "manifest.json").read_text().replace('"count": 3', '"count": 5')), "does not match its manifest"),
])
def test_damaged_or_foreign_index_is_rebuilt_with_a_notice(tmp_path, encoder, damage, reason):
    build_index(IndexStore(tmp_path, notice=lambda m: None), encoder)
    damage(tmp_path)
    notices = []
    index = build_index(IndexStore(tmp_path, notice=notices.append), encoder)
    assert reason in notices[0]
    assert index.manifest.count == 3
    assert IndexStore(tmp_path).problem(model=encoder.name, texts=INDEX_TEXTS) is None


def test_a_changed_corpus_rebuilds(tmp_path, encoder):
    build_index(IndexStore(tmp_path, notice=lambda m: None), encoder)
    notices = []
    index = build_index(IndexStore(tmp_path, notice=notices.append), encoder, texts=INDEX_TEXTS + ["New text."])
    assert "the corpus changed" in notices[0] and index.manifest.count == 4


def test_editing_a_documents_metadata_keeps_the_index_and_editing_its_text_rebuilds_it(tmp_path):
    """A title, a date or example questions are not embedded: editing them once re-embedded everything."""
    import rag

    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "notes.md").write_text("# Railway notes\n\nSteam lasted long in Britain as coal was cheap.\n")
    (corpus / "notes.meta.json").write_text(json.dumps({"examples": ["Why did steam last?"]}))
    notices = []
    rag.load(corpus, index_dir=index_dir, notice=notices.append)
    assert notices[0].startswith("building the index (no index yet)")
    (corpus / "notes.meta.json").write_text(json.dumps({"title": "Rail notes", "examples": ["Why was coal cheap?"]}))
    notices.clear()
    engine = rag.load(corpus, index_dir=index_dir, notice=notices.append)
    assert notices == []
    assert (engine.corpus.documents[0].title, engine.corpus.examples) == ("Rail notes", ["Why was coal cheap?"])
    (corpus / "notes.md").write_text("# Railway notes\n\nSteam lasted long in Britain as coal was cheap there.\n")
    rag.load(corpus, index_dir=index_dir, notice=notices.append)
    assert notices[0].startswith("building the index (the corpus changed)")


def test_a_manifest_with_fields_since_dropped_still_loads_without_a_rebuild(tmp_path, encoder):
    """Every index built before the manifest lost its corpus hash has one; reading it must not rebuild."""
    build_index(IndexStore(tmp_path, notice=lambda m: None), encoder)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "corpus_hash": "66c3f6", "later": 1}))
    notices = []
    index = build_index(IndexStore(tmp_path, notice=notices.append), encoder)
    assert notices == [] and index.manifest.count == 3


def test_no_temporary_files_are_left_behind(tmp_path, encoder):
    build_index(IndexStore(tmp_path, notice=lambda m: None), encoder)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "index.faiss", "manifest.json", "query-encoder.onnx"]


def test_an_index_of_another_dimension_under_the_same_model_name_is_rebuilt(tmp_path, encoder):
    """As if the model folder behind the name had changed: an 8-dimensional index, consistent on its own."""
    import faiss

    from embeddings.store import file_sha256

    build_index(IndexStore(tmp_path, notice=lambda m: None), encoder)
    foreign = faiss.IndexFlatIP(8)
    foreign.add(np.eye(8, dtype=np.float32)[:3])
    faiss.write_index(foreign, str(tmp_path / "index.faiss"))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest.update(dim=8, index_sha256=file_sha256(tmp_path / "index.faiss"),
                    index_bytes=(tmp_path / "index.faiss").stat().st_size)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    notices = []
    index = build_index(IndexStore(tmp_path, notice=notices.append), encoder)
    assert "it holds 8-dimensional vectors, model all-MiniLM-L6-v2 gives 384" in notices[0]
    scores, rows = index.search(encoder.encode(["Which pact did Poland sign?"]), 1)
    assert index.manifest.dim == 384 and rows[0][0] == 1


def test_a_killed_builds_temporary_files_are_cleared_by_the_next_build(tmp_path, encoder):
    (tmp_path / ".index.faiss.k1ll3d.tmp").write_bytes(b"half an index")
    build_index(IndexStore(tmp_path, notice=lambda m: None), encoder)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "index.faiss", "manifest.json", "query-encoder.onnx"]


def test_an_index_folder_that_is_a_file_is_a_clear_error(tmp_path, encoder):
    (tmp_path / "index").write_text("not a folder")
    with pytest.raises(IndexStoreError, match="the index folder .* is a file: set RAG_INDEX_DIR to a folder"):
        build_index(IndexStore(tmp_path / "index"), encoder)
