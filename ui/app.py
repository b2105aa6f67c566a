"""The chat page and its API: a Gradio Blocks app over one loaded Engine.

The engine (corpus, index, encoder) is loaded once at start-up and warmed with one
question, so the first visitor does not wait for the model. Programs use two named
endpoints: `/ask` returns the Result JSON, `/chat` the reply HTML the page shows.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import sys
import time
import traceback
from collections.abc import Callable
from functools import partial, wraps
from html import escape

import gradio as gr
from starlette.middleware import Middleware

from rag import Engine, QuestionError, load
from rag.config import MAX_HISTORY, MAX_QUESTION_CHARS
from rag.corpus import Corpus
from rag.engine import validate

from . import limits, render, style
from .api_arguments import ApiArguments
from .render import Turn

SHOWN_EXAMPLES = 4  # example questions offered on an empty page: the corpus's first (see corpus/*.meta.json)
# Queue: every event that touches the engine shares one concurrency group. Two at a
# time matches the two cores an answer can use (concurrent `Engine.ask` calls were
# checked to give identical results); an answer takes tens of milliseconds, so 20
# clients at once wait well under a second. The queue holds 64 events: room for
# every one of 20 simultaneous clients, bounded so a flood is refused, not hoarded.
ENGINE_CONCURRENCY = 2
QUEUE_MAX_SIZE = 64
ENGINE_GROUP = "engine"
# The page shows the conversation's last this many turns, so each answer re-sends a bounded page
# and the server keeps a bounded conversation. After a restart or a reload the browser still holds
# the questions but not their rendered replies; these turns are answered again (the engine is
# deterministic), so a reload shows what was on the page.
SHOWN_TURNS = 20
# The page keeps no more questions than it can show again, with those the oldest shown was read with.
KEPT_QUESTIONS = SHOWN_TURNS + MAX_HISTORY
# The browser keeps the conversation's questions, and what is typed in the box, under these keys
# (local storage), so a reload, a lost connection or a server restart loses nothing. The keys name
# the corpus's documents (`storage_key`): a server at the same address over other documents starts
# its own conversation instead of replaying questions asked of these. Gradio encrypts browser
# state; the secret is fixed so that a restarted server can still read what the page kept. It
# guards nothing: the text is the user's own, in their own browser. Every tab of the browser
# shares them: the last tab to ask holds the conversation a reload shows.
BROWSER_SECRET = "carley-interview"  # noqa: S105 - guards nothing, as said above
# The box holds far more than a question may have, so an over-long one is sent and refused with its
# length, but not a paste so big that the request limit (ui.limits.RequestLimits) drops it.
BOX_MAX_CHARS = 50 * MAX_QUESTION_CHARS
REFOCUS_JS = "() => document.querySelector('#question textarea')?.focus()"


FAILED = "Something went wrong on the server (its log has the details); try again."


def explained(handler: Callable) -> Callable:
    """A page or API handler whose failures reach the caller as one plain sentence: bad input as what to fix;
    a fault of ours as FAILED, its details (which may name paths or internals) logged here in full."""

    @wraps(handler)
    def answering(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except QuestionError as error:
            raise gr.Error(str(error), print_exception=False) from None
        except gr.Error:
            raise
        except Exception:
            traceback.print_exc()
            raise gr.Error(FAILED, print_exception=False) from None

    return answering


def rebuilt(engine: Engine, asked: list[str], names: dict[str, str]) -> list[Turn]:
    """The conversation's last turns, answered again from its questions, each with the questions before it."""
    first = max(0, len(asked) - SHOWN_TURNS)
    return [Turn(q, render.reply(engine.ask(q, asked[:i]), names)) for i, q in enumerate(asked) if i >= first]


def askable(questions: list, refused: Callable[[object, QuestionError], None] | None = None) -> list[str]:
    """The questions the engine would take, as it takes them; `refused` hears of each of the others."""
    kept = []
    for question in questions:
        try:
            kept.append(validate(question, [], 1)[0])
        except QuestionError as error:
            if refused:
                refused(question, error)
    return kept


def still_askable(stored: object) -> list[str]:
    """The browser's kept questions that can still be asked: a question a newer limit refuses, or a stored
    value edited into something else, is dropped rather than keep the whole conversation from coming back."""
    return askable(stored) if isinstance(stored, list) else []


def offered_examples(corpus: Corpus) -> list[str]:
    """The example questions the page offers. One the engine would refuse (too long, no words) is not: clicked,
    it would only be refused; a notice says why, as for the corpus's other slips."""
    def notice(example: str, error: QuestionError) -> None:
        print(f"rag: the example {example[:60]!r} is not offered: {error}", file=sys.stderr, flush=True)

    return askable(corpus.examples, notice)[:SHOWN_EXAMPLES]


