"""ruff's security rules (bandit's checks, `S`) over the shipped code: clean, or each exception justified in place."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO

SCAN = [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "S", "--output-format", "concise"]


def test_the_shipped_code_passes_the_security_scan():
    done = subprocess.run([*SCAN, "rag", "embeddings", "ui"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_scan_does_flag_insecure_code(tmp_path):
    """The scan above is only worth something if these rules are live."""
    bad = tmp_path / "bad.py"
    bad.write_text("import subprocess\n\nsubprocess.call(input(), shell=True)\nexec(input())\n", encoding="utf-8")
    done = subprocess.run([*SCAN, str(bad)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "S602" in done.stdout and "S102" in done.stdout
