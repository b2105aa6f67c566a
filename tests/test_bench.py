"""`rag bench --quick`: the real measurements, small, end to end."""

from __future__ import annotations

import json


def test_bench_quick_prints_its_table_and_writes_its_figures(run_rag, tmp_path):
    done = run_rag("bench", "--quick", "--out", str(tmp_path), timeout=900)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    out = done.stdout.decode()
    for heading in ("cold start", 'python -c "import sentence_transformers"', "rag ask, built index",
                    "warm, 8 questions", "ratio ask / floor (p50)", "index build, 32 texts", "scale: synthetic",
                    "IVF recall@10"):
        assert heading in out, heading
    figures = json.loads((tmp_path / "bench.json").read_text())
    cold = figures["cold_start"]
    assert cold["rag ask"]["wall_s"] > 0 and cold["rag ask"]["peak_mb"] > 50
    assert cold["rag serve"] == {"skipped": "not measured with --quick"}
    assert figures["warm"]["ask_ms"]["p50"] > 0 and figures["warm"]["ratio_p50"] > 0
    assert figures["build"]["texts"] == 32
    (row,) = figures["scale"]["sizes"]
    assert row["size"] == 300 and row["passages"] == 300 and row["index_type"] == "IndexFlatIP"
    assert row["recall@10"] == 1.0 and row["serve_peak_mb"] > 50  # a flat index is exact: it recalls everything
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
