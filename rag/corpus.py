"""Read `corpus/` and parse each document into cited passages.

Any `.txt` or `.md` file is a document; its metadata sits beside it in
`<name>.meta.json` (title, short_title, publication, date, speakers, interviewer,
examples), all optional. A document whose paragraphs open with bold speaker labels
(`**The Postil (TP):**`, then `**TP:**`) is read as an interview: introduction,
question/answer pairs, closing. Any other is read as headings and paragraphs.

The canonical text of a document is its source with markdown markup dropped and
paragraphs that the source broke mid-sentence joined back; passages are exact
slices of it, so `canonical[start:end] == passage.text` always holds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

from .records import Citation, Document, Passage
from .text import BLANK_LINE, sentence_spans, strip_markup

SUFFIXES = {".txt", ".md"}
MAX_FILE_BYTES = 20 * 1024 * 1024  # a bigger file is skipped: embedding it would take hours here
BLANK_LINES = re.compile(BLANK_LINE + r"\s*")
SPEAKER_TURN = re.compile(r"^\*\*(?P<name>[^*\n]{1,80}?):\*\*\s*(?P<text>.*)$", re.S)
NAME_WITH_CODE = re.compile(r"^(?P<full>.+?)\s*\((?P<code>[^()]+)\)$")
RULE = re.compile(r"^(-{3,}|\*{3,}|_{3,})$")
HEADING = re.compile(r"^#{1,6}\s+(?P<text>.+)$", re.S)
ASIDE = re.compile(r"^\*[^*].*[^*]\*$|^\*[^*]\*$", re.S)  # a paragraph wholly in italics
SENTENCE_CLOSED = re.compile(r"[.!?…:;\"'”’)\]]$")
LONG_PARAGRAPH_WORDS = 20


class CorpusError(Exception):
    """The corpus cannot be used at all (missing folder, no readable document)."""


@dataclass
class Corpus:
    documents: list[Document]
    notices: list[str] = field(default_factory=list)  # one per file left out, or metadata partly unusable

    @property
    def passages(self) -> list[Passage]:
        return [p for doc in self.documents for p in doc.passages]

    @property
    def several(self) -> bool:
        return len(self.documents) != 1

    @property
    def name(self) -> str:
        """How sentences about the corpus call it: "the interview", "the document" or, once others have joined
        it in the folder, "the documents"."""
        if self.several:
            return "the documents"
        return "the interview" if self.documents[0].spoken else "the document"

    @property
    def examples(self) -> list[str]:
        """The documents' example questions, taken in turn (each document's first, then each one's second...),
        so that the first few offered come from several documents; each once."""
        in_turn = zip_longest(*(doc.examples for doc in self.documents))
        return list(dict.fromkeys(q for questions in in_turn for q in questions if q is not None))


@dataclass
class Block:
    """One paragraph of the source, classified, before it becomes a Passage."""

    kind: str  # "heading", "turn", "aside", "prose"
    text: str  # markup dropped
    speaker: str = ""  # the label as written, for turns
    after_rule: bool = False
    after_gap: bool = False  # a dropped paragraph (a rule, a heading or turn with no words) came just before


def read_corpus(corpus_dir: Path) -> Corpus:
    """Parse every document in `corpus_dir`; unreadable files are skipped with a notice."""
    if corpus_dir.is_file():
        raise CorpusError(f"the corpus folder {corpus_dir} is a file: set RAG_CORPUS_DIR to the folder holding it")
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist")
    files = sorted(p for p in corpus_dir.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    corpus = Corpus(documents=[])
    for path in files:
        if any(document.id == path.stem for document in corpus.documents):  # its id, its meta.json: both taken
            corpus.notices.append(f"skipped {path.name}: another document is named {path.stem} (rename one)")
            continue
        try:
            raw, meta = _read_source(path)
            document = parse_document(path.stem, raw, meta, path=str(path))
        except (ValueError, OSError) as error:
            corpus.notices.append(f"skipped {path.name}: {error}")
            continue
        if not document.passages:
            corpus.notices.append(f"skipped {path.name}: no text in it")
            continue
        corpus.notices += [f"{path.with_suffix('.meta.json').name}: {notice}" for notice in document.notices]
        corpus.documents.append(document)
    if not corpus.documents:
        reasons = "; ".join(corpus.notices) or "no .txt or .md files"
        raise CorpusError(f"no usable document in {corpus_dir} ({reasons})")
    return corpus


def _read_source(path: Path) -> tuple[str, dict]:
    """The file's text and its sidecar metadata; ValueError says why it can't be used."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{size / 2**20:.0f} MiB is over the {MAX_FILE_BYTES // 2**20} MiB limit")
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError("UTF-16 text: save it as UTF-8")
    if b"\0" in data:
        raise ValueError("binary file (NUL bytes)")
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text (byte {error.start})") from None
    meta_path = path.with_suffix(".meta.json")
    meta: dict = {}
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{meta_path.name} is not valid JSON ({error})") from None
        if not isinstance(meta, dict):
            raise ValueError(f"{meta_path.name} must hold a JSON object")
        if not isinstance(meta.get("speakers") or {}, dict):
            raise ValueError(f'{meta_path.name}: "speakers" must map initials to names, like {{"TP": "The Postil"}}')
    return raw.replace("\r\n", "\n").replace("\r", "\n"), meta


