"""Turn Results and documents into the page's HTML, escaping every piece of text.

Nothing here writes words of its own about the interview: quotes are the passages'
text, verbatim, and citations are the passages' metadata. Everything that comes
from a user or from the corpus goes through `html.escape` before it meets markup,
so a question holding `<script>` or `<img onerror=...>` is shown, never run.
The HTML is rendered by gr.HTML (innerHTML, no markdown pass), so markdown in a
question stays literal too.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

from rag.engine import CLOSEST
from rag.records import Answer, Citation, Document, Result


@dataclass(frozen=True)
class Turn:
    """One exchange of the conversation: what was asked and the reply shown."""

    question: str
    reply: str  # HTML, as `reply` made it


def anchor(passage_id: str) -> str:
    """A passage id made safe as an HTML id and URL fragment."""
    return "p-" + re.sub(r"[^A-Za-z0-9_-]", "-", passage_id)


def marked(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """`text` escaped, with the given character spans wrapped in <mark> (neighbours joined into one)."""
    out, position = [], 0
    for start, end in _joined(spans, text):
        out.append(escape(text[position:start]))
        out.append(f"<mark>{escape(text[start:end])}</mark>")
        position = end
    out.append(escape(text[position:]))
    return "".join(out)


def _joined(spans: Iterable[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """Spans clipped to the text, sorted, and merged when only whitespace lies between them."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        start, end = max(start, merged[-1][1] if merged else 0), min(end, len(text))
        if start >= end:
            continue
        if merged and not text[merged[-1][1]:start].strip():
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def place(citation: Citation) -> str:
    """Section and paragraph in words a reader knows: "Question 10, ¶1", "Introduction, ¶3"."""
    section = citation.section
    if citation.question is not None and re.fullmatch(r"Q\d+", section):  # an interview's, not a heading "Q1"
        section = f"Question {section[1:]}"
    else:
        section = section[:1].upper() + section[1:]  # "the USSR and NATO" keeps its capitals
    return f"{section}, ¶{citation.paragraph}"


def citation_html(citation: Citation, passage_id: str, source_name: str = "") -> str:
    """Who speaks, where (source, section, paragraph) and the question answered; links to the passage."""
    target = anchor(passage_id)
    source_name = source_name or citation.title
    who = citation.speaker or source_name
    where = place(citation) if who == source_name else f"{source_name}, {place(citation)}"
    parts = [f'<a class="cite-link" href="#{target}" data-anchor="{target}" title="{escape(citation.label)}">'
             f'<span class="who">{escape(who)}</span> · <span class="where">{escape(where)}</span></a>']
    if citation.question:
        parts.append(f'<span class="asked">answering “{escape(citation.question)}”</span>')
    return f'<p class="citation">{" ".join(parts)}</p>'


def quote_html(answer: Answer, names: Mapping[str, str], *, highlight: bool, css: str = "") -> str:
    """One passage as a blockquote with its citation under it."""
    body = marked(answer.text, answer.highlights if highlight else ())
    cite = citation_html(answer.citation, answer.passage_id, names.get(answer.citation.doc, ""))
    return (f'<figure class="quote {css}" data-passage="{escape(answer.passage_id)}">'
            f"<blockquote>{body}</blockquote><figcaption>{cite}</figcaption></figure>")


def source_names(documents: Iterable[Document]) -> dict[str, str]:
    """Each document's short name, for citations."""
    return {d.id: d.short_title or d.title for d in documents}


