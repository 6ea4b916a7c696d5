"""The report in a real browser: Debian's Chromium, headless, driven by Playwright.

Built from the project's own outputs into a temporary folder: every page loads
with no console error, every image and inline SVG renders, every internal link
resolves, a reader can click from a verdict to its claim card and on to the
PubMed record, no request leaves file://, and the PDF has the Summary of
Findings on page one. Screenshots of the landing page and one claim page go to
reports/screenshots/ for the note.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evidence import paths
from evidence.report import chromium, inputs, site, to_pdf

pytestmark = pytest.mark.chromium
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (make env)")
CLAIM = "C02"  # the claim whose page is clicked through and photographed


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    data = inputs.load()
    return site.build_site(data, tmp / "site"), site.build_single(data, tmp / "report.html")


@pytest.fixture(scope="module")
def browser():
    exe = chromium()
    if exe is None:
        pytest.skip("Chromium not installed (apt-get install chromium; .ci/run installs it)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


class Watched:
    """A page that records console errors, page errors and every request not to file://."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.context.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:  # never let it out: record and abort
            self.outside.append(url)
            route.abort()

    def open(self, path: Path) -> None:
        self.page.goto(path.resolve().as_uri(), wait_until="load")

    def close(self):
        self.context.close()


BROKEN_IMAGES = """() => Array.from(document.images)
  .filter(i => !(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0)).map(i => i.src)"""
BROKEN_SVGS = """() => Array.from(document.querySelectorAll('svg[role=img]'))
  .filter(s => { const r = s.getBoundingClientRect(); return !(r.width > 0 && r.height > 0); })
  .map(s => s.getAttribute('aria-label'))"""
LINKS = """() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"""
IDS = """() => Array.from(document.querySelectorAll('[id]')).map(e => e.id)"""


def test_every_page_loads_renders_and_links_within_the_site(built, browser):
    folder, _ = built
    pages = sorted(folder.rglob("*.html"))
    w = Watched(browser)
    ids, links, images = {}, {}, 0
    try:
        for page in pages:
            w.open(page)
            assert w.page.evaluate(BROKEN_IMAGES) == [], page
            images += w.page.evaluate("() => document.images.length")
            ids[page.resolve().as_uri()] = set(w.page.evaluate(IDS))
            links[page] = w.page.evaluate(LINKS)
        assert w.errors == []
        assert w.outside == []
    finally:
        w.close()
    assert images >= len(inputs.load().figures)  # every figure is shown somewhere
    internal = 0
    for page, hrefs in links.items():
        for href in hrefs:
            if not href.startswith("file://"):
                assert href.startswith("https://"), (page, href)
                continue
            target, _, frag = href.partition("#")
            assert Path(target[len("file://"):]).exists(), (page, href)
            if frag and target.endswith(".html"):
                assert frag in ids[target], (page, href)
            internal += 1
    assert internal > 100


def test_a_reader_clicks_from_a_verdict_to_its_card_and_on_to_pubmed(built, browser):
    folder, _ = built
    w = Watched(browser)
    try:
        w.open(folder / "index.html")
        shots = paths.REPORTS / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        w.page.screenshot(path=str(shots / "landing.png"))
        w.page.click(f"#verdict-table tr#row-{CLAIM} a.claim-link")  # click 1
        w.page.wait_for_load_state("load")
        assert w.page.url.endswith(f"claims/{CLAIM}.html")
        assert w.page.locator("h1").inner_text().startswith(f"{CLAIM}:")
        assert w.page.locator("figure img").first.get_attribute("src").endswith(f"_{CLAIM}.svg")
        w.page.screenshot(path=str(shots / f"claim_{CLAIM}.png"))
        link = w.page.locator("tr.evidence-row a.source-link[href^='https://pubmed']").first
        href = link.get_attribute("href")
        assert re.fullmatch(r"https://pubmed\.ncbi\.nlm\.nih\.gov/\d+/", href)
        with w.page.expect_request(lambda r: r.url == href):
            link.click()  # click 2: the browser asks for PubMed (aborted by the test)
        assert w.outside == [href]
        assert w.errors in ([], [e for e in w.errors if "ERR_FAILED" in e or "net::" in e])
    finally:
        w.close()
    assert (shots / "landing.png").stat().st_size > 10_000


def test_single_file_renders_every_figure_and_loads_nothing(built, browser):
    _, single = built
    w = Watched(browser)
    try:
        w.open(single)
        assert w.page.evaluate("() => document.images.length") == 0
        assert w.page.evaluate("() => document.querySelectorAll('svg[role=img]').length") >= len(
            inputs.load().figures)
        assert w.page.evaluate(BROKEN_SVGS) == []
        ids = set(w.page.evaluate(IDS))
        hrefs = w.page.evaluate(LINKS)
        assert w.errors == [] and w.outside == []
    finally:
        w.close()
    for href in hrefs:
        if href.startswith("file://"):
            assert href.partition("#")[2] in ids, href
        else:
            assert href.startswith("https://"), href


def test_pdf_has_the_summary_of_findings_on_page_one_and_an_outline(built, tmp_path):
    from pypdf import PdfReader

    _, single = built
    pdf = to_pdf(single, tmp_path / "report.pdf")
    reader = PdfReader(pdf)
    first = reader.pages[0].extract_text()
    assert re.search(r"Summary of Findings|Verdicts", first)
    claims = sorted(inputs.load().claims)
    assert [c for c in claims if c not in first] == []  # every claim's row on page one
    assert "Contents" not in first  # the table of contents follows on its own page
    assert "Contents" in reader.pages[1].extract_text()
    assert len(reader.outline) > 3  # headings as PDF bookmarks
