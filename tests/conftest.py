"""Shared fixtures: one real index over the real corpus, built once per test session."""

from __future__ import annotations

import ipaddress
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rag.measure import free_port, wait_for_server

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
SOURCE = CORPUS / "carley-interview-2022.txt"
ARTIFACTS = REPO / "test-artifacts"  # screenshots and the like, git-ignored
QUESTIONS = REPO / "tests" / "data"  # our own question sets, fresh*.jsonl, in the evaluation format
SERVER_START_SECONDS = 240  # model load on a busy 2-core machine; a healthy start takes well under a minute


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("index")


@pytest.fixture(scope="session")
def engine(index_dir):
    import rag

    return rag.load(CORPUS, index_dir=index_dir)


@pytest.fixture(scope="session")
def document(engine):
    return engine.corpus.documents[0]


@pytest.fixture
def run_rag(index_dir, engine):
    """Run the real `rag` command against the session's index; returns the CompletedProcess."""

    def run(*args: str | bytes, stdin: bytes | str | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "RAG_INDEX_DIR": str(index_dir), "RAG_CORPUS_DIR": str(CORPUS), **(env or {})}
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
    port = port or free_port()
    env = {**os.environ, "RAG_INDEX_DIR": str(index_dir), "RAG_CORPUS_DIR": str(CORPUS), **env}
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], cwd=REPO,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        try:
            wait_for_server(url, process, SERVER_START_SECONDS, poll=0.5)
        except RuntimeError as error:
            pytest.fail(f"{error}:\n{log_path.read_text()}")
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def server(index_dir, engine, tmp_path_factory) -> Iterator[str]:
    """The real `rag serve` on a free port over the session's index; its base URL, ready to answer."""
    with served(index_dir, tmp_path_factory.mktemp("server") / "serve.log") as (url, _):
        yield url


@pytest.fixture(scope="session")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


def load_questions(path: Path) -> list[dict]:
    """The questions of one evaluation-format file."""
    import json

    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