def storage_key(corpus: Corpus, kept: str) -> str:
    """The browser storage key for `kept` ("conversation", "draft") on a page over this corpus's documents."""
    documents = hashlib.sha256("\n".join(sorted(doc.id for doc in corpus.documents)).encode()).hexdigest()[:16]
    return f"rag-{documents}-{kept}"


def page_title(corpus: Corpus) -> tuple[str, str]:
    """The page's title and whose words it quotes: "Ask the Carley interview", or, once other documents
    have joined it in the corpus folder, "Ask the documents"."""
    if corpus.several:
        return "Ask the documents", "the documents'"
    short_title = corpus.documents[0].short_title
    article = "" if short_title.lower().startswith(("the ", "a ", "an ")) else "the "  # not "Ask the The Art of…"
    return f"Ask {article}{short_title}", f"{corpus.name}'s"


def build(engine: Engine) -> gr.Blocks:
    """The page: conversation and question box on the left, the interview itself on the right."""
    title, whose = page_title(engine.corpus)
    examples_offered = offered_examples(engine.corpus)
    empty = render.empty_conversation(bool(examples_offered))
    names = render.source_names(engine.corpus.documents)
    with gr.Blocks(title=title, analytics_enabled=False) as app:
        # The conversation lives in the browser: its questions, sent with each new one, are all a
        # follow-up needs. `turns` caches their rendered replies on the server.
        asked = gr.BrowserState([], storage_key=storage_key(engine.corpus, "conversation"),
                                 secret=BROWSER_SECRET)
        # Gradio does not store an empty value, so an empty box is kept as " "
        draft = gr.BrowserState(" ", storage_key=storage_key(engine.corpus, "draft"), secret=BROWSER_SECRET)
        turns = gr.State([])
        sent = gr.State("")  # the question being answered, once checked
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                gr.HTML(f"<h1>{escape(title)}</h1><p>Answers are quotes: {escape(whose)} own words, "
                        "with who said them and where. Nothing is generated or paraphrased.</p>", elem_id="intro")
                conversation = gr.HTML(empty, elem_id="conversation", js_on_load=style.CITATION_JS,
                                       autoscroll=True)
                # Read out by screen readers when a reply arrives; hidden from sight (the reply is above).
                status = gr.HTML("", elem_id="status", js_on_load=style.LIVE_REGION_JS)
                question = gr.Textbox(label="Your question", show_label=False,
                                      placeholder=f"Ask about {engine.corpus.name}…",
                                      elem_id="question", max_length=BOX_MAX_CHARS, submit_btn="Ask", autofocus=True)
                # Below the box, so that Tab from the box (focused on load) reaches them next.
                with gr.Row(elem_id="examples", visible=bool(examples_offered)) as examples:
                    buttons = [gr.Button(q, size="sm", variant="secondary", min_width=120) for q in examples_offered]
                new = gr.Button("New conversation", size="sm", variant="secondary", elem_id="new-conversation")
            with gr.Column(scale=2, min_width=300, elem_id="source-panel"):
                gr.HTML(render.source(engine.corpus.documents), elem_id="source",
                        js_on_load=style.source_region_js(engine.corpus.name.capitalize()))

        def take(message: str):
            """The question, checked before it is answered: one the engine would refuse stays in the box, with
            the reason shown. The box stays as it is until the answer comes, so a question cut short by a
            lost connection is still there (and in the draft) when the page comes back."""
            if not message or not message.strip():
                return ""
            try:
                validate(message, [], 3)
            except QuestionError as error:
                gr.Warning(str(error))
                return ""
            return message.strip()

        @explained
        def on_ask(message: str, earlier: list[str], past: list[Turn], typed: str):
            if not message:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            earlier = still_askable(earlier)
            result = engine.ask(message, earlier)
            if earlier and not past:  # the server restarted since the page's last question
                past = rebuilt(engine, earlier, names)
            now = [*past, Turn(message, render.reply(result, names))][-SHOWN_TURNS:]
            box = "" if typed.strip() == message else gr.skip()  # an example leaves what is being typed
            said = f"<p>{escape(render.announcement(result))}</p>"
            return render.conversation(now), [*earlier, message][-KEPT_QUESTIONS:], now, box, said

        @explained
        def on_load(earlier: list[str]):
            """A reloaded page: the conversation shown again."""
            earlier = still_askable(earlier)
            if not earlier:
                return gr.skip(), gr.skip(), gr.skip()
            now = rebuilt(engine, earlier, names)
            return render.conversation(now), now, gr.Row(visible=False)

        def on_new():
            return empty, [], [], gr.Row(visible=bool(examples_offered))

        def unlocked(earlier: list[str]):
            return (gr.update(interactive=True), gr.update(interactive=True),
                    gr.Row(visible=bool(examples_offered) and not earlier))

        private = dict(api_visibility="private")
        quiet = dict(show_progress="hidden", **private)  # the locked box is the progress shown
        # While a question is on its way, nothing else can be sent or cleared: the box and New conversation
        # lock, the examples go, in the browser at once (js=True: no round trip). Two questions in flight
        # would each add to the conversation as it was before the other.
        controls = [question, new, examples]
        lock = dict(fn=lambda: [gr.update(interactive=False), gr.update(interactive=False), gr.Row(visible=False)],
                    outputs=controls, js=True, queue=False, **quiet)
        answer = dict(fn=on_ask, inputs=[sent, asked, turns, question],
                      outputs=[conversation, asked, turns, question, status],
                      concurrency_id=ENGINE_GROUP, show_progress="minimal", **private)
        unlock = dict(fn=unlocked, inputs=asked, outputs=controls, queue=False, **quiet)
        sending = [question.submit(**lock).then(take, inputs=question, outputs=sent, **quiet)]  # queued: for gr.Warning
        sending += [button.click(**lock).then(partial(take, text), outputs=sent, **quiet)
                    for button, text in zip(buttons, examples_offered)]
        for chain in sending:
            chain.then(**answer).then(**unlock).then(None, js=REFOCUS_JS, **private)
        question.change(None, inputs=question, outputs=draft, js="(text) => text || ' '", queue=False,
                        trigger_mode="multiple", **private)
        # The unsent question comes back at once, and never over what has been typed since the page loaded.
        app.load(None, inputs=[draft, question], outputs=question,
                 js="(saved, typed) => typed || ((saved || '').trim() ? saved : '')", **private)
        app.load(on_load, inputs=asked, outputs=[conversation, turns, examples], concurrency_id=ENGINE_GROUP, **private)
        # The box gets the focus, and so comes into view: on a phone, the emptied page left it above the screen.
        new.click(on_new, outputs=[conversation, asked, turns, examples], queue=False, **private).then(
            None, js=REFOCUS_JS, **private)

        @explained
        def ask(question: str, k: int = 3, history: list[str] = []) -> dict:  # noqa: B006 - never mutated
            """The passages that answer the question, verbatim and cited: the Result JSON of `rag ask --json`."""
            return engine.ask(question, history=history, k=k).to_dict()

        @explained
        def chat(message: str, history: list[str] = []) -> str:  # noqa: B006 - never mutated
            """The reply the chat page shows for `message`, as HTML; `history` holds the earlier questions."""
            return render.reply(engine.ask(message, history), names)

        gr.api(ask, api_name="ask", concurrency_id=ENGINE_GROUP)
        gr.api(chat, api_name="chat", concurrency_id=ENGINE_GROUP)
    return app.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=ENGINE_CONCURRENCY)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """Fail at once, before the model loads, when the address cannot be bound."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except (OSError, OverflowError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise OSError(f"cannot serve on {host} port {port}: {reason}") from None


def launch(app: gr.Blocks, host: str, port: int) -> gr.Blocks:
    """Start serving `app` in the background. `show_error` passes on the messages of Gradio's own checks of an
    API call's arguments; the app's own faults are told plainly (`explained`)."""
    app.launch(server_name=host, server_port=port, share=False, quiet=True, prevent_thread_lock=True,
               show_error=True, footer_links=["api"], run_history=False, ssr_mode=False, mcp_server=False,
               pwa=False, theme=style.THEME, css=style.CSS, blocked_paths=limits.blocked_paths(),
               app_kwargs={"middleware": [Middleware(limits.RequestLimits), Middleware(ApiArguments, blocks=app)]})
    return app


def serve(host: str = "127.0.0.1", port: int = 7860) -> int:
    """Load the engine, warm it, then serve the page and API until interrupted."""
    if not is_loopback(host):
        print(f"rag: warning: serving on {host}, not loopback: anyone who can reach this machine on port {port} "
              "can use the chat and its API", file=sys.stderr, flush=True)
    check_port(host, port)
    started = time.monotonic()
    print("loading the index and model…", file=sys.stderr, flush=True)
    engine = load()
    engine.ask("What is this about?")  # loads the encoder now rather than on the first visitor's question
    app = launch(build(engine), host, port)
    # "0.0.0.0" is only compared here, to print a URL a browser can open: no bind (hence the noqa)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host  # noqa: S104
    url = f"http://{shown}:{port}/"
    print(f"ready in {time.monotonic() - started:.1f}s: chat at {url} · API described at {url}gradio_api/info "
          "and on the page's \"Use via API\" link", flush=True)
    app.block_thread()
    return 0
