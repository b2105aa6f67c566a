"""The torch-free query path: the ONNX export beside the index encodes questions as torch does.

Questions are encoded by onnxruntime from an export kept with the index; these tests
hold it to the torch encoder's output, to the index's rebuild rules, and to its
promise that answering from a built index never imports torch.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from embeddings import Encoder, IndexStore, resolve_model
from embeddings.onnx_encoder import OnnxEncoder
from embeddings.store import QUERY_MODEL_FILE, file_sha256

from .conftest import INDEX_TEXTS, REPO, build_index, rag_env


def interview_sentences(engine) -> list[str]:
    """Every sentence of the interview, and every interviewer question."""
    sentences = [p.text[start:end] for p in engine.passages for start, end in p.sentences]
    questions = sorted({p.citation.question for p in engine.passages if p.citation.question})
    return sentences + questions


def test_questions_are_encoded_by_the_onnx_export(engine, encoder, index_dir):
    assert encoder.query_backend == "onnx"
    assert (index_dir / QUERY_MODEL_FILE).stat().st_size > 1_000_000
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["query_model_sha256"] == file_sha256(index_dir / QUERY_MODEL_FILE)


def test_onnx_matches_torch_on_interview_sentences(engine, encoder, index_dir):
    texts = interview_sentences(engine)
    assert len(texts) >= 200
    torch_vectors = encoder.encode(texts)
    one_by_one = np.vstack([encoder.encode_query(text) for text in texts])  # the query path itself
    assert np.min(np.sum(one_by_one * torch_vectors, axis=1)) >= 0.9999
    # Passages of every length in one padded batch, one past the 256-token limit: padding and truncation match.
    by_length = sorted((p.text for p in engine.passages), key=len)
    passages = by_length[::6] + [" ".join(by_length[-4:])]
    batch = OnnxEncoder(index_dir / QUERY_MODEL_FILE).encode(passages)
    assert np.min(np.sum(batch * encoder.encode(passages), axis=1)) >= 0.9999


@pytest.mark.parametrize("damage, reason", [
    (lambda path: path.unlink(), "the ONNX query encoder is missing"),
    (lambda path: path.write_bytes(path.read_bytes()[:1000]), "the ONNX query encoder is truncated or corrupt"),
    (lambda path: path.write_bytes(b"x" * path.stat().st_size), "the ONNX query encoder is truncated or corrupt"),
])
def test_a_missing_or_corrupt_export_is_rebuilt_with_a_notice(tmp_path, encoder, damage, reason):
    build_index(IndexStore(tmp_path, notice=lambda m: None), encoder)
    damage(tmp_path / QUERY_MODEL_FILE)
    notices = []
    index = build_index(IndexStore(tmp_path, notice=notices.append), encoder)
    assert reason in notices[0]
    assert encoder.query_backend == "onnx"
    assert IndexStore(tmp_path).problem(model=encoder.name, texts=INDEX_TEXTS) is None
    _, rows = index.search(encoder.encode_query("Which pact did Poland sign?"), 1)
    assert rows[0][0] == 1


def test_the_export_follows_the_model_files_not_the_corpus_or_the_name(tmp_path, encoder):
    index_dir, model_dir = tmp_path / "index", tmp_path / "model"
    build_index(IndexStore(index_dir, notice=lambda m: None), encoder)
    exported = (index_dir / QUERY_MODEL_FILE).stat().st_ino
    build_index(IndexStore(index_dir, notice=lambda m: None), encoder, texts=INDEX_TEXTS + ["New text."])
    assert (index_dir / QUERY_MODEL_FILE).stat().st_ino == exported  # a new corpus: the export is kept

    shutil.copytree(resolve_model(encoder.name), model_dir)
    copy = Encoder(str(model_dir))  # the same files under another name: the index is rebuilt, the export kept
    notices = []
    build_index(IndexStore(index_dir, notice=notices.append), copy)
    assert "built with model all-MiniLM-L6-v2" in notices[0]
    assert (index_dir / QUERY_MODEL_FILE).stat().st_ino == exported

    weights = load_file(str(model_dir / "model.safetensors"))  # other weights behind the same name
    weights["encoder.layer.5.output.LayerNorm.weight"] *= 1.5
    save_file(weights, str(model_dir / "model.safetensors"))
    changed = Encoder(str(model_dir))
    index = build_index(IndexStore(index_dir, notice=lambda m: None), changed, texts=INDEX_TEXTS + ["Other text."])
    assert (index_dir / QUERY_MODEL_FILE).stat().st_ino != exported
    assert changed.query_backend == "onnx"
    question = "Which pact did Poland sign?"
    assert float(changed.encode_query(question)[0] @ changed.encode([question])[0]) >= 0.9999
    assert float(changed.encode_query(question)[0] @ encoder.encode([question])[0]) < 0.9999
    assert index.search(changed.encode_query(question), 1)[1][0][0] == 1


def test_an_export_onnxruntime_cannot_load_falls_back_to_torch(tmp_path, encoder):
    """A file that matches its checksum but is not a model (written by hand) costs speed, not answers."""
    build_index(IndexStore(tmp_path, notice=lambda m: None), encoder)
    path = tmp_path / QUERY_MODEL_FILE
    path.write_bytes(b"not a model")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest.update(query_model_sha256=file_sha256(path), query_model_bytes=path.stat().st_size)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    fresh = Encoder(encoder.name)
    notices = []
    index = build_index(IndexStore(tmp_path, notice=notices.append), fresh)
    assert len(notices) == 1 and notices[0].startswith("questions are encoded with torch")
    assert fresh.query_backend == "torch"
    _, rows = index.search(fresh.encode_query("Which pact did Poland sign?"), 1)
    assert rows[0][0] == 1


def test_rag_ask_on_a_built_index_does_not_import_torch(index_dir):
    probe = ("import sys, rag.cli; code = rag.cli.main(['ask', '--json', 'Where does Professor Carley teach?']); "
             "print(json.dumps(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules)),"
             " file=sys.stderr); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", "import json; " + probe], capture_output=True, env=rag_env(index_dir),
                          cwd=REPO, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "University of Montreal" in json.loads(done.stdout)["answers"][0]["text"]
    assert json.loads(done.stderr.decode().strip().splitlines()[-1]) == []
