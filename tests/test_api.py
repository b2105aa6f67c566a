"""The served API, through the real `rag serve` process: gradio_client and plain HTTP."""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from rag.config import MAX_K, MAX_QUESTION_CHARS
from rag.engine import CLOSEST
from ui import render

from .conftest import http_ask

OFF_TOPIC = "What is the boiling point of mercury in kelvin?"


def test_view_api_documents_ask_and_chat_only(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert sorted(endpoints) == ["/ask", "/chat"]
    ask = {p["parameter_name"]: p for p in endpoints["/ask"]["parameters"]}
    assert list(ask) == ["question", "k", "history"]
    assert ask["k"]["parameter_default"] == 3 and ask["history"]["parameter_default"] == []
    assert not ask["question"]["parameter_has_default"]
    assert [p["parameter_name"] for p in endpoints["/chat"]["parameters"]] == ["message", "history"]


def test_ask_returns_exactly_what_rag_ask_json_prints(client, run_rag, engine):
    question = "Where does Professor Carley teach?"
    printed = json.loads(run_rag("ask", "--json", "--k", "4", question).stdout)
    assert client.predict(question, 4, [], api_name="/ask") == printed
    assert client.predict(question=question, api_name="/ask") == engine.ask(question).to_dict()  # k=3, no history


def test_follow_up_uses_the_earlier_question(client, engine):
    alone = client.predict("how did stalin get along with him?", api_name="/ask")
    followed = client.predict("how did stalin get along with him?", history=["Who was Litvinov?"], api_name="/ask")
    assert "Litvinov" in followed["query"] and "Litvinov" not in alone["query"]
    assert "Litvinov" in followed["answers"][0]["text"]
    assert followed == engine.ask("how did stalin get along with him?", history=["Who was Litvinov?"]).to_dict()


def test_chat_returns_the_reply_the_page_shows(client, engine):
    names = render.source_names(engine.corpus.documents)
    reply = client.predict("Who was Litvinov?", [], api_name="/chat")
    assert reply == render.reply(engine.ask("Who was Litvinov?"), names)
    assert "<blockquote>" in reply and 'class="cite-link"' in reply
    follow_up = client.predict(message="why?", history=["Who was Litvinov?"], api_name="/chat")
    assert follow_up == render.reply(engine.ask("why?", history=["Who was Litvinov?"]), names)


def test_off_topic_question_abstains_in_both_endpoints(client):
    result = client.predict(OFF_TOPIC, api_name="/ask")
    assert result["abstained"] is True and result["reason"]
    reply = client.predict(OFF_TOPIC, [], api_name="/chat")
    assert reply.startswith('<div class="reply abstained" data-abstained="true" data-unsure="false">'
                            '<p class="not-answered">'
                            "The interview does not answer this question.</p>")
    assert (CLOSEST in reply) == bool(result["answers"])


def test_an_off_topic_question_sharing_one_word_with_the_interview_is_refused_or_flagged(client):
    """"Montreal" is in the introduction, and BM25 likes it: the abstainer is near its threshold here."""
    result = client.predict("Can you recommend a good hiking trail near Montreal?", api_name="/ask")
    assert result["abstained"] or result["unsure"]


def test_a_date_question_on_a_familiar_subject_that_the_interview_leaves_open_is_flagged(client):
    """Every word of it is in the interview, which talks of Stalin at length but never of his death."""
    result = client.predict("When did Stalin die?", api_name="/ask")
    assert result["abstained"] or result["unsure"]


def test_a_question_on_the_author_that_the_interview_leaves_open_is_flagged(client):
    """The introduction speaks of Carley's career and university, and nothing of where he studied."""
    result = client.predict("Which universities did Carley study at?", api_name="/ask")
    assert result["abstained"] or result["unsure"]


BAD_INPUT = [
    (dict(question=""), "the question is empty"),
    (dict(question="   "), "the question is empty"),
    (dict(question="x" * (MAX_QUESTION_CHARS + 1)), f"the limit is {MAX_QUESTION_CHARS}"),
    (dict(question="Who was Litvinov?", k=0), f"k must be a whole number from 1 to {MAX_K}"),
    (dict(question="Who was Litvinov?", k=MAX_K + 1), f"k must be a whole number from 1 to {MAX_K}"),
    (dict(question="Who was Litvinov?", k="3"), "k must be a whole number"),
    (dict(question="Who was Litvinov?", k=2.5), "k must be a whole number"),
    (dict(question=42), "the question must be text, not a number"),
    (dict(question=None), "the question must be text, not null"),
    (dict(question="Who was Litvinov?", history="Who was he?"), "history must be a list"),
    (dict(question="Who was Litvinov?", history=7), "history must be a list"),
    (dict(question="Who was Litvinov?", history=[1, 2]), "history must be a list"),
]


@pytest.mark.parametrize("arguments, message", BAD_INPUT, ids=[str(i) for i in range(len(BAD_INPUT))])
def test_bad_input_gets_a_plain_message(client, arguments, message):
    with pytest.raises(AppError, match=message):
        client.predict(api_name="/ask", **arguments)


def test_chat_refuses_bad_input_and_the_server_goes_on(client):
    for message, history in (("", []), ("x" * (MAX_QUESTION_CHARS + 1), []), ("why?", "not a list")):
        with pytest.raises(AppError):
            client.predict(message, history, api_name="/chat")
    assert client.predict("Who was Litvinov?", api_name="/ask")["answers"]


def test_twenty_clients_at_once_all_get_answers(server, engine):
    questions = ["Who was Litvinov?", "Where does Professor Carley teach?", "How did Poland view Hitler?",
                 "What was the role of Britain and France?"] * 5

    def one_client(question: str) -> dict:
        return Client(server, verbose=False).predict(question, api_name="/ask")

    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        results = list(pool.map(one_client, questions))
    assert results == [engine.ask(q).to_dict() for q in questions]


def test_plain_http_call_protocol_from_the_readme(server, engine):
    event, payload = http_ask(server, ["Who was Litvinov?", 2, []])
    assert event == "complete" and payload == [engine.ask("Who was Litvinov?", k=2).to_dict()]
    event, payload = http_ask(server, ["", 3, []])
    assert event == "error" and payload["error"].startswith("the question is empty")


def test_plain_http_may_leave_out_what_has_a_default_and_is_told_what_is_missing_or_too_many(server, engine):
    """Leaving out `k` and `history`, listed on the API page with defaults, once got Gradio's message naming its
    internal objects; an argument too many was taken silently."""
    import urllib.error
    import urllib.request

    assert http_ask(server, ["Who was Litvinov?"]) == ("complete", [engine.ask("Who was Litvinov?").to_dict()])
    assert http_ask(server, ["Who was Litvinov?", 1]) == ("complete", [engine.ask("Who was Litvinov?", k=1).to_dict()])

    def refusal(endpoint: str, data: list) -> tuple[int, str]:
        request = urllib.request.Request(f"{server}gradio_api/call/{endpoint}", data=json.dumps({"data": data}).encode(),
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        return refused.value.code, json.load(refused.value)["detail"]

    assert refusal("ask", ["Who was Litvinov?", 3, [], "extra"]) == \
        (422, "/ask takes at most 3 values (question, k, history), not 4")
    assert refusal("chat", []) == (422, '/chat needs message: send {"data": [message, history]}')
    run = urllib.request.Request(f"{server}gradio_api/run/ask", data=json.dumps({"data": ["Who was Litvinov?"]}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(run, timeout=30) as answered:  # the one-step route takes the same defaults
        assert json.load(answered)["data"] == [engine.ask("Who was Litvinov?").to_dict()]
    nested = urllib.request.Request(f"{server}gradio_api/call/ask", data=b'{"data": ["q", 3, ' + b"[" * 1200 + b"]" * 1201
                                    + b"}", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:  # Gradio's own "error parsing the body", not a crash
        urllib.request.urlopen(nested, timeout=30)
    assert refused.value.code in (400, 422)


def test_serve_warns_off_loopback_and_refuses_a_busy_port_before_loading(run_rag):
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        done = run_rag("serve", "--port", port, timeout=60)
        assert done.returncode == 1
        assert done.stderr.decode() == f"rag: error: cannot serve on 127.0.0.1 port {port}: Address already in use\n"
        lines = run_rag("serve", "--host", "0.0.0.0", "--port", port, timeout=60).stderr.decode().splitlines()
    assert lines[0].startswith("rag: warning: serving on 0.0.0.0, not loopback: anyone who can reach this machine")
    assert lines[1:] == [f"rag: error: cannot serve on 0.0.0.0 port {port}: Address already in use"]
