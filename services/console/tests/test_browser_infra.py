"""The console in a real browser (Debian's Chromium, headless, driven by Selenium) over the three
services on the session's Kafka and FerretDB.

Chongqing and Sichuan sign in in two browser sessions and take a joint project from proposal to
publication through the pages alone; a partner city finds it in the portal, sees no vote button, and
its forged vote is refused by intake; axe-core (from the console's npm packages) checks every page
type and fails on serious or critical violations. Screenshots go to var/screenshots/.
"""

import hashlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from regstd.console.http.local_time import CHINA
from regstd.contracts.reference import load_reference
from regstd.runtime.auth import write_development_tokens
from regstd.runtime.testing import ServiceProcesses, free_port

ROOT = Path(__file__).resolve().parents[3]


def _replaced(element: WebElement) -> Any:
    """A wait condition: the page holding this element has been replaced. Chromium answers a look at
    a node of a page that is gone either as stale or as "does not belong to the document"."""

    def gone(_: WebDriver) -> bool:
        try:
            element.is_enabled()
        except WebDriverException:
            return True
        return False

    return gone


BIN = Path(sys.executable).parent
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
AXE = ROOT / "services" / "console" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "var" / "screenshots"
SERVICES = {"project-intake": "regstd-intake", "publication": "regstd-publication", "harmonization": "regstd-harmonization"}  # fmt: skip  # noqa: E501


