"""The scale part of `rag bench`: synthetic corpora of growing size, each built and queried in a fresh process.

A fresh process per step keeps the memory figures honest: the build worker's peak
is what building that index takes, the query worker's peak (read before the exact
vs approximate comparison) is what serving it takes. Workers print one JSON object.

    python -m rag.bench_scale build WORKDIR PIECES.npz
    python -m rag.bench_scale query WORKDIR QUERIES.json
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from .measure import peak_rss_mb, percentiles, run_child

SEARCH_K = 10  # recall@10, and the depth of the timed bare searches


def build(workdir: Path, pieces_path: Path) -> dict:
    """Parse the synthetic corpus and build its index through the real IndexStore, vectors composed."""
    from embeddings import IndexStore

    from . import config
    from .corpus import read_corpus
    from .retrieval import build_units
    from .synthetic import Composer

    started = time.perf_counter()
    corpus = read_corpus(workdir / "corpus")
    texts = [unit.text for unit in build_units(corpus.passages)]
    parse_s = time.perf_counter() - started
    data = np.load(pieces_path)
    name = config.model_name()
    composer = Composer(list(data["pieces"]), data["vectors"], name)
    started = time.perf_counter()
    store = IndexStore(workdir / "index", notice=lambda message: None)
    index = store.load_or_build(encoder=composer, texts=texts,
                                passages=len(corpus.passages), rebuild=True)
    build_s = time.perf_counter() - started
    return {"passages": sum(p.answerable for p in corpus.passages), "all_passages": len(corpus.passages),
            "vectors": len(texts), "parse_s": parse_s, "build_s": build_s, "compose_s": composer.seconds,
            "index_type": type(index.faiss_index).__name__, "index_mb": index.manifest.index_bytes / 2**20,
            "unknown_words": composer.unknown_words}


def query(workdir: Path, queries_path: Path) -> dict:
    """Load the engine as `rag ask` does, time questions, then compare exact and approximate search."""
    import faiss

    from embeddings.store import build_faiss_index

    from .engine import load

    queries = json.loads(Path(queries_path).read_text(encoding="utf-8"))
    notices: list[str] = []
    started = time.perf_counter()
    engine = load(workdir / "corpus", index_dir=workdir / "index", notice=notices.append)
    load_s = time.perf_counter() - started
    if any(n.startswith("building") for n in notices):
        raise RuntimeError(f"the prebuilt index was not used: {notices}")
    engine.ask(queries[0])
    seconds = []
    for question in queries:
        asked = time.perf_counter()
        engine.ask(question, k=3)
        seconds.append(time.perf_counter() - asked)
    figures = {"load_s": load_s, "ask_ms": percentiles(seconds), "serve_peak_mb": peak_rss_mb()}

    stored = engine.retrieval.vectors.faiss_index
    vectors = engine.retrieval.vectors.vectors()
    exact = build_faiss_index(vectors, approximate=False) if isinstance(stored, faiss.IndexIVF) else stored
    started = time.perf_counter()
    approximate = stored if isinstance(stored, faiss.IndexIVF) else build_faiss_index(vectors, approximate=True)
    figures["approx_build_s"] = None if approximate is stored else time.perf_counter() - started
    encoded = engine.retrieval.encoder.encode(queries)
    found = {}
    for name, index in (("exact", exact), ("approx", approximate)):
        rows, timings = [], []
        for vector in encoded:
            searched = time.perf_counter()
            rows.append(index.search(vector[None, :], SEARCH_K)[1][0])
            timings.append(time.perf_counter() - searched)
        found[name] = rows
        figures[f"{name}_search_ms"] = percentiles(timings)
    overlaps = [len(set(a) & set(e)) / SEARCH_K for a, e in zip(found["approx"], found["exact"])]
    figures["recall@10"] = float(np.mean(overlaps))
    figures["ivf_lists"] = int(approximate.nlist)
    return figures


def scale(sizes: list[int], workdir: Path, encoder, corpus, queries: list[str], encode_rate: float,
          sentences: int | None = None, fidelity_sample: int = 64) -> dict:
    """Per size: a synthetic corpus written, built and queried in fresh processes; plus composition fidelity.

    `encode_rate` (texts/s of the real encoder, measured by the caller) turns the
    vector count into the build time real encoding would take.
    """
    from .corpus import read_corpus
    from .retrieval import build_units
    from .synthetic import Composer, source_sentences, split_thirds, write_corpus

    thirds = split_thirds(source_sentences(corpus, limit=sentences))
    pieces = sorted(set(thirds[0] + thirds[1] + thirds[2]))
    vectors = encoder.encode(pieces)
    np.savez(workdir / "pieces.npz", pieces=np.array(pieces), vectors=vectors)
    (workdir / "queries.json").write_text(json.dumps(queries), encoding="utf-8")
    rows = []
    fidelity = None
    for size in sizes:
        folder = workdir / f"n{size}"
        write_corpus(folder / "corpus", size, thirds)
        if fidelity is None:
            texts = [unit.text for unit in build_units(read_corpus(folder / "corpus").passages)]
            sample = [texts[i] for i in np.random.default_rng(0).choice(len(texts), fidelity_sample, replace=False)]
            cosines = (Composer(pieces, vectors, encoder.name).encode(sample) * encoder.encode(sample)).sum(1)
            fidelity = {"sample": fidelity_sample, "mean_cosine": float(cosines.mean()),
                        "p5_cosine": float(np.percentile(cosines, 5))}
        row: dict = {"size": size}
        for step, data in (("build", workdir / "pieces.npz"), ("query", workdir / "queries.json")):
            child = run_child([sys.executable, "-m", "rag.bench_scale", step, str(folder), str(data)], timeout=1800)
            if child.failure:
                row["error"] = f"{step}: {child.failure}"
                break
            row.update(json.loads(child.stdout.strip().splitlines()[-1]))
            row[f"{step}_peak_mb"] = child.peak_mb
        if "build_s" in row:
            row["est_build_s"] = row["vectors"] / encode_rate + row["build_s"] - row["compose_s"]
        rows.append(row)
        shutil.rmtree(folder, ignore_errors=True)
    return {"pieces": len(pieces), "fidelity": fidelity, "sizes": rows}


def main(argv: list[str]) -> int:
    step, workdir, data = argv
    figures = build(Path(workdir), Path(data)) if step == "build" else query(Path(workdir), Path(data))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
