"""The chat page in a real headless Chromium (Debian's, driven by Playwright; `make browser` installs it)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gradio_client import Client
from playwright.sync_api import expect

from rag.engine import CLOSEST
from tests.conftest import ARTIFACTS, free_port, listening_addresses, our_questions, served
from ui import render

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ANSWER_SECONDS = 60_000  # ms; an answer takes well under a second, the margin is for a loaded CI machine
INJECTION = ('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> '
             '**bold** [link](javascript:window.__pwned=3)')


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make browser` (Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser, server):
    """A fresh page on the chat at a given window size, recording every URL the page requests."""
    pages = []

    def open_at(width: int = 1280, height: int = 800):
        page = browser.new_page(viewport={"width": width, "height": height})
        page.requested = []
        page.on("request", lambda request: page.requested.append(request.url))
        page.set_default_timeout(ANSWER_SECONDS)
        page.goto(server, wait_until="domcontentloaded")
        page.wait_for_selector("#question textarea")
        pages.append(page)
        return page

    yield open_at
    for page in pages:
        page.close()


def top_in_page(page, selector: str) -> float:
    """Where an element starts, from the top of the page: unlike a bounding box, not moved by the
    conversation's autoscroll between two measurements."""
    return page.evaluate("(s) => document.querySelector(s).getBoundingClientRect().top + window.scrollY", selector)


def ask(page, question: str, turn: int) -> None:
    """Type a question, press Enter, and wait for reply number `turn` (1-based)."""
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    page.wait_for_function(f"document.querySelectorAll('#conversation .reply').length >= {turn}")


def test_question_gets_a_quoted_answer_whose_citation_opens_the_passage(open_page, engine, server):
    page = open_page()
    question = "Where does Professor Carley teach?"
    best = engine.ask(question).answers[0]
    ask(page, question, 1)
    quote = page.locator("#conversation figure.best blockquote")
    assert quote.inner_text().split() == best.text.split()
    assert any("University of Montreal" in mark for mark in quote.locator("mark").all_inner_texts())
    link = page.locator("#conversation figure.best a.cite-link")
    assert link.is_visible() and "Introduction, ¶" in link.inner_text()
    assert not page.is_visible("#examples")  # the examples make way for the conversation

    link.click()
    target = page.locator(f"#{render.anchor(best.passage_id)}")
    page.wait_for_function("el => el.classList.contains('marked')", arg=target.element_handle())
    assert page.locator("#source .passage.marked").count() == 1
    expect(target).to_be_in_viewport(ratio=0.5)  # scrolled into view within the source panel
    assert target.inner_text().split()[-len(best.text.split()):] == best.text.split()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat.png"))
    assert all(url.startswith(server) for url in page.requested), "the page fetched something from elsewhere"


def test_a_reply_is_read_out_by_screen_readers_without_being_shown_twice(open_page, engine):
    """A polite live region gets the reply's gist (a refusal, or where the answer stands and its highlighted
    sentences); before it, nothing said the reply had come."""
    page = open_page()
    region = page.locator("#status [aria-live]")
    assert (region.get_attribute("role"), region.get_attribute("aria-live")) == ("status", "polite")
    before = region.element_handle()  # a region is read out only if it was there before its text changed
    for turn, question in enumerate(["Who was Litvinov?", "What is the boiling point of mercury in kelvin?"], 1):
        ask(page, question, turn)
        said = render.announcement(engine.ask(question, history=["Who was Litvinov?"][:turn - 1]))
        page.wait_for_function("([el, text]) => el.isConnected && el.innerText.trim() === text", arg=[before, said])
    box = page.locator("#status").bounding_box()
    assert box["width"] <= 1 and box["height"] <= 1  # heard, not seen
    # Gradio's own announcer said "Loading", then its untranslated key "common.complete", around each reply.
    expect(page.get_by_role("status")).to_have_count(1)


def test_html_and_markdown_in_a_question_are_shown_as_text_and_never_run(open_page):
    page = open_page()
    ask(page, INJECTION, 1)
    page.wait_for_timeout(300)  # give any injected handler the chance to fire
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#conversation .asked-by-user").inner_text() == INJECTION
    assert page.evaluate("document.querySelectorAll('#conversation img, #conversation script, "
                         "#conversation .asked-by-user *').length") == 0


