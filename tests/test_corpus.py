"""The interview parsed into cited passages: structure, joins, offsets, the verbatim contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag.corpus import CorpusError, parse_document, read_corpus
from rag.text import normalise, sentence_spans

from .conftest import CORPUS, SOURCE


@pytest.fixture(scope="module")
def doc():
    return read_corpus(CORPUS).documents[0]


def by_role(doc, role):
    return [p for p in doc.passages if p.role == role]


def test_metadata_comes_from_the_sidecar(doc):
    assert doc.title == "Of Collective Security: An Interview with Michael Jabara Carley"
    assert (doc.publication, doc.date, doc.short_title) == ("The Postil", "2022-12-01", "Carley interview")


def test_seventeen_questions_each_followed_by_its_answer(doc):
    questions = by_role(doc, "question")
    assert [q.citation.section for q in questions] == [f"Q{n}" for n in range(1, 18)]
    for question in questions:
        answers = [p for p in by_role(doc, "answer") if p.citation.section == question.citation.section]
        assert answers, question.citation.section
        assert all(a.citation.question == question.text for a in answers)
        assert all(a.citation.speaker == "Michael Jabara Carley" for a in answers)
        assert question.citation.speaker == "The Postil"


def test_question_text_and_answer_pairing_are_the_sources(doc):
    q10 = next(p for p in doc.passages if p.id.endswith(":Q10:answer:1"))
    assert q10.citation.question.startswith("What was the role of Britain and France in this regard?")
    assert q10.text.startswith("The answer to this question is complicated")


def test_introduction_closing_caption_credit_title_byline(doc):
    assert [p.citation.paragraph for p in by_role(doc, "introduction")] == [1, 2, 3]
    assert by_role(doc, "introduction")[2].text.endswith("discuss his work with him in this interview.")
    assert by_role(doc, "title")[0].text == "OF COLLECTIVE SECURITY: AN INTERVIEW WITH MICHAEL JABARA CARLEY"
    assert by_role(doc, "byline")[0].text == "Posted on December 1, 2022 by Michael Jabara Carley"
    assert [p.text for p in by_role(doc, "closing")] == ["Professor Carley, thank you so much for your time."]
    assert [p.text for p in by_role(doc, "caption")] == ["Michael J. Carley."]
    assert by_role(doc, "credit")[0].text == 'Featured: "Europe will be Free!" Poster by Viktor Koretsky, 1944.'


@pytest.mark.parametrize("before, after", [
    ("great and lesser European", "powers and the United States."),
    ("which made you", "rethink your position(s)?"),
    ("For", "numerous European conservatives"),
    ("most of the time", "until 1939"),
    ("to", "sabotage"),
    ("against Nazi", "Germany even in August 1939."),
])
def test_paragraphs_broken_mid_sentence_are_joined(doc, before, after):
    joined = f"{before} {after}"
    holders = [p for p in doc.passages if joined in p.text]
    assert len(holders) == 1, joined
    assert not any(p.text.startswith(after) for p in doc.passages)


def test_offsets_slice_the_canonical_text_exactly(doc):
    for passage in doc.passages:
        c = passage.citation
        assert doc.canonical[c.start:c.end] == passage.text
        for start, end in passage.sentences:
            assert passage.text[start:end].strip() == passage.text[start:end] != ""


def test_markup_is_dropped_and_words_kept(doc):
    intro2 = by_role(doc, "introduction")[1]
    assert intro2.text.startswith("He is the author of 1939: The Alliance That Never Was and the Coming of World War II,")
    assert not re.search(r"[*\\]|\]\(", doc.canonical)
    assert "Velikaia Otechestvennaia voina" in doc.canonical


def test_every_passage_is_verbatim_source_text(doc):
    source = normalise(SOURCE.read_text(encoding="utf-8"))
    for passage in doc.passages:
        assert normalise(passage.text) in source, passage.id


def test_labels_name_speaker_question_and_paragraph(doc):
    labels = {p.id: p.citation.label for p in doc.passages}
    assert labels["carley-interview-2022:introduction:introduction:1"] == "Carley interview · Introduction ¶1"
    assert labels["carley-interview-2022:Q10:answer:1"] == 'Carley interview · Q10 "What was the role of Britain and France in…" · MJC ¶1'
    assert labels["carley-interview-2022:Q12:answer:2"].endswith("· MJC ¶2")
    assert labels["carley-interview-2022:closing:closing:1"] == "Carley interview · Closing · TP"


def test_ids_are_unique_and_stable_across_parses(doc):
    again = read_corpus(CORPUS).documents[0]
    assert [p.id for p in doc.passages] == [p.id for p in again.passages]
    assert len({p.id for p in doc.passages}) == len(doc.passages)


def test_a_plain_document_gets_headings_and_paragraphs():
    raw = ("# A Title\n\nFirst paragraph of the\n\nbody goes on here.\n\n## Part Two of the notes\n\n"
           "Second part text.\n")
    doc = parse_document("notes", raw, {})
    assert doc.title == "A Title"
    assert [(p.text, p.answerable) for p in doc.passages if p.role == "heading"] == [("Part Two of the notes", False)]
    body = [p for p in doc.passages if p.role == "paragraph"]
    assert [(p.citation.section, p.text) for p in body] == [
        ("body", "First paragraph of the body goes on here."), ("Part Two of the notes", "Second part text.")]
    assert body[1].citation.label == "A Title · Part Two of the notes ¶1"


def test_a_plain_documents_headings_label_its_paragraphs_as_written():
    """A heading "Q1" was labelled as an interview question (with empty quotes, shown as "Question 1"), and
    a heading's capitals were lowered on the page ("The ussr and nato")."""
    from ui.render import place

    doc = parse_document("notes", "# Notes\n\nFirst words here.\n\n# Q1\n\nWords under Q1 here.\n\n"
                                  "# the USSR and NATO\n\nWords about the USSR here.\n", {})
    paragraphs = [p.citation for p in doc.passages if p.role == "paragraph"]
    assert [c.label for c in paragraphs] == ["Notes · Body ¶1", "Notes · Q1 ¶1", "Notes · The USSR and NATO ¶1"]
    assert [place(c) for c in paragraphs] == ["Body, ¶1", "Q1, ¶1", "The USSR and NATO, ¶1"]
    talk = parse_document("talk", "**AA:** Why?\n\n**BB:** Because it was cheap.\n\n## Q1\n\n"
                                  "**BB:** And then it was not.\n", {"short_title": "talk"})
    answers = [p.citation for p in talk.passages if p.role == "answer"]
    assert [c.label for c in answers] == ['talk · Q1 "Why?" · BB ¶1', "talk · Q1 ¶2"]
    assert [place(c) for c in answers] == ["Question 1, ¶1", "Q1, ¶2"]


