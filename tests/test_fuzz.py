"""Property-based tests: any text parses into exact, verbatim passages; any question gets a Result or a QuestionError.

Example counts are modest so the suite stays fast; hypothesis keeps the failures it finds in
.hypothesis/ and replays them first on the next run.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rag import QuestionError, Result
from rag.corpus import parse_document
from rag.text import normalise

# Any character at all (surrogates and controls included), and the pieces of structure the parser
# reacts to, so generated documents have speakers, headings, rules, links and broken sentences.
ANY_CHAR = st.characters(exclude_categories=())
STRUCTURE = ["**TP:** ", "**The Postil (TP):** ", "**MJC:** ", "**A:**", "# ", "## ", "\n\n", "\n", " \n \n", " ",
             "*", "**", "\\", "[", "](", ")", "](#)", "---", "***", ".", "?", "…", '"', "”", "Word", "word", "Mr.",
             "A.", "1939", "\u00a0", "\r", "\t", "\u200f", "😀"]
DOCUMENTS = st.lists(st.one_of(st.sampled_from(STRUCTURE), st.text(ANY_CHAR, max_size=6)), max_size=60).map("".join)
SPEAKERS = st.fixed_dictionaries({}, optional={"speakers": st.dictionaries(st.text(max_size=4), st.text(max_size=8)),
                                               "interviewer": st.text(max_size=4), "title": st.text(max_size=8)})


@settings(max_examples=400, deadline=None)
@given(DOCUMENTS, SPEAKERS)
@example("[**TP:** ]([**The Postil (TP):** ](#)", {})  # dropping one link revealed another
@example("words [open\n\nclosing](x) here", {})  # a join must not make a link the source never had
@example("0[\n***\n**TP:** ](#)", {})  # a line markup leaves empty must not read as a paragraph break
@example("0[\n[](x)\nTP:](#)", {})
def test_any_text_parses_into_exact_verbatim_passages(raw, meta):
    doc = parse_document("d", raw, meta)
    source = normalise(raw)
    ids = [p.id for p in doc.passages]
    assert len(set(ids)) == len(ids)
    for passage in doc.passages:
        c = passage.citation
        assert doc.canonical[c.start:c.end] == passage.text
        assert passage.text and passage.text == passage.text.strip()
        assert normalise(passage.text) in source
        for start, end in passage.sentences:
            assert 0 <= start < end <= len(passage.text)
            assert passage.text[start:end].strip() == passage.text[start:end]


QUESTIONS = st.one_of(
    st.text(ANY_CHAR, max_size=200),
    st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=200),
    st.sampled_from(["Who was Litvinov?", "Where does Professor Carley teach?", "Why?"]).flatmap(
        lambda q: st.tuples(st.just(q), st.text(ANY_CHAR, max_size=8)).map("".join)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=QUESTIONS, history=st.lists(st.text(ANY_CHAR, max_size=40), max_size=2), k=st.integers(1, 5))
def test_any_question_gets_a_result_or_a_plain_error(engine, question, history, k):
    try:
        result = engine.ask(question, history=history, k=k)
    except QuestionError as error:
        assert str(error) and "\n" not in str(error)
        return
    assert isinstance(result, Result) and result.question == question.strip()
    assert len(result.answers) == k and isinstance(result.abstained, bool)
    for answer in result.answers:
        (passage,) = [p for p in engine.passages if p.id == answer.passage_id]
        assert answer.text == passage.text and answer.citation == passage.citation
        assert all(0 <= s < e <= len(answer.text) for s, e in answer.highlights)
    json.dumps(result.to_dict())