def test_follow_up_then_new_conversation(open_page, engine):
    page = open_page()
    page.get_by_role("button", name="Who was Litvinov?").click()  # an example question
    page.wait_for_function("document.querySelectorAll('#conversation .reply').length == 1")
    ask(page, "how did stalin get along with him?", 2)
    expected = engine.ask("how did stalin get along with him?", history=["Who was Litvinov?"]).answers[0]
    second = page.locator("#conversation .turn").nth(1)
    assert second.locator("figure.best").get_attribute("data-passage") == expected.passage_id

    page.click("#new-conversation")
    page.wait_for_function("document.querySelectorAll('#conversation .turn').length == 0")
    assert page.is_visible("#examples")
    ask(page, "how did stalin get along with him?", 1)  # no history now: asked on its own
    alone = engine.ask("how did stalin get along with him?").answers[0]
    assert page.locator("#conversation figure.best").get_attribute("data-passage") == alone.passage_id


def questions_shown(page) -> list[str]:
    return page.locator("#conversation .asked-by-user").all_inner_texts()


def test_questions_sent_back_to_back_are_both_answered_in_order(open_page, engine):
    """The box locks while an answer is on its way, so a second question waits for the first (Playwright's
    fill waits for the box) instead of vanishing, and is answered as its follow-up. (The page takes a few
    milliseconds to see the Enter: only a robot could type over the first question before it is sent.)"""
    page = open_page()
    page.fill("#question textarea", "Who was Litvinov?")
    page.press("#question textarea", "Enter")
    expect(page.locator("#question textarea")).to_have_value("")
    page.fill("#question textarea", "how did stalin get along with him?")
    page.press("#question textarea", "Enter")
    page.wait_for_function("document.querySelectorAll('#conversation .reply').length >= 2")
    assert questions_shown(page) == ["Who was Litvinov?", "how did stalin get along with him?"]
    follow_up = engine.ask("how did stalin get along with him?", history=["Who was Litvinov?"]).answers[0]
    assert page.locator("#conversation figure.best").nth(1).get_attribute("data-passage") == follow_up.passage_id
    assert page.input_value("#question textarea") == "" and page.is_enabled("#question textarea")


def test_a_reload_keeps_the_conversation_and_the_unsent_question(open_page, engine):
    page = open_page()
    ask(page, "Who was Litvinov?", 1)
    expect(page.locator("#question textarea")).to_be_enabled()  # unlocked once the reply is shown
    page.locator("#question textarea").press_sequentially("and why did he")
    page.reload(wait_until="domcontentloaded")
    page.wait_for_function("document.querySelectorAll('#conversation .reply').length == 1")
    assert questions_shown(page) == ["Who was Litvinov?"]
    best = engine.ask("Who was Litvinov?").answers[0].passage_id
    assert page.locator("#conversation figure.best").get_attribute("data-passage") == best
    expect(page.locator("#question textarea")).to_have_value("and why did he")

    page.click("#new-conversation")
    page.wait_for_function("document.querySelectorAll('#conversation .turn').length == 0")
    page.reload(wait_until="domcontentloaded")
    expect(page.locator("#examples")).to_be_visible()
    assert questions_shown(page) == []


def test_a_long_conversation_shows_its_last_turns_and_a_reload_shows_the_same(open_page):
    """The page once kept every turn (a reload showed only the last ones) and re-sent them all with each answer."""
    from ui.app import SHOWN_TURNS

    page = open_page()
    asked = [f"What did Carley say about {year}?" for year in range(1919, 1920 + SHOWN_TURNS)]
    for question in asked:
        page.fill("#question textarea", question)
        page.press("#question textarea", "Enter")
        page.wait_for_function("q => [...document.querySelectorAll('#conversation .asked-by-user')].at(-1)"
                               "?.innerText === q && document.querySelectorAll('#conversation .reply').length"
                               " === document.querySelectorAll('#conversation .turn').length", arg=question)
        expect(page.locator("#question textarea")).to_be_enabled()
    assert questions_shown(page) == asked[-SHOWN_TURNS:]
    page.reload(wait_until="domcontentloaded")
    page.wait_for_function(f"document.querySelectorAll('#conversation .reply').length == {SHOWN_TURNS}")
    assert questions_shown(page) == asked[-SHOWN_TURNS:]