def parse_document(doc_id: str, raw: str, meta: dict, path: str = "") -> Document:
    """Turn one source text into a Document of cited passages."""
    blocks = _join_broken_paragraphs(_blocks(raw))
    speakers = {str(k): str(v) for k, v in (meta.get("speakers") or {}).items()}
    title = str(meta.get("title") or next((b.text for b in blocks if b.kind == "heading"), doc_id))
    short_title = str(meta.get("short_title") or title)
    builder = _Builder(doc_id, title, short_title)
    is_interview = any(b.kind == "turn" for b in blocks)

    turns = [i for i, b in enumerate(blocks) if b.kind == "turn"]
    codes = [_speaker_code(blocks[i].speaker, speakers) for i in turns]
    interviewer, interviewer_problem = _interviewer(meta.get("interviewer"), codes, speakers)
    examples, examples_problem = _example_questions(meta)
    answered = {turns[n] for n, code in enumerate(codes)
                if code == interviewer and n + 1 < len(codes) and codes[n + 1] != interviewer}

    section, question, speaker_code, turn_role, seen_body, q_number = "", None, "", "", False, 0
    for index, block in enumerate(blocks):
        if block.kind == "heading":
            if not builder.passages:
                builder.add(block.text, role="title", section="title")
            else:
                section, question, speaker_code = block.text, None, ""
                builder.add(block.text, role="heading", section=section)
        elif block.kind == "aside":
            role = "byline" if not seen_body else ("credit" if block.after_rule else "caption")
            builder.add(block.text, role=role, section=role)
        elif block.kind == "turn":
            seen_body = True
            speaker_code = _speaker_code(block.speaker, speakers)
            if speaker_code == interviewer and index in answered:
                q_number += 1
                section, question, turn_role = f"Q{q_number}", block.text, "question"
            elif speaker_code == interviewer:
                section, question, turn_role = "closing", None, "closing"
            else:
                section, turn_role = section or "introduction", "answer"
            builder.add(block.text, role=turn_role, section=section, speaker=speakers.get(speaker_code, speaker_code),
                        code=speaker_code, question=question if turn_role == "answer" else None,
                        prefix=block.speaker + ": ", label_question=question)
        elif speaker_code:  # prose continuing the current speaker's turn
            builder.add(block.text, role=turn_role, section=section, speaker=speakers.get(speaker_code, speaker_code),
                        code=speaker_code, question=question if turn_role == "answer" else None,
                        label_question=question)
        else:
            seen_body = True
            if is_interview or not section:
                role, sec = ("introduction", "introduction") if is_interview else ("paragraph", section or "body")
            else:
                role, sec = "paragraph", section
            builder.add(block.text, role=role, section=sec)

    return Document(id=doc_id, title=title, short_title=short_title, publication=str(meta.get("publication", "")),
                    date=str(meta.get("date", "")), path=path, canonical=builder.canonical(),
                    passages=tuple(builder.passages), examples=examples,
                    notices=tuple(filter(None, (interviewer_problem, examples_problem))))


def _interviewer(given: object, codes: list[str], speakers: dict[str, str]) -> tuple[str | None, str]:
    """The interviewer's code: the metadata's (a code or a full name) when someone speaks under it, else the
    first speaker; and what was wrong with the metadata's ("" when nothing was). A name that never speaks
    would make every turn an answer, the interviewer's questions included."""
    first = codes[0] if codes else None
    given = given.strip() if isinstance(given, str) else given
    if not given:
        return first, ""
    by_name = {name.casefold(): code for code, name in speakers.items()}
    code = given if given in codes else by_name.get(given.casefold()) if isinstance(given, str) else None
    if code in codes:
        return code, ""
    if not codes:
        return None, f'"interviewer" is {json.dumps(given)}, but nobody speaks in this document'
    return first, f'"interviewer" {json.dumps(given)} never speaks here: the first speaker, {first}, is taken'


def _example_questions(meta: dict) -> tuple[tuple[str, ...], str]:
    """The metadata's example questions, and what is wrong with what it gives ("" when nothing is). They only
    help a reader start, so a slip in them leaves them out, not the document."""
    given = meta.get("examples") or []
    if not isinstance(given, list):
        return (), '"examples" must be a list of questions, like ["Who was Litvinov?"]: none are offered'
    questions = tuple(" ".join(q.split()) for q in given if isinstance(q, str) and q.strip())
    if len(questions) < len(given):
        return questions, '"examples" holds entries that are not questions (empty, or not text): they are left out'
    return questions, ""


