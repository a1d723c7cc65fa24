"""The operator console in a real browser (Debian's chromium, driven by Selenium) against
one ``twoway up``: sign in, watch a job succeed, resume a manual-CA job by uploading its
certificate, replay a failed job with a reason; a read token cannot act, and a form
without its CSRF token is refused.

Screenshots (the list, a job's timeline, the resume form) go to ``out/console/`` (or
``$TWOWAY_TEST_OUTPUT``); with ``TWOWAY_DOCS_SCREENSHOTS=1`` also to ``docs/``.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from tests.factories import OpensslCa, self_signed
from workers.sealing import Sealer

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
OUT = Path(os.environ.get("TWOWAY_TEST_OUTPUT", ROOT / "out")) / "console"


@pytest.fixture(scope="module")
def up() -> Iterator[dict[str, Any]]:
    """One ``twoway up`` (in-process workers on the stub broker) for the whole module."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ops", "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        yield info
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install -y ...)")
    profile = tempfile.mkdtemp(prefix="twoway-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={profile}", "--window-size=1280,900",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(DRIVER))
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def api(up: dict[str, Any], method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {up['token']}"}
    return requests.request(method, up["gateway"] + path, headers=headers, timeout=30, **kwargs)


def submit(up: dict[str, Any], **changes: Any) -> str:
    # Every job here targets 'Payments API', which the first one leaves on mutual auth:
    # the later ones take it over knowingly (replace), or admission refuses them; each
    # with a keystore record and protocol profile of its own (admission refuses a record
    # name that exists).
    tag = secrets.token_hex(3)
    example = up["example_job"]
    body = {
        **example,
        "replace": True,
        "keystore": {"record_name": f"twoway browser {tag}", "alias": "twoway"},
        "protocol_profile": {**example["protocol_profile"], "name": f"mauthb{tag}"},
        **changes,
    }
    answer = api(up, "POST", "/v1/jobs", json=body)
    assert answer.status_code == 202, answer.text
    job_id: str = answer.json()["job_id"]
    return job_id


def wait_for(up: dict[str, Any], job_id: str, done: Callable[[dict[str, Any]], bool]) -> Any:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        job = api(up, "GET", f"/v1/jobs/{job_id}").json()
        if done(job):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} stayed {job['state']} at {job['stage']}")


def follow(driver: WebDriver, css: str) -> None:
    """Click what ``css`` finds and wait until the page it leads to has replaced this one."""
    element = driver.find_element(By.CSS_SELECTOR, css)
    element.click()
    WebDriverWait(driver, 30).until(lambda _: _detached(element))
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def _detached(element: WebElement) -> bool:
    """The element left the document (the page was replaced). While a navigation is under
    way chromedriver may say so as "Node ... does not belong to the document" instead of a
    stale reference; both mean the same here."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def sign_in(driver: WebDriver, up: dict[str, Any], token: str) -> None:
    driver.get(up["console"] + "/jobs")
    assert "/ui/signin" in driver.current_url  # no session: the sign-in page first
    driver.find_element(By.ID, "token").send_keys(token)
    follow(driver, "form[action='/ui/signin'] button")
    WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("/ui/jobs"))


def as_operator(driver: WebDriver, up: dict[str, Any]) -> None:
    """Signed in with the stack's operator token (each test may run on its own)."""
    driver.get(up["console"] + "/jobs")
    if "/ui/signin" in driver.current_url:
        sign_in(driver, up, up["token"])


def sign_out(driver: WebDriver) -> None:
    follow(driver, "form[action='/ui/signout'] button")
    WebDriverWait(driver, 10).until(lambda d: "/ui/signin" in d.current_url)


def screenshot(driver: WebDriver, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(int(height), 700), 1500))
    driver.save_screenshot(str(OUT / name))
    driver.set_window_size(1280, 900)
    if os.environ.get("TWOWAY_DOCS_SCREENSHOTS") == "1":
        shutil.copy(OUT / name, ROOT / "docs" / name)


def history_kinds(up: dict[str, Any], job_id: str) -> list[str]:
    return [e["kind"] for e in api(up, "GET", f"/v1/jobs/{job_id}").json()["history"]]


