"""`rag bench`: how fast and how big, measured in one run on this machine.

1. Cold start: wall time and peak memory of fresh processes: `python -c "import
   sentence_transformers"` (the yardstick start-up targets are ratios to), `rag ask` on
   the built index, and `rag serve` until its `/ask` endpoint gives a first answer.
2. Warm `Engine.ask` latency against its floor in the same process: the question
   encoded by sentence-transformers and one FAISS search, nothing else.
3. Index build throughput against bare `model.encode` of the same texts.
4. Scale: synthetic corpora (rag.synthetic) built and queried in fresh processes
   (rag.bench_scale), exact against approximate search.

The table goes to stdout, the figures to bench.json and bench.png in the output
folder. On a shared machine timings are noisy: repeat before trusting small changes.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import config
from .measure import Launched, free_port, percentiles, run_child, wait_for_server

QUESTION = "Where does Professor Carley teach?"  # what the cold processes ask
SERVE_TIMEOUT = 300  # seconds for `rag serve` to give its first answer
FLOOR_K = 10  # depth of the floor's one FAISS search


@dataclass(frozen=True)
class Plan:
    """How much to measure: the full run, or a quick one for the tests."""

    name: str
    repeats: int  # runs per cold-start command (the median wall time is reported)
    rounds: int  # warm passes over the questions
    build_texts: int | None  # texts encoded for build throughput (None: the whole index)
    sizes: tuple[int, ...]  # synthetic corpus sizes, in answer passages
    sentences: int | None  # interview sentences recombined (None: all)
    queries: int
    fidelity_sample: int
    serve: bool


FULL = Plan("full", repeats=3, rounds=2, build_texts=None, sizes=(1_000, 10_000, 100_000), sentences=None,
            queries=40, fidelity_sample=64, serve=True)
QUICK = Plan("quick", repeats=1, rounds=1, build_texts=32, sizes=(300,), sentences=30, queries=8,
             fidelity_sample=16, serve=False)


def notice(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def bench_questions(corpus, count: int) -> list[str]:
    """The interview's own questions (first sentence each), then its sentences in a fixed shuffle."""
    asked = [p.text[slice(*p.sentences[0])] if p.sentences else p.text for p in corpus.passages if p.role == "question"]
    said = [p.text[start:end] for p in corpus.passages if p.answerable for start, end in p.sentences]
    random.Random(0).shuffle(said)  # noqa: S311 - a fixed, reproducible order of benchmark questions, not a secret
    return (asked + said)[:count]


def build_throughput(encoder, corpus, limit: int | None, folder: Path) -> dict:
    """Bare `model.encode` of the index's texts against a whole IndexStore rebuild of them.

    A rebuild (the corpus changed, the model did not) is what recurs; the first build into an
    empty folder also exports the ONNX query encoder, and is reported beside it.
    """
    from embeddings import IndexStore

    from .retrieval import build_units

    units = build_units(corpus.passages)[:limit]
    texts = [unit.text for unit in units]
    passages = len({unit.passage for unit in units})
    encoder.encode(texts[:4])  # warm-up: the first call pays one-off costs
    started = time.perf_counter()
    encoder.model.encode(texts, batch_size=32, convert_to_numpy=True)
    bare_s = time.perf_counter() - started
    store = IndexStore(folder, notice=lambda message: None)
    timings = []
    for _ in range(2):  # the first build also exports the ONNX query encoder, once per model
        started = time.perf_counter()
        store.load_or_build(encoder=encoder, texts=texts, passages=passages,
                            rebuild=True)
        timings.append(time.perf_counter() - started)
    first_build_s, build_s = timings
    return {"texts": len(texts), "passages": passages, "bare_s": bare_s, "build_s": build_s,
            "first_build_s": first_build_s,
            "bare_texts_per_s": len(texts) / bare_s, "bare_passages_per_s": passages / bare_s,
            "build_passages_per_s": passages / build_s, "ratio": build_s / bare_s}


def warm_latency(engine, encoder, questions: list[str], rounds: int) -> dict:
    """Engine.ask (k=3, full) against the floor, interleaved so both see the same machine load."""
    index = engine.retrieval.vectors.faiss_index

    def floor(question: str) -> None:
        vector = encoder.model.encode([question], normalize_embeddings=True, convert_to_numpy=True)
        index.search(vector, FLOOR_K)

    engine.ask(questions[0])
    floor(questions[0])
    asked, floors = [], []
    for _ in range(rounds):
        for question in questions:
            started = time.perf_counter()
            engine.ask(question)
            asked.append(time.perf_counter() - started)
            started = time.perf_counter()
            floor(question)
            floors.append(time.perf_counter() - started)
    ask_ms, floor_ms = percentiles(asked), percentiles(floors)
    return {"questions": len(asked), "ask_ms": ask_ms, "floor_ms": floor_ms,
            "ratio_p50": ask_ms["p50"] / floor_ms["p50"]}


