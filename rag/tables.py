"""Tables of figures for a terminal and for Markdown, shared by `rag eval` and `rag bench`."""

from __future__ import annotations

from collections.abc import Sequence

Cell = str | int | float | None


def cell(value: Cell, digits: int = 3) -> str:
    """A figure as shown: floats to `digits` places, missing ones as a dash."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def text_table(header: Sequence[str], rows: Sequence[Sequence[Cell]], digits: int = 3) -> str:
    """Columns padded to line up: the first left-aligned (labels), the rest right-aligned (figures)."""
    grid = [list(header)] + [[cell(v, digits) for v in row] for row in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(header))]
    lines = []
    for line in grid:
        first = line[0].ljust(widths[0])
        rest = [text.rjust(width) for text, width in zip(line[1:], widths[1:])]
        lines.append("  ".join([first, *rest]).rstrip())
    return "\n".join(lines)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Cell]], digits: int = 3) -> str:
    """The same table as GitHub Markdown, figures right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(cell(v, digits).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)
