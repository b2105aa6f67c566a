"""The records that flow through the system: one dataclass per idea.

A Document is parsed into Passages; each Passage knows its Citation. Answering a
question yields a Result holding Answers. `Result.to_dict()` is the one JSON shape
shared by the CLI, the HTTP API and the evaluation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Citation:
    """Where a passage stands in its document, precise enough to find it again."""

    doc: str
    title: str
    speaker: str  # full name, "" when nobody speaks (title, caption, plain prose)
    section: str  # "introduction", "Q1".."Qn", "closing", a heading, ...
    question: str | None  # the interviewer question this passage answers
    paragraph: int  # 1-based position within the section
    start: int  # character offsets into the document's canonical text
    end: int
    label: str  # human-readable, e.g. 'Carley interview · Q9 "What was…" · MJC ¶2'


@dataclass(frozen=True)
class Passage:
    """One paragraph of a document: the unit a reader is shown."""

    id: str  # stable: "<doc>:<section>:<role>:<paragraph>", survives rebuilds
    text: str  # == document.canonical[citation.start:citation.end]
    role: str  # "answer", "question", "introduction", "title", "byline", "caption", ...
    citation: Citation
    sentences: tuple[tuple[int, int], ...] = ()  # sentence spans, offsets into text

    @property
    def answerable(self) -> bool:
        """Interviewer turns, titles, headings and bylines give context, and a caption of a name or two says
        too little: they are never the answer."""
        return (self.role not in {"question", "title", "heading", "byline", "closing"}
                and len(self.text.split()) >= 4)


@dataclass(frozen=True)
class Document:
    """A parsed source file: its metadata, canonical text and passages."""

    id: str
    title: str
    short_title: str
    publication: str
    date: str
    path: str
    canonical: str  # the source with markup dropped and broken paragraphs joined
    passages: tuple[Passage, ...]
    examples: tuple[str, ...] = ()  # questions it answers, offered to a reader who does not know where to start
    notices: tuple[str, ...] = ()  # what of its metadata could not be used, and what was done instead

    @property
    def spoken(self) -> bool:
        """Whether people speak in it (an interview), rather than it being plain prose."""
        return any(passage.citation.speaker for passage in self.passages)


@dataclass(frozen=True)
class Answer:
    """A passage returned for a question, with the sentences that answer it."""

    text: str
    score: float
    highlights: list[tuple[int, int]]  # offsets into text
    citation: Citation
    passage_id: str

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "score": round(float(self.score), 6),
            "highlights": [list(span) for span in self.highlights],
            "citation": asdict(self.citation),
            "passage_id": self.passage_id,
        }


@dataclass
class Result:
    """What answering one question produced; `to_dict` is the public JSON."""

    question: str
    abstained: bool
    answers: list[Answer] = field(default_factory=list)
    query: str = ""  # the text actually searched (question plus context for follow-ups)
    reason: str = ""  # why it abstained, or why its answer may miss, in one plain sentence
    unsure: bool = False  # answered, with a warning that the corpus may not answer this
    confidence: float | None = None  # estimated chance the corpus answers (None: the retriever does not judge)

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "abstained": self.abstained,
            "answers": [answer.to_dict() for answer in self.answers],
            "query": self.query,
            "reason": self.reason,
            "unsure": self.unsure,
            "confidence": self.confidence,
        }
