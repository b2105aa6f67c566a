"""Settings, each overridable by an environment variable, resolved in one place."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_QUESTION_CHARS = 2000  # longer input is refused: no honest question needs more
MAX_K = 20  # answers per question
MAX_HISTORY = 10  # earlier questions a follow-up is read with; older ones are dropped
CUTOFFS = (1, 3, 5)  # the hit@k `rag eval` shows by default
MAX_REQUEST_BYTES = 2**20  # one request (a --jsonl line, an HTTP body): a longer one is refused unread


def corpus_dir() -> Path:
    return Path(os.environ.get("RAG_CORPUS_DIR", REPO_ROOT / "corpus"))


def index_dir() -> Path:
    return Path(os.environ.get("RAG_INDEX_DIR", REPO_ROOT / ".cache" / "index"))


def adapter_file() -> Path | None:
    """None when RAG_QUERY_ADAPTER is "none" (or empty): questions are then searched as encoded."""
    from .adapter import ADAPTER_FILE

    setting = os.environ.get("RAG_QUERY_ADAPTER", str(ADAPTER_FILE))
    return None if setting.strip().lower() in ("", "none") else Path(setting)


def model_name() -> str:
    from embeddings import DEFAULT_MODEL

    return os.environ.get("RAG_MODEL", DEFAULT_MODEL)
