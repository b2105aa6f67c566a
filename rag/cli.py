"""The `rag` command: index, ask, serve, eval, bench.

Heavy libraries (torch, sentence-transformers, gradio) are imported only by the
subcommands that need them, so `rag --help` and input errors answer at once.
Every failure prints one line on stderr and exits non-zero; never a traceback.
"""

from __future__ import annotations

import argparse
import codecs
import itertools
import json
import os
import shlex
import shutil
import sys
import textwrap

EXIT_USAGE = 2
EXIT_FAILURE = 1


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not the whole usage block."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def whole_number(low: int, high: int):
    """An argparse type: a whole number from `low` to `high`, or a one-line usage error saying why not."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, not {value}")
        return value

    return parse


def build_parser() -> Parser:
    from .config import CUTOFFS, MAX_K

    parser = Parser(prog="rag", description="Answer questions with the interview's own words, cited.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    index = commands.add_parser("index", help="build or refresh the index")
    index.add_argument("--rebuild", action="store_true", help="rebuild even if the index is current")

    ask = commands.add_parser("ask", help="answer a question (or JSON lines on stdin with --jsonl)")
    ask.add_argument("question", nargs="?", help="the question, in quotes")
    ask.add_argument("--k", type=whole_number(1, MAX_K), default=3, help="passages to show (default 3)")
    ask.add_argument("--json", action="store_true", help="print the Result JSON")
    ask.add_argument("--jsonl", action="store_true",
                     help='read {"question", "history", "k", "id"} objects, one a line, on stdin; write one Result a line')
    ask.add_argument("--history", action="append", default=[], metavar="EARLIER",
                     help="an earlier question of the conversation (repeatable, oldest first)")

    serve = commands.add_parser("serve", help="serve the chat page and its API")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only; another address is served with a warning)")
    serve.add_argument("--port", type=whole_number(1, 65535), default=7860, help="port (default 7860)")

    evaluate = commands.add_parser("eval", help="score retrievers on a question set, side by side")
    evaluate.add_argument("file", metavar="FILE.jsonl",
                          help='one {"id", "question", "expected": [...], "kind", "history"} object a line')
    evaluate.add_argument("--retriever", nargs="+", default=["full"], metavar="NAME",
                          help="bm25, dense, hybrid, full; several run side by side (default full)")
    evaluate.add_argument("--k", nargs="+", type=int, default=list(CUTOFFS), metavar="K",
                          help=f"the hit@k cut-offs to show, 1..10 (default {' '.join(map(str, CUTOFFS))})")
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON, keyed by retriever")
    evaluate.add_argument("--results", metavar="OUT.jsonl",
                          help="write one Result a line per question and retriever, with id and retriever")
    evaluate.add_argument("--report", metavar="DIR", help="write a Markdown report and a hit@k plot into DIR")

    bench = commands.add_parser("bench", help="measure start-up, latency, build throughput and scale")
    bench.add_argument("--quick", action="store_true", help="a small run (about a minute), as the tests use")
    bench.add_argument("--out", metavar="DIR", help="where bench.json and bench.png go (default .cache/bench/)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    command = Parser(prog=" ".join(filter(None, ("rag", args.command))))  # says errors as the command's own
    if unknown:
        hint = ""
        if (args.command == "ask" and args.question and not args.jsonl
                and not any(word.startswith("-") for word in unknown)):
            hint = f"; put the whole question in quotes: rag ask {shlex.quote(' '.join([args.question, *unknown]))}"
        command.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args, command)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # the last guard: one line, never a traceback
        from embeddings import IndexStoreError
        from embeddings.encoder import ModelNotFound

        from .corpus import CorpusError
        from .engine import QuestionError

        known = (CorpusError, QuestionError, IndexStoreError, ModelNotFound, OSError)
        kind = "" if isinstance(error, known) else f"{type(error).__name__}: "
        print(f"rag: error: {kind}{' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_FAILURE


def cmd_index(args, parser) -> int:
    from .engine import load

    engine = load(rebuild=args.rebuild)
    manifest = engine.retrieval.vectors.manifest
    print(f"index ready: {manifest.passages} passages as {manifest.count} vectors of {manifest.dim} dims "
          f"({manifest.model}), built {manifest.built_at}")
    return 0


def cmd_ask(args, parser) -> int:
    from .engine import QuestionError, validate

    if args.jsonl:
        if args.question is not None or args.json or args.history:
            parser.error("--jsonl reads questions from stdin: give no question, --json or --history with it")
        return ask_jsonl(args.k)
    if args.question is None:
        parser.error("give a question, e.g. rag ask \"Where does Professor Carley teach?\"")
    try:
        validate(args.question, args.history, args.k)  # fail fast, before loading the model
    except QuestionError as error:
        print(f"rag: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    from .engine import load

    result = load().ask(args.question, history=args.history, k=args.k)
    if args.json:
        write_json(result.to_dict())
    else:
        print(format_result(result, bold=terminal_shows_bold()))
    return 0


def terminal_shows_bold() -> bool:
    """Whether to mark the answering sentences in bold: on a terminal that can show it, unless the user has
    asked for plain output (`NO_COLOR`, https://no-color.org)."""
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb" and not os.environ.get("NO_COLOR")


def ask_jsonl(k: int) -> int:
    """One Result a line for each request line; a bad line gets {"error"} and the run goes on."""
    from .engine import QuestionError, load

    engine = None
    for number, raw in enumerate(request_lines(sys.stdin.buffer), start=1):
        if raw is not None and not raw.strip():
            continue
        try:
            request = parse_request(raw)
            if engine is None:
                engine = load()
            result = engine.ask(request["question"], history=request.get("history"), k=request.get("k", k))
            out = result.to_dict()
            if "id" in request:
                out["id"] = request["id"]
        except (QuestionError, ValueError) as error:
            out = {"error": f"line {number}: {error}"}
            if isinstance(error, RequestError) and error.request_id is not None:
                out["id"] = error.request_id
        write_json(out)
    return 0


def request_lines(stream):
    """The stream's lines, each read with a bound: an overlong one is skipped to its end and yields None. A
    byte-order mark (a file saved by Notepad) is dropped from the first."""
    from .config import MAX_REQUEST_BYTES

    first = True
    while raw := stream.readline(MAX_REQUEST_BYTES + 1):
        if first:
            raw, first = raw.removeprefix(codecs.BOM_UTF8), False
        if len(raw) > MAX_REQUEST_BYTES and not raw.endswith(b"\n"):
            while (rest := stream.readline(MAX_REQUEST_BYTES)) and not rest.endswith(b"\n"):
                pass
            yield None
        else:
            yield raw


def write_json(data: dict) -> None:
    """One JSON line on stdout, in UTF-8 whatever the locale; a lone surrogate in an echoed id stays a JSON escape."""
    line = json.dumps(data, ensure_ascii=False) + "\n"
    sys.stdout.buffer.write(line.encode("utf-8", "backslashreplace"))
    sys.stdout.buffer.flush()


class RequestError(ValueError):
    def __init__(self, message: str, request_id=None):
        super().__init__(message)
        self.request_id = request_id


def parse_request(raw: bytes | None) -> dict:
    """A request line as a dict with a question; RequestError says what is wrong with it."""
    from .config import MAX_REQUEST_BYTES

    if raw is None:
        raise RequestError(f"longer than {MAX_REQUEST_BYTES // 2**20} MiB; skipped")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError(f"not UTF-8 text (byte {error.start})") from None
    try:
        request = json.loads(text)
    except json.JSONDecodeError as error:
        raise RequestError(f"not JSON ({error.msg})") from None
    except (ValueError, RecursionError):  # an integer of over 4,300 digits; nesting deeper than the stack
        raise RequestError("not JSON this program can read (a number too long or nesting too deep)") from None
    if not isinstance(request, dict):
        raise RequestError('each line must be a JSON object like {"question": "..."}')
    request_id = request.get("id")
    if "question" not in request:
        raise RequestError('no "question" key', request_id)
    from .engine import QuestionError, validate

    try:
        validate(request["question"], request.get("history"), request.get("k", 1))
    except QuestionError as error:
        raise RequestError(str(error), request_id) from None
    return request


def format_result(result, bold: bool = False) -> str:
    """The Result for a terminal: each passage wrapped, with its citation, and (`bold`, on a terminal)
    its answering sentences in bold. Lines break only at spaces, so a copied passage stays verbatim."""
    from .engine import CLOSEST

    width = min(shutil.get_terminal_size((88, 20)).columns, 100)
    lines = []
    if result.abstained:
        lines.append(result.reason)
        if result.answers:
            lines.append(f"{CLOSEST}:")
        lines.append("")
    elif result.unsure:
        lines += [result.reason, ""]
    for number, answer in enumerate(result.answers, start=1):
        lines.append(f"[{number}] {answer.citation.label}")
        lines.extend(wrapped(answer.text, answer.highlights if bold else [], width))
        lines.append("")
    return "\n".join(lines).rstrip()


BOLD, PLAIN = "\x1b[1m", "\x1b[0m"


def wrapped(text: str, highlights, width: int) -> list[str]:
    """`text` in indented lines of at most `width` columns, breaking only at single spaces; the
    character ranges in `highlights` in bold."""
    lines = textwrap.wrap(text, width=width - 4, break_on_hyphens=False, break_long_words=False)
    if " ".join(lines) != text:  # other whitespace than single spaces: offsets would not line up
        highlights = []
    out, start = [], 0
    for line in lines:
        end = start + len(line)
        cuts = sorted({start, end, *(max(start, min(end, edge)) for span in highlights for edge in span)})
        pieces = [(text[a:b], any(s <= a and b <= e for s, e in highlights)) for a, b in itertools.pairwise(cuts)]
        out.append("    " + "".join(f"{BOLD}{piece}{PLAIN}" if marked else piece for piece, marked in pieces))
        start = end + 1
    return out


def cmd_serve(args, parser) -> int:
    from ui.app import serve

    return serve(host=args.host, port=args.port)


def cmd_eval(args, parser) -> int:
    from .engine import QuestionError, check_retriever
    from .evaluate import DEPTH, figures_by_retriever, read_items, run, unjudgeable

    for name in args.retriever:
        try:
            check_retriever(name)
        except QuestionError as error:
            parser.error(str(error))
    if not all(1 <= k <= DEPTH for k in args.k):
        parser.error(f"--k cut-offs must be from 1 to {DEPTH}")
    items, skipped = read_items(args.file)
    for line in skipped:
        print(f"rag eval: skipped {line}", file=sys.stderr)
    lines_of: dict = {}
    for item in items:
        lines_of.setdefault(json.dumps(item.id), []).append(str(item.line))
    for key, lines in lines_of.items():
        if len(lines) > 1:  # kept: the figures are right, and --results rows carry their line
            print(f"rag eval: id {key} is on lines {', '.join(lines)}", file=sys.stderr)
    if not items:
        print(f"rag: error: no usable question in {args.file}", file=sys.stderr)
        return EXIT_FAILURE
    from pathlib import Path

    from . import eval_report
    from .engine import load

    written = [("--results", Path(args.results))] if args.results else []
    if args.report:
        written += [("--report", Path(args.report) / name) for name in (eval_report.REPORT_FILE, eval_report.PLOT_FILE)]
    for option, path in written:
        if path.resolve() == Path(args.file).resolve() or path.exists() and os.path.samefile(path, args.file):
            print(f"rag: error: {option} would write {path} over the question file", file=sys.stderr)
            return EXIT_FAILURE
    try:  # fail now, not after the whole run
        if args.results:
            what = f"the results to {args.results}"
            Path(args.results).parent.mkdir(parents=True, exist_ok=True)
            Path(args.results).open("a").close()
        if args.report:
            what = f"the report into {args.report}"
            Path(args.report).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = "a file is in the way" if isinstance(error, (FileExistsError, NotADirectoryError)) else error.strerror
        print(f"rag: error: cannot write {what}: {reason}", file=sys.stderr)
        return EXIT_FAILURE
    retrievers = list(dict.fromkeys(args.retriever))
    cutoffs = sorted(set(args.k))
    outcomes = run(load(), items, retrievers, notice=lambda message: print(message, file=sys.stderr))
    unjudged = unjudgeable(outcomes[retrievers[0]])
    for note in unjudged:
        print(f"rag eval: {note}", file=sys.stderr)
    notes = [str(line) + " (skipped)" for line in skipped] + unjudged
    report = figures_by_retriever(outcomes, cutoffs)
    if args.results:
        eval_report.write_results(args.results, outcomes, skipped)
    if args.report:
        path = eval_report.write_report(args.report, args.file, report, outcomes, cutoffs, notes)
        print(f"rag eval: report written to {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(eval_report.format_table(args.file, report, cutoffs))
    return 0


def cmd_bench(args, parser) -> int:
    from .bench import main as bench

    return bench(quick=args.quick, out=args.out)


COMMANDS = {"index": cmd_index, "ask": cmd_ask, "serve": cmd_serve, "eval": cmd_eval, "bench": cmd_bench}

if __name__ == "__main__":
    sys.exit(main())
