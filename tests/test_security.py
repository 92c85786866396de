"""Security defaults against real servers: loopback bind (and a warning for all interfaces), no
CORS unless configured, static files that cannot escape their folder, a Content-Security-Policy
on the page that forbids inline script and other origins, ``nosniff``, no pickle loading."""

from __future__ import annotations

import re
import socket
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import start_server, stop_server

pytestmark = pytest.mark.server

PACKAGE = Path(__file__).resolve().parents[1] / "convviz"
TIMEOUT = httpx.Timeout(20.0)


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket in LISTEN state on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_default_bind_is_loopback_only(live_server):
    port = urlsplit(live_server.url).port
    assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, little-endian hex


def test_binding_all_interfaces_prints_a_warning():
    server = start_server("--host", "0.0.0.0")
    try:
        assert listening_addresses(urlsplit(server.url).port) == {"00000000"}
    finally:
        stop_server(server)
    output = server.process.stdout.read().decode(errors="replace")
    assert "warning" in output.lower() and "all interfaces" in output, output


def preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(url + "/api/v1/conv", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                        "Access-Control-Request-Headers": "content-type"},
                         timeout=TIMEOUT)


def test_no_cors_headers_by_default(live_server):
    r = preflight(live_server.url, "https://evil.example")
    assert not any(k.lower().startswith("access-control-") for k in r.headers)
    r = httpx.post(live_server.url + "/api/v1/conv", json={"x": [[1]], "w": [[1]]},
                   headers={"Origin": "https://evil.example"}, timeout=TIMEOUT)
    assert r.status_code == 200 and not any(k.lower().startswith("access-control-") for k in r.headers)


def test_cors_only_for_configured_origins():
    server = start_server("--cors-origin", "https://course.example.org")
    try:
        ok = preflight(server.url, "https://course.example.org")
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://course.example.org"
        bad = preflight(server.url, "https://evil.example")
        assert bad.headers.get("access-control-allow-origin") is None
        r = httpx.post(server.url + "/api/v1/conv", json={"x": [[1]], "w": [[1]]},
                       headers={"Origin": "https://course.example.org"}, timeout=TIMEOUT)
        assert r.headers["access-control-allow-origin"] == "https://course.example.org"
    finally:
        stop_server(server)


def test_cors_origins_from_environment(monkeypatch):
    from fastapi.testclient import TestClient

    from convviz.app import create_app

    monkeypatch.setenv("CONVVIZ_CORS_ORIGINS", "https://a.example, https://b.example")
    client = TestClient(create_app())
    for origin in ("https://a.example", "https://b.example"):
        r = client.options("/api/v1/conv", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert r.headers.get("access-control-allow-origin") == origin
    r = client.options("/api/v1/conv", headers={"Origin": "https://c.example", "Access-Control-Request-Method": "POST"})
    assert r.headers.get("access-control-allow-origin") is None


def raw_get(url: str, target: str) -> tuple[int, bytes]:
    """GET with the request target sent byte for byte (no client-side normalisation of ``..``)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0
    return status, data


TRAVERSALS = [
    "/static/../app.py", "/static/../../pyproject.toml", "/static/js/../../app.py",
    "/static/%2e%2e/app.py", "/static/%2E%2E/app.py", "/static/..%2fapp.py", "/static/%2e%2e%2fapp.py",
    "/static/%2e%2e%2f%2e%2e%2fpyproject.toml", "/static/js/%2e%2e/%2e%2e/app.py",
    "/static/%252e%252e/app.py", "/static/%252e%252e%252fapp.py", "/static/..%252fapp.py",
    "/static/..%5capp.py", "/static/..\\app.py", "/static/%c0%ae%c0%ae/app.py",
    "/static//etc/passwd", "/static/%2fetc%2fpasswd", "/static/../../../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/static/js/main.js%00.py",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_static_files_cannot_escape_their_folder(live_server, target):
    status, data = raw_get(live_server.url, target)
    assert status in (400, 404, 405), (status, data[:300])
    assert b"def create_app" not in data and b"root:" not in data and b"[project]" not in data


def test_static_files_are_served_from_their_folder(live_server):
    files = [p for p in (PACKAGE / "static").rglob("*") if p.is_file()]
    if not files:
        pytest.skip("no static files yet")
    path = files[0]
    r = httpx.get(f"{live_server.url}/static/{path.relative_to(PACKAGE / 'static').as_posix()}", timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == path.read_bytes()
    assert r.headers["x-content-type-options"] == "nosniff"


class _Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self.inline_handlers, self.in_script, self.inline_code = [], [], False, ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.inline_handlers += [k for k in attrs if k.startswith("on")]
        if tag == "script":
            self.scripts.append(attrs)
            self.in_script = True

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_script = False

    def handle_data(self, data):
        if self.in_script:
            self.inline_code += data.strip()


def csp_directives(header: str) -> dict[str, list[str]]:
    return {parts[0]: parts[1:] for parts in (d.split() for d in header.split(";")) if parts}


def test_page_has_a_strict_content_security_policy(live_server):
    r = httpx.get(live_server.url + "/", timeout=TIMEOUT)
    assert r.status_code == 200
    csp = csp_directives(r.headers["content-security-policy"])
    assert csp["default-src"] == ["'self'"] and csp["script-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"] and csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    for values in csp.values():  # nothing inline, nothing evaluated, no other origin
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"} & set(values)
        assert not any(re.match(r"https?://", v) for v in values)
    assert r.headers["x-content-type-options"] == "nosniff"
    # And the page itself needs nothing the policy forbids.
    page = _Scripts()
    page.feed(r.text)
    assert page.inline_code == "" and page.inline_handlers == []
    assert all(s.get("src", "").startswith("/static/") for s in page.scripts)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", r.text)


def test_api_responses_carry_nosniff_and_the_policy(live_server):
    r = httpx.post(live_server.url + "/api/v1/conv", json={"x": [[1]], "w": [[1]]}, timeout=TIMEOUT)
    assert r.headers["x-content-type-options"] == "nosniff" and "content-security-policy" in r.headers
    r = httpx.post(live_server.url + "/api/v1/conv", content=b"{", timeout=TIMEOUT)
    assert r.status_code == 422 and r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.browser
def test_page_loads_under_its_policy_without_violations(live_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            violations = []
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(live_server.url + "/", wait_until="networkidle")
            page.wait_for_timeout(500)
            injected = page.evaluate("""() => new Promise(resolve => {
                window.__inlineRan = false;
                document.addEventListener('securitypolicyviolation', () => resolve('blocked'), {once: true});
                const s = document.createElement('script');
                s.textContent = 'window.__inlineRan = true';
                document.body.appendChild(s);
                setTimeout(() => resolve(window.__inlineRan ? 'ran' : 'silent'), 1000);
            })""")
        finally:
            browser.close()
    assert injected == "blocked"  # the policy is live: an injected inline script does not run
    assert [v for v in violations if "__inlineRan" not in v and "inline script" not in v.lower()] == [], violations


def test_no_pickle_loading_anywhere():
    """Any ``.npy`` loading (none yet) must pass ``allow_pickle=False``."""
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        for match in re.finditer(r"\b(np|numpy)\.load\(", text):
            call = text[match.start():text.find(")", match.start()) + 1]
            assert "allow_pickle=False" in call, f"{path}: {call}"
        assert "import pickle" not in text and "pickle.load" not in text, path
