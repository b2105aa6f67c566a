"""The page's HTML: quotes verbatim with highlights and citations, the source anchored, everything escaped."""

from __future__ import annotations

import dataclasses
import re
from html import unescape
from html.parser import HTMLParser

import pytest

from rag.engine import CLOSEST
from rag.text import normalise
from ui import render


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text, of an HTML fragment."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str) -> list[dict]:
        return [attrs for name, attrs in self.tags if name == tag]


def inner(html: str, tag: str) -> list[str]:
    """The unescaped text inside each <tag>…</tag> (tags stripped), in order."""
    return [unescape(re.sub(r"<[^>]+>", "", m)) for m in re.findall(rf"<{tag}\b[^>]*>(.*?)</{tag}>", html, re.S)]


@pytest.fixture(scope="module")
def names(engine):
    return render.source_names(engine.corpus.documents)


def test_best_passage_is_quoted_verbatim_with_its_answering_sentence_marked(engine, names):
    result = engine.ask("Where does Professor Carley teach?")
    html = render.reply(result, names)
    best = result.answers[0]
    quotes = inner(html, "blockquote")
    assert quotes[0] == best.text  # verbatim: escaping and marks change nothing a reader sees
    assert len(quotes) == len(result.answers)
    marks = inner(html.split("</blockquote>")[0], "mark")
    assert marks and all(mark in best.text for mark in marks)
    assert any("University of Montreal" in mark for mark in marks)
    assert html.index("<details") > html.index("</blockquote>")  # the others come after, collapsed
    assert "2 more passages" in html


def test_citation_names_speaker_question_section_and_paragraph(engine, names):
    result = engine.ask("What was the role of Britain and France?")
    answer = next(a for a in result.answers if a.citation.speaker)
    html = render.citation_html(answer.citation, answer.passage_id, names[answer.citation.doc])
    text = unescape(re.sub(r"<[^>]+>", "", html))
    assert answer.citation.speaker in text
    assert f"Question {answer.citation.section[1:]}, ¶{answer.citation.paragraph}" in text
    assert f"“{answer.citation.question}”" in text
    link = Elements(html).all("a")[0]
    target = render.anchor(answer.passage_id)
    assert (link["href"], link["data-anchor"]) == ("#" + target, target)


def test_abstention_says_so_and_marks_passages_as_closest_not_answers(engine, names):
    result = engine.ask("What is the boiling point of mercury in kelvin?")
    result = dataclasses.replace(result, abstained=True, reason="The interview does not answer this question.")
    html = render.reply(result, names)
    assert inner(html, "p")[0] == "The interview does not answer this question."
    assert f"<summary>{CLOSEST}: {len(result.answers)}</summary>" in html
    assert "<mark>" not in html  # nothing is presented as the answering sentence
    assert len(inner(html, "blockquote")) == len(result.answers) > 0
    assert render.reply(dataclasses.replace(result, answers=[]), names).count("<blockquote") == 0


def test_an_answer_that_may_miss_says_so_above_the_quote(engine, names):
    result = engine.ask("How many divisions could the Red Army mobilise at once?")
    result = dataclasses.replace(result, abstained=False, unsure=False, reason="")
    sure = render.reply(result, names)
    assert 'data-unsure="false"' in sure and 'class="unsure"' not in sure
    html = render.reply(dataclasses.replace(result, unsure=True, reason=engine.unsure), names)
    assert 'data-unsure="true"' in html and 'data-abstained="false"' in html
    assert inner(html, "p")[0] == "The interview may not answer this question; here is what comes closest."
    assert html.index('class="unsure"') < html.index("<blockquote") and "<mark>" in html  # still the best quote


def test_user_text_and_corpus_text_are_escaped(engine, names):
    attack = '<script>window.__pwned=1</script><img src=x onerror="alert(1)"> **bold** [x](javascript:alert(1))'
    html = render.conversation([render.Turn(attack, render.reply(engine.ask("Who was Litvinov?"), names))])
    parsed = Elements(html)
    assert not parsed.all("script") and not parsed.all("img") and not parsed.all("strong")
    assert attack in "".join(parsed.text)
    source = render.source(engine.corpus.documents)
    assert '"appeasement,"' not in source and "&quot;appeasement,&quot;" in source


