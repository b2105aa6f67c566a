"""`rag eval`: metrics on hand-made rankings (through the real ranx path), the input checks, the outputs."""

from __future__ import annotations

import json
import math

import pytest

from rag.eval_report import format_table
from rag.evaluate import Item, Judge, Outcome, figures_by_retriever, read_items
from rag.records import Answer, Citation, Passage, Result


def citation() -> Citation:
    return Citation(doc="d", title="T", speaker="", section="s", question=None, paragraph=1, start=0, end=1,
                    label="T · s ¶1")


def result(ranking: list[str], abstained: bool = False, top_text: str = "x", highlight=(0, 1),
           unsure: bool = False) -> Result:
    answers = [Answer(text=top_text if rank == 0 else "x", score=1.0 - rank / 10, highlights=[highlight],
                      citation=citation(), passage_id=pid) for rank, pid in enumerate(ranking)]
    return Result(question="q", abstained=abstained, answers=answers, unsure=unsure)


def outcome(line: int, kind: str, expected: tuple[str, ...], relevant: set[str], res: Result) -> Outcome:
    item = Item(line=line, id=f"q{line}", question="q", expected=expected, kind=kind)
    return Outcome(item, "full", res, seconds=line / 1000, relevant=frozenset(relevant),
                   span=Judge.span_hit(item, res))


def hand_made() -> list[Outcome]:
    """Six questions with known rankings: four answerable, two not."""
    return [
        # relevant first, and its highlighted sentence holds the expected words
        outcome(1, "a", ("in 1934",), {"p1"}, result(["p1", "p2", "p3"], top_text="Signed in 1934. Then.",
                                                     highlight=(0, 15))),
        # relevant third; wrongly abstained
        outcome(2, "a", ("e",), {"p2"}, result(["p1", "p3", "p2"], abstained=True)),
        # two relevant passages, at ranks 2 and 4; answered with a warning
        outcome(3, "b", ("e",), {"p1", "p3"}, result(["p2", "p1", "p4", "p3"], unsure=True)),
        # relevant sixth: outside hit@5
        outcome(4, "b", ("e",), {"p5"}, result(["p1", "p2", "p3", "p4", "p6", "p5"])),
        outcome(5, "none", (), set(), result(["p1"], abstained=True)),
        outcome(6, "none", (), set(), result(["p1"], unsure=True)),
    ]