def test_a_refused_question_stays_in_the_box_with_the_reason(open_page):
    page = open_page()
    too_long = "Why? " * 500
    page.fill("#question textarea", too_long)
    page.press("#question textarea", "Enter")
    expect(page.locator(".toast-body")).to_contain_text("characters long; the limit is 2000")
    expect(page.locator("#question textarea")).to_be_enabled()
    assert page.input_value("#question textarea") == too_long
    assert questions_shown(page) == []


def test_a_citation_scrolls_the_interview_beside_the_chat_not_the_page(open_page, engine):
    page = open_page()
    for turn, question in enumerate(["Who was Litvinov?", "What about Poland?", "Who made the poster?"], start=1):
        ask(page, question, turn)
    page.mouse.wheel(0, 5000)
    page.wait_for_timeout(300)
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 0  # the conversation is longer than the window
    panel = page.locator("#source-panel").bounding_box()
    assert -panel["height"] / 2 < panel["y"] < 800 / 2  # it stayed beside the chat
    link = page.locator("#conversation figure.best a.cite-link").last
    link.click()
    target = page.locator(f"#{render.anchor(engine.ask('Who made the poster?').answers[0].passage_id)}")
    page.wait_for_function("el => el.classList.contains('marked')", arg=target.element_handle())
    expect(target).to_be_in_viewport(ratio=0.5)
    assert page.evaluate("window.scrollY") == scrolled  # the reader keeps their place in the conversation


class SlowEngine:
    """The session's engine, taking ANSWER_DELAY seconds an answer: time to act while one is on its way."""

    def __init__(self, engine):
        self._engine = engine

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def ask(self, *args, **kwargs):
        time.sleep(ANSWER_DELAY)
        return self._engine.ask(*args, **kwargs)


ANSWER_DELAY = 2.0


@pytest.fixture(scope="module")
def slow_page(browser, engine):
    """A page on the real app (in this process) over the slow engine."""
    from ui.app import build, launch

    port = free_port()
    app = launch(build(SlowEngine(engine)), "127.0.0.1", port)
    page = browser.new_page()
    page.set_default_timeout(ANSWER_SECONDS)
    page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
    page.wait_for_selector("#question textarea")
    yield page
    page.close()
    app.close()


def test_nothing_can_be_sent_or_cleared_while_an_answer_is_on_its_way(slow_page):
    """The box and New conversation lock and the examples go as soon as a question is sent (two questions in
    flight would each add to the conversation as it was); a reload before the answer comes, as after a lost
    connection, finds the question still in the box."""
    page = slow_page
    box = page.locator("#question textarea")
    box.press_sequentially("Who was Litvinov?")
    box.press("Enter")
    expect(box).to_be_disabled(timeout=ANSWER_DELAY * 500)
    expect(page.locator("#new-conversation")).to_be_disabled(timeout=ANSWER_DELAY * 500)
    expect(page.locator("#examples")).to_be_hidden(timeout=ANSWER_DELAY * 500)
    assert box.input_value() == "Who was Litvinov?"  # kept until its answer is shown

    page.reload(wait_until="domcontentloaded")
    expect(page.locator("#question textarea")).to_have_value("Who was Litvinov?")
    page.press("#question textarea", "Enter")
    page.wait_for_function("document.querySelectorAll('#conversation .reply').length == 1")
    expect(page.locator("#question textarea")).to_have_value("")
    expect(page.locator("#question textarea")).to_be_enabled()
    expect(page.locator("#new-conversation")).to_be_enabled()
    assert questions_shown(page) == ["Who was Litvinov?"]


def test_abstention_reads_as_a_plain_sentence(open_page):
    page = open_page()
    ask(page, "What is the boiling point of mercury in kelvin?", 1)
    reply = page.locator("#conversation .reply")
    assert reply.locator("p.not-answered").inner_text() == "The interview does not answer this question."
    if reply.locator("blockquote").count():
        assert reply.locator("details summary").inner_text() == f"{CLOSEST}: {reply.locator('blockquote').count()}"
        assert reply.locator("mark").count() == 0


def test_an_answer_that_may_miss_is_shown_under_its_warning(open_page, engine):
    question = next(q.question for q in our_questions() if not q.history and engine.ask(q.question).unsure)
    page = open_page()
    ask(page, question, 1)
    warning = page.locator("#conversation .reply p.unsure")
    expect(warning).to_have_text(engine.unsure)
    best = page.locator("#conversation figure.best")
    # The warning is read before the quote.
    assert top_in_page(page, "#conversation .reply p.unsure") < top_in_page(page, "#conversation figure.best")
    assert best.locator("mark").count() >= 1  # still the closest passage, its best sentence marked


