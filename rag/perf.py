"""How fast answers come: cold start, warm latency against its floor, build throughput.

Every figure of issue 7 is measured in one run on this machine, each slow one in a
fresh process: `python -c "import sentence_transformers"` (the yardstick), a cold
`rag ask` on a built index (wall time and peak memory), `rag serve` until its page
answers, warm `Engine.ask` p50/p95 against the floor (sentence-transformers encoding
the question plus one FAISS search), and index build throughput against bare
`model.encode` on the same texts.

    python -m rag.perf [--repeat 3] [--json]

`measure()` returns the figures as a dict for `rag bench`; `report()` prints them.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import config

QUESTIONS = (
    "Where does Professor Carley teach?",
    "Who was Litvinov?",
    "What was the role of Britain and France?",
    "How did Poland view Hitler?",
    "Who made the poster?",
    "Why did collective security fail in the 1930s?",
    "What did Stalin think of the Western powers?",
    "What happened at Munich in 1938?",
    "Which book did Carley write about 1939?",
    "What is the recipe for apple pie?",
)
ASK = "Where does Professor Carley teach?"
SERVE_TIMEOUT = 180.0


@dataclass
class Run:
    """One fresh process: wall time, peak resident memory, exit code."""

    seconds: float
    peak_mb: float
    returncode: int


def run_cold(args: list[str], env: dict[str, str]) -> Run:
    """Run `args` to completion in a fresh process; peak RSS comes from the kernel's rusage of that child."""
    started = time.perf_counter()
    child = subprocess.Popen(args, env=env, cwd=config.REPO_ROOT,  # noqa: S603 - our own commands, no shell
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    return Run(seconds, usage.ru_maxrss / 1024, child.returncode)


def median_run(args: list[str], env: dict[str, str], repeat: int) -> Run:
    runs = [run_cold(args, env) for _ in range(repeat)]
    failed = [r for r in runs if r.returncode != 0]
    if failed:
        raise RuntimeError(f"{' '.join(args)} exited {failed[0].returncode}")
    return Run(statistics.median(r.seconds for r in runs), statistics.median(r.peak_mb for r in runs), 0)


def percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": 1000 * statistics.median(ordered), "p95_ms": 1000 * p95}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_ready(env: dict[str, str]) -> float:
    """Seconds from starting `rag serve` until its page answers (it loads and warms the engine first)."""
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],  # noqa: S603 - no shell
                              env=env, cwd=config.REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < SERVE_TIMEOUT:
            if server.poll() is not None:
                raise RuntimeError(f"rag serve exited {server.returncode} before it was ready")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as page:
                    if page.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"rag serve was not ready after {SERVE_TIMEOUT:.0f}s")
    finally:
        server.terminate()
        server.wait(timeout=30)


def warm_latency(engine, encoder, rounds: int) -> dict[str, dict[str, float]]:
    """Engine.ask (all quality features on) against its floor: the torch encoder's `encode` of the
    question plus one FAISS search. Rounds alternate between the two, so both see the same load."""
    from .retrieval import DENSE_DEPTH

    vectors = engine.retrieval.vectors
    timed = {"warm_ask": lambda q: engine.ask(q), "floor": lambda q: vectors.search(encoder.encode([q]), DENSE_DEPTH)}
    timings: dict[str, list[float]] = {name: [] for name in timed}
    for round_ in range(rounds + 1):  # the first round warms up and is not counted
        for name, call in timed.items():
            for question in QUESTIONS:
                started = time.perf_counter()
                call(question)
                if round_:
                    timings[name].append(time.perf_counter() - started)
    return {name: percentiles(seconds) for name, seconds in timings.items()}


def build_throughput(engine, encoder, directory: Path, repeat: int) -> dict[str, float]:
    """Texts per second: bare model.encode and a rebuild after a corpus change, timed in alternation
    so both see the same load; and the first build into a fresh folder."""
    from embeddings import IndexStore

    texts = [unit.text for unit in engine.retrieval.units]
    store = IndexStore(directory, notice=lambda message: None)

    def timed(call) -> float:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    def build(corpus_hash: str) -> float:
        return timed(lambda: store.load_or_build(encoder=encoder, corpus_hash=corpus_hash, texts=texts,
                                                 passages=len(engine.passages)))

    encoder.encode(texts[:8])  # the model is loaded and warm before anything is timed
    first = build("first")
    pairs = [(timed(lambda: encoder.encode(texts)), build(f"changed-{n}")) for n in range(repeat)]
    encode_s = statistics.median(bare for bare, _ in pairs)
    rebuild_s = statistics.median(rebuild for _, rebuild in pairs)
    return {"texts": len(texts), "encode_s": encode_s, "first_build_s": first, "rebuild_s": rebuild_s,
            "encode_texts_per_s": len(texts) / encode_s, "rebuild_texts_per_s": len(texts) / rebuild_s,
            "rebuild_over_encode": statistics.median(rebuild / bare for bare, rebuild in pairs)}


