"""The running server against hostile requests, vanishing clients and bursts: plain HTTP and real clients.

A restart is tested in test_browser.py, where it matters most: an open page keeps its conversation.
"""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gradio.utils import get_upload_folder
from gradio_client import Client

from rag.config import MAX_QUESTION_CHARS, MAX_REQUEST_BYTES
from tests.conftest import CORPUS, REPO, SOURCE, http_ask, listening_addresses
from ui.app import QUEUE_MAX_SIZE

QUEUE_DRAIN_SECONDS = 120  # an emptied queue is expected within seconds; the margin is for a loaded machine


def request(server: str, method: str, path: str, body: bytes | Iterable[bytes] | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One HTTP request with `path` sent exactly as written (no normalising): status and body."""
    address = urllib.parse.urlsplit(server)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {},
                           encode_chunked=body is not None and not isinstance(body, bytes))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def queue_size(server: str) -> int:
    return json.loads(request(server, "GET", "/gradio_api/queue/status")[1])["queue_size"]


def wait_for_empty_queue(server: str) -> bool:
    deadline = time.monotonic() + QUEUE_DRAIN_SECONDS
    while queue_size(server):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def longest_line(path: Path) -> bytes:
    """A line of the file long enough that finding it in a response means the file was served."""
    return max(path.read_bytes().splitlines(), key=len)


# Each probe: the path as sent, and what would show the target file was served. All must be refused.
UPLOADS = Path(get_upload_folder())
PROBES = [
    ("/file=/etc/passwd", Path("/etc/passwd")),
    ("/gradio_api/file=/etc/passwd", Path("/etc/passwd")),
    ("/gradio_api/file=../../../../../../../etc/passwd", Path("/etc/passwd")),
    ("/gradio_api/file=..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd", Path("/etc/passwd")),
    ("/gradio_api/file=%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", Path("/etc/passwd")),
    ("/gradio_api/file=%2Fetc%2Fpasswd", Path("/etc/passwd")),
    ("/gradio_api/file=//etc/passwd", Path("/etc/passwd")),
    ("/gradio_api/file=file:///etc/passwd", Path("/etc/passwd")),
    ("/gradio_api/file/etc/passwd", Path("/etc/passwd")),
    (f"/gradio_api/file={UPLOADS}/../../../../etc/passwd", Path("/etc/passwd")),
    ("/static/../../../../../../etc/passwd", Path("/etc/passwd")),
    ("/assets/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd", Path("/etc/passwd")),
    (f"/gradio_api/file={SOURCE}", SOURCE),
    (f"/gradio_api/file={SOURCE.relative_to(REPO)}", SOURCE),
    (f"/gradio_api/file={REPO}/rag/engine.py", REPO / "rag" / "engine.py"),
    ("/gradio_api/file=rag/engine.py", REPO / "rag" / "engine.py"),
    ("/gradio_api/file=ui/../rag/engine.py", REPO / "rag" / "engine.py"),
    (f"/gradio_api/file={REPO}/pyproject.toml", REPO / "pyproject.toml"),
    ("/gradio_api/file={index}/manifest.json", "manifest.json"),
    ("/gradio_api/file={index}/index.faiss", "index.faiss"),
    ("/gradio_api/file=/proc/self/environ", None),  # the server's environment: it names the corpus folder
]


@pytest.mark.parametrize("path, target", PROBES, ids=[path for path, _ in PROBES])
def test_file_routes_serve_nothing_outside_the_app(server, index_dir, path, target):
    if isinstance(target, str):
        target = index_dir / target
    path = path.replace("{index}", str(index_dir))
    status, body = request(server, "GET", path)
    assert status in (403, 404), body[:200]
    secret = f"RAG_CORPUS_DIR={CORPUS}".encode() if target is None else longest_line(target)
    assert secret not in body


def test_files_in_gradios_shared_temp_folder_are_not_served(server):
    """Any Gradio app on the machine keeps uploads there; this one creates none, so serves none."""
    folder = UPLOADS / f"another-app-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    try:
        (folder / "upload.txt").write_text("another app's upload")
        status, body = request(server, "GET", f"/gradio_api/file={folder}/upload.txt")
    finally:
        shutil.rmtree(folder)
    assert status == 403 and b"another app's upload" not in body


def test_upload_routes_store_nothing(server):
    name = f"planted-{uuid.uuid4().hex}.html"
    form = (f'--x\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            'Content-Type: text/html\r\n\r\n<script>alert(1)</script>\r\n--x--\r\n').encode()
    for route in ("/gradio_api/upload", "/gradio_api/process_recording", "/gradio_api/component_server"):
        status, body = request(server, "POST", route, form, {"Content-Type": "multipart/form-data; boundary=x"})
        assert (status, json.loads(body)) == (415, {"detail": "this app takes no files: send questions as JSON"})
    assert not list(UPLOADS.glob(f"*/{name}"))


def test_oversized_or_unframed_bodies_are_refused_and_serving_goes_on(server, engine):
    ask = "/gradio_api/call/ask"
    json_type = {"Content-Type": "application/json"}
    too_big = json.dumps({"data": ["x" * MAX_REQUEST_BYTES, 3, []]}).encode()
    status, body = request(server, "POST", ask, too_big, json_type)
    assert (status, json.loads(body)) == (413, {"detail": f"the request body is over the limit of {MAX_REQUEST_BYTES} bytes"})
    chunked = iter([b'{"data": ["Who was Litvinov?", 3, []]}'])
    status, body = request(server, "POST", ask, chunked, json_type)
    assert (status, json.loads(body)) == (411, {"detail": "send the request body with a Content-Length"})
    assert http_ask(server, ["Who was Litvinov?", 3, []]) == ("complete", [engine.ask("Who was Litvinov?").to_dict()])


def test_the_largest_honest_request_gets_through(server):
    """The body limit leaves room for the longest question with the longest history, JSON-escaped at worst."""
    longest = "\N{MATHEMATICAL BOLD CAPITAL A}" * MAX_QUESTION_CHARS  # 12 bytes each in JSON: a surrogate pair as two \uXXXX
    event, payload = http_ask(server, [longest, 3, [longest] * 10])
    assert event == "complete" and payload[0]["question"] == longest


def test_serves_on_loopback_only(server):
    addresses = listening_addresses(urllib.parse.urlsplit(server).port)
    assert addresses and all(address.is_loopback for address in addresses)


# A gradio_client that submits its questions and waits for them: killed before they are all answered.
VANISHING_CLIENT = """
import sys
from gradio_client import Client
client = Client(sys.argv[1], verbose=False)
jobs = [client.submit("Who was Litvinov?", api_name="/ask") for _ in range(40)]
print("submitted", flush=True)
[job.result() for job in jobs]
print("all answered", flush=True)
"""


def hang_up(server: str, path: str, method: str = "GET", body: bytes = b"", unsent: int = 0) -> None:
    """Send a request (all but `unsent` bytes of its body), then drop the connection with a reset: a client vanishing."""
    address = urllib.parse.urlsplit(server)
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        head = f"{method} {path} HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: application/json\r\n"
        connection.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body[:len(body) - unsent])


def test_clients_that_vanish_mid_request_leave_the_server_serving(server, engine):
    child = subprocess.Popen([sys.executable, "-c", VANISHING_CLIENT, server], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "submitted\n"
        deadline = time.monotonic() + QUEUE_DRAIN_SECONDS
        while not queue_size(server) and time.monotonic() < deadline:  # its questions are waiting on the server
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL and "all answered" not in child.stdout.read()

    data = json.dumps({"data": ["How did Poland view Hitler?", 3, []]}).encode()
    for _ in range(10):
        status, body = request(server, "POST", "/gradio_api/call/ask", data, {"Content-Type": "application/json"})
        hang_up(server, f"/gradio_api/call/ask/{json.loads(body)['event_id']}")  # the answer's stream, dropped
        hang_up(server, "/gradio_api/call/ask", "POST", data)  # the question itself, dropped before its reply
    hang_up(server, "/gradio_api/call/ask", "POST", data, unsent=5)  # a question cut short

    assert wait_for_empty_queue(server)
    client = Client(server, verbose=False)
    assert client.predict("Who was Litvinov?", api_name="/ask") == engine.ask("Who was Litvinov?").to_dict()
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: Client(server, verbose=False).predict("Who was Litvinov?", api_name="/ask"),
                                range(10)))
    assert answers == [engine.ask("Who was Litvinov?").to_dict()] * 10


BURST = 200  # simultaneous submissions: about three times what the queue holds


def test_a_burst_past_the_queue_limit_is_refused_plainly_and_serving_goes_on(server, engine):
    data = json.dumps({"data": ["Who was Litvinov?", 3, []]}).encode()
    start = threading.Barrier(BURST)

    def submit(_) -> tuple[int, dict]:
        start.wait()
        status, body = request(server, "POST", "/gradio_api/call/ask", data, {"Content-Type": "application/json"})
        return status, json.loads(body)

    with ThreadPoolExecutor(max_workers=BURST) as pool:
        replies = list(pool.map(submit, range(BURST)))
    accepted = [body["event_id"] for status, body in replies if status == 200]
    refused = [body for status, body in replies if status == 503]
    full = f"Queue is full. Max size is {QUEUE_MAX_SIZE} and size is {QUEUE_MAX_SIZE}."
    assert refused and all(body == {"detail": full} for body in refused)
    assert len(accepted) + len(refused) == BURST and len(accepted) >= QUEUE_MAX_SIZE

    expected = [engine.ask("Who was Litvinov?").to_dict()]
    for event_id in accepted:  # everything let in is answered
        status, body = request(server, "GET", f"/gradio_api/call/ask/{event_id}")
        events = [line for line in body.decode().splitlines() if line.startswith(("event: ", "data: "))]
        assert status == 200 and events[-2] == "event: complete" and json.loads(events[-1][6:]) == expected
    assert wait_for_empty_queue(server)
    assert Client(server, verbose=False).predict("Who was Litvinov?", api_name="/ask") == expected[0]


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                            ("127.0.0.2", True), ("0.0.0.0", False), ("192.168.1.5", False),
                                            ("example.org", False)])
def test_which_addresses_count_as_this_machine_only(host, loopback):
    """`rag serve --host` warns for any address but these."""
    from ui.app import is_loopback

    assert is_loopback(host) is loopback


@pytest.mark.parametrize(("stored", "kept"), [
    (["Who was Litvinov?", "x" * 3000, "a\x00b", 42, None, "  why?  "], ["Who was Litvinov?", "why?"]),
    ("Who was Litvinov?", []),
    ({"questions": ["Who was Litvinov?"]}, []),
    (None, []),
])
def test_a_conversation_kept_in_the_browser_comes_back_without_what_cannot_be_asked(stored, kept):
    """The browser's store can hold anything (an older page's limits, a hand edit): a reload once failed
    whole on one question the engine refuses, and showed nothing."""
    from ui.app import still_askable

    assert still_askable(stored) == kept


def test_a_fault_of_the_server_is_told_in_one_plain_sentence_and_logged_in_full(engine, capfd, monkeypatch):
    """A fault deep inside the engine, or in drawing the reply, once reached the caller as the exception's raw
    message (paths, internals). It is logged, and the caller is told plainly; the server goes on serving."""
    import copy

    from gradio_client.exceptions import AppError

    from rag.measure import free_port
    from ui import render
    from ui.app import FAILED, build, launch

    def fail(*args, **kwargs):
        raise OSError("read error in /srv/private/index.faiss")

    def ask_failing_on_litvinov(question, *args, **kwargs):
        return fail() if question == "Who was Litvinov?" else engine.ask(question, *args, **kwargs)

    broken = copy.copy(engine)
    broken.ask = ask_failing_on_litvinov
    port = free_port()
    app = launch(build(broken), "127.0.0.1", port)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        for endpoint, arguments in (("/ask", ["Who was Litvinov?"]), ("/chat", ["Who was Litvinov?", []])):
            with pytest.raises(AppError) as raised:
                client.predict(*arguments, api_name=endpoint)
            assert str(raised.value) == FAILED
        with monkeypatch.context() as patch:
            patch.setattr(render, "reply", fail)
            with pytest.raises(AppError) as raised:
                client.predict("Where does Professor Carley teach?", [], api_name="/chat")
            assert str(raised.value) == FAILED
        assert client.predict("Where does Professor Carley teach?", api_name="/ask")["answers"]
        status, page = request(f"http://127.0.0.1:{port}/", "GET", "/")
        assert status == 200 and b"Ask the Carley interview" in page
    finally:
        app.close()
    log = capfd.readouterr().err
    assert log.count("OSError: read error in /srv/private/index.faiss") == 3 and "Traceback" in log