def _blocks(raw: str) -> list[Block]:
    """Split the source at blank lines and classify each paragraph; paragraphs with no words are dropped."""
    blocks: list[Block] = []
    after_rule = gap = False
    for chunk in BLANK_LINES.split(raw):
        chunk = chunk.strip()
        if not chunk:
            continue
        if RULE.match(chunk):
            after_rule = gap = True
            continue
        if heading := HEADING.match(chunk):
            block = Block("heading", _clean(heading.group("text")))
        elif turn := SPEAKER_TURN.match(chunk):
            block = Block("turn", _clean(turn.group("text")), speaker=_clean(turn.group("name")))
        elif ASIDE.match(chunk):
            block = Block("aside", _clean(chunk), after_rule=after_rule)
        else:
            block = Block("prose", _clean(chunk), after_rule=after_rule)
        if not block.text:
            gap = True
            continue
        block.after_gap, gap = gap, False
        blocks.append(block)
    return blocks


def _clean(text: str) -> str:
    """Markup dropped, lines inside a paragraph joined with single spaces."""
    return " ".join(strip_markup(text).split())


def _opens_bracket(text: str) -> bool:
    """A "[" left open: joining the next paragraph on could make a link the source never had."""
    return text.rfind("[") > text.rfind("]")


def _join_broken_paragraphs(blocks: list[Block]) -> list[Block]:
    """Mend paragraphs the source broke mid-sentence with blank lines.

    A paragraph that does not end a sentence continues into the next prose paragraph
    when that one starts in lower case, or when it is itself long (a short unclosed
    line is a heading-like label, not a broken sentence). Linear in the text: pieces
    are joined once at the end, so a file of many broken lines can't go quadratic.
    """
    joined: list[Block] = []
    pieces: list[list[str]] = []  # per joined block, the texts it is made of
    words: list[int] = []  # per joined block, its word count so far
    for block in blocks:
        if (block.kind == "prose" and joined and joined[-1].kind in {"prose", "turn"} and not block.after_gap
                and not SENTENCE_CLOSED.search(pieces[-1][-1][-1:])
                and not _opens_bracket(pieces[-1][-1])
                and (block.text[:1].islower() or words[-1] >= LONG_PARAGRAPH_WORDS)):
            pieces[-1].append(block.text)
            words[-1] += len(block.text.split())
        else:
            joined.append(block)
            pieces.append([block.text])
            words.append(len(block.text.split()))
    for block, texts in zip(joined, pieces):
        block.text = " ".join(texts)
    return joined


def _speaker_code(label: str, speakers: dict[str, str]) -> str:
    """'The Postil (TP)' registers TP -> The Postil and returns TP; 'TP' returns TP."""
    match = NAME_WITH_CODE.match(label)
    if match:
        speakers.setdefault(match.group("code"), match.group("full"))
        return match.group("code")
    return label


class _Builder:
    """Accumulates canonical text and passages with exact offsets and labels."""

    def __init__(self, doc_id: str, title: str, short_title: str):
        self.doc_id, self.title, self.short_title = doc_id, title, short_title
        self.parts: list[str] = []
        self.length = 0
        self.passages: list[Passage] = []
        self.counts: dict[tuple[str, str], int] = {}

    def add(self, text: str, *, role: str, section: str, speaker: str = "", code: str = "",
            question: str | None = None, prefix: str = "", label_question: str | None = None) -> None:
        if self.parts:
            self._append("\n\n")
        self._append(prefix)
        start = self.length
        self._append(text)
        paragraph = self.counts[(section, role)] = self.counts.get((section, role), 0) + 1
        citation = Citation(doc=self.doc_id, title=self.title, speaker=speaker, section=section, question=question,
                            paragraph=paragraph, start=start, end=self.length,
                            label=self._label(role, section, paragraph, code, label_question))
        passage_id = f"{self.doc_id}:{section}:{role}:{paragraph}"
        self.passages.append(Passage(id=passage_id, text=text, role=role, citation=citation,
                                     sentences=sentence_spans(text)))

    def _append(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def _label(self, role: str, section: str, paragraph: int, code: str, question: str | None) -> str:
        parts = [self.short_title]
        if question is not None and section.startswith("Q") and section[1:].isdigit():  # not a heading "Q1"
            parts.append(f'{section} "{_shorten(question or "")}"')
            parts.append(code if role == "question" else f"{code} ¶{paragraph}")
        elif role in {"title", "byline", "credit"}:
            parts.append(role.capitalize())
        elif role == "closing":
            parts.append(f"Closing · {code}" if code else "Closing")
        else:
            parts.append(f"{section[:1].upper()}{section[1:]} ¶{paragraph}")
        return " · ".join(parts)

    def canonical(self) -> str:
        return "".join(self.parts)


def _shorten(text: str, limit: int = 44) -> str:
    """The first words of a question, cut at a word boundary, for labels."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"
