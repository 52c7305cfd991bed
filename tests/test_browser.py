"""The real app in a real browser: streamlit run + headless Debian Chromium (Playwright)."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    port = free_port()
    env = dict(os.environ, DEEPLOG_WORKSPACE=str(tmp_path_factory.mktemp("ws")))
    log = open(tmp_path_factory.mktemp("log") / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "main.py"),
         "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not become healthy")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_demo_journey_in_chromium(app_url, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url)
        page.get_by_text("Anomalous sessions").wait_for(timeout=180_000)
        page.get_by_text("expected one of these").wait_for(timeout=60_000)
        body = page.inner_text("body")
        assert "1,256" in body                          # the sessions card
        assert "Traceback" not in body and "Error" not in body
        charts = page.locator('[data-testid="stPlotlyChart"]')
        charts.nth(2).wait_for(timeout=30_000)          # two overview plots + the candidates
        page.locator('[data-testid="stDataFrame"] canvas').first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)                     # let the grids paint
        shots = os.environ.get("DEEPLOG_SCREENSHOTS", str(tmp_path))
        page.screenshot(path=f"{shots}/overview.png", full_page=True)

        # train a model as a job and watch it finish, live
        page.get_by_role("link", name="Train").click()
        page.get_by_text("Train a model").wait_for(timeout=60_000)
        page.get_by_label("Epochs").fill("3")       # no Enter: in a form, Enter submits it
        page.get_by_role("button", name="Start training").click()
        try:
            page.get_by_text("Job 1: succeeded").wait_for(timeout=120_000)
        except Exception:
            page.screenshot(path=f"{shots}/train-failed.png", full_page=True)
            raise AssertionError("the job did not succeed; page says:\n" + page.inner_text("body")[-3000:])
        page.get_by_text("Model written to").wait_for(timeout=10_000)
        assert "Traceback" not in page.inner_text("body")
        page.wait_for_timeout(1500)
        page.screenshot(path=f"{shots}/train.png", full_page=True)
        browser.close()