@pytest.fixture(scope="module")
def system(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The three services and the console, on free ports, with their own databases and groups."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER, AXE) if not p.exists()]
    assert not missing, f"missing {missing}: run `make chromium console-assets` (make test does)"
    work = tmp_path_factory.mktemp("console")
    run = uuid.uuid4().hex[:8]
    ports = {name: free_port() for name in SERVICES}
    endpoints = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    book = work / "local.json"
    write_development_tokens(book, load_reference(), endpoints)
    with ServiceProcesses() as processes:
        for name, entry in SERVICES.items():
            env = dict(
                os.environ,
                REGSTD_KAFKA_BOOTSTRAP=stack.kafka_bootstrap,
                REGSTD_MONGO_URL=stack.mongo_url,
                REGSTD_MONGO_DATABASE=f"console_{run}_{name.replace('-', '_')}",
                REGSTD_CONSUMER_GROUP=f"console-{run}-{name}",
                REGSTD_HTTP_PORT=str(ports[name]),
                REGSTD_TOKENS_FILE=str(book),
                REGSTD_SPANS_DIR=str(work / "spans"),
                REGSTD_PUBLIC_COMMENT_MIN_DAYS="0",
            )
            log = work / f"{name}.log"
            started = processes.start([str(BIN / entry)], env, log)
            processes.wait_ready(started, f"{endpoints[name]}/health/ready", log)
        console_port = free_port()
        env = dict(
            os.environ,
            REGSTD_CONSOLE_HTTP_PORT=str(console_port),
            REGSTD_CONSOLE_TOKENS_FILE=str(book),
            REGSTD_CONSOLE_SECRET_FILE=str(work / "console-secret"),
        )
        log = work / "console.log"
        started = processes.start([str(BIN / "regstd-console")], env, log)
        url = f"http://127.0.0.1:{console_port}"
        processes.wait_ready(started, f"{url}/health/ready", log)
        yield {"url": url, "book": book, "logs": work}


def _browser(width: int, height: int) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument("--lang=zh-CN")
    return webdriver.Chrome(service=ChromeService(str(CHROMEDRIVER)), options=options)


@pytest.fixture(scope="module")
def browsers() -> Iterator[tuple[WebDriver, WebDriver]]:
    """Chongqing's on a desktop-width window, Sichuan's on a phone-width one."""
    desktop = _browser(1100, 1000)
    try:
        phone = _browser(390, 844)
    except BaseException:
        desktop.quit()
        raise
    try:
        yield desktop, phone
    finally:
        desktop.quit()
        phone.quit()


class Person:
    """One browser session of the console, signed in as one principal."""

    def __init__(self, driver: WebDriver, url: str, tokens: dict[str, str]) -> None:
        self.driver, self.url, self.tokens = driver, url, tokens
        self.checked: set[str] = set()

    def go(self, path: str) -> None:
        self.driver.get(self.url + path)

    def sign_in(self, code: str) -> None:
        self.go("/signin")
        Select(self.driver.find_element(By.ID, "token")).select_by_value(self.tokens[code])
        self.driver.find_element(By.ID, "signin").click()
        WebDriverWait(self.driver, 10).until(lambda d: d.find_elements(By.ID, "principal"))

    def sign_out(self) -> None:
        self.driver.find_element(By.CSS_SELECTOR, "form[action='/signout'] button").click()
        # The sign-out's navigation must end before the next page is asked for, or it lands after it.
        WebDriverWait(self.driver, 10).until(lambda d: not d.find_elements(By.ID, "principal"))

    def click(self, element_id: str) -> None:
        self.driver.find_element(By.ID, element_id).click()

    def submit(self, element_id: str) -> None:
        """Click a form's button and wait until the page it leads to has replaced this one: under load
        an upload's answer can come after the next look at the page."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        self.click(element_id)
        WebDriverWait(self.driver, 60).until(_replaced(old))
        WebDriverWait(self.driver, 60).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )

    def fill(self, element_id: str, text: str) -> None:
        field = self.driver.find_element(By.ID, element_id)
        field.clear()
        field.send_keys(text)

    def vote(self, project_id: str) -> None:
        """Approve with the position form of that project (on the desk or its own page)."""
        form = self.driver.find_element(By.CSS_SELECTOR, f"form[action^='/projects/{project_id}/positions/']")
        old = self.driver.find_element(By.TAG_NAME, "html")
        form.find_element(By.CSS_SELECTOR, "button.vote").click()
        WebDriverWait(self.driver, 60).until(_replaced(old))

    def status(self) -> str:
        return str(self.driver.find_element(By.ID, "status").get_attribute("data-status"))

    def no_refusal(self) -> None:
        refusals = self.driver.find_elements(By.ID, "refusal")
        assert not refusals, refusals[0].text

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))

    def axe(self, page_type: str) -> None:
        """axe-core on the page in view: no serious or critical violation."""
        self.driver.execute_script(AXE.read_text(encoding="utf-8"))
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations))"
            ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));"
        )
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result
            if v.get("impact") in ("serious", "critical")
        ]
        assert serious == [], f"axe-core on the {page_type} page"
        self.checked.add(page_type)


def _tokens(book: Path) -> dict[str, str]:
    raw = json.loads(book.read_text(encoding="utf-8"))
    return {t["principal"]["code"]: t["token"] for t in raw["tokens"]}


@pytest.mark.infra
def test_a_joint_standard_from_proposal_to_publication_through_the_pages_alone(
    system: dict[str, Any], browsers: tuple[WebDriver, WebDriver]
) -> None:
    tokens = _tokens(system["book"])
    cq, sc = (Person(d, system["url"], tokens) for d in browsers)
    title = f"川渝地区高速公路服务区服务规范（浏览器测试 {uuid.uuid4().hex[:6]}）"

    cq.go("/")
    cq.axe("portal")
    cq.go("/signin")
    cq.axe("sign-in")
    cq.sign_in("50")
    sc.sign_in("51")

    # Chongqing proposes, with Sichuan as the joint party from the reference data
    cq.go("/desk")
    cq.axe("desk")
    cq.fill("title_zh", title)
    cq.fill("scope", "规定了川渝地区高速公路服务区的基本要求、服务设施、服务内容、服务质量和评价改进。")
    cq.fill("category", "transport")
    cq.click("party-51")
    # The overlaps first: the desk again with the matches (here most likely none) and what was typed
    cq.click("check-overlaps")
    WebDriverWait(cq.driver, 15).until(lambda d: d.find_elements(By.ID, "overlap-preview"))
    cq.no_refusal()
    assert cq.driver.find_element(By.ID, "title_zh").get_attribute("value") == title
    assert cq.driver.find_element(By.ID, "party-51").is_selected()
    cq.axe("desk")
    cq.click("propose")
    WebDriverWait(cq.driver, 15).until(lambda d: "/projects/prj-" in d.current_url)
    cq.no_refusal()
    project_id = cq.driver.current_url.rsplit("/", 1)[-1]
    assert cq.status() == "awaiting_project_approval"
    cq.axe("project")
    cq.vote(project_id)
    cq.no_refusal()

    # Sichuan finds the ballot on its desk, on a phone-width screen
    sc.go("/desk")
    card = sc.driver.find_element(By.CSS_SELECTOR, f"article[data-project='{project_id}']")
    assert title in card.text
    sc.shot("desk-phone")
    sc.vote(project_id)
    sc.no_refusal()
    assert sc.status() == "project_approved"

    for step in ("drafting", "public-comment", "public-comment-close"):
        cq.go(f"/projects/{project_id}")
        cq.submit(f"step-{step}")
        cq.no_refusal()
    assert cq.status() == "technical_review"

    for person in (cq, sc):
        person.go(f"/projects/{project_id}")
        person.fill("conclusion", "技术内容合理，同意报批")
        person.submit("record-review")
        person.no_refusal()

    text = f"{title} final text".encode()
    cq.go(f"/projects/{project_id}")
    cq.fill("location", f"https://texts.regstd.example/{hashlib.sha256(text).hexdigest()[:12]}.pdf")
    cq.fill("sha256", hashlib.sha256(text).hexdigest())
    cq.submit("submit-text")
    cq.no_refusal()
    assert cq.status() == "awaiting_final_approval"

    # a partner city: no vote button, and a forged vote (with the session's own CSRF token) is refused
    cq.sign_out()
    cq.sign_in("510100")
    cq.go(f"/projects/{project_id}")
    assert cq.driver.find_elements(By.CSS_SELECTOR, "button.vote") == []
    cq.driver.execute_script(
        "const f = document.createElement('form'); f.method = 'post';"
        "f.action = `/projects/${arguments[0]}/positions/final_approval`;"
        "for (const [k, v] of [['csrf', document.querySelector('input[name=csrf]').value],"
        " ['position', 'approve']]) { const i = document.createElement('input'); i.type = 'hidden';"
        " i.name = k; i.value = v; f.appendChild(i); } document.body.appendChild(f); f.submit();",
        project_id,
    )
    refusal = WebDriverWait(cq.driver, 10).until(lambda d: d.find_element(By.ID, "refusal"))
    # intake refuses it before anything changes (a city's code names no party: 422, else 403)
    assert "(403)" in refusal.text or "(422)" in refusal.text, refusal.text
    assert cq.status() == "awaiting_final_approval"
    cq.go("/city")
    cq.axe("partner city")
    cq.sign_out()
    cq.sign_in("50")

    for person in (cq, sc):
        person.go(f"/projects/{project_id}")
        person.vote(project_id)
        person.no_refusal()

    def published(driver: WebDriver) -> bool:
        driver.refresh()
        return bool(driver.find_elements(By.ID, "designations"))

    WebDriverWait(cq.driver, 60, poll_frequency=0.5).until(published)
    designations = cq.driver.find_element(By.ID, "designations").text
    assert "DB50/T" in designations
    assert "DB51/T" in designations
    cq.go("/desk")
    cq.shot("desk")

    # Chongqing records its filing (备案) on the standard's page; the filing clock is met
    cq.go(f"/standards/std-{project_id}")
    cq.axe("standard (a party's regulator)")
    cq.fill("filing_number", "渝市监标备 2026-001")
    cq.driver.execute_script(
        "document.getElementById('filed_on').value = arguments[0];", datetime.now(CHINA).date().isoformat()
    )
    cq.submit("record-filing")
    cq.no_refusal()
    filing = cq.driver.find_element(By.CSS_SELECTOR, "tr[data-clock='filing:50']").text
    assert "已完成" in filing, filing
    assert "渝市监标备 2026-001" in cq.driver.page_source
    # both upload their limits through the page; Chongqing compares them and reads the report
    header = "standard_number,medium,source_category,parameter,unit,condition,value,national_baseline\n"
    for person, row in (
        (cq, "DB50/418—2016,大气,锅炉,二氧化硫,µg/m³,1 h,200000,300000\n"),
        (sc, "DB51/2672—2020,大气,锅炉,二氧化硫,µg/m³,1 h,150000,300000\n"),
    ):
        limits = system["logs"] / f"limits-{uuid.uuid4().hex[:6]}.csv"
        limits.write_text(header + row, encoding="utf-8")
        person.go("/limits")
        person.driver.find_element(By.ID, "file").send_keys(str(limits))
        person.submit("upload")
        person.no_refusal()
        assert person.driver.find_element(By.ID, "imported").text
    cq.go("/limits")
    cq.axe("limits")
    cq.submit("assess")
    cq.no_refusal()
    assert "/limits/assessments/" in cq.driver.current_url
    assert int(cq.driver.find_element(By.ID, "findings").text) >= 0
    cq.submit("report-link")
    assert cq.driver.find_element(By.TAG_NAME, "h1").text
    cq.go("/reports")
    cq.axe("area report")
    cq.shot("area-report")

    # the public portal (signed out): find it by its number with a hyphen instead of the em dash
    cq.sign_out()
    number = designations.split(" = ")[1].replace("—", "-")
    cq.go("/")
    cq.fill("q", number)
    cq.click("search")
    link = WebDriverWait(cq.driver, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, "#results a"))
    link.click()
    assert title in cq.driver.find_element(By.TAG_NAME, "h1").text
    cq.axe("standard")
    cq.shot("standard")
    cq.go("/?lang=en")
    cq.shot("portal-en")
    cq.go("/?lang=zh")

    cq.sign_in("ops")
    cq.go("/operator")
    cq.axe("operator")
    # the flow of the joint project, merged from the three services' span files into waterfalls
    cq.go(f"/operator/flows?q={project_id}")
    assert cq.driver.find_elements(By.CSS_SELECTOR, "section.waterfall table.spans .bar")
    cq.axe("flow")
    cq.shot("flow")
    cq.go("/operator/dead-letters")
    cq.axe("dead letters")
    cq.sign_out()
    assert cq.checked | sc.checked >= {
        "portal",
        "sign-in",
        "desk",
        "project",
        "standard",
        "partner city",
        "operator",
        "flow",
        "dead letters",
        "standard (a party's regulator)",
        "limits",
        "area report",
    }
