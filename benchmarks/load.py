"""How `rag serve` holds up: 50 clients asking 20 questions each, then a flood past the queue limit.

    .venv/bin/python benchmarks/load.py [--clients 50] [--questions 20] [--rounds 2] [--flood 300]

Starts its own `rag serve` on a free loopback port (serve.py's `rag_serve`), so every request
stays on this machine. Each client is its own gradio_client.Client asking its questions one
after another (the questions of tests/data/fresh.jsonl, follow-ups with their history). For each
round it prints errors, latency percentiles, and the server's resident memory (VmRSS) before and
after. Then the flood: `--flood` clients submit at once without waiting, through gradio_client
and through plain HTTP (posting and never reading the answer), and it prints what they were
told and the memory after. Prints figures; asserts nothing. The load generator shares the
machine with the server, so latencies include the clients' own CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from serve import rag_serve  # benchmarks/ is on sys.path when this script runs

QUESTIONS_FILE = Path(__file__).resolve().parent.parent / "tests" / "data" / "fresh.jsonl"
DRAIN_SECONDS = 120  # a drained queue is expected within seconds; this only bounds the wait


def rss_mib(pid: int) -> float:
    """The process's resident memory in MiB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def load_questions() -> list[tuple[str, list[str]]]:
    rows = [json.loads(line) for line in QUESTIONS_FILE.read_text().splitlines() if line.strip()]
    return [(row["question"], row.get("history", [])) for row in rows]


@dataclass
class Tally:
    """What a set of requests got: each answer's latency, each failure's message, each question's distinct results."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    results: dict[str, set[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self, question: str, seconds: float, result) -> None:
        with self.lock:
            if isinstance(result, dict) and "abstained" in result and "answers" in result:
                self.latencies.append(seconds)
                self.results.setdefault(question, set()).add(json.dumps(result, sort_keys=True))
            else:
                self.errors[f"not a Result: {str(result)[:80]}"] += 1

    def failed(self, error: Exception) -> None:
        with self.lock:
            self.errors[f"{type(error).__name__}: {str(error)[:160]}"] += 1

    def summary(self) -> str:
        lines = [f"  answered {len(self.latencies)}, errors {sum(self.errors.values())}"]
        if self.latencies:
            cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
            lines.append(f"  latency p50 {cuts[49]:.3f}s, p95 {cuts[94]:.3f}s, max {max(self.latencies):.3f}s")
            differing = sum(len(seen) > 1 for seen in self.results.values())
            lines.append(f"  questions answered differently by different requests: {differing}")
        lines += [f"  {count} x {message}" for message, count in self.errors.most_common()]
        return "\n".join(lines)


def load_round(url: str, clients: int, per_client: int, questions: list[tuple[str, list[str]]]) -> tuple[Tally, float]:
    """`clients` clients at once, each asking `per_client` questions in turn: the tally and the wall time."""
    from gradio_client import Client

    tally = Tally()

    def one_client(number: int) -> None:
        client = Client(url, verbose=False)
        try:
            for turn in range(per_client):
                question, history = questions[(number * per_client + turn) % len(questions)]
                asked = time.monotonic()
                try:
                    result = client.predict(question, 3, history, api_name="/ask")
                except Exception as error:  # every failure is a figure to report, not a reason to stop
                    tally.failed(error)
                else:
                    tally.answered(question, time.monotonic() - asked, result)
        finally:
            client.close()

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one_client, range(clients)))
    return tally, time.monotonic() - began


def flood_clients(url: str, count: int, question: str) -> Tally:
    """`count` gradio_client clients, all connected first, then all asking at the same instant."""
    from gradio_client import Client

    with ThreadPoolExecutor(max_workers=16) as pool:
        clients = list(pool.map(lambda _: Client(url, verbose=False), range(count)))
    tally = Tally()
    start = threading.Barrier(count)

    def ask(client) -> None:
        start.wait()
        asked = time.monotonic()
        try:
            result = client.predict(question, api_name="/ask")
        except Exception as error:  # the refusals are what this measures
            tally.failed(error)
        else:
            tally.answered(question, time.monotonic() - asked, result)

    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            list(pool.map(ask, clients))
    finally:
        for client in clients:
            client.close()
    return tally


def post_ask(url: str, question: str) -> tuple[int, str]:
    """POST /gradio_api/call/ask and nothing more: the status and body (event id or refusal)."""
    body = json.dumps({"data": [question, 3, []]}).encode()
    request = urllib.request.Request(url + "gradio_api/call/ask", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, "event id"
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def flood_posts(url: str, count: int, question: str) -> Counter:
    """`count` plain-HTTP submissions at the same instant, none reading its answer: how many got which reply."""
    start = threading.Barrier(count)

    def post(_) -> tuple[int, str]:
        start.wait()
        return post_ask(url, question)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return Counter(pool.map(post, range(count)))


def wait_for_empty_queue(url: str) -> float:
    """Seconds until the server's queue is empty again."""
    began = time.monotonic()
    while time.monotonic() - began < DRAIN_SECONDS:
        with urllib.request.urlopen(url + "gradio_api/queue/status", timeout=30) as response:
            if json.load(response)["queue_size"] == 0:
                break
        time.sleep(0.2)
    return time.monotonic() - began


def flood(url: str, pid: int, count: int, questions: list[tuple[str, list[str]]]) -> None:
    """`count` clients at once, twice (gradio_client, then plain posts never read), then a normal round."""
    question = questions[0][0]
    before = rss_mib(pid)
    tally = flood_clients(url, count, question)
    print(f"flood: {count} gradio_client clients asking at once; RSS {before:.0f} -> {rss_mib(pid):.0f} MiB\n"
          f"{tally.summary()}")
    wait_for_empty_queue(url)
    before = rss_mib(pid)
    replies = flood_posts(url, count, question)
    print(f"flood: {count} plain-HTTP posts at once, answers never read; RSS {before:.0f} -> {rss_mib(pid):.0f} MiB")
    for (status, body), times in replies.most_common():
        print(f"  {times} x HTTP {status}: {body}")
    drained = wait_for_empty_queue(url)
    after, _ = load_round(url, 1, len(questions), questions)
    print(f"queue empty {drained:.1f}s later; then every question once more: RSS {rss_mib(pid):.0f} MiB\n"
          f"{after.summary()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--questions", type=int, default=20, help="questions per client")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--flood", type=int, default=300,
                        help="clients submitting at once past the queue limit (0: no flood)")
    args = parser.parse_args()
    questions = load_questions()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    with rag_serve() as served:
        url, pid = served.url, served.process.pid
        print(f"rag serve (pid {pid}) at {url}: first answer {served.answered:.1f}s after start, "
              f"RSS {rss_mib(pid):.0f} MiB")
        warm, _ = load_round(url, 1, len(questions), questions)
        print(f"warm-up, every question once: RSS {rss_mib(pid):.0f} MiB\n{warm.summary()}")
        for number in range(1, args.rounds + 1):
            before = rss_mib(pid)
            tally, wall = load_round(url, args.clients, args.questions, questions)
            print(f"round {number}: {args.clients} clients x {args.questions} questions in {wall:.1f}s "
                  f"({len(tally.latencies) / wall:.0f} answers/s); RSS {before:.0f} -> {rss_mib(pid):.0f} MiB\n"
                  f"{tally.summary()}")
        if args.flood:
            flood(url, pid, args.flood, questions)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
