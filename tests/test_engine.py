"""Engine.ask over the real corpus and index: right passages, cited, in the Result JSON shape."""

from __future__ import annotations

import json

import pytest

from rag import QuestionError
from rag.text import normalise

from .conftest import SOURCE


def test_where_does_carley_teach(engine):
    result = engine.ask("Where does Professor Carley teach?")
    top = result.answers[0]
    assert "University of Montreal" in top.text
    assert top.citation.label.startswith("Carley interview · Introduction ¶")
    assert not result.abstained


@pytest.mark.parametrize("question, words", [
    ("In which month and year did Poland sign a non-aggression pact with Germany?", "In January 1934 Poland signed"),
    ("Who made the poster at the end?", "Viktor Koretsky"),
    ("What is Carley's opinion of the Normandy landings?", "anticlimax"),
])
def test_plain_questions_find_the_passage_that_answers(engine, question, words):
    assert any(words in a.text for a in engine.ask(question).answers)


def test_result_json_has_the_documented_shape(engine):
    data = json.loads(json.dumps(engine.ask("Who was Litvinov?", k=2).to_dict()))
    assert set(data) >= {"question", "abstained", "answers"}
    assert data["question"] == "Who was Litvinov?" and isinstance(data["abstained"], bool)
    assert len(data["answers"]) == 2
    source = normalise(SOURCE.read_text(encoding="utf-8"))
    for answer in data["answers"]:
        assert set(answer) >= {"text", "score", "highlights", "citation"}
        assert set(answer["citation"]) >= {"doc", "title", "speaker", "section", "question", "paragraph", "start",
                                           "end", "label"}
        assert normalise(answer["text"]) in source
        for start, end in answer["highlights"]:
            assert 0 <= start < end <= len(answer["text"])


def test_answers_are_ranked_and_never_interviewer_questions(engine):
    result = engine.ask("Did the Soviets see a war coming?", k=5)
    scores = [a.score for a in result.answers]
    assert scores == sorted(scores, reverse=True)
    assert all(a.citation.speaker != "The Postil" or a.citation.section == "closing" for a in result.answers)


def test_only_the_last_ten_earlier_questions_are_kept_each_cut_at_the_question_limit():
    from rag.config import MAX_HISTORY, MAX_QUESTION_CHARS
    from rag.engine import validate

    history = [f"question {n}?" for n in range(15)] + ["why " * 1000]
    question, kept = validate("  and then?  ", history, 3)
    assert question == "and then?" and len(kept) == MAX_HISTORY == 10
    assert kept[:-1] == history[-MAX_HISTORY:-1] and kept[-1] == history[-1][:MAX_QUESTION_CHARS]


@pytest.mark.parametrize("question, k, history, message", [
    ("", 3, [], "empty"),
    ("   \n", 3, [], "empty"),
    ("x" * 2001, 3, [], "limit is 2000"),
    (42, 3, [], "must be text"),
    ("ok?", 0, [], "k must be"),
    ("ok?", 21, [], "k must be"),
    ("ok?", "3", [], "k must be"),
    ("ok?", 3, "not a list", "history must be a list"),
    ("ok?", 3, [1, 2], "history must be a list"),
])
def test_bad_input_is_a_clear_error(engine, question, k, history, message):
    with pytest.raises(QuestionError, match=message):
        engine.ask(question, history=history, k=k)
