"""Fixtures of the console's browser tests: the real binary on a fresh SQLite database with the
test clock, an API client for setup and for moving time, Debian's Chromium driven by
Playwright (never a downloaded browser), and helpers to read mailed tokens.

Setup that isn't the thing under test (organisations, accounts) goes through the public API;
everything a test is about is done in the browser.
"""
import email
import email.policy
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = os.environ.get("LANDX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--lang=zh-CN",
]
ADMIN_EMAIL = "admin@console.test"
ADMIN_PASSWORD = "console-admin-2027"
PASSWORD = "landx-console-2027"
SCREENSHOTS = ROOT / "docs" / "screenshots" / "console"


def binary():
    explicit = os.environ.get("LANDX_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    path = Path(target) / "debug" / "landx"
    if not path.exists():
        raise RuntimeError(f"no landx binary at {path}: run `cargo build` (or set LANDX_BIN)")
    return str(path)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


class Api:
    """A small client of the public API (setup and the test clock only)."""

    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None, token=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + "/api/v1" + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                text = res.read().decode()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            raise ApiError(e.code, e.read().decode()) from None

    def login(self, email_addr, password=PASSWORD):
        return self.call("POST", "/auth/login", {"email": email_addr, "password": password})["access_token"]

    def admin(self):
        return self.login(ADMIN_EMAIL, ADMIN_PASSWORD)

    def now(self):
        from datetime import datetime
        t = self.call("GET", "/admin/clock", token=self.admin())["now"]
        return datetime.fromisoformat(t.replace("Z", "+00:00"))

    def advance(self, seconds):
        """Moves the server's clock forward (the API's test clock): never a sleep."""
        return self.call("POST", "/admin/clock/advance", {"seconds": int(seconds)}, token=self.admin())


class Server:
    def __init__(self, base, data_dir, proc):
        self.base = base
        self.data_dir = data_dir
        self.proc = proc
        self.api = Api(base)

    def mails(self):
        out = []
        for f in sorted((self.data_dir / "mail").glob("*"), key=lambda p: p.stat().st_mtime):
            msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
            body = msg.get_body(preferencelist=("plain", "html"))
            out.append((str(msg["To"]), str(msg["Subject"]), body.get_content() if body else ""))
        return out

    def mailed_token(self, to, subject_end, timeout=10):
        """The token of the newest mail to `to` whose subject ends with `subject_end`."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for addr, subject, body in reversed(self.mails()):
                if to in addr and subject.endswith(subject_end):
                    m = re.search(r"\?token=([A-Za-z0-9_-]+)", body)
                    if m:
                        return m.group(1)
            time.sleep(0.2)
        raise AssertionError(f"no mail '{subject_end}' to {to}")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("landx")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        LANDX_DATABASE__URL=f"sqlite://{data}/landx.db",
        LANDX_SERVER__HOST="127.0.0.1",
        LANDX_SERVER__PORT=str(port),
        LANDX_SERVER__PUBLIC_URL=base,
        LANDX_CLOCK__TRAVEL="true",
        LANDX_MAIL__TRANSPORT="file",
        LANDX_MAIL__FILE_DIR=str(data / "mail"),
        LANDX_JOBS__TICK_MS="250",
        LANDX_AUTH__BOOTSTRAP_ADMIN="false",
        LANDX_LOG__LEVEL="warn",
    )
    env.pop("LANDX_ENV", None)
    bin_path = binary()
    subprocess.run([bin_path, "admin", "create", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD],
                   env=env, cwd=data, check=True, capture_output=True)
    log = open(data / "server.log", "wb")
    proc = subprocess.Popen([bin_path, "serve"], env=env, cwd=data, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2):
                break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("landx did not start:\n" + (data / "server.log").read_text())
            time.sleep(0.2)
    yield Server(base, data, proc)
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium fonts-noto-cjk")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Console:
    """One person's browser context: its page, the console's base, CSP violations seen."""

    def __init__(self, context, base):
        self.context = context
        self.base = base
        self.page = context.new_page()
        self.errors = []
        # A refused request is logged by the browser as a failed resource: that is the API
        # answering, not a console error.
        self.page.on("console", lambda m: m.type == "error"
                     and not m.text.startswith("Failed to load resource")
                     and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        # Printing opens no dialog in a test: the call is recorded instead.
        context.add_init_script("window.__printed = 0; window.print = () => { window.__printed += 1; };")

    def open(self, path="/"):
        self.page.goto(self.base + path)
        self.page.wait_for_selector("main:not(:has(.loading))")
        return self.page

    def go(self, path):
        """Navigates inside the console (keeping the in-memory session)."""
        self.page.evaluate("p => { history.pushState(null, '', p); window.dispatchEvent(new Event('landx:navigate')); }", path)
        self.page.wait_for_selector("main:not(:has(.loading))")
        return self.page

    def login(self, email_addr, password=PASSWORD):
        self.open("/app/login")
        self.page.get_by_label("电子邮箱").fill(email_addr)
        self.page.get_by_label("密码").fill(password)
        self.page.get_by_role("button", name="登录").click()
        self.page.wait_for_selector(".who")
        self.page.wait_for_selector("main:not(:has(.loading))")
        return self.page

    def shot(self, name):
        """Screenshots at desktop (1280) and phone (390) widths into docs/screenshots/console/."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        size = self.page.viewport_size
        for label, width in (("desktop", 1280), ("phone", 390)):
            self.page.set_viewport_size({"width": width, "height": 900 if width > 500 else 844})
            self.page.wait_for_timeout(150)
            self.page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
        self.page.set_viewport_size(size)

    def close(self):
        self.context.close()


@pytest.fixture
def new_console(browser, server):
    opened = []

    def make(**kw):
        ctx = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                  viewport={"width": 1280, "height": 900}, **kw)
        c = Console(ctx, server.base)
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()
