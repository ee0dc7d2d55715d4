"""The Dagster UI in a real (headless) browser: the code location loads, and a backfill launched from the UI
rebuilds the event tables. Needs Debian's chromium + chromium-driver (.ci/run installs them)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import delivery, envelope, write_replay

from jushita_etl.landing.replay import land_files

CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMEDRIVER and shutil.which("chromium")),
                                reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dagster_ui(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    data = tmp_path / "data"
    records = [delivery(envelope("taobao_trade_TradeCreate", {"tid": 10 + i, "payment": "1.00"},
                                 pub_time=f"2026-11-{9 + i:02d} 10:00:00")) for i in range(3)]
    land_files([str(write_replay(tmp_path / "f.jsonl", records))], data / "landing", quiet=True)
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "JUSHITA_DATA_DIR": str(data), "JUSHITA_PARTITION_START": "2026-11-01"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(ROOT / "workspace.yaml"),
                             "-h", "127.0.0.1", "-p", str(port)], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    try:
        yield url, home, data
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1600,1000"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(2)
    yield driver
    driver.quit()


def click(driver, text: str, timeout: float = 60) -> None:
    """Click the first button whose label starts with ``text`` (the UI re-renders often, so retry until found)."""
    deadline = time.monotonic() + timeout
    script = ("for (const b of document.querySelectorAll('button')) "
              "if (b.innerText.trim().startsWith(arguments[0]) && !b.disabled) { b.click(); return true; } return false;")
    while not driver.execute_script(script, text):
        assert time.monotonic() < deadline, f"no enabled button {text!r} on {driver.current_url}"
        time.sleep(0.5)


def test_backfill_from_the_ui(dagster_ui, browser, tmp_path, monkeypatch):
    import dagster as dg
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    url, home, data = dagster_ui
    browser.get(f"{url}/assets/trade_events")
    WebDriverWait(browser, 120).until(lambda d: "taobao_trade_" in d.page_source)  # the asset's description
    browser.execute_script("for (const b of document.querySelectorAll('button')) if (b.innerText.trim() === 'Skip') b.click();")
    click(browser, "Materialize")

    def partition_box(driver):
        # The six event tables are one multi-asset, so the UI first asks to confirm materializing all of them;
        # its dialog fades in, so a click can land before it listens: click again until the next dialog shows.
        driver.execute_script("for (const b of document.querySelectorAll('button')) "
                              "if (b.innerText.trim() === 'Confirm') b.click();")
        return next((i for i in driver.find_elements(By.CSS_SELECTOR, "input[placeholder]")
                     if "partition" in (i.get_attribute("placeholder") or "").lower()), None)

    box = WebDriverWait(browser, 60, poll_frequency=1).until(partition_box)
    box.click()
    box.send_keys("[2026-11-09...2026-11-11]", Keys.ENTER)
    WebDriverWait(browser, 30).until(lambda d: "3 partitions" in d.page_source)
    click(browser, "Launch backfill")
    WebDriverWait(browser, 60).until(lambda d: "Created backfill" in d.page_source)
    browser.save_screenshot(str(tmp_path / "backfill.png"))

    monkeypatch.setenv("DAGSTER_HOME", str(home))  # dagster.yaml locates the event log through it
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            backfills = instance.get_backfills()
            if backfills and backfills[0].status.value != "REQUESTED":
                break
            time.sleep(2)
        assert backfills, "the UI created a backfill"
        assert backfills[0].status.value in ("COMPLETED_SUCCESS", "COMPLETED"), backfills[0].status
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfills[0].backfill_id}))
        assert runs and all(run.is_success for run in runs), "the backfill's run(s) rebuilt the window"
        assert runs[0].tags.get("dagster/asset_partition_range_start") == "2026-11-09"  # one run for the range
    finally:
        instance.dispose()
    from jushita_etl.settings import paths
    from jushita_etl.warehouse import db

    with db.writer(paths(data)) as conn:  # the backfill applied the events (publishing is the facts' run's step)
        assert conn.execute("SELECT count(*) FROM trade_events").fetchone()[0] == 3
