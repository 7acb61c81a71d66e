"""Shared test fixtures.

Real services: PostgreSQL comes from DATABASE_URL (the whole suite runs on it), Redis from
REDIS_URL, RabbitMQ from RABBITMQ_URL (default guest on 127.0.0.1:5672; the tests that start real
Celery workers run once on each broker). With CI=true all are mandatory and a test that cannot
reach one fails; on a laptop without them such tests skip with the reason.
"""

from __future__ import annotations

import asyncio
import email
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures" / "real"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_report_header(config) -> list[str]:
    return [
        f"paperboy: CI={IN_CI} DATABASE_URL={'set' if os.environ.get('DATABASE_URL') else 'unset (SQLite)'} "
        f"REDIS_URL={'set' if os.environ.get('REDIS_URL') else 'unset'} "
        f"RABBITMQ_URL={'set' if os.environ.get('RABBITMQ_URL') else 'unset (guest on 127.0.0.1:5672)'}"
    ]


def pytest_configure(config) -> None:
    if IN_CI:
        if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
            raise pytest.UsageError("CI=true: DATABASE_URL must point at PostgreSQL (see .ci/run)")
        if not os.environ.get("REDIS_URL"):
            raise pytest.UsageError("CI=true: REDIS_URL must point at Redis (see .ci/run)")


def unavailable(reason: str) -> NoReturn:
    """Skip on a developer machine, fail in CI: CI promises every real service."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true, so this is a failure, not a skip)")
    pytest.skip(reason)


def tcp_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def celery_runs_tasks_inline():
    """Tasks run in the test's own process; tests/test_celery_worker.py covers real workers."""
    from config.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture(autouse=True)
def fresh_render_cache():
    """Test databases reuse primary keys; a rendering cached by one test must not leak into the next."""
    from django.core.cache import caches

    from newsletter.rendering import forget_renderings
    from papers.version import _bump

    forget_renderings()
    # The rolled-back rows of the last test sent no signal: cached pages and API answers of theirs
    # must not be served under the same papers version.
    _bump()
    caches["pages"].clear()
    yield
    forget_renderings()


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        unavailable("REDIS_URL is not set")
    parts = urlsplit(url)
    if not tcp_reachable(parts.hostname or "127.0.0.1", parts.port or 6379):
        unavailable(f"Redis at {parts.hostname}:{parts.port} does not answer")
    return url


RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
TEST_VHOST_PREFIX = "paperboy-test-"
STALE_VHOST_SECONDS = 24 * 3600


def rabbitmqctl(*args: str) -> subprocess.CompletedProcess | None:
    """Run rabbitmqctl, or None when it cannot run here (not installed, not root, a remote broker)."""
    if not shutil.which("rabbitmqctl"):
        return None
    try:
        result = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None
    return result if result.returncode == 0 else None


def _forget_stale_vhosts() -> None:
    """Vhosts of test runs that died before their teardown (a day old: others may be running now)."""
    listed = rabbitmqctl("list_vhosts", "name")
    for name in listed.stdout.split() if listed else []:
        started = name.removeprefix(TEST_VHOST_PREFIX).split("-", 1)[0]
        stale = started.isdigit() and time.time() - int(started) > STALE_VHOST_SECONDS
        if name.startswith(TEST_VHOST_PREFIX) and stale:
            rabbitmqctl("delete_vhost", name)


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    """RabbitMQ (RABBITMQ_URL, else guest on 127.0.0.1:5672) in a virtual host of this test session's
    own when rabbitmqctl can make one: nothing an earlier run left (queues, unacknowledged messages)
    is visible in it, and deleting it at the end removes everything the session declared. Without
    rabbitmqctl the URL's own vhost is used; every test consumes a queue with a fresh name anyway."""
    parts = urlsplit(RABBITMQ_URL)
    if not tcp_reachable(parts.hostname or "127.0.0.1", parts.port or 5672):
        unavailable(f"RabbitMQ at {parts.hostname}:{parts.port or 5672} does not answer (RABBITMQ_URL)")
    _forget_stale_vhosts()
    vhost = f"{TEST_VHOST_PREFIX}{int(time.time())}-{os.getpid()}"
    user = parts.username or "guest"
    if rabbitmqctl("add_vhost", vhost) and rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*"):
        yield parts._replace(path="/" + vhost).geturl()
        rabbitmqctl("delete_vhost", vhost)
    else:
        yield RABBITMQ_URL


