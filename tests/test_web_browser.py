"""The search page in a real browser: headless Chromium (Debian's chromium and chromium-driver)
driven by Selenium against a real `newsearch serve` process.

Where the browser is missing these tests skip, unless NEWSEARCH_BROWSER_TESTS=required (set by
.ci/run), which makes them fail instead. A screenshot of the results page is written to
$NEWSEARCH_SCREENSHOTS (else the test's temporary folder).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("starlette")
from support.web import ARTICLES, HOSTILE_BODY, HOSTILE_TITLE, running_server, write_corpus  # noqa: E402

from newsearch import build_index  # noqa: E402

REQUIRED = os.environ.get("NEWSEARCH_BROWSER_TESTS") == "required"
WAIT_S = 20


def unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"NEWSEARCH_BROWSER_TESTS=required, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("web_browser")
    build_index([write_corpus(root / "corpus")], root / "index")
    with running_server(root / "index", log=root / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed (pip install -e '.[test]')")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        unavailable("chromium and chromedriver are not installed "
                    "(apt-get install -y --no-install-recommends chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1200,900"):
        options.add_argument(argument)
    try:
        opened = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    except Exception as exc:  # noqa: BLE001 - any failure to start the browser is the same finding
        unavailable(f"the browser did not start: {exc}")
    yield opened
    opened.quit()


@pytest.fixture
def page(browser, server):
    browser.set_window_size(1200, 900)
    browser.get(server + "/")
    return browser


def wait_for(browser, condition, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT_S).until(lambda _: condition(), message)


def css(browser, selector: str):
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, selector)


def shown(browser, selector: str):
    return [element for element in css(browser, selector) if element.is_displayed()]


def search(browser, query: str) -> None:
    from selenium.webdriver.common.keys import Keys

    box = css(browser, "#q")[0]
    box.clear()
    box.send_keys(query, Keys.ENTER)
    wait_for(browser, lambda: not css(browser, "#results-view")[0].get_attribute("hidden")
             and css(browser, "#status")[0].text not in ("", "Searching…"), f"results for {query!r}")


def no_script_ran(browser) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - reading it is the check
    assert browser.execute_script("return window.__pwned === undefined")


def test_search_highlights_pages_and_filters(page, tmp_path):
    from selenium.webdriver.common.keys import Keys

    css(page, "body")[0].send_keys("/")
    assert page.switch_to.active_element == css(page, "#q")[0]  # "/" focuses the search box
    search(page, "harbour")
    assert "?q=harbour" in page.current_url  # shareable
    assert css(page, "#status")[0].text.startswith("17 results")
    hits = shown(page, "#hits .hit")
    assert len(hits) == 10
    assert {mark.text.lower() for mark in css(page, "#hits mark")} == {"harbour"}
    assert len(css(page, "#timeline-chart rect")) == 36  # one bar a month, Jan 2023 to Dec 2025
    folder = Path(os.environ.get("NEWSEARCH_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    assert page.save_screenshot(str(folder / "web-results.png"))

    css(page, "#next")[0].click()
    wait_for(page, lambda: css(page, "#page-of")[0].text == "Page 2 of 2", "page 2")
    assert "page=2" in page.current_url and len(shown(page, "#hits .hit")) == 7
    assert css(page, "#next")[0].get_attribute("disabled") is not None

    [source] = [button for button in css(page, ".facet-source .facet-value")
                if button.get_attribute("data-value") == "AP"]
    source.click()
    wait_for(page, lambda: "source=AP" in page.current_url and "page=2" not in page.current_url, "the AP filter")
    wait_for(page, lambda: css(page, "#status")[0].text.startswith("6 results"), "6 AP results")
    assert all(" AP" in f" {meta.text}" for meta in css(page, "#hits .meta"))
    assert [chip.text for chip in css(page, ".facets .active .remove")] == ["AP ×"]

    page.back()  # the browser's history holds each search
    wait_for(page, lambda: css(page, "#page-of")[0].text == "Page 2 of 2", "back to page 2")

    css(page, "body")[0].send_keys("/")
    search(page, "harbur")
    assert css(page, "#status")[0].text == "No results."
    suggestion = css(page, "#notes a.suggestion")[0]
    assert suggestion.text == "harbour"
    suggestion.click()
    wait_for(page, lambda: css(page, "#q")[0].get_attribute("value") == "harbour", "the suggested search")

    wait_for(page, lambda: len(shown(page, "#hits .hit")) == 10, "the suggested results")
    css(page, "#q")[0].send_keys(Keys.ARROW_DOWN)
    first = css(page, "#hits a.title")[0]
    assert page.switch_to.active_element == first
    page.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
    assert page.switch_to.active_element == css(page, "#hits a.title")[1]


def test_article_view_highlights_and_follows_related(page):
    search(page, "rotterdam dock")
    first = css(page, "#hits .hit")[0]
    assert "+1 similar" in first.text
    title = first.find_element("css selector", "a.title")
    title_text = title.text
    title.click()
    wait_for(page, lambda: not css(page, "#article-view")[0].get_attribute("hidden"), "the article")
    assert css(page, "#article-title")[0].text == title_text
    assert "article=" in page.current_url and "q=rotterdam" in page.current_url
    assert {mark.text.lower() for mark in css(page, "#article-body mark")} >= {"rotterdam", "dock"}
    related = css(page, "#related a.title")
    assert related, "related articles are listed"
    next_title = related[0].text
    related[0].click()
    wait_for(page, lambda: css(page, "#article-title")[0].text == next_title, "the related article")
    page.back()
    wait_for(page, lambda: css(page, "#article-title")[0].text == title_text, "back to the first article")


def test_hostile_article_text_shows_as_text_and_runs_nothing(page):
    search(page, "harbour master click")
    hit = css(page, '#hits .hit[data-id="hostile.txt"]')[0]
    title = hit.find_element("css selector", "a.title")
    assert title.get_property("textContent") == HOSTILE_TITLE
    assert not css(page, "#hits img, #hits script, #hits svg, #hits a[href^='javascript']")
    no_script_ran(page)
    title.click()
    wait_for(page, lambda: css(page, "#article-title")[0].get_property("textContent") == HOSTILE_TITLE,
             "the hostile article")
    body = css(page, "#article-body")[0].get_property("textContent")
    # Bidi controls are shown as their code points, so they cannot reorder what is around them.
    assert body == HOSTILE_BODY.replace("\u202e", "[U+202E]").replace("\u202c", "[U+202C]")
    assert not css(page, "#article-view img, #article-view script, #article-body a, #article-view svg")
    no_script_ran(page)
    assert not page.get_log("browser") or all("pwned" not in entry["message"] for entry in page.get_log("browser"))


def test_phone_width_has_no_sideways_scrolling(page):
    page.set_window_size(390, 844)
    search(page, "harbour")
    width = page.execute_script("return document.documentElement.clientWidth")
    assert page.execute_script("return document.documentElement.scrollWidth") <= width
    facets, hits = css(page, "#facets")[0], css(page, "#hits")[0]
    assert facets.location["y"] < hits.location["y"]  # filters above the results, not beside them
    assert css(page, "#q")[0].size["width"] > 150


def test_a_token_is_asked_for_and_sent(browser, tmp_path):
    build_index([write_corpus(tmp_path / "corpus", ARTICLES[:4])], tmp_path / "index")
    with running_server(tmp_path / "index", "--token", "s3cret") as base:
        browser.get(base + "/?q=harbour")
        wait_for(browser, lambda: not css(browser, "#token")[0].get_attribute("hidden"), "the token prompt")
        assert "needs a token" in css(browser, "#error")[0].text
        css(browser, "#token-input")[0].send_keys("s3cret\n")
        wait_for(browser, lambda: css(browser, "#status")[0].text.startswith("3 results"), "results with the token")
