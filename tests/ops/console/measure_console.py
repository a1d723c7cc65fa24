"""Numbers for the console, printed (no asserts): the job page's weight and the jobs
list's time to first render with 1,000 jobs in the store, in headless chromium.

    python tests/ops/console/measure_console.py [--jobs 1000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from typing import Any

from selenium import webdriver
from selenium.webdriver.common.by import By

from messages import JobRequest, JobState, Stage
from ops.dev.stack import RunningStack, Stack, StackOptions

_TIMING = """
const nav = performance.getEntriesByType('navigation')[0];
const paint = performance.getEntriesByName('first-contentful-paint')[0];
const res = performance.getEntriesByType('resource');
return {
  ttfb_ms: nav.responseStart - nav.startTime,
  html_ms: nav.responseEnd - nav.startTime,
  fcp_ms: paint ? paint.startTime : null,
  dom_ms: nav.domContentLoadedEventEnd - nav.startTime,
  html_bytes: nav.transferSize, html_body_bytes: nav.encodedBodySize,
  resources: res.map(r => [r.name, r.transferSize]),
};
"""


def browser() -> tuple[webdriver.Chrome, str]:
    profile = tempfile.mkdtemp(prefix="twoway-measure-")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={profile}", "--window-size=1280,900",
    ):  # fmt: skip
        options.add_argument(flag)
    service = webdriver.ChromeService(shutil.which("chromedriver"))
    return webdriver.Chrome(options=options, service=service), profile


def fill(stack: RunningStack, count: int) -> None:
    """``count`` jobs straight into the store, in a mix of states (no workers run them)."""
    store, request = stack.app.store, JobRequest.model_validate(stack.example_job())
    for index in range(count):
        job, _ = store.create_job(request)
        if index % 3 == 0:
            store.transition(job.id, kind="stage_started", state=JobState.RUNNING, stage=Stage.CSR)
        if index % 6 == 0:
            error = {"error": "PermanentError", "message": "csr failed"}
            store.transition(job.id, kind="stage_failed", state=JobState.FAILED, error=error)


def measure(driver: webdriver.Chrome, url: str, runs: int) -> list[dict[str, Any]]:
    found = []
    for _ in range(runs):
        driver.execute_cdp_cmd("Network.clearBrowserCache", {})
        driver.get(url)
        timing = driver.execute_script(_TIMING)
        deadline = time.monotonic() + 5
        while timing["fcp_ms"] is None and time.monotonic() < deadline:  # paint is told late
            time.sleep(0.05)
            timing = driver.execute_script(_TIMING)
        found.append(timing)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with Stack(StackOptions(broker="stub")) as stack:
        job, _ = stack.app.submit(stack.example_job())
        while not stack.app.store.get_job(job.id).terminal:
            time.sleep(0.1)
        started = time.monotonic()
        fill(stack, args.jobs)
        filled_s = time.monotonic() - started
        driver, profile = browser()
        try:
            driver.get(stack.gateway.url + "/ui/signin")
            driver.find_element(By.ID, "token").send_keys(stack.token)
            driver.find_element(By.CSS_SELECTOR, "form[action='/ui/signin'] button").click()
            driver.execute_cdp_cmd("Network.enable", {})
            page = measure(driver, f"{stack.gateway.url}/ui/jobs/{job.id}", 1)[0]
            weight = page["html_bytes"] + sum(size for _, size in page["resources"])
            lists = measure(driver, f"{stack.gateway.url}/ui/jobs", args.runs)
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)
    print(json.dumps({
        "jobs_in_store": args.jobs + 1,
        "fill_s": round(filled_s, 1),
        "job_page": {
            "bytes_transferred": weight,
            "html_bytes": page["html_bytes"],
            "resources": page["resources"],
        },
        "jobs_list_first_render_ms": {
            "first_contentful_paint_median": statistics.median(r["fcp_ms"] for r in lists),
            "html_received_median": statistics.median(r["html_ms"] for r in lists),
            "each_fcp": [round(r["fcp_ms"], 1) for r in lists],
        },
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