def test_marks_join_neighbouring_sentences_and_ignore_spans_outside_the_text():
    text = "One <a>. Two & two. Three."
    assert render.marked(text, [(9, 19), (0, 8)]) == "<mark>One &lt;a&gt;. Two &amp; two.</mark> Three."
    assert render.marked(text, [(20, 99), (-5, 3)]) == "<mark>One</mark> &lt;a&gt;. Two &amp; two. <mark>Three.</mark>"
    assert render.marked(text, []) == "One &lt;a&gt;. Two &amp; two. Three."


def test_source_view_is_the_whole_interview_with_every_passage_anchored(engine):
    document = engine.corpus.documents[0]
    html = render.source([document])
    ids = [attrs["id"] for _, attrs in Elements(html).tags if "id" in attrs]
    anchors = [render.anchor(p.id) for p in document.passages]
    assert ids == anchors and len(set(anchors)) == len(anchors)
    assert all(re.fullmatch(r"p-[A-Za-z0-9_-]+", a) for a in anchors)
    text = normalise(unescape(re.sub(r"<[^>]+>", " ", html)))
    assert normalise(document.canonical) in text  # every word of the interview, in order
    assert "Of Collective Security: An Interview with Michael Jabara Carley" in text
    assert "The Postil, 1 December 2022" in text


def test_conversation_starts_with_a_hint_and_keeps_turns_in_order(engine, names):
    assert "pick an example below" in render.empty_conversation(True)
    assert "example" not in render.empty_conversation(False)
    turns = [render.Turn(q, render.reply(engine.ask(q), names)) for q in ("Who was Litvinov?", "why?")]
    html = render.conversation(turns)
    assert re.findall(r'class="asked-by-user">([^<]*)<', html) == ["Who was Litvinov?", "why?"]
    assert html.count('class="reply') == 2


def test_a_documents_headings_are_shown_as_headings():
    from rag.corpus import parse_document

    doc = parse_document("notes", "# Notes\n\nFirst words of the notes.\n\n## Part Two of the notes\n\nMore words.\n", {})
    html = render.source([doc])
    assert re.search(r'<h2 [^>]*class="passage role-title"[^>]*>Notes</h2>', html)
    assert re.search(r'<h3 [^>]*class="passage role-heading"[^>]*>Part Two of the notes</h3>', html)


def test_the_page_is_titled_after_its_corpus(engine):
    from rag.corpus import Corpus, parse_document
    from ui.app import page_title

    notes = parse_document("notes", "# Railway notes\n\nSteam lasted long in Britain.\n", {})
    assert page_title(engine.corpus) == ("Ask the Carley interview", "the interview's")
    assert page_title(Corpus([notes])) == ("Ask the Railway notes", "the document's")
    art = parse_document("art", "# The Art of Lighthouse Keeping\n\nKeep the lamp lit all night.\n", {})
    assert page_title(Corpus([art]))[0] == "Ask The Art of Lighthouse Keeping"  # not "Ask the The Art..."
    assert page_title(Corpus([*engine.corpus.documents, notes])) == ("Ask the documents", "the documents'")


def test_the_announcement_is_the_refusal_or_where_the_answer_stands_and_what_it_says(engine):
    answered = engine.ask("How many divisions could the Red Army mobilise at once?")
    best = answered.answers[0]
    said = render.announcement(answered)
    assert said.startswith(f"{best.citation.label}: ") and "the Red Army could at once mobilise 100 divisions" in said
    warned = dataclasses.replace(answered, unsure=True, reason=engine.unsure)
    assert render.announcement(warned).startswith(f"{engine.unsure} {best.citation.label}: ")
    assert render.announcement(engine.ask("What is the capital of Australia?")) == engine.not_answered


def test_examples_the_engine_would_refuse_are_not_offered_and_a_notice_says_why(capsys):
    from rag.corpus import Corpus, parse_document
    from ui.app import offered_examples

    examples = ["???", "x" * 3000, "Who was Litvinov?", "Who  was   Litvinov?", "Why?"]
    doc = parse_document("notes", "# Notes\n\nLitvinov was the Soviet foreign commissar.\n", {"examples": examples})
    assert offered_examples(Corpus([doc])) == ["Who was Litvinov?", "Why?"]  # spacing aside, one question
    notices = capsys.readouterr().err.splitlines()
    assert notices == ["rag: the example '???' is not offered: the question has no words: ask it in words",
                       f"rag: the example '{'x' * 60}' is not offered: the question is 3000 characters long; "
                       "the limit is 2000"]
