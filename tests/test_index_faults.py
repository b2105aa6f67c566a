"""Real `rag index` processes against a temporary corpus and index: killed mid-build, and two at once."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import rag
from embeddings.store import file_sha256

from .conftest import CORPUS, REPO

GUARD_SECONDS = 300  # a process still running after this is killed, so a hang fails instead of blocking


def start_rag(*args: str, corpus: Path, index: Path) -> subprocess.Popen:
    env = {**os.environ, "RAG_CORPUS_DIR": str(corpus), "RAG_INDEX_DIR": str(index)}
    process = subprocess.Popen([sys.executable, "-m", "rag.cli", *args], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    guard = threading.Timer(GUARD_SECONDS, process.kill)
    guard.daemon = True
    guard.start()
    return process


def test_a_rebuild_killed_half_way_leaves_the_old_index_in_use(index_dir, engine, tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(CORPUS, corpus)
    shutil.copytree(index_dir, index)
    before = file_sha256(index / "index.faiss"), (index / "manifest.json").read_text()

    build = start_rag("index", "--rebuild", corpus=corpus, index=index)
    stderr = b""
    while b"building the index" not in stderr:  # the notice comes just before the embedding starts
        line = build.stderr.readline()
        assert line, f"rag index ended before building: {stderr.decode(errors='replace')}"
        stderr += line
    build.send_signal(signal.SIGKILL)
    build.wait()
    assert build.returncode == -signal.SIGKILL
    assert b"index built" not in stderr + build.stderr.read()
    assert (file_sha256(index / "index.faiss"), (index / "manifest.json").read_text()) == before

    ask = start_rag("ask", "--json", "Where does Professor Carley teach?", corpus=corpus, index=index)
    out, err = ask.communicate()
    assert ask.returncode == 0, err
    assert b"building the index" not in err  # the intact old index is used as it is
    assert "University of Montreal" in json.loads(out)["answers"][0]["text"]


def blocked_on_flock(pids: set[int]) -> set[int]:
    """The processes among `pids` waiting for a flock, from the kernel's lock table."""
    waiting = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields and "FLOCK" in fields:
            waiting.add(int(fields[fields.index("FLOCK") + 3]))
    return waiting & pids


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux's /proc/locks to see waiting processes")
def test_two_index_runs_at_once_build_once_and_agree(tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    index.mkdir()
    (corpus / "harbour.md").write_text(
        "# Harbour Notes\n\nThe lighthouse keeper was Ada Quill.\n\nShe kept the lamp lit for forty years.\n",
        encoding="utf-8")
    # Hold the build lock so both runs find no index and queue up on the lock: a real race, every time.
    with open(index / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        runs = [start_rag("index", corpus=corpus, index=index) for _ in range(2)]
        pids = {run.pid for run in runs}
        deadline = time.monotonic() + GUARD_SECONDS
        while blocked_on_flock(pids) != pids:
            assert all(run.poll() is None for run in runs), "a run ended without waiting for the lock"
            assert time.monotonic() < deadline, "the runs never reached the lock"
            time.sleep(0.2)
        fcntl.flock(lock, fcntl.LOCK_UN)
    results = [run.communicate() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in results]
    builders = [err for _, err in results if b"building the index (no index yet)" in err]
    assert len(builders) == 1
    assert b"\r" not in builders[0]  # notices only: no progress bars in a log or a pipe
    assert results[0][0] == results[1][0]  # both report the same index, built at the same time
    assert results[0][0].startswith(b"index ready: 3 passages")
    assert sorted(p.name for p in index.iterdir()) == [".lock", "index.faiss", "manifest.json", "query-encoder.onnx"]

    notices = []
    engine = rag.load(corpus, index_dir=index, notice=notices.append)
    assert notices == []  # valid as built: loaded, not rebuilt
    assert "Ada Quill" in engine.ask("Who kept the lighthouse?").answers[0].text
