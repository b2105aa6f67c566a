"""The kind of answer a question asks for, and which sentences hold one."""

from __future__ import annotations

import numpy as np
import pytest

from rag import answer_type, ranking
from rag.answer_type import DATE, NUMBER


@pytest.mark.parametrize(("query", "kinds"), [
    ("When did the Spanish civil war break out?", (DATE,)),
    ("What year did Mussolini come to power?", (DATE,)),
    ("In which month and year did Poland sign the pact?", (DATE,)),
    ("and until when did it keep doing that?", (DATE,)),
    ("How many divisions could the Red Army mobilise?", (NUMBER,)),
    ("how old is he", (NUMBER,)),
    ("For how long did the USSR fight alone?", (NUMBER, DATE)),
    ("Why did London shy away, even when war seemed unavoidable?", ()),  # "when" that does not open the clause
    ("Who was Litvinov?", ()),
    ("", ()),
    ("???", ()),
])
def test_the_kind_of_answer_asked_for(query, kinds):
    assert answer_type.asked_for(query) == kinds


def test_a_question_of_several_clauses_is_typed_by_its_last():
    assert answer_type.asked_for("brits only had like 2 divisions?? how many did the soviets have") == (NUMBER,)
    assert answer_type.asked_for("When did the Soviets switch policy? and who was its spokesman?") == ()


def test_a_follow_up_is_typed_by_its_own_words_not_the_earlier_question_searched_with_it(engine):
    query = "and who was its spokesman? When did the Soviets switch to collective security?"
    assert not engine.retrieval.signals(query).sentence_answer_type.all()  # typed by the "When" clause
    assert engine.retrieval.signals(query, "and who was its spokesman?").sentence_answer_type.all()


def test_sentences_hold_an_answer_only_with_a_number_or_date_the_question_lacks():
    sentences = ["In January 1934 Poland signed a pact with Germany.", "Stalin remained a communist.",
                 "The war lasted from 1941 to 1943.", "Some 27 million Soviet citizens died."]
    tokens = [answer_type.found(s) for s in sentences]
    assert answer_type.holding(tokens, "When did Poland sign the pact?").tolist() == [True, False, True, False]
    # 1934 is a number too; 1941 and 1943 are the question's own.
    assert answer_type.holding(tokens, "How many died between 1941 and 1943?").tolist() == [True, False, False, True]
    assert answer_type.holding(tokens, "What did Stalin believe?").all()  # no kind asked: nothing to miss


def test_the_abstainer_sees_whether_the_best_sentence_holds_the_date_asked_for(engine):
    def best_sentence_holds(question: str) -> float:
        signals = engine.retrieval.signals(question)
        scores = ranking.scores(signals, engine.retrieval.answerable, "full")
        ranked = [int(i) for i in np.argsort(-scores)[:3]]
        return ranking.query_features(signals, ranked, scores)[0, ranking.QUERY_FEATURES.index(
            "top_sentence_answer_type")]

    assert best_sentence_holds("When did the Spanish civil war break out?") == 1.0  # "in July 1936"
    assert best_sentence_holds("When did Stalin die?") == 0.0  # much on Stalin, nothing on his death