def test_metrics_on_known_rankings_are_exact():
    report = figures_by_retriever({"full": hand_made()})
    figures = report["full"]
    ndcg = [1.0, 1 / math.log2(4), (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)), 1 / math.log2(7)]
    assert (figures["questions"], figures["answerable"], figures["unanswerable"]) == (6, 4, 2)
    assert figures["hit@1"] == 0.25
    assert figures["hit@3"] == 0.75
    assert figures["hit@5"] == 0.75
    assert figures["mrr@10"] == pytest.approx((1 + 1 / 3 + 1 / 2 + 1 / 6) / 4, abs=1e-12)
    assert figures["ndcg@10"] == pytest.approx(sum(ndcg) / 4, abs=1e-6)
    assert figures["span@1"] == 0.25
    assert figures["abstained_unanswerable"] == 0.5
    assert figures["abstained_answerable"] == 0.25
    assert figures["abstained_or_unsure_unanswerable"] == 1.0
    assert figures["abstained_or_unsure_answerable"] == 0.5
    assert figures["hit_curve"] == [0.25, 0.5, 0.75, 0.75, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert figures["latency_ms"] == {"p50": 3.5, "p95": 5.75}
    kinds = figures["by_kind"]
    assert list(kinds) == ["a", "b", "none"]
    assert kinds["a"]["hit@1"] == 0.5 and kinds["a"]["abstained_answerable"] == 0.5
    assert kinds["b"]["mrr@10"] == pytest.approx((1 / 2 + 1 / 6) / 2, abs=1e-12)
    assert kinds["none"]["hit@1"] is None and kinds["none"]["abstained_unanswerable"] == 0.5


def test_the_table_shows_every_retriever_and_kind():
    outcomes = hand_made()
    report = figures_by_retriever({"full": outcomes, "bm25": outcomes})
    table = format_table("set.jsonl", report, (1, 3))
    assert table.startswith("set.jsonl: 6 questions (4 answerable, 2 unanswerable)")
    header = table.splitlines()[2].split()
    assert header == ["full", "bm25"]
    assert any(line.split()[:3] == ["hit@1", "0.250", "0.250"] for line in table.splitlines())
    assert "none (2)" in table and "abstained by kind" in table
    block = next(b for b in table.split("\n\n") if b.startswith("abstained or unsure by kind"))
    shares = next(line.split() for line in block.splitlines() if line.startswith("b (2)"))
    assert shares[2:] == ["0.500", "0.500"]  # one of kind b's two questions was answered with a warning
    assert format_table("set.jsonl", report, (1,)).count("hit@1 by kind") == 1  # --k 1: not shown twice


def test_relevance_compares_normalised_text():
    passages = [Passage(id=f"p{i}", text=text, role=role, citation=citation()) for i, (text, role) in enumerate([
        ("It was   published by the University of Toronto Press.", "answer"),
        ("Stalin's Gamble will be published by the University of Toronto Press?", "question"),  # never returned
        ("Nothing to see.", "answer"),
    ])]
    item = Item(line=1, id=1, question="q", expected=("*published* by the\nUniversity of [Toronto](#) Press",),
                kind="k")
    assert Judge(passages).relevant(item) == {"p0"}


def test_malformed_lines_are_reported_with_their_numbers(tmp_path):
    lines = [
        json.dumps({"id": "ok", "question": "Who was Litvinov?", "expected": ["Litvinov"], "kind": "keyword"}),
        "{not json",
        "",
        json.dumps(["a list"]),
        json.dumps({"id": "x", "expected": []}),
        json.dumps({"question": "Why?", "expected": "Litvinov"}),
        json.dumps({"question": "   ", "expected": []}),
        json.dumps({"question": "Why?", "expected": [], "history": "not a list"}),
        json.dumps({"question": "Who?", "expected": [], "kind": "follow", "history": ["Who was Litvinov?"]}),
        json.dumps({"id": "ok", "question": "Who?", "expected": [], "kind": None}),
        json.dumps({"question": "Who?", "expected": [], "kind": 3}),
    ]
    path = tmp_path / "set.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n\xff\xfe\n")  # a BOM, as Notepad saves
    items, skipped = read_items(path)
    assert [(i.line, i.id, i.answerable) for i in items] == [(1, "ok", True), (9, 9, False), (10, "ok", False)]
    assert items[1].history == ("Who was Litvinov?",) and items[1].kind == "follow" and items[2].kind == "other"
    assert [str(s) for s in skipped] == [
        "line 2: not JSON (Expecting property name enclosed in double quotes)",
        'line 4: each line must be a JSON object like {"question": ..., "expected": [...]}',
        'line 5: no "question" key',
        'line 6: "expected" must be a list of non-empty strings ([] when the interview does not answer)',
        "line 7: the question is empty: type a question",
        "line 8: history must be a list of earlier questions (strings)",
        'line 11: "kind" must be text',
        "line 12: not UTF-8 text",
    ]


def test_eval_command_json_results_and_report(run_rag, tmp_path):
    lines = [
        json.dumps({"id": "teach", "question": "Where does Professor Carley teach?",
                    "expected": ["University of Montreal"], "kind": "bio"}),
        "this line is broken",
        json.dumps({"id": "hike", "question": "Can you recommend a hiking trail near Montreal?", "expected": [],
                    "kind": "unanswerable"}),
        json.dumps({"id": "ghost", "question": "What about the moon landing?", "expected": ["Apollo 11 landed"],
                    "kind": "bio"}),
    ]
    source = tmp_path / "set.jsonl"
    source.write_text("\n".join(lines) + "\n")
    results, report_dir = tmp_path / "out" / "results.jsonl", tmp_path / "report"
    done = run_rag("eval", str(source), "--retriever", "bm25", "full", "--json", "--results", str(results),
                   "--report", str(report_dir), timeout=300)
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert "skipped line 2: not JSON" in err
    assert "line 4 (ghost): no passage contains its expected text" in err

    figures = json.loads(done.stdout)
    assert list(figures) == ["bm25", "full"]
    for name in figures:
        assert set(figures[name]) >= {"hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10", "span@1", "latency_ms",
                                      "abstained_unanswerable", "abstained_answerable", "by_kind", "hit_curve",
                                      "abstained_or_unsure_unanswerable", "abstained_or_unsure_answerable"}
        assert figures[name]["questions"] == 3 and figures[name]["answerable"] == 2
        assert figures[name]["hit@5"] == 0.5  # Montreal found, the ghost can only miss
        assert list(figures[name]["by_kind"]) == ["bio", "unanswerable"]

    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(r.get("id"), r.get("line"), r.get("retriever")) for r in records] == [
        ("teach", 1, "bm25"), ("teach", 1, "full"), (None, None, None), ("hike", 3, "bm25"), ("hike", 3, "full"),
        ("ghost", 4, "bm25"), ("ghost", 4, "full")]
    assert records[2] == {"error": "line 2: not JSON (Expecting value)"}
    teach = records[1]
    assert set(teach) >= {"question", "abstained", "answers", "query", "reason", "unsure", "confidence",
                          "relevant_ranks", "span@1"}
    assert 0 < teach["confidence"] <= 1 and records[0]["confidence"] is None  # bm25 does not judge
    assert len(teach["answers"]) == 10 and teach["relevant_ranks"]
    assert "University of Montreal" in teach["answers"][teach["relevant_ranks"][0] - 1]["text"]

    report = (report_dir / "report.md").read_text()
    assert "| hit@1 |" in report and "| teach | bio |" in report and "line 2: not JSON" in report
    assert (report_dir / "hit_at_k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, code, message", [
    (["eval", "missing.jsonl"], 1, "rag: error: cannot read missing.jsonl: No such file or directory"),
    (["eval", "x.jsonl", "--retriever", "bm42"], 2, "unknown retriever 'bm42'"),
    (["eval", "x.jsonl", "--k", "11"], 2, "--k cut-offs must be from 1 to 10"),
])
def test_eval_errors_are_one_line(run_rag, args, code, message):
    done = run_rag(*args)
    err = done.stderr.decode().strip()
    assert done.returncode == code and len(err.splitlines()) == 1 and message in err, err


