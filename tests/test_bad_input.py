"""Bad input through the API and the real `rag` command: one clear message, never a traceback."""

from __future__ import annotations

import json

import pytest

from rag import QuestionError
from rag.config import MAX_REQUEST_BYTES


@pytest.mark.parametrize("question, history, k, message", [
    ("a\0b", [], 3, "contains a NUL byte"),
    ("colour \x1b[31mred", [], 3, r"control character \(U\+001B\)"),
    ("bell\x07?", [], 3, r"control character \(U\+0007\)"),
    ("next\x85line", [], 3, r"control character \(U\+0085\)"),
    ("bad \udcff byte", [], 3, "not valid text: it holds invalid UTF-8 or a lone surrogate"),
    ("\ud800", [], 3, "not valid text"),
    ("?", [], 3, "the question has no words"),
    ("😀🔥👍🏽 ?!", [], 3, "the question has no words"),
    ("\u200b\u200f?", [], 3, "the question has no words"),  # only invisible format characters
    ("<b></b>", [], 3, "the question has no words"),  # only markup, which is not searched
    ("<script>alert(1)</script>", [], 3, "the question has no words"),
    ({"text": "Who?"}, [], 3, "must be text, not an object"),
    (True, [], 3, "must be text, not true"),
    (None, [], 3, "must be text, not null"),
    (["a list"], [], 3, "must be text, not a list"),
    ("ok?", {"Who was Litvinov?": 1}, 3, "history must be a list"),
    ("ok?", 7, 3, "history must be a list"),
    ("ok?", [None], 3, "history must be a list"),
    ("ok?", ["fine", "x\0"], 3, r"an earlier question \(history\) contains a NUL byte"),
    ("ok?", ["\udc80"], 3, r"an earlier question \(history\) is not valid text"),
    ("ok?", [], 2.0, "k must be a whole number"),
    ("ok?", [], float("nan"), "k must be a whole number"),
    ("ok?", [], 10**6, "k must be a whole number from 1 to 20"),
    ("ok?", [], True, "k must be a whole number"),
])
def test_the_api_refuses_bad_input_with_a_plain_message(engine, question, history, k, message):
    with pytest.raises(QuestionError, match=message):
        engine.ask(question, history=history, k=k)


@pytest.mark.parametrize("question", [
    "Qui était Litvinov ?",
    "Кто такой Литвинов?",
    "מי היה ליטבינוב?",  # right to left
    "ما هو الأمن الجماعي؟",
    "李维诺夫是谁",
    "Stalin 🤝 Litvinov?",
    "tab\tand\nnewline\u00a0and nbsp?",
    "1939?",
])
def test_any_language_or_symbol_is_answered_or_abstained(engine, question):
    result = engine.ask(question)
    assert result.question == question.strip()
    assert isinstance(result.abstained, bool) and len(result.answers) == 3
    json.dumps(result.to_dict())  # serialisable as the Result JSON


@pytest.mark.parametrize("args, code, message", [
    (["ask", ""], 2, "rag: error: the question is empty"),
    (["ask", " \t\n "], 2, "rag: error: the question is empty"),
    (["ask", "x" * 2001], 2, "rag: error: the question is 2001 characters long; the limit is 2000"),
    (["ask", "a\x01b"], 2, "rag: error: the question contains a control character (U+0001)"),
    (["ask", "colour \x1b[31mred?"], 2, "rag: error: the question contains a control character (U+001B)"),
    (["ask", b"caf\xe9 au lait?"], 2, "rag: error: the question is not valid text: it holds invalid UTF-8"),
    (["ask", "--history", b"\xff\xfe", "and then?"], 2, "rag: error: an earlier question (history) is not valid"),
    (["ask", "--k", "0", "hi"], 2, "rag ask: error: argument --k: must be from 1 to 20, not 0"),
    (["ask", "--k", "-1", "hi"], 2, "rag ask: error: argument --k: must be from 1 to 20, not -1"),
    (["ask", "--k", "1000000", "hi"], 2, "rag ask: error: argument --k: must be from 1 to 20, not 1000000"),
    (["ask", "--k", "abc", "hi"], 2, "rag ask: error: argument --k: must be a whole number, not 'abc'"),
    (["ask", "--k", "2.5", "hi"], 2, "rag ask: error: argument --k: must be a whole number, not '2.5'"),
    (["ask", "--k"], 2, "rag ask: error: argument --k: expected one argument"),
    (["serve", "--port", "99999"], 2, "rag serve: error: argument --port: must be from 1 to 65535, not 99999"),
    (["serve", "--port", "abc"], 2, "rag serve: error: argument --port: must be a whole number, not 'abc'"),
    (["ask", "--bogus", "hi"], 2, "rag ask: error: unrecognized arguments: --bogus"),
    (["--bogus"], 2, "rag: error: unrecognized arguments: --bogus"),
    (["ask", "--jsonl", "a question too"], 2, "rag ask: error: --jsonl reads questions from stdin"),
    (["ask"], 2, "rag ask: error: give a question"),
    (["ask", "--history", "Who was Litvinov?"], 2, "rag ask: error: give a question"),
    (["ask", "who", "was", "Litvinov"], 2, "rag ask: error: unrecognized arguments: was Litvinov; put the whole "
                                          "question in quotes: rag ask 'who was Litvinov'"),
    (["frobnicate"], 2, "rag: error: argument COMMAND: invalid choice: 'frobnicate'"),
])
def test_cli_bad_input_is_one_line_and_a_usage_exit(run_rag, args, code, message):
    done = run_rag(*args)
    err = done.stderr.decode()
    assert done.returncode == code, err
    assert err.startswith(message) and err.count("\n") == 1, err
    assert done.stdout == b""