CONTRAST_JS = """([selector, property]) => {
  const luminance = (css) => {
    const [r, g, b] = css.match(/[\\d.]+/g).slice(0, 3).map((v) => v / 255)
      .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const element = document.querySelector(selector);
  let back = element;
  while (back && ['rgba(0, 0, 0, 0)', 'transparent'].includes(getComputedStyle(back).backgroundColor)) {
    back = back.parentElement;
  }
  const [fore, behind] = [getComputedStyle(element)[property], back ? getComputedStyle(back).backgroundColor
                                                                  : 'rgb(255, 255, 255)'];
  const [light, dark] = [luminance(fore), luminance(behind)].sort((a, b) => b - a);
  return (light + 0.05) / (dark + 0.05);
}"""


def test_quiet_text_is_readable_and_the_focused_box_shows_its_focus(open_page):
    """The theme's subdued grey read at 2.4:1 and the question box showed no focus (WCAG asks 4.5:1, and a
    visible focus)."""
    page = open_page()
    for selector in ("#intro p", "#source .source-pub", "#conversation .hint"):
        assert page.evaluate(CONTRAST_JS, [selector, "color"]) >= 4.5, selector
    # The question box, unfocused, was white on white: its edge must show (3:1 for a field's boundary).
    page.locator("#intro").click()
    edge = page.evaluate("(() => { const s = getComputedStyle(document.querySelector('#question textarea')); "
                         "return [s.borderTopStyle, parseFloat(s.borderTopWidth)]; })()")
    assert edge[0] != "none" and edge[1] >= 1
    assert page.evaluate(CONTRAST_JS, ["#question textarea", "borderTopColor"]) >= 3
    page.locator("#question textarea").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # focused from the keyboard, as :focus-visible wants
    assert page.evaluate("getComputedStyle(document.querySelector('#question textarea')).outlineStyle") != "none"
    expect(page.get_by_role("textbox", name="Your question")).to_be_visible()


def test_from_the_box_the_keyboard_reaches_the_examples_next(open_page, engine):
    """The examples stood above the box the page focuses, so Tab went round the whole page to reach them."""
    page = open_page()
    expect(page.locator("#question textarea")).to_be_focused()
    reached = []
    for _ in range(3):  # the box's Ask button, then the examples
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert engine.corpus.examples[0] in reached
    page.keyboard.press("Enter")  # the example focused is asked
    page.wait_for_function("document.querySelectorAll('#conversation .reply').length >= 1")


def test_the_interview_beside_the_chat_is_a_named_region_the_keyboard_can_scroll(open_page):
    """The source panel scrolls by itself; it took focus as an unnamed box, or not at all."""
    page = open_page()
    panel = page.get_by_role("region", name="The interview")
    expect(panel).to_be_visible()
    page.locator("#new-conversation").focus()
    for _ in range(5):  # the panel comes after the chat's controls
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "source-panel":
            break
    assert page.evaluate("document.activeElement.id") == "source-panel"
    before = panel.evaluate("e => e.scrollTop")
    page.keyboard.press("PageDown")
    page.wait_for_function("(before) => document.getElementById('source-panel').scrollTop > before", arg=before)


@pytest.mark.parametrize(("width", "height"), [(1366, 900), (1920, 1080)])
def test_a_fresh_page_fits_a_desktop_window_centred_and_unscrolled(open_page, width, height):
    """The interview beside the chat once made the page a little taller than the window, and the
    conversation's autoscroll then hid the title."""
    page = open_page(width, height)
    expect(page.locator("#intro h1")).to_be_in_viewport()
    page.wait_for_timeout(1500)  # the conversation's first render, which used to scroll the page
    assert page.evaluate("window.scrollY") == 0
    assert page.evaluate("document.documentElement.scrollHeight") <= height
    box = page.locator(".gradio-container").bounding_box()
    assert abs(box["x"] - (width - box["x"] - box["width"])) <= 20  # as much room left as right


