"""What the server lets in: no files, no oversized requests, no file route into the repo or index.

The app takes text only, but Gradio always mounts its upload routes (which store any file of
any size in its shared temp folder and serve it back), reads a request body of any size into
memory before the question's length limit can refuse it, and serves its temp folder on the
`/file=` route. `RequestLimits` refuses the first two at the door, before a byte is stored;
`blocked_paths` names the folders `/file=` must never serve, whatever Gradio's settings.
"""

from __future__ import annotations

from pathlib import Path

from gradio.utils import get_upload_folder
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from rag import config


class RequestLimits:
    """ASGI middleware: refuse file uploads and request bodies over `max_body` bytes, with a plain reason.

    The largest honest requests fit in the default, `config.MAX_REQUEST_BYTES` (1 MiB), which bounds what a
    hostile client can make us hold. The page's is its box (at most 100,000 UTF-16 units, sent even when
    over-long, to be refused with its length; a control character is 6 bytes once JSON-escaped) and the 30
    questions it keeps (60,000 units of checked text, at most 3 bytes each in UTF-8): about 790 KB. An API
    client's is a 2,000-character question and ten earlier ones, 22,000 characters at most 12 bytes each
    when JSON-escaped (a surrogate pair as two \\uXXXX): 264 KB.
    """

    def __init__(self, app: ASGIApp, max_body: int = config.MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self.refusal(Headers(scope=scope)) if scope["type"] == "http" else None
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            status, reason = refusal
            await JSONResponse({"detail": reason}, status_code=status)(scope, receive, send)

    def refusal(self, headers: Headers) -> tuple[int, str] | None:
        """(HTTP status, reason) for a request that must not reach the app; None for one that may."""
        if headers.get("content-type", "").lower().startswith("multipart/"):
            return 415, "this app takes no files: send questions as JSON"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return 411, "send the request body with a Content-Length"
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > self.max_body:
            return 413, f"the request body is over the limit of {self.max_body} bytes"
        return None


def blocked_paths() -> list[str]:
    """Folders `/file=` must refuse even if Gradio would serve them: the code, corpus, index, and its temp folder.

    None holds anything the page needs (it loads only Gradio's own assets); the temp folder is
    shared by every Gradio app on the machine, and this one creates no files there.
    """
    folders = (config.REPO_ROOT, config.corpus_dir(), config.index_dir(), Path(get_upload_folder()))
    return [str(folder.resolve()) for folder in folders]