def test_jsonl_answers_good_lines_in_order_around_every_kind_of_bad_one(run_rag):
    lines = [
        (b"\xef\xbb\xbf" + json.dumps({"id": 1, "question": "Who made the poster?"}).encode(), "Koretsky"),  # a BOM
        (b"\xff\xfe{\"question\": \"x\"}", "line 2: not UTF-8 text (byte 0)"),
        (bytes(range(256)).replace(b"\n", b""), "line 3: not UTF-8 text"),
        (b'{"id": 4, "question": "a\\u0000b"}', "line 4: the question contains a NUL byte"),
        (b'{"id": 5, "question": "a\\u001bb"}', "line 5: the question contains a control character (U+001B)"),
        (b'{"id": 6, "question": "\\ud800 lone"}', "line 6: the question is not valid text"),
        (b'{"id": 7, "question": 42}', "line 7: the question must be text, not a number"),
        (b'{"id": 8, "question": ["a"]}', "line 8: the question must be text, not a list"),
        (b'{"id": 9, "question": null}', "line 9: the question must be text, not null"),
        (b'{"id": 10, "question": "ok?", "history": "Who was Litvinov?"}', "line 10: history must be a list"),
        (b'{"id": 11, "question": "ok?", "history": [1, 2]}', "line 11: history must be a list"),
        (b'{"id": 12, "question": "ok?", "history": {"a": "b"}}', "line 12: history must be a list"),
        (b'{"id": 13, "question": "ok?", "k": "3"}', 'line 13: k must be a whole number from 1 to 20, not "3"'),
        (b'{"id": 14, "question": "ok?", "k": true}', "line 14: k must be a whole number from 1 to 20, not true"),
        (b'{"id": 15, "question": "ok?", "k": 2.5}', "line 15: k must be a whole number"),
        (b'{"id": 16, "question": "ok?", "k": 1000000}', "line 16: k must be a whole number from 1 to 20"),
        (b'{"id": 17, "question": "ok?", "k": NaN}', "line 17: k must be a whole number"),
        (b"[" * 100_000, "line 18: not JSON this program can read"),
        (b'{"question": "ok?", "k": ' + b"9" * 5000 + b"}", "line 19: not JSON this program can read"),
        (b'"just a string"', "line 20: each line must be a JSON object"),
        (b'{"id": 21}', 'line 21: no "question" key'),
        (json.dumps({"question": "x" * (MAX_REQUEST_BYTES + 10)}).encode(), "line 22: longer than 1 MiB; skipped"),
        (json.dumps({"id": "\udc80", "question": "Who was Litvinov?"}).encode(), "Litvinov"),
        (json.dumps({"id": 24, "question": "מי היה ליטבינוב?"}, ensure_ascii=False).encode(), None),
        (json.dumps({"id": 25, "question": "😀🔥 ?"}, ensure_ascii=False).encode(), "line 25: the question has no words"),
        (json.dumps({"id": 26, "question": "Where does Professor Carley teach?", "k": 1}).encode(), "Montreal"),
    ]
    done = run_rag("ask", "--jsonl", stdin=b"\n".join(raw for raw, _ in lines) + b"\n")
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
    assert len(out) == len(lines)
    for number, ((raw, expected), result) in enumerate(zip(lines, out), start=1):
        if expected is None or not expected.startswith("line "):
            assert "error" not in result, (number, result)
            assert expected is None or expected in result["answers"][0]["text"], (number, result)
        else:
            assert result["error"].startswith(expected), (number, result)
    assert [o.get("id") for o in out[3:17]] == list(range(4, 18))  # a bad line still echoes its id
    assert out[22]["id"] == "\udc80" and len(out[25]["answers"]) == 1


def test_a_corpus_with_nothing_to_answer_from_is_refused_not_indexed_empty(run_rag, tmp_path):
    (tmp_path / "title.md").write_text("# Only a Title\n\n**Host (H):** Any questions?\n", encoding="utf-8")
    done = run_rag("index", env={"RAG_CORPUS_DIR": str(tmp_path), "RAG_INDEX_DIR": str(tmp_path / "index")})
    assert done.returncode == 1
    assert done.stderr.decode() == "rag: error: nothing to index: no passage in the corpus can be an answer\n"
    assert not (tmp_path / "index").exists()
