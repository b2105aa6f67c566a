"""How fast `rag serve` answers: time to the first /ask answer after start, and 20 clients at once.

    .venv/bin/python benchmarks/serve.py [--clients 20] [--rounds 3]

Builds the index first if needed (untimed), so the figure is start-up on a built index.
Prints figures; asserts nothing (speed depends on the machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rag.measure import ServeFailed, free_port, rag_serving

REPO = Path(__file__).resolve().parent.parent
START_SECONDS = 240  # model load on a busy 2-core machine; a healthy start takes a few seconds
QUESTIONS = ["Who was Litvinov?", "Where does Professor Carley teach?", "How did Poland view Hitler?",
             "What was the role of Britain and France?"]


@dataclass
class Served:
    """A running `rag serve`: its address, its process, and how long it took to get going."""

    url: str
    process: subprocess.Popen
    listening: float  # seconds from start until it answers HTTP
    answered: float  # seconds from start until its first /ask answer


@contextmanager
def rag_serve() -> Iterator[Served]:
    """`rag serve` on a free loopback port over the built index (built first, untimed); stopped on exit."""
    from gradio_client import Client

    subprocess.run([sys.executable, "-m", "rag.cli", "index"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    started = time.monotonic()
    try:
        with rag_serving(free_port(), os.environ.copy(), subprocess.DEVNULL, START_SECONDS, poll=0.05,
                         cwd=REPO) as (url, process):
            listening = time.monotonic() - started
            Client(url, verbose=False).predict(QUESTIONS[0], api_name="/ask")
            yield Served(url, process, listening, time.monotonic() - started)
    except ServeFailed as error:
        sys.exit(str(error))


def crowd(url: str, clients: int) -> tuple[float, list[float]]:
    """`clients` separate clients asking at once: wall time and each one's latency."""
    from gradio_client import Client

    def one(number: int) -> float:
        client = Client(url, verbose=False)
        asked = time.monotonic()
        result = client.predict(QUESTIONS[number % len(QUESTIONS)], api_name="/ask")
        assert result["answers"], result
        return time.monotonic() - asked

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        latencies = list(pool.map(one, range(clients)))
    return time.monotonic() - began, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with rag_serve() as served:
        print(f"rag serve on a built index: listening after {served.listening:.1f}s, "
              f"first /ask answer after {served.answered:.1f}s")
        for round_number in range(1, args.rounds + 1):
            wall, latencies = crowd(served.url, args.clients)
            print(f"round {round_number}: {args.clients} clients at once, all answered in {wall:.2f}s; "
                  f"latency median {statistics.median(latencies):.2f}s, max {max(latencies):.2f}s")


if __name__ == "__main__":
    main()
