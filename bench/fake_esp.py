"""A local stand-in for Postmark's email API, for the ESP batch benchmark and the tests.

It implements what Anymail's Postmark backend calls when Paperboy sends digests in batches:
``POST /email/batchWithTemplates`` (up to 500 messages a call) and ``POST /email`` (one
message, for plain-text readers), with Postmark's request checks (server token, sender,
recipient, template, model) and its response shapes. It accepts and counts messages; it does
not deliver or render them. Addresses at ``inactive.example`` get Postmark's "inactive recipient"
answer (ErrorCode 406); ``fail_next`` answers the next calls with an HTTP error, ``garble_next``
with a 200 and the given body instead of Postmark's answer (the messages may have gone); with
``sender_signatures`` set, a From address outside it gets Postmark's "not a Sender Signature"
answer (ErrorCode 400), per message as Postmark gives it.

Run alone: ``python -m bench.fake_esp --port 8025 [--token TOKEN]``; GET /__stats returns counts.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BATCH = 500
DEFAULT_TOKEN = "fake-postmark-token"  # noqa: S105 - a local stand-in's token, not a secret
INACTIVE_DOMAIN = "@inactive.example"


class FakePostmark(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0, *, token: str = DEFAULT_TOKEN) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.token = token
        self.lock = threading.Lock()
        self.calls: list[str] = []  # endpoint of every accepted call
        self.messages: list[dict] = []  # every accepted message (kept only when ``keep``)
        self.bodies: list[bytes] = []  # every call's request body, as sent (kept only when ``keep``)
        self.accepted = 0
        self.refused = 0
        self.bytes = 0
        self.keep = True
        self.fail_next: list[int] = []  # HTTP statuses to answer the next calls with
        self.garble_next: list[str] = []  # bodies to answer the next calls with (200), as they are
        self.sender_signatures: frozenset[str] | None = None  # None: every From is allowed

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def start(self) -> FakePostmark:
        threading.Thread(target=self.serve_forever, name="fake-postmark", daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def stats(self) -> dict:
        with self.lock:
            return {"calls": len(self.calls), "accepted": self.accepted, "refused": self.refused, "bytes": self.bytes}


def _error(code: int, message: str) -> dict:
    return {"ErrorCode": code, "Message": message}


def check_message(message: object, *, template: bool) -> dict | None:
    """Postmark's validation of one message: an error response, or None when it is sendable."""
    if not isinstance(message, dict):
        return _error(402, "Invalid JSON")
    if not message.get("From"):
        return _error(300, "Invalid 'From' address: ''.")
    to = message.get("To") or ""
    if "@" not in to or "\n" in to:
        return _error(300, f"Invalid 'To' address: '{to}'.")
    if template:
        if not (message.get("TemplateAlias") or message.get("TemplateId")):
            return _error(1101, "The 'TemplateId' or 'TemplateAlias' associated with this request is not valid.")
        if not isinstance(message.get("TemplateModel"), dict):
            return _error(1109, "The TemplateModel is missing or not an object.")
    elif not (message.get("HtmlBody") or message.get("TextBody")):
        return _error(300, "Provide either email TextBody or HtmlBody or both.")
    headers = message.get("Headers", [])
    if not isinstance(headers, list) or not all(isinstance(h, dict) and "Name" in h and "Value" in h for h in headers):
        return _error(300, "Invalid 'Headers' value.")
    if to.lower().endswith(INACTIVE_DOMAIN):
        address = to.rpartition("<")[2].rstrip(">").lower()
        return _error(
            406,
            "You tried to send to a recipient that has been marked as inactive.\n"
            f"Found inactive addresses: {address}.\n"
            "Inactive recipients are ones that have generated a hard bounce or a spam complaint. ",
        )
    return None


class _Handler(BaseHTTPRequestHandler):
    server: FakePostmark
    protocol_version = "HTTP/1.1"  # keep-alive, as requests' sessions use it
    wbufsize = 1 << 17  # an answer is written whole (handle_one_request flushes it)

    def log_message(self, format: str, *args) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # As HTTP servers do on keep-alive connections: without it, an answer written after its
        # headers waits for the client's delayed ACK (Nagle), ~40 ms a call on Linux loopback.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _answer(self, status: int, body: object, *, raw_text: bool = False) -> None:
        data = str(body).encode() if raw_text else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)  # buffered (wbufsize): headers and body leave in one write

    def do_GET(self) -> None:
        if self.path == "/__stats":
            self._answer(200, self.server.stats())
        else:
            self._answer(404, _error(404, "Not found"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        server = self.server
        with server.lock:
            failure = server.fail_next.pop(0) if server.fail_next else None
            garble = server.garble_next.pop(0) if server.garble_next else None
            if server.keep:
                server.bodies.append(raw)
        if failure:
            self._answer(failure, _error(failure, "Simulated provider failure"))
            return
        if garble is not None:
            self._answer(200, garble, raw_text=True)
            return
        if self.headers.get("X-Postmark-Server-Token") != server.token:
            self._answer(401, _error(10, "Request does not contain a valid Server token."))
            return
        try:
            payload = json.loads(raw)
        except ValueError:
            self._answer(422, _error(402, "Received invalid JSON input."))
            return
        if self.path == "/email/batchWithTemplates":
            messages = payload.get("Messages") if isinstance(payload, dict) else None
            if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_BATCH:
                self._answer(422, _error(300, f"Messages must be a list of 1 to {MAX_BATCH} messages."))
                return
            results = [self._one(message, template=True) for message in messages]
            self._record(self.path, len(raw), messages, results)
            self._answer(200, results)
        elif self.path == "/email":
            result = self._one(payload, template=False)
            self._record(self.path, len(raw), [payload], [result])
            self._answer(200 if result["ErrorCode"] == 0 else 422, result)
        else:
            self._answer(404, _error(404, f"Unknown endpoint {self.path}"))

    def _one(self, message: dict[str, Any], *, template: bool) -> dict[str, Any]:
        error = check_message(message, template=template)
        if error:
            return error
        signatures = self.server.sender_signatures
        sender = str(message.get("From", "")).rpartition("<")[2].rstrip(">").lower()
        if signatures is not None and sender not in signatures:
            return _error(
                400,
                f"The 'From' address you supplied ({sender}) is not a Sender Signature on your account. "
                "Please add and confirm this address in order to be able to use it in the 'From' field "
                "of your messages.",
            )
        return {
            "ErrorCode": 0,
            "Message": "OK",
            "MessageID": str(uuid.uuid4()),
            "SubmittedAt": dt.datetime.now(dt.UTC).isoformat(),
            "To": message["To"],
        }

    def _record(self, path: str, size: int, messages: list, results: list[dict]) -> None:
        server = self.server
        with server.lock:
            server.calls.append(path)
            server.bytes += size
            for message, result in zip(messages, results, strict=True):
                if result["ErrorCode"] == 0:
                    server.accepted += 1
                    if server.keep:
                        server.messages.append(message)
                else:
                    server.refused += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    args = parser.parse_args()
    server = FakePostmark(args.port, token=args.token)
    server.keep = False
    print(f"fake Postmark API listening on {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