@pytest.fixture(params=["redis", "amqp"])
def broker_url(request) -> str:
    """The Celery broker a worker test runs on: each such test runs on Redis and on RabbitMQ.
    Results and the cache stay on Redis (REDIS_URL) either way, as in production."""
    request.getfixturevalue("redis_url")
    return request.getfixturevalue("rabbitmq_url" if request.param == "amqp" else "redis_url")


def forget_queue(broker_url: str, queue: str) -> None:
    """Drop what a test left on the broker: its queue and, on Redis, a killed worker's
    unacknowledged message (Redis would re-deliver it, to nobody, after the visibility timeout).
    RabbitMQ requeued such a message when the worker's connection closed; deleting the queue drops it."""
    if broker_url.startswith("amqp"):
        from kombu import Connection, Exchange, Queue

        with Connection(broker_url, connect_timeout=5) as connection:
            channel = connection.default_channel
            Queue(queue).bind(channel).delete()
            Exchange(queue).bind(channel).delete()  # Celery's direct exchange of the same name
        return
    import json

    import redis

    broker = redis.Redis.from_url(broker_url)
    for tag, payload in broker.hgetall("unacked").items():
        if json.loads(payload)[-1] == queue:
            broker.hdel("unacked", tag)
            broker.zrem("unacked_index", tag)
    for key in broker.scan_iter(match=f"*{queue}*"):  # the queue and its bindings
        broker.delete(key)
    broker.close()


def wake_idle_workers(client, processes: list[Process], timeout: float = 10) -> None:
    """After signalling RabbitMQ workers to stop: an idle one sleeps in its event loop for up to
    10 s before it acts on the signal (kombu's hub polls that long when no timer is due), and any
    message wakes it. Broadcast pings until they are gone. Redis workers poll every second anyway."""
    if not client.conf.broker_url.startswith("amqp"):
        return
    deadline = time.monotonic() + timeout
    while any(process.popen.poll() is None for process in processes) and time.monotonic() < deadline:
        client.control.ping(timeout=0.2)


def messages_waiting(broker_url: str, queue: str) -> int:
    """Messages ready in a queue, for any consumer to take (not those a worker holds unacknowledged)."""
    if broker_url.startswith("amqp"):
        from kombu import Connection

        with Connection(broker_url, connect_timeout=5) as connection:
            channel: Any = connection.default_channel  # py-amqp's Channel; kombu's stubs know only the base
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
    import redis

    broker = redis.Redis.from_url(broker_url)
    try:  # kombu keeps a queue as one list per priority step: <queue>, <queue>\x06\x16<step>
        return sum(int(broker.llen(key)) for key in broker.scan_iter(match=f"{queue}*") if broker.type(key) == b"list")
    finally:
        broker.close()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        unavailable("DATABASE_URL does not point at PostgreSQL")
    parts = urlsplit(url)
    if not tcp_reachable(parts.hostname or "127.0.0.1", parts.port or 5432):
        unavailable(f"PostgreSQL at {parts.hostname}:{parts.port} does not answer")
    return url


@pytest.fixture
def test_database_url(postgres_url, django_db_setup) -> str:
    """DATABASE_URL of the test database pytest-django created, for child processes (servers, workers)."""
    from django.db import connection

    parts = urlsplit(postgres_url)
    return parts._replace(path="/" + connection.settings_dict["NAME"]).geturl()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        unavailable(f"the recorded fixtures are not at {FIXTURES}")
    return FIXTURES