def test_sign_in_and_watch_a_job_succeed_on_the_list(
    up: dict[str, Any], browser: WebDriver
) -> None:
    sign_in(browser, up, up["token"])
    browser.execute_script("window.notReloaded = true")
    job_id = submit(up)
    row = f"tr[data-job='{job_id}'] .badge"
    WebDriverWait(browser, 60, poll_frequency=0.2).until(
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, row)
            and d.find_element(By.CSS_SELECTOR, row).text == "succeeded"
        )
    )
    assert browser.execute_script("return window.notReloaded") is True  # redrawn, not reloaded
    screenshot(browser, "console-jobs.png")
    link = browser.find_element(By.CSS_SELECTOR, f"tr[data-job='{job_id}'] a")
    browser.get(link.get_attribute("href"))  # (a click could race the list's redraw)
    stages = browser.find_elements(By.CSS_SELECTOR, "#timeline .stage")
    assert len(stages) == 9
    assert all("stage-done" in s.get_attribute("class") for s in stages)
    assert "ms" in stages[-1].find_element(By.CLASS_NAME, "meta").text
    assert browser.find_element(By.LINK_TEXT, "Client certificate (PEM)")
    held = browser.find_element(By.ID, "holds-title").find_element(By.XPATH, "..").text
    assert "sys_certificate" in held and "sys_protocol_profile" in held  # records, sys_ids
    assert "Values before the job, kept for rollback" in held and "use_mutual_auth" in held
    assert up["token"] not in browser.page_source
    screenshot(browser, "console-job.png")


def test_the_job_page_fits_a_narrow_window_and_answers_the_keyboard(
    up: dict[str, Any], browser: WebDriver
) -> None:
    as_operator(browser, up)
    job_id = failed_job(up)  # the fullest page: error, replay, cancel and rollback forms
    browser.set_window_size(400, 800)
    try:
        browser.get(f"{up['console']}/jobs/{job_id}")
        wide = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert wide[0] <= wide[1], f"the page scrolls sideways at 400 px: {wide}"
        assert browser.find_element(By.CSS_SELECTOR, "form[action='/ui/signout'] button")
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        first = browser.switch_to.active_element
        assert first.text == "Skip to content" and first.is_displayed()
        OUT.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(OUT / "console-job-narrow.png"))
    finally:
        browser.set_window_size(1280, 900)


_FITS = """
const table = document.getElementById('jobs');
const link = document.querySelector(`tr[data-job='${arguments[0]}'] a`).getBoundingClientRect();
return {
  page: document.documentElement.scrollWidth, window: window.innerWidth,
  table: table.scrollWidth, box: table.parentElement.clientWidth,
  link: [link.left, link.right, link.width],
};
"""


def test_the_jobs_list_fits_a_420_px_window(up: dict[str, Any], browser: WebDriver) -> None:
    """At 420 px nothing of the list hides to the right: the page does not scroll
    sideways, each job's row fits its box, and its link leads to the job."""
    as_operator(browser, up)
    job_id = submit(up)
    browser.set_window_size(420, 800)
    try:
        browser.get(f"{up['console']}/jobs")
        fits = browser.execute_script(_FITS, job_id)
        assert fits["window"] <= 420, fits  # the window is as narrow as asked
        assert fits["page"] <= fits["window"], f"the page scrolls sideways: {fits}"
        assert fits["table"] <= fits["box"], f"columns hide to the right of the list: {fits}"
        left, right, width = fits["link"]
        assert width > 0 and left >= 0 and right <= fits["window"], fits
        row = browser.find_element(By.CSS_SELECTOR, f"tr[data-job='{job_id}']").text
        assert "Payments API" in row and "sandbox" in row, row
        OUT.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(OUT / "console-jobs-narrow.png"))
        link = browser.find_element(By.CSS_SELECTOR, f"tr[data-job='{job_id}'] a")
        browser.get(link.get_attribute("href"))
        assert browser.find_element(By.TAG_NAME, "h1").text == f"Job {job_id}"
    finally:
        browser.set_window_size(1280, 900)


def test_resume_a_manual_ca_job_by_uploading_its_certificate(
    up: dict[str, Any], browser: WebDriver, tmp_path: Path
) -> None:
    as_operator(browser, up)
    job_id = submit(up, ca={"profile": "manual"})
    wait_for(up, job_id, lambda j: j["state"] == "waiting_for_ca")
    browser.get(f"{up['console']}/jobs/{job_id}")
    csr_link = browser.find_element(By.CSS_SELECTOR, "#resume-form a[download]")
    csr = requests.get(
        csr_link.get_attribute("href"),
        cookies={c["name"]: c["value"] for c in browser.get_cookies()},
        timeout=10,
    )
    assert csr.status_code == 200 and csr.content.startswith(b"-----BEGIN CERTIFICATE REQUEST")
    ca = OpensslCa(tmp_path / "ca")
    (tmp_path / "cert.pem").write_bytes(ca.sign(csr.content))
    (tmp_path / "chain.pem").write_bytes(ca.chain_pem)
    # Without its chain the certificate leads nowhere: refused, in words, the job waits on.
    browser.find_element(By.ID, "certificate_file").send_keys(str(tmp_path / "cert.pem"))
    follow(browser, "#resume-form button")
    refusal = browser.find_element(By.ID, "refusal").text
    assert refusal.startswith("Refused:") and "chain" in refusal.lower(), refusal
    assert browser.find_element(By.ID, "job-state").text == "waiting for ca"
    browser.find_element(By.ID, "certificate_file").send_keys(str(tmp_path / "cert.pem"))
    browser.find_element(By.ID, "chain_file").send_keys(str(tmp_path / "chain.pem"))
    screenshot(browser, "console-resume.png")
    follow(browser, "#resume-form button")
    notice = browser.find_element(By.ID, "notice").text
    assert "accepted" in notice
    job = wait_for(up, job_id, lambda j: j["state"] != "waiting_for_ca")
    resumed = [e for e in job["history"] if e["kind"] == "ca_resumed"]
    assert resumed and resumed[0]["detail"]["source"] == "console"
    assert resumed[0]["detail"]["actor"].startswith("token:twoway up")


