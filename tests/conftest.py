"""Shared fixtures: one real index over the real corpus, built once per test session."""

from __future__ import annotations

import ipaddress
import json
import os
import struct
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from rag.measure import ServeFailed, free_port, rag_serving

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
SOURCE = CORPUS / "carley-interview-2022.txt"
ARTIFACTS = REPO / "test-artifacts"  # screenshots and the like, git-ignored
QUESTIONS = REPO / "tests" / "data"  # our own question sets in the evaluation format: fresh*.jsonl (fitted
# on), heldout*.jsonl and swaps.jsonl (never fitted on)
SERVER_START_SECONDS = 240  # model load on a busy 2-core machine; a healthy start takes well under a minute


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("index")


@pytest.fixture(scope="session")
def engine(index_dir):
    import rag

    return rag.load(CORPUS, index_dir=index_dir)


@pytest.fixture(scope="session")
def encoder(engine):
    """The session engine's encoder: its torch model is loaded and its ONNX export made once, for every test."""
    return engine.retrieval.encoder


# A second interview, in the Carley interview's markdown, for a corpus of several documents.
SECOND_INTERVIEW = """# Steel and Steam: An Interview with Henrietta Voss

**The Junction Review (JR):** How did you come to write about railways?

**Henrietta Voss (HV):** My grandfather drove locomotives on the line from Leeds to Carlisle, and his stories of \
steam engines in the snow stayed with me. I began with his logbooks and ended with a history of the northern network.

**JR:** Why did the steam engine last so long in Britain?

**HV:** Coal was cheap and close at hand, and the railway companies had vast sheds of skilled fitters who knew \
steam. Diesel meant new skills and new imports, so the change came late.

**JR:** What are you working on now?

**HV:** A book on the railway hotels, those great stations with ballrooms attached, and the people who worked there.
"""


INDEX_TEXTS = ["Stalin supported Litvinov.", "Poland signed a pact with Germany in 1934.", "A poster by Koretsky."]


def build_index(store, encoder, texts=INDEX_TEXTS, **kw):
    """A small index loaded, or built, by `store` from `texts`."""
    return store.load_or_build(encoder=encoder, texts=texts, passages=len(texts), **kw)


@pytest.fixture(scope="session")
def document(engine):
    return engine.corpus.documents[0]


def rag_env(index_dir: Path, **extra: str) -> dict[str, str]:
    """This environment, pointed at the repo's corpus and the session's index, with `extra` on top."""
    return {**os.environ, "RAG_INDEX_DIR": str(index_dir), "RAG_CORPUS_DIR": str(CORPUS), **extra}


def http_ask(server: str, data: list) -> tuple[str, object]:
    """The README's plain-HTTP call: POST the arguments, then read the event stream for the outcome."""
    request = urllib.request.Request(server + "gradio_api/call/ask", data=json.dumps({"data": data}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        event_id = json.load(response)["event_id"]
    with urllib.request.urlopen(f"{server}gradio_api/call/ask/{event_id}", timeout=60) as stream:
        lines = stream.read().decode().splitlines()
    event = next(line.removeprefix("event: ") for line in lines if line.startswith("event: "))
    payload = json.loads(next(line.removeprefix("data: ") for line in lines if line.startswith("data: ")))
    return event, payload


@pytest.fixture
def run_rag(index_dir, engine):
    """Run the real `rag` command against the session's index; returns the CompletedProcess."""

    def run(*args: str | bytes, stdin: bytes | str | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        env = rag_env(index_dir, **(env or {}))
        data = stdin.encode() if isinstance(stdin, str) else stdin
        return subprocess.run([sys.executable, "-m", "rag.cli", *args], input=data, capture_output=True,
                              env=env, timeout=timeout, cwd=REPO)

    return run


def listening_addresses(port: int) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses a TCP socket listens on at `port`, from the kernel's tables (hex words in host byte order)."""
    found = set()
    for table, words in (("/proc/net/tcp", "<I"), ("/proc/net/tcp6", "<IIII")):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                host_order = struct.unpack(words, bytes.fromhex(address))
                found.add(ipaddress.ip_address(b"".join(struct.pack(">I", word) for word in host_order)))
    return found


@contextmanager
def served(index_dir: Path, log_path: Path, port: int | None = None,
           **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """A real `rag serve` over `index_dir`, ready to answer; its URL and process, stopped on exit.

    It listens on `port` (default: a free one); `env` adds environment variables; its output goes to `log_path`.
    """
    env = rag_env(index_dir, **env)
    with log_path.open("wb") as log, ExitStack() as stack:
        try:
            url, process = stack.enter_context(rag_serving(port or free_port(), env, log, SERVER_START_SECONDS,
                                                           poll=0.5, cwd=REPO))
        except ServeFailed as error:
            pytest.fail(f"{error}:\n{log_path.read_text()}")
        yield url, process


@pytest.fixture(scope="session")
def server(index_dir, engine, tmp_path_factory) -> Iterator[str]:
    """The real `rag serve` on a free port over the session's index; its base URL, ready to answer."""
    with served(index_dir, tmp_path_factory.mktemp("server") / "serve.log") as (url, _):
        yield url


@pytest.fixture(scope="session")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


def our_questions(pattern: str = "fresh*.jsonl") -> list:
    """Every question of our own sets (by default those the models are fitted on), as `rag eval` reads them."""
    from rag.evaluate import read_items

    return [item for path in sorted(QUESTIONS.glob(pattern)) for item in read_items(path)[0]]
