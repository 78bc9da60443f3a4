"""Headless Chromium driven over the DevTools protocol on a pipe, with the standard library only.

`--remote-debugging-pipe` makes Chromium read protocol commands on fd 3 and write replies and
events on fd 4, each a JSON message ended by a NUL byte: no port, no WebSocket client, no
driver package. Used by tests/test_run_report_browser.py.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The network is closed here: without the background-networking flags Chromium waits on
# refused connections (updates, sync, field trials) and a page load can hang.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--mute-audio",
)
PACKAGE_HINT = ("the browser test needs Debian's chromium package: `make test` installs it "
                "(scripts/test_tools.sh), or run `apt-get install chromium` as root")


def find_chromium() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


_ON_FDS_3_AND_4 = (
    "import os, sys\n"
    "commands, replies = int(sys.argv[1]), int(sys.argv[2])\n"
    "os.dup2(commands, 3)\n"
    "os.dup2(replies, 4)\n"
    "os.close(commands)\n"
    "os.close(replies)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


def _above_nine(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


class ProtocolError(RuntimeError):
    pass


class Chromium:
    """One browser process; `open(url)` gives a page session to evaluate and screenshot."""

    def __init__(self, binary: str, timeout: float = 30.0):
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self.dialogs: list[dict[str, Any]] = []
        self._next_id = 0
        self._buffer = b""
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        self.log = Path(self.profile) / "chromium.log"
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        # Above 9, so that neither end is already fd 3 or 4 (dup2 onto one would close the other).
        commands_read, replies_write = (_above_nine(fd) for fd in (commands_read, replies_write))
        # A small Python step puts the two pipe ends on fds 3 and 4, then execs Chromium: no
        # preexec_fn (unsafe in a process with threads, such as a Spark driver), and no shell
        # (dash redirects single-digit fds only).
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _ON_FDS_3_AND_4, str(commands_read), str(replies_write), binary,
                 *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"],
                pass_fds=(commands_read, replies_write), stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True,
            )
        os.close(commands_read)
        os.close(replies_write)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    # --- the protocol ---------------------------------------------------------------------------
    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"Chromium did not answer in {self.timeout:.0f}s; its log ends:\n{self.log_tail()}")
            ready, _, _ = select.select([self._replies], [], [], left)
            if ready:
                chunk = os.read(self._replies, 1 << 20)
                if not chunk:
                    raise ProtocolError(f"Chromium closed the pipe (exit {self.process.poll()}); its log ends:\n"
                                        f"{self.log_tail()}")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _on_event(self, message: dict[str, Any]) -> None:
        self.events.append(message)
        if message.get("method") == "Page.javascriptDialogOpening":
            # A payload that ran: record it and close the dialog, or the page stays blocked.
            self.dialogs.append(message["params"])
            self._send("Page.handleJavaScriptDialog", {"accept": True}, message.get("sessionId"))

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict[str, Any]:
        wanted = self._send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise ProtocolError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self._on_event(message)

    def wait_for(self, event: str, session: str | None = None) -> dict[str, Any]:
        for message in self.events:
            if message.get("method") == event and message.get("sessionId") == session:
                return message
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline)
            if "method" in message:
                self._on_event(message)
                if message["method"] == event and message.get("sessionId") == session:
                    return message

    # --- pages ----------------------------------------------------------------------------------
    def open(self, url: str, width: int = 1100, height: int = 900) -> "Page":
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page.enable", "Runtime.enable"):
            self.call(domain, session=session)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)
        self.events.clear()
        navigation = self.call("Page.navigate", {"url": url}, session)
        if navigation.get("errorText"):
            raise ProtocolError(f"could not open {url}: {navigation['errorText']}")
        self.wait_for("Page.loadEventFired", session)
        return Page(self, session, width)

    def close(self) -> None:
        try:
            self._send("Browser.close")
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._commands)
            os.close(self._replies)
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Page:
    def __init__(self, browser: Chromium, session: str, width: int):
        self.browser, self.session, self.width = browser, session, width

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression evaluated in the page (returned by value)."""
        reply = self.browser.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                  self.session)
        if "exceptionDetails" in reply:
            raise ProtocolError(f"page script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, max_height: int | None = None) -> bytes:
        """A PNG of the whole page (or its first max_height CSS pixels)."""
        size = self.browser.call("Page.getLayoutMetrics", session=self.session)["cssContentSize"]
        height = int(size["height"]) if max_height is None else min(int(size["height"]), max_height)
        self.browser.call("Emulation.setDeviceMetricsOverride",
                          {"width": self.width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                          self.session)
        clip = {"x": 0, "y": 0, "width": self.width, "height": height, "scale": 1}
        shot = self.browser.call("Page.captureScreenshot",
                                 {"format": "png", "captureBeyondViewport": True, "clip": clip}, self.session)
        return base64.b64decode(shot["data"])