def clean_env(**overrides: str) -> dict[str, str]:
    """An environment with none of Paperboy's settings, plus ``overrides``: what a fresh shell sees."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    env.update(overrides)
    return env


def run_python(code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


class Process:
    """A child process the test owns: stopped, and its output shown, when the test ends."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log = log
        self._log_file = log.open("wb")
        self.popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log_file, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log_file.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator:
    """Start child processes (web servers, Celery workers); all are stopped at teardown."""
    started: list[Process] = []

    def start(args: list[str], env: dict[str, str], name: str = "process") -> Process:
        process = Process(args, env, tmp_path / f"{name}-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def wait_for_port(process: Process, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise AssertionError(f"process exited with {process.popen.returncode}:\n{process.output()}")
        if tcp_reachable("127.0.0.1", port, timeout=0.2):
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listened on port {port} within {timeout}s:\n{process.output()}")


@pytest.fixture
def web_server(spawn) -> Iterator:
    """Start gunicorn (the production web server) with the given environment; returns its URL."""

    def start(env: dict[str, str]) -> str:
        port = free_port()
        process = spawn(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
            ],
            env,
            name="web",
        )
        wait_for_port(process, port)
        return f"http://127.0.0.1:{port}"

    yield start


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Headless Debian Chromium driven by Playwright (no browser download: Playwright uses ours)."""
    if not CHROMIUM:
        unavailable("chromium is not installed (make test installs it when run as root)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django would then refuse the
    # test's own (synchronous) database access, which is safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator:
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def site_page(browser, live_server) -> Iterator:
    """A page on Django's live test server: ``goto`` takes the site's own paths."""
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    yield page
    context.close()


class RecordedServer:
    """A real HTTP server on loopback that answers each path from a script of responses.

    ``server.route("/api/daily_papers", body, status=200, headers={})`` adds one response; give a
    path several and they are served in order, the last one repeating. Requests (path + query)
    are recorded in ``server.requests``, their headers in ``server.request_headers``."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.routes: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
        self.requests: list[str] = []
        self.request_headers: list[dict[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                owner.request_headers.append(dict(self.headers))
                path = self.path.split("?", 1)[0]
                script = owner.routes.get(path)
                if not script:
                    status, headers, body = 404, {"Content-Type": "text/plain"}, b"not found"
                else:
                    status, headers, body = script.pop(0) if len(script) > 1 else script[0]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def route(self, path: str, body: bytes | str, *, status: int = 200, headers: dict[str, str] | None = None):
        data = body.encode() if isinstance(body, str) else body
        self.routes.setdefault(path, []).append((status, headers or {"Content-Type": "application/octet-stream"}, data))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def http_server() -> Iterator[RecordedServer]:
    server = RecordedServer()
    yield server
    server.close()


# --- A real SMTP server (aiosmtpd) ----------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts. ``reject``: addresses answered
    with a permanent 550 at RCPT TO; ``refuse_sender``: the reply to every MAIL FROM (a relay that
    will not take our sender); ``password``: require AUTH LOGIN/PLAIN with it (any user name);
    ``delay``: seconds to wait before answering DATA (a slow provider); ``pipelining``: offer
    PIPELINING in the EHLO reply. A message is kept as soon as
    its data has arrived, before the reply: a client that dies while waiting for the 250 may
    still have delivered it."""

    def __init__(
        self,
        *,
        reject: frozenset[str] = frozenset(),
        refuse_sender: str = "",
        password: str | None = None,
        delay: float = 0.0,
        pipelining: bool = True,
    ) -> None:
        self.pipelining = pipelining
        self.reject = {address.lower() for address in reject}
        self.refuse_sender = refuse_sender
        self.password = password
        self.delay = delay
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.senders: list[str] = []
        self.refused: list[str] = []
        self.port = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        """Offer PIPELINING (RFC 2920) like Postfix does; aiosmtpd reads pipelined commands fine."""
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.refuse_sender:
            return self.refuse_sender
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = getattr(auth_data, "password", b"") == (self.password or "").encode()
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 235 or 535 itself

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            self.refused.append(address)
            return "550 5.1.1 Recipient address rejected: user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.received.append((list(envelope.rcpt_tos), message))
        self.senders.append(envelope.mail_from)
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"

    def counts(self) -> Counter[str]:
        """Messages received per recipient address."""
        return Counter(address.lower() for recipients, _ in list(self.received) for address in recipients)

    def messages_to(self, address: str) -> list[EmailMessage]:
        return [
            message
            for recipients, message in list(self.received)
            if address.lower() in [recipient.lower() for recipient in recipients]
        ]


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., Inbox]]:
    """``smtp_server(port=None, **Inbox options)`` starts an SMTP server; all are stopped at teardown."""
    controllers: list[Controller] = []

    def start(port: int | None = None, **options) -> Inbox:
        inbox = Inbox(**options)
        auth: dict[str, Any] = {}
        if inbox.password is not None:
            auth = {"authenticator": inbox.authenticate, "auth_require_tls": False}
        controller = Controller(inbox, hostname="127.0.0.1", port=port or free_port(), **auth)
        controller.start()
        controllers.append(controller)
        inbox.port = controller.port
        return inbox

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def use_smtp(settings) -> Callable[[int], None]:
    """Point this process's email at an SMTP server on loopback (what EMAIL_URL does for a worker)."""

    def use(port: int) -> None:
        settings.EMAIL_BACKEND = "newsletter.smtp.EmailBackend"  # what EMAIL_URL=smtp://... selects
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_TIMEOUT = 5

    return use


# --- browser tests -------------------------------------------------------------------------------


def contrast(page, selector: str) -> float:
    """The WCAG contrast ratio of an element's text against the background it is drawn on."""
    return page.evaluate(
        """(selector) => {
            const parse = (c) => c.match(/[\\d.]+/g).slice(0, 4).map(Number);
            const element = document.querySelector(selector);
            let node = element, background = null;
            while (node && !background) {
                const value = parse(getComputedStyle(node).backgroundColor);
                if (value.length < 4 || value[3] > 0) background = value;
                node = node.parentElement;
            }
            background = background || [255, 255, 255];
            const linear = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
            const lum = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
            const [a, b] = [lum(parse(getComputedStyle(element).color)), lum(background)];
            return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        }""",
        selector,
    )


BROWSER_VIEWPORTS = [(390, 844), (1280, 900)]  # a phone and a desktop
BROWSER_SCHEMES = ["light", "dark"]
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
AXE_FAILING_IMPACTS = ("serious", "critical")


def axe_violations(page) -> list[str]:
    """axe-core's serious and critical accessibility violations on the page, one readable line each."""
    if not AXE.is_file():
        how = "make browser installs it" if shutil.which("npm") else "npm is not installed, so make browser cannot"
        unavailable(f"axe-core is not at {AXE.relative_to(ROOT)} ({how}: npm ci --prefix tests/browser)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, not added as a <script>: the site's CSP
        # (script-src 'self') blocks inline scripts.
        page.evaluate(AXE.read_text())
    violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} — "
        + ", ".join(" ".join(map(str, node["target"])) for node in violation["nodes"][:3])
        + (f" and {len(violation['nodes']) - 3} more" if len(violation["nodes"]) > 3 else "")
        for violation in violations
        if violation["impact"] in AXE_FAILING_IMPACTS
    ]


def _runs_timers(page) -> bool:
    """False in a context with JavaScript off, where axe (which waits on timers) would hang."""
    page.evaluate("() => { window.__paperboyTimer = false; setTimeout(() => { window.__paperboyTimer = true }, 0) }")
    page.wait_for_timeout(100)  # a slow machine only sends the page down the (slower, still right) copy path
    return page.evaluate("window.__paperboyTimer")


@contextmanager
def axe_page(page) -> Iterator:
    """The page itself, or, when its JavaScript is off, a copy of its DOM in a page that runs
    the audit: served at the same URL (so the real CSS loads) with its own scripts blocked."""
    if _runs_timers(page):
        yield page
        return
    url, html = page.url.split("#")[0], page.content()
    context = page.context.browser.new_context(viewport=page.viewport_size)
    copy = context.new_page()
    headers = {"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": "script-src 'none'"}
    copy.route(lambda requested: requested == url, lambda route: route.fulfill(body=html, headers=headers))
    copy.goto(url)
    try:
        yield copy
    finally:
        context.close()


def check_layout(page, name: str, readable: list[str], *, visible: tuple[str, ...] = ()) -> None:
    """At every width and scheme: a screenshot (test-output/browser/<name>-<width>-<scheme>.png),
    no sideways scrolling, readable text (``readable``), the ``visible`` elements shown, and no
    serious or critical accessibility violation that axe-core finds."""
    screenshots = ROOT / "test-output" / "browser"
    screenshots.mkdir(parents=True, exist_ok=True)
    with axe_page(page) as audited:
        for width, height in BROWSER_VIEWPORTS:
            for scheme in BROWSER_SCHEMES:
                for shown in {page, audited}:
                    shown.set_viewport_size({"width": width, "height": height})
                    shown.emulate_media(color_scheme=scheme)
                page.screenshot(path=screenshots / f"{name}-{width}-{scheme}.png", full_page=True)
                widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
                assert widths[0] <= widths[1] == width, f"{name} scrolls sideways at {width} px {scheme}: {widths}"
                for selector in readable:
                    assert contrast(page, selector) >= 4.5, f"{name} {selector} at {width} px {scheme}"
                for selector in visible:
                    assert page.locator(selector).last.is_visible(), f"{name} {selector} at {width} px {scheme}"
                problems = axe_violations(audited)
                assert not problems, f"{name} at {width} px {scheme}: axe-core finds\n" + "\n".join(problems)
