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
    """open demo -> timeline -> an anomaly -> its candidates -> false positive -> update."""
    from playwright.sync_api import sync_playwright

    shots = os.environ.get("DEEPLOG_SCREENSHOTS", str(tmp_path))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        def shot(name):
            page.wait_for_timeout(1200)                  # let charts and grids paint
            page.screenshot(path=f"{shots}/{name}.png", full_page=True)

        def no_trace():
            body = page.inner_text("body")
            assert "Traceback" not in body and "Something went wrong" not in body, body[-2000:]
            return body

        t0 = time.time()
        page.goto(app_url)
        page.get_by_text("Anomaly timeline").wait_for(timeout=180_000)
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=60_000)
        page.get_by_text("Anomalous sessions", exact=True).first.wait_for(timeout=30_000)
        print(f"demo timeline visible after {time.time() - t0:.1f} s")
        body = no_trace()
        assert "626" in body                            # the sessions card
        shot("1-timeline")

        # click the first anomaly on the chart: its session opens in Inspect
        page.get_by_text("Click an anomaly").wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        point = page.evaluate("""() => {
          const gd = document.querySelector('.js-plotly-plot');
          const t = gd.data.find(t => t.name && t.name.startsWith('anomaly'));
          const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
          return {x: r.left + xa._offset + xa.d2p(t.x[0]), y: r.top + ya._offset + ya.d2p(t.y[0]),
                  session: t.customdata[0][0]};
        }""")
        t0 = time.time()
        page.mouse.click(point["x"], point["y"])
        page.get_by_text("Why: the model's view of one event").wait_for(timeout=60_000)
        page.get_by_text(f"Session {point['session']}").wait_for(timeout=10_000)
        print(f"chart click -> inspect: {time.time() - t0:.2f} s")
        page.get_by_text("candidates after this history").first.wait_for(timeout=30_000)
        assert "Raw lines" in no_trace()
        shot("2-inspect")

        t0 = time.time()
        page.get_by_role("link", name="Workflows").click()
        page.get_by_text("Divergence by").first.wait_for(timeout=60_000)
        print(f"-> workflows: {time.time() - t0:.2f} s")
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=30_000)
        no_trace()
        shot("2b-workflow")
        page.get_by_role("link", name="Inspect").click()
        page.get_by_text("Why: the model's view of one event").wait_for(timeout=60_000)

        t0 = time.time()
        page.get_by_role("button", name="False positive").click()
        page.get_by_text("Saved: false positive").wait_for(timeout=30_000)
        print(f"false positive saved: {time.time() - t0:.2f} s")
        shot("3-labelled")

        page.get_by_role("link", name="Models").click()
        page.get_by_text("Labels and model versions").wait_for(timeout=60_000)
        t0 = time.time()
        page.get_by_role("button", name="Update hdfs-sample-v1 from these labels").click()
        try:
            page.get_by_text("New version hdfs-sample-v2 is active").wait_for(timeout=180_000)
        except Exception:
            shot("update-failed")
            raise AssertionError("the update did not finish; page says:\n" + page.inner_text("body")[-3000:])
        print(f"update job -> new version active: {time.time() - t0:.2f} s")
        no_trace()
        shot("4-updated")

        page.get_by_role("link", name="Timeline").click()
        page.get_by_text("scored by hdfs-sample-v2").wait_for(timeout=60_000)
        no_trace()
        shot("5-timeline-v2")

        page.get_by_role("link", name="Data").click()
        page.get_by_text("Upload").first.wait_for(timeout=60_000)
        no_trace()
        shot("6-data")
        browser.close()
