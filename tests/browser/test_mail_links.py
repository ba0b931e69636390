"""The links the platform e-mails, opened in a real browser (headless Chromium, no download:
Debian's /usr/bin/chromium driven by Playwright).

A fresh `landx serve` (SQLite, file transport, test clock on) sends real mails; each link is
read from the outbox with `landx mail list`, exactly as a developer would, and opened:
verification, password reset (with a field error from the server first) and invitation are
completed; a used, an expired and an invalid link each show their page. Every page is
captured under docs/screenshots/mail/ and checked for its security headers, for escaping, and
for the absence of any Content-Security-Policy violation.

Run: LANDX_BIN=target/debug/landx python3 -m pytest tests/browser/test_mail_links.py
"""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots" / "mail"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def landx_bin():
    path = os.environ.get("LANDX_BIN") or str(
        Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "landx"
    )
    assert Path(path).is_file(), f"no landx binary at {path}: cargo build first or set LANDX_BIN"
    return str(Path(path).resolve())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `landx serve` on a fresh SQLite database in its own directory."""

    def __init__(self):
        self.bin = landx_bin()
        self.dir = tempfile.mkdtemp(prefix="landx-browser-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            LANDX_ENV="test",
            LANDX_DATABASE__URL=f"sqlite://{self.dir}/landx.db",
            LANDX_SERVER__PORT=str(self.port),
            LANDX_SERVER__PUBLIC_URL=self.base,
            LANDX_MAIL__TRANSPORT="file",
            LANDX_MAIL__FILE_DIR=f"{self.dir}/mail",
            LANDX_CLOCK__TRAVEL="true",
            LANDX_JOBS__TICK_MS="200",
            LANDX_LOG__LEVEL="warn",
        )
        self.log = open(f"{self.dir}/server.log", "w")
        self.proc = subprocess.Popen(
            [self.bin, "serve"], cwd=self.dir, env=self.env, stdout=subprocess.PIPE,
            stderr=self.log, text=True,
        )
        line = self.proc.stdout.readline()
        m = re.search(r"created (\S+) with password (\S+)", line)
        assert m, f"no admin line from the server: {line!r}"
        self.admin = self.login(m.group(1), m.group(2))
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{self.base}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)

    def api(self, method, path, body=None, token=None, expect=None):
        req = urllib.request.Request(f"{self.base}/api/v1{path}", method=method)
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for attempt in range(50):
            try:
                with urllib.request.urlopen(req, data, timeout=10) as r:
                    status, text = r.status, r.read().decode()
                break
            except urllib.error.HTTPError as e:
                status, text = e.code, e.read().decode()
                break
            except urllib.error.URLError:
                time.sleep(0.1)
        if expect is not None:
            assert status == expect, f"{method} {path}: {status} {text}"
        return status, (json.loads(text) if text else None)

    def login(self, email, password):
        _, body = self.api("POST", "/auth/login", {"email": email, "password": password}, expect=200)
        return body["access_token"]

    def mailed_link(self, to, page):
        """The newest mailed link to `to` for `page`, read with `landx mail list`."""
        for _ in range(50):
            out = subprocess.run(
                [self.bin, "mail", "list", "--to", to], cwd=self.dir, env=self.env,
                capture_output=True, text=True, check=True,
            ).stdout
            links = re.findall(rf"^  (http\S+/{page}\?token=[A-Za-z0-9_-]+)$", out, re.M)
            if links:
                return links[0]
            time.sleep(0.2)
        raise AssertionError(f"no {page} link mailed to {to}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self.log.close()
        text = Path(f"{self.dir}/server.log").read_text()
        shutil.rmtree(self.dir, ignore_errors=True)
        return text


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    log = s.stop()
    assert "internal error" not in log, log


@pytest.fixture(scope="module")
def browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 800, "height": 640})
    pg = ctx.new_page()
    pg.violations = []
    pg.on("console", lambda m: pg.violations.append(m.text)
          if "Content Security Policy" in m.text else None)
    yield pg
    assert pg.violations == [], pg.violations
    ctx.close()


def check_page(response, status):
    assert response.status == status, response.status
    h = response.headers
    assert h["content-type"] == "text/html; charset=utf-8"
    assert h["cache-control"] == "no-store"
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["content-security-policy"].startswith("default-src 'none'; style-src 'sha256-")
    assert "script" not in h["content-security-policy"]


def shot(page, name):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def register(server, email, name):
    server.api("POST", "/auth/register",
               {"email": email, "password": "family-farm-2027", "display_name": name}, expect=201)


def test_verification_from_the_mailed_link_then_used(server, page):
    register(server, "farm@example.cn", "金山<b>绿野</b>家庭农场")
    link = server.mailed_link("farm@example.cn", "verify-email")
    assert link.startswith(server.base + "/verify-email?token=")
    r = page.goto(link)
    check_page(r, 200)
    assert page.locator("h1").inner_text() == "验证邮箱"
    # Opening changed nothing: the account is still unverified.
    tok = server.login("farm@example.cn", "family-farm-2027")
    assert server.api("GET", "/me", token=tok)[1]["email_verified"] is False
    shot(page, "verify-form")
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="验证邮箱").click()
    check_page(nav.value, 200)
    assert page.locator("h1").inner_text() == "邮箱已验证"
    assert "farm@example.cn" in page.locator("main").inner_text()
    shot(page, "verify-done")
    assert server.api("GET", "/me", token=tok)[1]["email_verified"] is True
    # The same link again: used.
    r = page.goto(link)
    check_page(r, 410)
    assert page.locator("h1").inner_text() == "此链接已使用"
    shot(page, "verify-used")


def test_password_reset_with_a_field_error_first(server, page):
    register(server, "reset@example.cn", "漕泾丰收合作社")
    server.api("POST", "/auth/password-reset/request", {"email": "reset@example.cn"}, expect=202)
    link = server.mailed_link("reset@example.cn", "reset-password")
    r = page.goto(link)
    check_page(r, 200)
    assert page.locator("h1").inner_text() == "重置密码"
    assert "10–128 个字符" in page.locator("#rules").inner_text()
    # A rule only the server knows: not the e-mail address.
    page.fill("#password", "reset@example.cn")
    page.fill("#password_confirm", "reset@example.cn")
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="重置密码").click()
    check_page(nav.value, 422)
    assert "密码不能与邮箱地址相同" in page.locator("[role=alert]").inner_text()
    shot(page, "reset-field-error")
    page.fill("#password", "new-password-2027")
    page.fill("#password_confirm", "new-password-2027")
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="重置密码").click()
    check_page(nav.value, 200)
    assert page.locator("h1").inner_text() == "密码已重置"
    shot(page, "reset-done")
    server.login("reset@example.cn", "new-password-2027")
    r = page.goto(link)
    check_page(r, 410)
    assert page.locator("h1").inner_text() == "此链接已使用"
    shot(page, "reset-used")


def test_invitation_sets_the_first_password(server, page):
    _, ts = server.api("POST", "/townships", {"code": "CJ", "name": "漕泾镇"}, token=server.admin, expect=201)
    server.api("POST", "/users", {"email": "staff@example.cn", "display_name": "漕泾镇农经站",
                                  "role": "staff", "township_id": ts["id"]},
               token=server.admin, expect=201)
    link = server.mailed_link("staff@example.cn", "accept-invitation")
    r = page.goto(link)
    check_page(r, 200)
    assert page.locator("h1").inner_text() == "设置密码"
    shot(page, "invitation-form")
    page.fill("#password", "caojing-staff-2027")
    page.fill("#password_confirm", "caojing-staff-2027")
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="设置密码").click()
    check_page(nav.value, 200)
    assert page.locator("h1").inner_text() == "密码已设置"
    shot(page, "invitation-done")
    server.login("staff@example.cn", "caojing-staff-2027")


def test_expired_and_invalid_links(server, page):
    register(server, "late@example.cn", "迟到的农场")
    link = server.mailed_link("late@example.cn", "verify-email")
    # 49 hours on the test clock: past the 48 hours of a verification link.
    server.api("POST", "/admin/clock/advance", {"seconds": 49 * 3600}, token=server.admin, expect=200)
    r = page.goto(link)
    check_page(r, 410)
    assert page.locator("h1").inner_text() == "此链接已过期"
    shot(page, "verify-expired")
    r = page.goto(server.base + "/reset-password?token=not-a-token-we-sent")
    check_page(r, 404)
    assert page.locator("h1").inner_text() == "链接无效"
    shot(page, "invalid")
    # Markup in the link is never markup on the page.
    r = page.goto(server.base + "/verify-email?token=%3Cscript%3Ealert(1)%3C/script%3E")
    check_page(r, 404)
    assert "<script>" not in page.content()
