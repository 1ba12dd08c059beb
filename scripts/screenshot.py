#!/usr/bin/env python3
"""Screenshots of a running Customer Pulse (make run) with headless Chromium, for the README.

Usage: screenshot.py BASE_URL OUT_DIR name=/odoo/path[|javascript] [...]
Logs in as admin/admin (LOGIN/PASSWORD to change), sets the session cookie through the DevTools
protocol, opens each path, waits for the web client to settle, runs the optional JavaScript after
"|" (open a tab, scroll to a section), settles again and saves OUT_DIR/name.png.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import requests
import websocket

# below this width (pixels) the page is rendered as on a phone
MOBILE_WIDTH = 600


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def login(base):
    r = requests.post(
        f"{base}/web/session/authenticate",
        json={
            "jsonrpc": "2.0",
            "params": {
                "db": os.environ.get("DB", "pulse_demo"),
                "login": os.environ.get("LOGIN", "admin"),
                "password": os.environ.get("PASSWORD", "admin"),
            },
        },
        timeout=30,
    )
    r.raise_for_status()
    return r.cookies["session_id"]


class Tab:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=60)
        self.n = 0

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.n:
                return msg.get("result", {})

    def eval(self, expr):
        return self.call("Runtime.evaluate", expression=expr, returnByValue=True)["result"].get(
            "value"
        )


def main(base, out_dir, shots):
    chrome = shutil.which("chromium") or shutil.which("google-chrome")
    port = free_port()
    profile = tempfile.mkdtemp()
    proc = subprocess.Popen(
        [
            chrome,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={profile}",
            "--window-size=1440,900",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                targets = requests.get(f"http://127.0.0.1:{port}/json", timeout=2).json()
                page = next(t for t in targets if t["type"] == "page")
                break
            except Exception:
                time.sleep(0.2)
        tab = Tab(page["webSocketDebuggerUrl"])
        host = base.split("//", 1)[1].split(":")[0].split("/")[0]
        tab.call("Network.enable")
        tab.call("Network.setCookie", name="session_id", value=login(base), domain=host, path="/")
        width = int(os.environ.get("WIDTH", 1440))
        tab.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=int(os.environ.get("HEIGHT", 900)),
            deviceScaleFactor=1,
            mobile=width < MOBILE_WIDTH,
        )
        os.makedirs(out_dir, exist_ok=True)
        for shot in shots:
            name, path = shot.split("=", 1)
            path, _sep, script = path.partition("|")
            tab.call("Page.navigate", url=base + path)
            time.sleep(2)
            for _ in range(60):
                ready = tab.eval(
                    "document.readyState === 'complete' && !!document.querySelector("
                    "'.o_action_manager .o_view_controller, .o_action_manager .o_form_view')"
                    " && !document.querySelector('.o_loading_indicator, .o-loading')"
                )
                if ready:
                    break
                time.sleep(0.5)
            time.sleep(float(os.environ.get("SETTLE", 2)))
            if script:
                tab.eval(script)
                time.sleep(float(os.environ.get("SETTLE", 2)))
            # Odoo's "page is out of date" toast fires when the bus reconnects after its
            # vacuum cron ran, as it does between navigations of one tab: not part of a view.
            tab.eval("document.querySelectorAll('.o_notification_close').forEach(b => b.click())")
            time.sleep(0.5)
            data = tab.call("Page.captureScreenshot", format="png")["data"]
            with open(os.path.join(out_dir, f"{name}.png"), "wb") as f:
                f.write(base64.b64decode(data))
            print(f"{out_dir}/{name}.png")
    finally:
        proc.terminate()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3:])