def reply(result: Result, names: Mapping[str, str]) -> str:
    """The chat reply for a Result: the best quote (under a warning when it may not answer), then the others
    collapsed; or a plain 'not answered' with the closest passages.

    `names` maps document ids to the short names citations show (see `source_names`).
    """
    if result.abstained or not result.answers:
        parts = [f'<p class="not-answered">{escape(result.reason)}</p>']
        if result.answers:
            closest = "".join(quote_html(a, names, highlight=False, css="closest") for a in result.answers)
            parts.append(f'<details class="others closest-group"><summary>{CLOSEST}: {len(result.answers)}'
                         f'</summary>{closest}</details>')
        return f'<div class="reply abstained" data-abstained="true" data-unsure="false">{"".join(parts)}</div>'
    best, others = result.answers[0], result.answers[1:]
    parts = [f'<p class="unsure">{escape(result.reason)}</p>'] if result.unsure else []
    parts.append(quote_html(best, names, highlight=True, css="best"))
    if others:
        noun = "passage" if len(others) == 1 else "passages"
        rest = "".join(quote_html(a, names, highlight=True) for a in others)
        parts.append(f'<details class="others"><summary>{len(others)} more {noun}</summary>{rest}</details>')
    unsure = "true" if result.unsure else "false"
    return f'<div class="reply" data-abstained="false" data-unsure="{unsure}">{"".join(parts)}</div>'


def announcement(result: Result) -> str:
    """What a screen reader says when a reply arrives: the refusal, or the warning, then where the best
    passage stands and its highlighted sentences (the whole conversation is not read again)."""
    if result.abstained or not result.answers:
        return result.reason
    best = result.answers[0]
    said = " ".join(best.text[start:end] for start, end in best.highlights) or best.text
    return " ".join(filter(None, (result.reason if result.unsure else "", f"{best.citation.label}: {said}")))


def empty_conversation(examples: bool) -> str:
    """A conversation not yet begun: a hint, pointing to the example questions when some are offered."""
    hint = "Ask a question, or pick an example below." if examples else "Ask a question."
    return f'<div class="conversation empty"><p class="hint">{hint}</p></div>'


def conversation(turns: Sequence[Turn]) -> str:
    """The whole conversation, oldest first (see `empty_conversation` for one not yet begun)."""
    items = "".join(f'<div class="turn"><p class="asked-by-user">{escape(t.question)}</p>{t.reply}</div>'
                    for t in turns)
    return f'<div class="conversation">{items}</div>'


def published(document: Document) -> str:
    """"The Postil, 1 December 2022" from the metadata; an unparsable date is shown as written."""
    try:
        day = datetime.date.fromisoformat(document.date)
        when = f"{day.day} {day:%B %Y}"
    except ValueError:
        when = document.date
    return ", ".join(part for part in (document.publication, when) if part)


def source(documents: Sequence[Document]) -> str:
    """Every document whole, each passage anchored so a citation can show it in place.

    The canonical text between passages (speaker labels such as "MJC: ") is kept as
    written, so the view reads like the interview.
    """
    return "".join(_document(document) for document in documents)


def _document(document: Document) -> str:
    blocks, position = [], 0
    for passage in document.passages:
        lead, label = _split_gap(document.canonical[position:passage.citation.start])
        blocks.extend(f'<p class="between">{escape(text)}</p>' for text in lead)
        tag = {"title": "h2", "heading": "h3"}.get(passage.role, "p")
        speaker = f'<strong class="speaker">{escape(label)}</strong> ' if label.strip() else ""
        blocks.append(f'<{tag} id="{anchor(passage.id)}" class="passage role-{escape(passage.role)}" tabindex="-1">'
                      f"{speaker}{escape(passage.text)}</{tag}>")
        position = passage.citation.end
    lead, label = _split_gap(document.canonical[position:])
    blocks.extend(f'<p class="between">{escape(text)}</p>' for text in [*lead, label] if text.strip())
    header = (f'<header class="source-head"><p class="source-title">{escape(document.title)}</p>'
              f'<p class="source-pub">{escape(published(document))}</p></header>')
    return f'<article class="source" data-doc="{escape(document.id)}">{header}{"".join(blocks)}</article>'


def _split_gap(gap: str) -> tuple[list[str], str]:
    """Text between passages: whole paragraphs before the next one, and the label on its own line."""
    paragraphs = gap.split("\n\n")
    return [p.strip() for p in paragraphs[:-1] if p.strip()], paragraphs[-1].strip()
