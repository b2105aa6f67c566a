"""The kind of answer a question asks for, and which sentences hold one."""

from __future__ import annotations

import numpy as np
import pytest

from rag import answer_type, ranking
from rag.answer_type import DATE, NUMBER


@pytest.mark.parametrize(("question", "kinds"), [
    ("When was the Anglo-Soviet treaty signed?", (DATE,)),
    ("In what year did Hitler become chancellor?", (DATE,)),
    ("In which month and year did France sign?", (DATE,)),
    ("and since when has that been the case?", (DATE,)),
    ("Who drew the poster, and when?", (DATE,)),
    ("where and when was it said?", (DATE,)),
    ("When did the U.S. recognise the USSR?", (DATE,)),  # the abbreviation does not end the clause
    ("When did Litvinov leave office? Thanks!", (DATE,)),  # the last clause that asks decides
    ("How many tanks did the Red Army have?", (NUMBER,)),
    ("how old was Molotov then", (NUMBER,)),
    ("How much aid went to Spain?", (NUMBER,)),
    ("How long did the talks last?", (NUMBER, DATE)),
    ("How much did Chamberlain trust Stalin?", ()),  # a degree, not an amount
    ("Why did Paris hesitate, even when war was near?", ()),  # this "when" does not ask
    ("When Moscow sounded the alarm, how did the west read it?", ()),  # nor this one: "how" asks
    ("And when Hitler took power, what did Moscow do?", ()),
    ("When Hitler took power, when did Moscow change course?", (DATE,)),
    ("When did Stalin die, and why?", (DATE,)),  # "when did": this "when" asks
    ("When did the Soviets change course? and who led that?", ()),  # the last asking clause decides
    ("Who was Litvinov?", ()),
    ("", ()),
    ("???", ()),
])
def test_the_kind_of_answer_asked_for(question, kinds):
    assert answer_type.asked_for(question) == kinds


@pytest.mark.parametrize(("sentence", "number", "date"), [
    ("In the 1930s Moscow sought allies.", False, True),
    ("Talks began in the spring of 1939 and failed.", False, True),
    ("The Winter War ended in a hard peace.", False, False),  # a war, not a season
    ("It may be that March weather delayed them.", False, False),  # a verb and a month without a day
    ("On 15 March 1939 Germany took Prague.", True, True),
    ("Some 1,500 aircraft and twelve divisions took part.", True, False),
    ("No one expected it.", False, False),  # "one" as a pronoun
])
def test_numbers_and_dates_in_a_sentence(sentence, number, date):
    tokens = answer_type.answer_tokens(sentence)
    assert (bool(tokens[NUMBER]), bool(tokens[DATE])) == (number, date)


def test_a_sentence_holds_an_answer_only_with_a_number_or_date_the_query_lacks():
    sentences = ["In January 1934 Poland signed a pact with Germany.", "Stalin remained a communist.",
                 "The war lasted from 1941 to 1943.", "Some 1,500 aircraft took part."]
    tokens = [answer_type.answer_tokens(s) for s in sentences]

    def held(question: str, query: str | None = None) -> list[bool]:
        asked = answer_type.asked(question, query or question)
        return [asked.held_by(t) for t in tokens]

    assert held("When did Poland sign the pact?") == [True, False, True, False]
    assert held("What happened between 1941 and 1943? and when did it start?") == [True, False, False, False]
    assert held("How many planes flew? Was it 1,500?") == [False, False, False, False]  # a year is not a count
    assert held("What did Stalin believe?") == [True, True, True, True]  # nothing asked for, nothing missed


def test_a_follow_up_is_typed_by_its_own_words_and_searched_before_the_earlier_question(engine):
    signals = engine.retrieval.signals("and who led it?", ["When did the Soviets switch to collective security?"])
    assert signals.query == "and who led it? When did the Soviets switch to collective security?"
    assert signals.asked == answer_type.NOTHING  # the "When" is the earlier question's


def test_the_abstainer_sees_whether_the_best_sentence_or_the_next_holds_the_date_asked_for(engine):
    def best_sentence_holds(question: str) -> float:
        signals = engine.retrieval.signals(question)
        scores = ranking.scores(signals, engine.retrieval.answerable, "full")
        features = ranking.query_features(signals, int(np.argmax(scores)), ranking.load_models().highlighting)
        return features[0, ranking.QUERY_FEATURES.index("best_sentence_or_next_holds_answer")]

    assert best_sentence_holds("When did civil war break out in Spain?") == 1.0  # "in July 1936"
    assert best_sentence_holds("When did Stalin die?") == 0.0  # much on Stalin, nothing on his death