def serve_first_answer(env: dict) -> dict:
    """Launch `rag serve`, wait until it answers HTTP, ask `/ask` with gradio_client, stop it; time and peak
    memory."""
    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        server = Launched([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], env=env, stdout=log,
                          stderr=subprocess.STDOUT)
        answer, error = None, None
        try:
            wait_for_server(url, server.process, SERVE_TIMEOUT)
            answer = Client(url, verbose=False, download_files=False, analytics_enabled=False).predict(
                QUESTION, api_name="/ask")
        except RuntimeError as problem:  # exited, or not up in time
            error = str(problem)
        except Exception as problem:  # up, but /ask failed
            error = f"/ask failed: {problem}"
        wall_s = time.perf_counter() - started
        server.stop()
        child = server.wait(timeout=30)
        if error is None and "answers" not in (json.loads(answer) if isinstance(answer, str) else answer):
            error = f"/ask replied without answers: {str(answer)[:120]}"
        if error:
            log.seek(0)
            lines = log.read().decode(errors="replace").strip().splitlines()
            return {"error": f"{error}; last log line: {lines[-1] if lines else '(none)'}"}
    return {"wall_s": wall_s, "peak_mb": child.peak_mb, "runs": 1}


def cold_start(env: dict, plan: Plan) -> dict:
    """Fresh processes: importing sentence-transformers (the yardstick), `rag ask`, `rag serve`."""
    commands = {"import sentence_transformers": [sys.executable, "-c", "import sentence_transformers"],
                "rag ask": [sys.executable, "-m", "rag.cli", "ask", QUESTION]}
    figures = {}
    for name, command in commands.items():
        notice(f"cold start: {name} ×{plan.repeats}")
        runs = [run_child(command, env=env, timeout=600) for _ in range(plan.repeats)]
        failure = next((run.failure for run in runs if run.failure), None)
        figures[name] = {"error": failure} if failure else {
            "wall_s": statistics.median(run.wall_s for run in runs), "peak_mb": max(run.peak_mb for run in runs),
            "runs": plan.repeats}
    if plan.serve:
        notice("cold start: rag serve until /ask answers")
        figures["rag serve"] = serve_first_answer(env)
    else:
        figures["rag serve"] = {"skipped": "not measured with --quick"}
    return figures


def run_bench(plan: Plan, out: Path) -> dict:
    """Every measurement of the plan; returns the figures (also written to out/bench.json)."""
    from embeddings import Encoder

    from .bench_scale import scale
    from .engine import load

    notice(f"loading the engine (index in {config.index_dir()})")
    engine = load()
    corpus = engine.corpus
    encoder = Encoder(config.model_name())
    env = {**os.environ, "RAG_INDEX_DIR": str(config.index_dir()), "RAG_CORPUS_DIR": str(config.corpus_dir())}
    questions = bench_questions(corpus, plan.queries)
    figures: dict = {"plan": asdict(plan), "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                                                      "load_average": os.getloadavg()[0]},
                     "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as scratch:
        scratch = Path(scratch)
        notice("index build throughput")
        figures["build"] = build_throughput(encoder, corpus, plan.build_texts, scratch / "build")
        notice("warm latency against the floor")
        figures["warm"] = warm_latency(engine, encoder, questions, plan.rounds)
        del engine
        figures["cold_start"] = cold_start(env, plan)
        notice(f"scale: synthetic corpora of {', '.join(map(str, plan.sizes))} passages")
        figures["scale"] = scale(list(plan.sizes), scratch, encoder, corpus, questions,
                                 encode_rate=figures["build"]["bare_texts_per_s"], sentences=plan.sentences,
                                 fidelity_sample=plan.fidelity_sample)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return figures


def main(quick: bool = False, out: Path | str | None = None) -> int:
    from .bench_report import format_tables, plot

    out = Path(out) if out else config.REPO_ROOT / ".cache" / "bench"
    figures = run_bench(QUICK if quick else FULL, out)
    plot(figures, out / "bench.png")
    print(format_tables(figures))
    notice(f"figures written to {out / 'bench.json'} and {out / 'bench.png'}")
    return 0