def measure(repeat: int = 3, rounds: int = 10, serve: bool = True) -> dict:
    """Every figure, measured now; slow ones are the median of `repeat` fresh processes."""
    import rag

    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="rag-perf-") as scratch:
        index_dir = Path(scratch) / "index"
        env = {**os.environ, "RAG_INDEX_DIR": str(index_dir), "RAG_CORPUS_DIR": str(config.corpus_dir())}
        if run_cold([python, "-m", "rag.cli", "index"], env).returncode != 0:
            raise RuntimeError("rag index failed")
        yardstick = median_run([python, "-c", "import sentence_transformers"], env, repeat)
        help_run = median_run([python, "-m", "rag.cli", "--help"], env, repeat)
        ask = median_run([python, "-m", "rag.cli", "ask", "--json", ASK], env, repeat)
        figures = {
            "import_sentence_transformers_s": yardstick.seconds,
            "cold_help_s": help_run.seconds,
            "cold_ask_s": ask.seconds,
            "cold_ask_peak_mb": ask.peak_mb,
            "cold_ask_over_import": ask.seconds / yardstick.seconds,
            "serve_ready_s": None,
        }
        if serve:
            figures["serve_ready_s"] = statistics.median(serve_ready(env) for _ in range(repeat))
        from embeddings import Encoder

        engine = rag.load(config.corpus_dir(), index_dir=index_dir, notice=lambda message: None)
        encoder = Encoder(engine.retrieval.encoder.name)
        figures["query_backend"] = getattr(engine.retrieval.encoder, "query_backend", "torch")
        figures.update(warm_latency(engine, encoder, rounds))
        figures["warm_over_floor"] = figures["warm_ask"]["p50_ms"] / figures["floor"]["p50_ms"]
        figures["build"] = build_throughput(engine, encoder, Path(scratch) / "build", repeat)
    return figures


def report(figures: dict) -> str:
    """The figures as lines a person reads, each with its target."""
    build = figures["build"]
    serve = figures["serve_ready_s"]
    warm, floor = figures["warm_ask"], figures["floor"]
    lines = [
        f"import sentence_transformers   {figures['import_sentence_transformers_s']:7.2f} s   (the yardstick)",
        f"cold rag --help                {figures['cold_help_s']:7.2f} s",
        (f"cold rag ask (built index)     {figures['cold_ask_s']:7.2f} s   "
         f"= {figures['cold_ask_over_import']:.2f} x the import (target <= 0.2)"),
        f"cold rag ask peak memory       {figures['cold_ask_peak_mb']:7.0f} MB",
        "rag serve ready                " + ("    not measured" if serve is None else f"{serve:7.2f} s"),
        f"questions encoded by           {figures['query_backend']}",
        f"warm Engine.ask                p50 {warm['p50_ms']:6.1f} ms   p95 {warm['p95_ms']:6.1f} ms",
        f"floor (torch encode + FAISS)   p50 {floor['p50_ms']:6.1f} ms   p95 {floor['p95_ms']:6.1f} ms",
        f"warm p50 / floor p50           {figures['warm_over_floor']:7.2f}     (target <= 1.0)",
        (f"bare model.encode              {build['encode_s']:7.2f} s   {build['encode_texts_per_s']:6.0f} texts/s "
         f"({build['texts']} texts)"),
        (f"index rebuild (corpus changed) {build['rebuild_s']:7.2f} s   {build['rebuild_texts_per_s']:6.0f} texts/s "
         f"= {build['rebuild_over_encode']:.2f} x encode (target <= 1.3)"),
        f"first build (fresh folder)     {build['first_build_s']:7.2f} s",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.perf", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per cold figure (median; default 3)")
    parser.add_argument("--rounds", type=int, default=10, help="passes over the questions for warm figures")
    parser.add_argument("--no-serve", action="store_true", help="skip starting the real server")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure(repeat=args.repeat, rounds=args.rounds, serve=not args.no_serve)
    print(json.dumps(figures, indent=2) if args.json else report(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