def failed_job(up: dict[str, Any]) -> str:
    """A job that fails at enable's proof, before the switch: the pinned server
    certificate is not the third party's (a keystore record and protocol profile of its
    own, so that nothing before enable fails)."""
    tag = secrets.token_hex(4)
    pem = self_signed("not-the-partner").public_bytes(serialization.Encoding.PEM).decode()
    job_id = submit(
        up,
        server_certificate={"pem": pem},
        keystore={"record_name": f"twoway {tag}", "alias": "twoway"},
        protocol_profile={**up["example_job"]["protocol_profile"], "name": f"mauth{tag}"},
    )
    job = wait_for(up, job_id, lambda j: j["state"] == "failed")
    assert job["stage"] == "enable", job["error"]
    return job_id


def test_replay_a_failed_job_with_a_reason(up: dict[str, Any], browser: WebDriver) -> None:
    as_operator(browser, up)
    job_id = failed_job(up)
    browser.get(f"{up['console']}/jobs/{job_id}")
    assert browser.find_element(By.ID, "error-message").text
    choices = Select(browser.find_element(By.ID, "replay-stage"))
    failed_at = api(up, "GET", f"/v1/jobs/{job_id}").json()["stage"]
    assert choices.first_selected_option.text == failed_at  # the failed stage, none after it
    assert choices.options[-1].text == failed_at
    browser.find_element(By.ID, "replay-reason").send_keys("partner rotated their certificate")
    follow(browser, "#replay-form button")
    assert "Replay requested" in browser.find_element(By.ID, "notice").text
    replayed = [
        e
        for e in api(up, "GET", f"/v1/jobs/{job_id}").json()["history"]
        if e["kind"] == "replay_requested"
    ]
    assert replayed[0]["detail"]["reason"] == "partner rotated their certificate"
    assert replayed[0]["stage"] == failed_at
    assert "partner rotated their certificate" in browser.page_source  # in the history table


def test_a_form_without_its_csrf_token_is_refused(up: dict[str, Any], browser: WebDriver) -> None:
    as_operator(browser, up)
    job_id = failed_job(up)
    browser.get(f"{up['console']}/jobs/{job_id}")
    browser.execute_script("document.querySelector('#replay-form input[name=csrf]').remove()")
    browser.find_element(By.ID, "replay-reason").send_keys("no csrf")
    follow(browser, "#replay-form button")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not done (403)"
    assert "CSRF" in browser.find_element(By.ID, "refusal").text
    assert "replay_requested" not in history_kinds(up, job_id)


def test_a_read_token_sees_no_action_and_the_server_refuses_its_post(
    up: dict[str, Any], browser: WebDriver
) -> None:
    job_id = failed_job(up)
    as_operator(browser, up)
    made = subprocess.run(
        [sys.executable, "-m", "ops", "tokens", "create", "--name", "console-reader",
         "--role", "read", "--json"],
        env={**os.environ, "TWOWAY_DATABASE_URL": up["store"],
             "TWOWAY_MASTER_KEY": Sealer.generate_key()},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    sign_out(browser)
    sign_in(browser, up, json.loads(made.stdout)["token"])
    browser.get(f"{up['console']}/jobs/{job_id}")
    assert browser.find_element(By.ID, "error-message").text
    with pytest.raises(NoSuchElementException):
        browser.find_element(By.ID, "actions-title")
    assert not browser.find_elements(By.CSS_SELECTOR, "form[action*='/ui/jobs/']")
    # The read session's own cookie and CSRF token, posted by hand: the server refuses.
    csrf = browser.find_element(By.CSS_SELECTOR, "form[action='/ui/signout'] input[name=csrf]")
    answer = requests.post(
        f"{up['console']}/jobs/{job_id}/replay",
        data={"csrf": csrf.get_attribute("value"), "stage": "enable", "reason": "read"},
        cookies={c["name"]: c["value"] for c in browser.get_cookies()},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 403 and "role 'read'" in html.unescape(answer.text)
    assert "replay_requested" not in history_kinds(up, job_id)
