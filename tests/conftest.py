"""Shared fixtures: one real index over the real corpus, built once per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
SOURCE = CORPUS / "carley-interview-2022.txt"


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