def test_a_new_interview_dropped_into_the_corpus_folder_is_read(tmp_path):
    (tmp_path / "a.txt").write_text(SOURCE.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "b.md").write_text(
        "# Talk\n\n**Host Person (HP):** Why?\n\n**Guest Name (GN):** Because it rained.\n\n**HP:** Thanks.\n",
        encoding="utf-8")
    (tmp_path / "b.meta.json").write_text(json.dumps({"short_title": "Talk"}), encoding="utf-8")
    corpus = read_corpus(tmp_path)
    talk = corpus.documents[1]
    assert [d.id for d in corpus.documents] == ["a", "b"]
    answer = next(p for p in talk.passages if p.role == "answer")
    assert (answer.citation.speaker, answer.citation.question, answer.citation.label) == (
        "Guest Name", "Why?", 'Talk · Q1 "Why?" · GN ¶1')


def test_unusable_files_are_skipped_with_a_reason(tmp_path):
    (tmp_path / "good.txt").write_text("Plain words in a sentence.", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (tmp_path / "binary.md").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    corpus = read_corpus(tmp_path)
    assert [d.id for d in corpus.documents] == ["good"]
    notices = " | ".join(corpus.notices)
    assert "latin1.txt: not UTF-8" in notices and "binary.md: binary" in notices and "empty.txt: no text" in notices


def test_a_missing_or_empty_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        read_corpus(tmp_path / "nope")
    with pytest.raises(CorpusError, match="no usable document"):
        read_corpus(tmp_path)
    (tmp_path / "a.txt").write_text("Plain words in a sentence.", encoding="utf-8")
    with pytest.raises(CorpusError, match=f"^the corpus folder {tmp_path / 'a.txt'} is a file: set RAG_CORPUS_DIR"):
        read_corpus(tmp_path / "a.txt")


def test_sentences_split_at_ends_but_not_at_initials():
    text = "In the 1930s his interlocutor was Maksim M. Litvinov, the narkom. See vol. 1 of it. Why? Because."
    parts = [text[s:e] for s, e in sentence_spans(text)]
    assert parts == ["In the 1930s his interlocutor was Maksim M. Litvinov, the narkom.", "See vol. 1 of it.",
                     "Why?", "Because."]


def test_more_unusable_files_are_skipped_each_with_its_reason(tmp_path):
    (tmp_path / "good.md").write_text("Plain words in a sentence.", encoding="utf-8")
    (tmp_path / "utf16.txt").write_text("Plain words.", encoding="utf-16")
    (tmp_path / "blank.txt").write_text(" \n\n\t\n", encoding="utf-8")
    (tmp_path / "markup.md").write_text("**\n\n---\n\n\\*\\*", encoding="utf-8")
    (tmp_path / "badmeta.txt").write_text("Words here.", encoding="utf-8")
    (tmp_path / "badmeta.meta.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "listmeta.txt").write_text("Words here.", encoding="utf-8")
    (tmp_path / "listmeta.meta.json").write_text('["a"]', encoding="utf-8")
    (tmp_path / "speakers.txt").write_text("Words here.", encoding="utf-8")
    (tmp_path / "speakers.meta.json").write_text('{"speakers": ["TP"]}', encoding="utf-8")
    (tmp_path / "folder.txt").mkdir()
    corpus = read_corpus(tmp_path)
    assert [d.id for d in corpus.documents] == ["good"]
    assert sorted(corpus.notices) == [
        "skipped badmeta.txt: badmeta.meta.json is not valid JSON (Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1))",
        "skipped blank.txt: no text in it",
        "skipped listmeta.txt: listmeta.meta.json must hold a JSON object",
        "skipped markup.md: no text in it",
        'skipped speakers.txt: speakers.meta.json: "speakers" must map initials to names, like {"TP": "The Postil"}',
        "skipped utf16.txt: UTF-16 text: save it as UTF-8",
    ]


def test_example_questions_that_are_not_questions_are_left_out_with_a_notice_and_the_document_kept(tmp_path):
    """A slip in a page hint once dropped the whole document from the answers."""
    for name, examples in (("a", "Who was Litvinov?"), ("b", ["Why?", "", 3, "  How?  "]), ("c", ["Why?", "Who? "]),
                           ("d", None)):
        (tmp_path / f"{name}.txt").write_text("Plain words in a sentence.", encoding="utf-8")
        (tmp_path / f"{name}.meta.json").write_text(json.dumps({"examples": examples}), encoding="utf-8")
    corpus = read_corpus(tmp_path)
    assert [(d.id, d.examples) for d in corpus.documents] == [("a", ()), ("b", ("Why?", "How?")),
                                                              ("c", ("Why?", "Who?")), ("d", ())]
    assert corpus.notices == [
        'a.meta.json: "examples" must be a list of questions, like ["Who was Litvinov?"]: none are offered',
        'b.meta.json: "examples" holds entries that are not questions (empty, or not text): they are left out']
    assert corpus.examples == ["Why?", "How?", "Who?"]  # each document in turn, each question once
    assert parse_document("d", "Plain words.", {"examples": "Who?"}).examples == ()


def test_an_interviewer_who_never_speaks_is_noticed_and_the_first_speaker_taken(tmp_path, doc):
    """A slip in "interviewer" once made every turn an answer, the interviewer's questions quoted as answers."""
    meta = json.loads((CORPUS / "carley-interview-2022.meta.json").read_text(encoding="utf-8"))
    for given, notice in (("XX", 'carley.meta.json: "interviewer" "XX" never speaks here: the first speaker, TP, '
                                 "is taken"), ("The Postil", None), ("TP", None), (" TP ", None), ("the postil", None)):
        (tmp_path / "carley.txt").write_text(SOURCE.read_text(encoding="utf-8"), encoding="utf-8")
        (tmp_path / "carley.meta.json").write_text(json.dumps({**meta, "interviewer": given}), encoding="utf-8")
        corpus = read_corpus(tmp_path)
        assert corpus.notices == ([notice] if notice else [])
        (read,) = corpus.documents
        assert [p.citation.label for p in read.passages] == [p.citation.label for p in doc.passages]


def test_two_files_of_one_name_are_not_two_documents_of_one_id(tmp_path):
    """smith.txt and smith.md both became document "smith", sharing smith.meta.json: citations could not be
    told apart."""
    (tmp_path / "smith.md").write_text("Plain words in one file.", encoding="utf-8")
    (tmp_path / "smith.txt").write_text("Other words in another file.", encoding="utf-8")
    corpus = read_corpus(tmp_path)
    assert [(d.id, Path(d.path).name) for d in corpus.documents] == [("smith", "smith.md")]
    assert corpus.notices == ["skipped smith.txt: another document is named smith (rename one)"]


def test_a_corpus_of_only_unusable_files_is_an_error_naming_each(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "empty.md").write_text("", encoding="utf-8")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    with pytest.raises(CorpusError) as error:
        read_corpus(tmp_path)
    assert str(error.value) == (f"no usable document in {tmp_path} (skipped empty.md: no text in it; "
                                "skipped latin1.txt: not UTF-8 text (byte 3))")


def test_a_huge_file_is_skipped_unread_and_the_rest_still_indexed(tmp_path):
    """100 MB of real text: refused by its size alone, with a notice; the good file is still read."""
    (tmp_path / "good.txt").write_text("The treaty was signed in 1934.", encoding="utf-8")
    line = ("All work and no play makes a long file. " * 25 + "\n\n").encode()
    with (tmp_path / "huge.txt").open("wb") as handle:
        for _ in range(100 * 2**20 // len(line) + 1):
            handle.write(line)
    corpus = read_corpus(tmp_path)
    assert [d.id for d in corpus.documents] == ["good"]
    assert corpus.notices == ["skipped huge.txt: 100 MiB is over the 20 MiB limit"]


def test_a_file_with_no_structure_at_all_is_one_exact_passage(tmp_path):
    words = " ".join(f"w{n}" for n in range(5000))  # no blank line, no heading, no sentence end
    (tmp_path / "flat.txt").write_text(words, encoding="utf-8")
    doc = read_corpus(tmp_path).documents[0]
    assert [(p.role, p.citation.section, p.text) for p in doc.passages] == [("paragraph", "body", words)]
    assert doc.passages[0].sentences == ((0, len(words)),)


@pytest.mark.parametrize("raw, texts", [
    ("# *", []),  # a heading with no words makes no empty passage
    ("Intro text.\n\n## \\*\n\nMore text.", ["Intro text.", "More text."]),
    ("[A\n\nB](c)", ["[A", "B](c)"]),  # link syntax never spans a paragraph break
    ("see [Silent\nConflict](#) here", ["see Silent Conflict here"]),  # but may wrap a line
    ("a broken line\n\n---\n\nand its end", ["a broken line", "and its end"]),  # no join across a rule
    ("**TP:** a broken line\n\n**MJC:**\n\nand its end", ["a broken line", "and its end"]),  # nor an empty turn
])
def test_parser_edge_cases_found_by_fuzzing(raw, texts):
    doc = parse_document("d", raw, {})
    assert [p.text for p in doc.passages] == texts
    for passage in doc.passages:
        assert normalise(passage.text) in normalise(raw)


@pytest.mark.parametrize("raw", [
    "." * 200_000,  # was quadratic in the sentence splitter
    "[" * 200_000,  # was quadratic in the link pattern
    "[a](" * 50_000,
    "and it goes on\n\n" * 20_000,  # was quadratic in mending broken paragraphs
])
def test_pathological_text_parses_in_linear_time(raw):
    """No timing assertion: before the fix each of these took minutes; now the suite just runs on."""
    doc = parse_document("d", raw, {})
    assert "".join(p.text for p in doc.passages).replace(" ", "") == normalise(raw).replace(" ", "")
