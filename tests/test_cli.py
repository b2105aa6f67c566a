"""The real `rag` command end to end: text, JSON, JSON lines, and one-line errors."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest


def test_ask_prints_cited_passages(run_rag):
    done = run_rag("ask", "Where does Professor Carley teach?")
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert out.startswith("[1] Carley interview · Introduction ¶")
    assert "University of Montreal" in out


def test_ask_json_puts_montreal_first(run_rag):
    done = run_rag("ask", "--json", "Where does Professor Carley teach?")
    result = json.loads(done.stdout)
    assert "University of Montreal" in result["answers"][0]["text"]
    assert result["answers"][0]["citation"]["section"] == "introduction"
    assert len(result["answers"]) == 3


def test_jsonl_answers_each_line_in_order_and_reports_bad_ones(run_rag):
    lines = [
        json.dumps({"id": "a", "question": "Who made the poster?", "extra": 1}),
        "this is not json",
        json.dumps({"id": "b", "question": "  "}),
        json.dumps({"id": "c", "question": "how did stalin get along with him?", "history": ["Who was Litvinov?"]}),
    ]
    done = run_rag("ask", "--jsonl", "--k", "2", stdin="\n".join(lines) + "\n")
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [o.get("id") for o in out] == ["a", None, "b", "c"]
    assert "Koretsky" in out[0]["answers"][0]["text"] and len(out[0]["answers"]) == 2
    assert out[1]["error"].startswith("line 2: not JSON")
    assert "empty" in out[2]["error"]
    assert "Litvinov" in out[3]["query"]


def test_unreadable_corpus_is_one_line(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "RAG_CORPUS_DIR": str(tmp_path / "missing"), "RAG_INDEX_DIR": str(tmp_path / "i")}
    done = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "hello?"], capture_output=True, env=env)
    assert done.returncode == 1
    assert done.stderr.decode().strip() == f"rag: error: corpus folder {tmp_path / 'missing'} does not exist"


def test_a_refusal_is_printed_as_a_sentence_then_the_closest_passages(run_rag):
    from rag.engine import CLOSEST

    done = run_rag("ask", "What is the capital of Australia?")
    assert done.returncode == 0, done.stderr
    refusal = "The interview does not answer this question."
    assert done.stdout.decode().startswith(f"{refusal}\n{CLOSEST}:\n\n[1] Carley interview · ")


def test_an_answer_that_may_miss_is_printed_under_its_warning(engine):
    from rag.cli import format_result

    result = engine.ask("How many divisions could the Red Army mobilise at once?")
    sure = dataclasses.replace(result, abstained=False, unsure=False, reason="")
    assert format_result(sure).startswith("[1] Carley interview · ")
    unsure = dataclasses.replace(sure, unsure=True, reason=engine.unsure)
    assert format_result(unsure) == f"{engine.unsure}\n\n{format_result(sure)}"


def test_printed_passages_break_only_at_spaces_and_mark_the_answer_in_bold_on_a_terminal(engine):
    """"build-up" must not print as "build-" and "up" on two lines: a copied passage stays verbatim."""
    from rag.cli import BOLD, PLAIN, format_result, wrapped

    for passage in engine.passages:
        assert " ".join(line[4:] for line in wrapped(passage.text, [], 30)) == passage.text
    result = engine.ask("How many divisions could the Red Army mobilise at once?")
    top = result.answers[0]
    answer = " ".join(top.text[start:end] for start, end in top.highlights)
    printed = format_result(result, bold=True)
    marked = " ".join(part.split(PLAIN)[0] for part in printed.split(BOLD)[1:])
    assert "100 divisions" in answer and "100 divisions" in " ".join(marked.split())
    assert BOLD not in format_result(result)  # piped output stays plain text


@pytest.mark.parametrize(("environment", "bold"), [({"TERM": "xterm"}, True), ({"TERM": "dumb"}, False),
                                                    ({"TERM": "xterm", "NO_COLOR": "1"}, False)])
def test_bold_only_on_a_terminal_that_shows_it_and_not_when_plain_output_is_asked_for(index_dir, engine,
                                                                                     environment, bold):
    """`rag ask` on a terminal (a pseudo-terminal here): bold, unless TERM=dumb or NO_COLOR is set."""
    import pty
    import subprocess
    import sys

    from rag.cli import BOLD
    from tests.conftest import REPO, rag_env

    env = {name: value for name, value in rag_env(index_dir).items() if name != "NO_COLOR"} | environment
    controller, terminal = pty.openpty()
    try:
        subprocess.run([sys.executable, "-m", "rag.cli", "ask", "How many divisions could the Red Army mobilise at once?"],
                       stdout=terminal, stderr=subprocess.PIPE, env=env, cwd=REPO, timeout=120, check=True)
        os.close(terminal)
        printed = b""
        while chunk := _read(controller):
            printed += chunk
    finally:
        os.close(controller)
    assert b"100 divisions" in printed and (BOLD.encode() in printed) == bold


def _read(descriptor: int) -> bytes:
    try:
        return os.read(descriptor, 65536)
    except OSError:  # the terminal's other end is closed: all was read
        return b""
