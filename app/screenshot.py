"""Headless Chromium pictures of a flow run in the Prefect UI: the run page and its summary artifact.

Chromium is driven over its DevTools pipe, so the page can be logged in first: the UI reads the server's auth
string from its origin's localStorage (`prefect-password`, base64), as its own login form leaves it."""

import base64
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from app.server.api import post_json, ui_base, ui_url
from app.server.auth import api_auth

CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]


def chromium() -> str:
    if found := shutil.which("chromium") or shutil.which("chromium-browser"):
        return found
    raise RuntimeError("no chromium on PATH: install Debian's chromium package (make chromium)")


class Browser:
    """One headless Chromium page, spoken to in DevTools messages over a pipe (Chromium reads fd 3, writes fd 4)."""

    def __init__(self, size: tuple[int, int]):
        reads, self._out = os.pipe()
        self._in, writes = os.pipe()
        # above 9, so that the 3<& and 4>& of bash (not dash: it takes one digit) cannot clobber one another
        to_chromium, from_chromium = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (reads, writes))
        os.close(reads), os.close(writes)
        shell = f'exec "$@" 3<&{to_chromium} 4>&{from_chromium}'
        command = [chromium(), *CHROMIUM_FLAGS, "--remote-debugging-pipe", f"--window-size={size[0]},{size[1]}"]
        self.process = subprocess.Popen(
            ["bash", "-c", shell, "bash", *command],
            pass_fds=(to_chromium, from_chromium),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chromium), os.close(from_chromium)
        self._buffer, self._next_id, self.events = b"", 0, []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        width, height = size
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.call("Page.enable")

    def call(self, method: str, **params):
        """Send one DevTools command to the page (or to the browser before a page is attached); its result."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session := getattr(self, "session", None):
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"chromium refused {method}: {answer['error'].get('message')}")
                return answer.get("result", {})
            self.events.append(answer.get("method"))

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url: str, timeout: float = 60) -> None:
        """Navigate to url and wait for its load event."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while "Page.loadEventFired" not in self.events:
            if time.monotonic() > deadline:
                raise RuntimeError(f"chromium could not load {url} in {timeout:.0f} s")
            self.events.append(self._read().get("method"))

    def text(self) -> str:
        return self.call("Runtime.evaluate", expression="document.body.innerText", returnByValue=True)["result"].get(
            "value", ""
        )

    def settled_text(self, timeout: float, quiet: float = 3.0) -> str:
        """The page's text once it has not changed for `quiet` seconds (the UI fills in from the API), or at timeout."""
        deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
        while time.monotonic() < deadline:
            now = self.text()
            if now != last:
                last, since = now, time.monotonic()
            elif now.strip() and time.monotonic() - since >= quiet:
                break
            time.sleep(0.5)
        return " ".join(last.split())

    def close(self) -> None:
        try:
            self.session = None
            self.call("Browser.close")
        except (OSError, RuntimeError):
            pass
        finally:
            os.close(self._in), os.close(self._out)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def render(pages: dict[str, str], to: Path, login: tuple[str, str] | None, size=(1400, 1400), wait_s: float = 30):
    """Screenshot each {file: url} to the folder `to`, logged in first when login is (the UI's origin, its auth
    string); {file: the page's text}."""
    to.mkdir(parents=True, exist_ok=True)
    browser = Browser(size)
    try:
        if login:
            origin, auth = login
            browser.open(f"{origin}/robots.txt")
            secret = json.dumps(base64.b64encode(auth.encode()).decode())
            browser.call("Runtime.evaluate", expression=f"localStorage.setItem('prefect-password', {secret})")
        texts = {}
        for name, url in pages.items():
            browser.open(url)
            texts[name] = browser.settled_text(wait_s)
            (to / name).write_bytes(base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"]))
        return texts
    finally:
        browser.close()


def flow_run_pictures(api_url: str, flow_run_id: str, to: Path) -> dict[str, str]:
    """Pictures of the flow run page and of its forecast-summary artifact, as {file: rendered text of the page}."""
    pages = {"flow-run.png": ui_url(api_url, flow_run_id)}
    body = {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}, "key": {"any_": ["forecast-summary"]}}}
    if summaries := post_json(f"{api_url.rstrip('/')}/artifacts/filter", body):
        pages["summary.png"] = f"{ui_base(api_url)}/artifacts/artifact/{summaries[0]['id']}"
    auth = api_auth(api_url)
    return render(pages, to, (ui_base(api_url), auth) if auth else None)
