"""Plain-HTTP calls to the named endpoints take the arguments the API page describes.

`gradio_client` always sends every argument, filling in defaults. A plain-HTTP call
(`POST /gradio_api/call/ask` or `/gradio_api/run/ask` with `{"data": [...]}`) that leaves out `k` and `history`,
which the API page lists with defaults, got Gradio's own error naming its internal objects;
one with an argument too many was taken silently. `ApiArguments` fills in the advertised
defaults, and refuses a call missing a required argument, or with too many, saying which.
"""

from __future__ import annotations

import json
import re

import gradio as gr
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CALL = re.compile(r"/gradio_api/(?:call|run)/(?P<name>\w+)/?")  # the two-step call, and the one-step run


class ApiArguments:
    """ASGI middleware: a plain-HTTP call to a named endpoint, completed with its defaults or refused."""

    def __init__(self, app: ASGIApp, blocks: gr.Blocks) -> None:
        self.app = app
        self.blocks = blocks
        self._parameters: dict[str, list[dict]] | None = None

    def parameters(self, name: str) -> list[dict] | None:
        """The endpoint's parameters as the API page lists them (None: not a named endpoint)."""
        if self._parameters is None:
            endpoints = self.blocks.get_api_info()["named_endpoints"]
            self._parameters = {path.lstrip("/"): info["parameters"] for path, info in endpoints.items()}
        return self._parameters.get(name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = CALL.fullmatch(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        parameters = self.parameters(call["name"]) if call else None
        if parameters is None:
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        completed, refusal = completed_call(body, call["name"], parameters)
        if refusal:
            await JSONResponse({"detail": refusal}, status_code=422)(scope, receive, send)
            return
        headers = MutableHeaders(scope=scope)
        headers["content-length"] = str(len(completed))
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": completed, "more_body": False}

        await self.app(scope, replay, send)


def completed_call(body: bytes, name: str, parameters: list[dict]) -> tuple[bytes, str | None]:
    """The body with the left-out arguments' defaults added, or the reason it is refused. A body that is not
    `{"data": [...]}` is passed on as it is, for Gradio to answer."""
    try:
        call = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested past what the parser follows: Gradio says so
        return body, None
    if not isinstance(call, dict) or not isinstance(call.get("data"), list):
        return body, None
    values = call["data"]
    names = ", ".join(p["parameter_name"] for p in parameters)
    if len(values) > len(parameters):
        return body, f"/{name} takes at most {len(parameters)} values ({names}), not {len(values)}"
    left_out = parameters[len(values):]
    required = [p["parameter_name"] for p in left_out if not p["parameter_has_default"]]
    if required:
        return body, f"/{name} needs {', '.join(required)}: send {{\"data\": [{names}]}}"
    call["data"] = values + [p["parameter_default"] for p in left_out]
    return json.dumps(call).encode(), None