def test_on_a_phone_new_conversation_brings_the_box_back_in_view_with_the_focus(open_page):
    """After a few turns, New conversation left the emptied page scrolled past the question box."""
    page = open_page(390, 844)
    for turn, question in enumerate(("Who was Litvinov?", "why?", "What was the role of Poland?"), start=1):
        ask(page, question, turn)
    page.click("#new-conversation")
    page.wait_for_function("document.querySelectorAll('#conversation .turn').length == 0")
    box = page.locator("#question textarea")
    expect(box).to_be_focused()
    expect(box).to_be_in_viewport()


def test_phone_width_stacks_without_sideways_scrolling(open_page, engine):
    page = open_page(390, 844)
    ask(page, "Who was Litvinov?", 1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    quote = page.locator("#conversation figure.best blockquote").bounding_box()
    assert quote["x"] >= 0 and quote["x"] + quote["width"] <= 390
    below = top_in_page(page, "#source-panel") > top_in_page(page, "#conversation figure.best blockquote")
    assert below  # the interview sits below the chat, not beside it
    page.locator("#conversation figure.best a.cite-link").click()
    target = page.locator(f"#{render.anchor(engine.ask('Who was Litvinov?').answers[0].passage_id)}")
    page.wait_for_function("el => el.classList.contains('marked')", arg=target.element_handle())
    expect(target).to_be_in_viewport(ratio=0.5)
    page.screenshot(path=str(ARTIFACTS / "chat-phone.png"))


def test_a_crash_and_restart_lose_nothing_the_page_or_api_needs(browser, engine, index_dir, tmp_path):
    """Kill the server mid-conversation and start it again on its port: the index is reused as it was, and
    the open page's follow-up is answered in context with the whole conversation still shown.

    The restart runs with Gradio's own overrides set (a share link, binding every address): neither applies.
    """
    def index_files() -> dict[str, tuple[int, bytes]]:
        return {path.name: (path.stat().st_mtime_ns, path.read_bytes())
                for path in index_dir.iterdir() if not path.name.startswith(".")}

    before, port, log = index_files(), free_port(), tmp_path / "restarted.log"
    page = browser.new_page()
    try:
        page.set_default_timeout(ANSWER_SECONDS)
        with served(index_dir, tmp_path / "first.log", port) as (url, first):
            page.goto(url, wait_until="domcontentloaded")
            ask(page, "Who was Litvinov?", 1)
            first.kill()
            first.wait()
        with served(index_dir, log, port, GRADIO_SHARE="True", GRADIO_SERVER_NAME="0.0.0.0") as (url, _):
            ask(page, "why?", 2)
            turns = page.locator("#conversation .turn")
            shown = [turns.nth(i).locator(".asked-by-user").inner_text() for i in range(turns.count())]
            best = [turns.nth(i).locator("figure.best").get_attribute("data-passage") for i in range(turns.count())]
            api = Client(url, verbose=False).predict("why?", history=["Who was Litvinov?"], api_name="/ask")
            addresses = listening_addresses(port)
    finally:
        page.close()
    assert shown == ["Who was Litvinov?", "why?"]
    follow_up = engine.ask("why?", history=["Who was Litvinov?"])
    assert best == [engine.ask("Who was Litvinov?").answers[0].passage_id, follow_up.answers[0].passage_id]
    assert api == follow_up.to_dict()
    printed = log.read_text()
    assert printed.startswith("loading the index and model…\n") and "ready in" in printed
    assert "build" not in printed.lower() and "share" not in printed.lower() and ".live" not in printed
    assert index_files() == before
    assert addresses and all(address.is_loopback for address in addresses)


@pytest.fixture(scope="module")
def page_over(browser, tmp_path_factory):
    """A page served in this process, as `rag serve` serves it, over a corpus folder of the test's own."""
    import rag
    from ui.app import build, launch

    apps = []

    def serve(files: dict[str, str]):
        folder = tmp_path_factory.mktemp("corpus")
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        port = free_port()
        apps.append(launch(build(rag.load(folder, index_dir=folder / ".index", notice=lambda m: None)),
                           "127.0.0.1", port))
        page = browser.new_page()
        page.set_default_timeout(ANSWER_SECONDS)
        page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
        page.wait_for_selector("#question textarea")
        return page

    yield serve
    for app in apps:
        app.close()


def test_with_several_documents_the_page_names_them_all_and_offers_each_ones_examples(page_over):
    """The page once offered the Carley interview's questions whatever the folder held, and spoke of "the
    interview" beside two."""
    import json

    from tests.conftest import CORPUS, SECOND_INTERVIEW

    carley = json.loads((CORPUS / "carley-interview-2022.meta.json").read_text(encoding="utf-8"))["examples"]
    voss = ["Why did steam last so long in Britain?", carley[1]]  # one question both offer
    files = {p.name: p.read_text(encoding="utf-8") for p in CORPUS.iterdir()}
    page = page_over({**files, "voss.md": SECOND_INTERVIEW, "voss.meta.json": json.dumps({"examples": voss})})
    assert page.title() == "Ask the documents"
    expect(page.locator("#examples button")).to_have_text([carley[0], voss[0], carley[1], carley[2]])
    expect(page.get_by_role("textbox", name="Your question")).to_have_attribute("placeholder",
                                                                                "Ask about the documents…")
    expect(page.get_by_role("region", name="The documents")).to_be_visible()
    ask(page, "What is the capital of Australia?", 1)
    expect(page.locator("#conversation p.not-answered")).to_have_text("The documents do not answer this question.")
    # A citation into the last, short document: its own title heads the panel, not the one before's.
    ask(page, "Why did the steam engine last so long in Britain?", 2)
    page.locator("#conversation figure.best a.cite-link").last.click()
    target = page.locator("#source .passage.marked")
    expect(target).to_be_in_viewport(ratio=0.5)
    page.wait_for_timeout(1000)  # the smooth scroll settles
    heading = page.evaluate("""() => { const box = document.getElementById('source-panel').getBoundingClientRect();
        return document.elementFromPoint(box.left + box.width / 2, box.top + 20).closest('article').dataset.doc; }""")
    assert heading == target.evaluate("el => el.closest('article').dataset.doc") == "voss"


def test_a_document_without_examples_offers_none_and_the_hint_says_so(page_over):
    page = page_over({"notes.md": "# Railway notes\n\nSteam lasted long in Britain as coal was cheap.\n"})
    assert page.title() == "Ask the Railway notes"
    expect(page.locator("#conversation .hint")).to_have_text("Ask a question.")
    expect(page.locator("#examples")).to_be_hidden()
    ask(page, "Why did steam last so long?", 1)
    page.click("#new-conversation")
    expect(page.locator("#conversation .hint")).to_have_text("Ask a question.")
    expect(page.locator("#examples")).to_be_hidden()


def test_a_server_over_other_documents_at_the_same_address_starts_its_own_conversation(browser, tmp_path):
    """The browser keeps the conversation for the page's address, and once replayed the questions asked of one
    corpus to a server over another, answered from documents they were never asked of."""
    import rag
    from ui.app import build, launch

    port = free_port()
    steam = {"notes.md": "# Railway notes\n\nSteam lasted long in Britain as coal was cheap.\n"}
    canals = {"canals.md": "# Canal notes\n\nCanals carried coal before the railways came.\n"}

    def serving(files: dict[str, str]):
        folder = tmp_path / next(iter(files))
        folder.mkdir(exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        return launch(build(rag.load(folder, index_dir=folder / ".index", notice=lambda m: None)), "127.0.0.1", port)

    def conversation_after(files: dict[str, str], question: str) -> list[str]:
        """The questions the page shows once `question` is answered, reloaded over a server of `files`."""
        app = serving(files)
        try:
            page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
            page.wait_for_selector("#question textarea")
            page.fill("#question textarea", question)
            page.press("#question textarea", "Enter")
            page.wait_for_function("(q) => [...document.querySelectorAll('#conversation .asked-by-user')]"
                                   ".some(e => e.textContent === q)", arg=question)
            page.wait_for_function("document.querySelectorAll('#conversation .reply').length"
                                   " === document.querySelectorAll('#conversation .asked-by-user').length")
            return questions_shown(page)
        finally:
            app.close()

    page = browser.new_page()
    page.set_default_timeout(ANSWER_SECONDS)
    try:
        first = conversation_after(steam, "Why did steam last so long?")
        over_canals = conversation_after(canals, "What did canals carry?")
        back_over_steam = conversation_after(steam, "and coal?")
    finally:
        page.close()
    assert first == ["Why did steam last so long?"]
    assert over_canals == ["What did canals carry?"]  # not asked after the other corpus's question
    assert back_over_steam == ["Why did steam last so long?", "and coal?"]
