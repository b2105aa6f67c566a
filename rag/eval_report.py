"""How `rag eval` shows its figures: a terminal table, a Markdown report and a hit@k plot."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .evaluate import DEPTH, Outcome, Skipped
from .tables import markdown_table, text_table

PLOT_FILE = "hit_at_k.png"
REPORT_FILE = "report.md"


def metric_rows(cutoffs) -> list[tuple[str, str]]:
    """(label, key) of the quality figures, in the order shown."""
    return ([(f"hit@{k}", f"hit@{k}") for k in cutoffs]
            + [(f"MRR@{DEPTH}", f"mrr@{DEPTH}"), (f"nDCG@{DEPTH}", f"ndcg@{DEPTH}"), ("span@1", "span@1"),
               ("abstained, unanswerable (higher is better)", "abstained_unanswerable"),
               ("abstained, answerable (lower is better)", "abstained_answerable"),
               ("abstained or unsure, unanswerable (higher is better)", "abstained_or_unsure_unanswerable"),
               ("abstained or unsure, answerable (lower is better)", "abstained_or_unsure_answerable")])


def overview(report: dict[str, dict], cutoffs) -> tuple[list[str], list[list]]:
    retrievers = list(report)
    rows = [[label] + [report[r][key] for r in retrievers] for label, key in metric_rows(cutoffs)]
    for percentile in ("p50", "p95"):
        rows.append([f"latency {percentile} (ms)"] + [f"{report[r]['latency_ms'][percentile]:.1f}" for r in retrievers])
    return ["", *retrievers], rows


VERDICT_SHARES = {"abstained": "abstained", "abstained or unsure": "abstained_or_unsure"}  # by-kind label: key


def verdict_share(figures: dict, key: str) -> float | None:
    """The share of a group's questions given this verdict (`key` of VERDICT_SHARES), answerable or not."""
    parts = [(figures[f"{key}_unanswerable"], figures["unanswerable"]),
             (figures[f"{key}_answerable"], figures["answerable"])]
    count = sum(n for share, n in parts if share is not None)
    return sum(share * n for share, n in parts if share is not None) / count if count else None


def by_kind(report: dict[str, dict], key: str) -> tuple[list[str], list[list]]:
    """One figure per kind (rows) and retriever (columns)."""
    retrievers = list(report)
    first = report[retrievers[0]]["by_kind"]
    rows = []
    for kind, figures in first.items():
        label = f"{kind} ({figures['questions']})"
        if key in VERDICT_SHARES:
            rows.append([label] + [verdict_share(report[r]["by_kind"][kind], VERDICT_SHARES[key]) for r in retrievers])
        else:
            rows.append([label] + [report[r]["by_kind"][kind][key] for r in retrievers])
    return [f"{key} by kind", *retrievers], rows


def heading(source: str, report: dict[str, dict]) -> str:
    figures = next(iter(report.values()))
    return (f"{source}: {figures['questions']} questions ({figures['answerable']} answerable, "
            f"{figures['unanswerable']} unanswerable); the top {DEPTH} passages judged per question")


def format_table(source: str, report: dict[str, dict], cutoffs) -> str:
    """The terminal view: overall figures, then hit@k, abstentions and warnings by kind."""
    blocks = [heading(source, report), text_table(*overview(report, cutoffs))]
    for key in dict.fromkeys((f"hit@{cutoffs[0]}", f"hit@{cutoffs[-1]}", *VERDICT_SHARES)):  # --k 1: one hit@1
        blocks.append(text_table(*by_kind(report, key)))
    return "\n\n".join(blocks)


def write_results(path: Path, outcomes: dict[str, list[Outcome]], skipped: list[Skipped]) -> None:
    """One line per question and retriever, in input order; a skipped line keeps its place as {"error"}."""
    lines: list[tuple[int, str]] = []
    for group in outcomes.values():
        lines.extend((o.item.line, json.dumps(o.record(), ensure_ascii=False)) for o in group)
    lines.extend((line.line, json.dumps({"error": str(line)}, ensure_ascii=False)) for line in skipped)
    lines.sort(key=lambda pair: pair[0])  # stable: retrievers stay in the order given
    Path(path).write_text("".join(text + "\n" for _, text in lines), encoding="utf-8")


def plot_hit_curve(path: Path, report: dict[str, dict]) -> None:
    """hit@k for k = 1..DEPTH, one line per retriever."""
    from matplotlib.figure import Figure  # Agg canvas: no display needed

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.subplots()
    ks = list(range(1, DEPTH + 1))
    for retriever, figures in report.items():
        axes.plot(ks, figures["hit_curve"], marker="o", label=retriever)
    axes.set(xlabel="k (passages returned)", ylabel="hit@k (answerable questions)", xticks=ks, ylim=(0, 1.02),
             title="Share of answerable questions with a relevant passage in the top k")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.savefig(path, dpi=120)


def question_rows(outcomes: dict[str, list[Outcome]]) -> tuple[list[str], list[list]]:
    """Per question, per retriever: the rank of the first relevant passage, and any abstention or warning."""
    retrievers = list(outcomes)
    rows = []
    for index, first in enumerate(outcomes[retrievers[0]]):
        row = [str(first.item.id), first.item.kind, first.item.question[:70]]
        for retriever in retrievers:
            outcome = outcomes[retriever][index]
            verdict = "abstained" if outcome.result.abstained else "unsure" if outcome.result.unsure else ""
            if not outcome.item.answerable:
                row.append(verdict or "answered")
            else:
                rank = str(outcome.ranks[0]) if outcome.ranks else "—"
                row.append(f"{rank} ({verdict})" if verdict else rank)
        rows.append(row)
    return ["id", "kind", "question", *retrievers], rows


def write_report(directory: Path, source: str, report: dict[str, dict], outcomes: dict[str, list[Outcome]],
                 cutoffs, notes: list[str]) -> Path:
    """A Markdown report with the plot beside it; returns the report's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    plot_hit_curve(directory / PLOT_FILE, report)
    kinds = [f"hit@{k}" for k in cutoffs] + [f"mrr@{DEPTH}", f"ndcg@{DEPTH}", "span@1", *VERDICT_SHARES]
    parts = [
        f"# Evaluation of `{source}`",
        f"Run {time.strftime('%Y-%m-%d %H:%M')}. {heading(source, report)}.",
        "A passage is relevant when its text contains an expected substring (both normalised). hit@k, MRR and "
        "nDCG judge the ranked passages over answerable questions even when the retriever abstained; abstention "
        "is scored separately. Only `full` abstains or warns that it may not answer (unsure).",
        "## Overall", markdown_table(*overview(report, cutoffs)),
        f"![hit@k]({PLOT_FILE})",
        "## By kind",
        *(markdown_table(*by_kind(report, key)) for key in kinds),
        "## Per question",
        "Rank of the first relevant passage (— when none in the top 10); for unanswerable questions, the verdict.",
        markdown_table(*question_rows(outcomes)),
    ]
    if notes:
        parts += ["## Notes", "\n".join(f"- {note}" for note in notes)]
    path = directory / REPORT_FILE
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return path