def test_unwritable_outputs_are_refused_before_the_run(run_rag, tmp_path):
    """A report folder that is a file once failed with a raw errno after the whole evaluation."""
    questions = tmp_path / "set.jsonl"
    questions.write_text(json.dumps({"question": "Who was Litvinov?", "expected": ["Litvinov"]}) + "\n")
    in_the_way = tmp_path / "afile"
    in_the_way.write_text("hi")
    for option, path, message in [("--report", in_the_way, f"the report into {in_the_way}: a file is in the way"),
                                  ("--results", tmp_path, f"the results to {tmp_path}: Is a directory")]:
        done = run_rag("eval", str(questions), option, str(path))
        assert done.returncode == 1 and done.stderr.decode() == f"rag: error: cannot write {message}\n"
        assert done.stdout == b""  # refused before any question was answered


def test_results_are_never_written_over_the_question_file(run_rag, tmp_path):
    """`--results` naming the question file once replaced the user's questions with the results."""
    questions = tmp_path / "set.jsonl"
    kept = json.dumps({"question": "Who was Litvinov?", "expected": ["Litvinov"]}) + "\n"
    questions.write_text(kept)
    (tmp_path / "link.jsonl").symlink_to(questions)
    (tmp_path / "hard.jsonl").hardlink_to(questions)
    for path in (str(questions), f"{tmp_path}/../{tmp_path.name}/set.jsonl", str(tmp_path / "link.jsonl"),
                 str(tmp_path / "hard.jsonl")):
        done = run_rag("eval", str(questions), "--results", path)
        assert done.returncode == 1 and done.stdout == b""
        assert done.stderr.decode() == f"rag: error: --results would write {path} over the question file\n"
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").write_text(kept)
    done = run_rag("eval", str(report / "report.md"), "--report", str(report))
    assert done.returncode == 1 and "rag: error: --report would write" in done.stderr.decode()
    assert questions.read_text() == (report / "report.md").read_text() == kept


def test_a_set_whose_expected_text_no_passage_holds_is_scored_as_misses(run_rag, tmp_path):
    """Straight quotes where the interview has curly ones: every answerable question unjudgeable once stopped
    the run with a raw ValueError and no figures."""
    questions = tmp_path / "set.jsonl"
    questions.write_text(json.dumps({"question": "Who was Kotkin?", "expected": ['he was a "human being."']}) + "\n")
    done = run_rag("eval", str(questions), "--json")
    assert done.returncode == 0, done.stderr
    assert "line 1 (1): no passage contains its expected text; it counts as a miss" in done.stderr.decode()
    figures = json.loads(done.stdout)["full"]
    assert (figures["hit@1"], figures["hit@5"], figures["mrr@10"]) == (0.0, 0.0, 0.0)


def test_an_id_used_twice_is_named_and_both_questions_are_scored(run_rag, tmp_path):
    questions = tmp_path / "set.jsonl"
    questions.write_text("".join(json.dumps({"id": "a", "question": q, "expected": ["Litvinov"]}) + "\n"
                                 for q in ("Who was Litvinov?", "Who was Stalin's foreign commissar?")))
    done = run_rag("eval", str(questions), "--json")
    assert done.returncode == 0 and 'rag eval: id "a" is on lines 1, 2' in done.stderr.decode()
    assert json.loads(done.stdout)["full"]["answerable"] == 2
