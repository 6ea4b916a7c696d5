"""The review-board report: notebooks executed deterministically; the site and the single file
built from the stage outputs, every row linked, nothing loaded from outside, within budget."""

from __future__ import annotations

import re
from pathlib import Path

import lxml.html
import nbformat
import pytest
from report_project import FIGURES, make_project  # tests/ is on sys.path

from evidence import paths, report
from evidence.errors import DataError, EvidenceError
from evidence.report import inputs, notebook, pages, site, svg


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "proj")


@pytest.fixture
def built(project):
    data = inputs.load(project)
    return project, site.build_site(data, project / "reports" / "site")


def _pages(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.html"))


# --- notebooks (execution kept from the first report) -------------------------------------

def _nb(nbdir: Path, name: str, cells) -> Path:
    nbdir.mkdir(exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    path = nbdir / name
    nbformat.write(nb, path)
    return path


def test_notebooks_are_found_in_reading_order(tmp_path):
    for name in ("10_second.ipynb", "00_first.ipynb"):
        _nb(tmp_path, name, [])
    (tmp_path / "scratch.ipynb").write_text("{}")  # not numbered: not part of the project
    assert [p.name for p in report.notebooks(tmp_path)] == ["00_first.ipynb", "10_second.ipynb"]


def test_execution_is_deterministic(tmp_path):
    path = _nb(tmp_path, "00_first.ipynb", [nbformat.v4.new_code_cell(
        "secret_variable_name = 6 * 7\nprint(secret_variable_name)")])
    report.execute(path)
    first = path.read_bytes()
    report.execute(path)
    assert path.read_bytes() == first
    assert nbformat.read(path, as_version=4).cells[0].outputs[0]["text"] == "42\n"
    assert b"iopub.execute_input" not in first  # no timings recorded


def test_stream_chunks_are_merged(tmp_path):
    """A kernel may split one cell's stdout into several messages (timing); the saved
    notebook holds one stream output per run of chunks, so reruns give the same bytes."""
    path = _nb(tmp_path, "20_streams.ipynb", [nbformat.v4.new_code_cell(
        "import sys, time\nprint('a', flush=True)\ntime.sleep(0.3)\nprint('b', flush=True)\n"
        "print('err', file=sys.stderr, flush=True)\ntime.sleep(0.3)\nprint('c')")])
    report.execute(path)
    outputs = nbformat.read(path, as_version=4).cells[0].outputs
    assert [(o["name"], o["text"]) for o in outputs] == [
        ("stdout", "a\nb\n"), ("stderr", "err\n"), ("stdout", "c\n")]


def test_failing_cell_is_an_error_naming_the_notebook(tmp_path):
    path = _nb(tmp_path, "30_bad.ipynb", [nbformat.v4.new_code_cell("1 / 0")])
    with pytest.raises(EvidenceError, match="30_bad.ipynb"):
        report.execute(path)


def test_notebook_page_hides_code_shows_the_figure_svg_and_writes_other_images_as_files(project):
    figs = []
    body = notebook.to_html(project / "notebooks" / "10_gad_anxiety.ipynb",
                            project / "img", "img",
                            lambda fid: figs.append(fid) or f'<img src="{fid}.svg" alt="x">')
    assert "secret_variable_name" not in body and "42" in body  # code hidden, output shown
    assert "GAD notebook" in body
    assert figs == ["forest_gad_anxiety_eot"]  # the exported figure, not its PNG copy
    assert 'src="forest_gad_anxiety_eot.svg"' in body
    assert [p.name for p in (project / "img").iterdir()] == ["10_gad_anxiety-1.png"]
    assert 'src="img/10_gad_anxiety-1.png"' in body
    assert "base64" not in body and "<script" not in body.lower()


# --- what the report reads: one place for names, figures and links ---------------------------

def test_figures_for_a_claim_card_first_then_map():
    ids = ["map_C01", "card_C01", "card_C010", "map_C02", "forest_gad_x", "albatross_C01"]
    assert inputs.claim_figures("C01", ids) == ["card_C01", "albatross_C01", "map_C01"]
    assert inputs.claim_figures("C02", ids) == ["map_C02"]
    assert inputs.claim_figures("C03", ids) == []


def test_figures_for_a_condition_are_its_own_in_reading_order():
    ids = ["forest_gad_anxiety_eot", "map_gad", "harvest_gad", "albatross_gad",
           "forest_gadfly_x", "map_migraine", "forest_migraine_pain", "card_C01"]
    assert inputs.condition_figures("gad", ids) == [
        "albatross_gad", "harvest_gad", "map_gad", "forest_gad_anxiety_eot"]
    assert inputs.condition_figures("migraine", ids) == ["map_migraine", "forest_migraine_pain"]


def test_every_figure_of_the_project_has_a_place():
    data = inputs.load()
    placed = pages.placed_figures(data)
    landing = {f["id"] for f in pages.landing(data, pages.Links())["summary_figures"]}
    assert set(data.figures["id"]) == placed | landing
    names = set(data.claims) | set(data.conditions())
    assert not [f for f in landing if set(re.split(r"_", f)) & names], landing


def test_source_links_are_pubmed_pmc_doi():
    study = {"pmid": 20186971.0, "pmcid": "PMC3930706", "doi": "10.1002/da.20671"}
    assert inputs.source_links(study) == [
        ("PubMed 20186971", "https://pubmed.ncbi.nlm.nih.gov/20186971/"),
        ("PMC3930706", "https://pmc.ncbi.nlm.nih.gov/articles/PMC3930706/"),
        ("doi:10.1002/da.20671", "https://doi.org/10.1002/da.20671")]
    assert inputs.source_links({"pmid": None, "pmcid": "", "doi": None}) == []


def test_counts_print_without_a_decimal_point():
    assert inputs.text(404.0, "n_participants") == "404"
    assert inputs.text(0.62, "best_estimate") == "0.62"
    assert inputs.text(6.1734, "ci_high") == "6.173"
    assert inputs.text(None) == "" and inputs.text(float("nan"), "k") == ""


def test_a_figure_without_its_svg_is_named(project):
    (project / "figures" / "map_gad.svg").unlink()
    with pytest.raises(DataError, match=r"index.csv, row 4, field 'id'.*map_gad"):
        inputs.load(project)


def test_a_missing_stage_output_is_named(project):
    (project / "data" / "derived" / "effects.csv").unlink()
    with pytest.raises(DataError, match="effects.csv"):
        inputs.load(project)


def test_input_hash_follows_every_input(project):
    before = inputs.load(project).input_hash()
    wanted = project / "data" / "extraction" / "wanted.csv"
    wanted.write_text(wanted.read_text().replace("Table 2", "Table 3"))
    assert inputs.load(project).input_hash() != before


# --- SVG -------------------------------------------------------------------------------------

def test_minify_keeps_the_drawing_and_scale_factors(project):
    text = (project / "figures" / "map_gad.svg").read_text()
    small = svg.minify(text)
    assert len(small) < len(text) and "<metadata>" not in small
    assert re.findall(r"scale\([^)]*\)", small) == re.findall(r"scale\([^)]*\)", text)
    assert small.count("<path") == text.count("<path") and small.count("<use") == text.count("<use")
    assert not re.search(r'd="[^"]*\d\.\d{3}', small)


def test_inlined_figures_have_unique_ids_and_share_glyphs(project):
    inl = svg.Inliner()
    parts = [inl.inline((project / "figures" / f"{fid}.svg").read_text(), fid, f"alt {fid}")
             for fid in FIGURES]
    doc = lxml.html.fromstring("<div>" + inl.defs() + "".join(parts) + "</div>")
    ids = [e.get("id") for e in doc.iter() if e.get("id")]
    assert len(ids) == len(set(ids))
    refs = {v[1:] for e in doc.iter() for k, v in e.attrib.items() if k.endswith("href")}
    assert refs <= set(ids)  # every reference points at an id of the document
    assert len(inl.glyphs) < sum(p.count("<use") for p in parts)  # glyphs kept once
    assert all('role="img"' in p and "<title>alt " in p for p in parts)


# --- the site ------------------------------------------------------------------------------

def test_site_has_a_page_per_claim_condition_notebook_and_table(built):
    _, out = built
    names = {str(p.relative_to(out)) for p in _pages(out)}
    assert {"index.html", "claims/C01.html", "claims/C02.html", "conditions/gad.html",
            "methods.html", "data/index.html", "data/effects.html", "data/outcomes.html",
            "data/studies.html", "data/wanted.html", "data/summary_of_findings.html",
            "data/verdict_sensitivity.html", "notebooks/10_gad_anxiety.html"} <= names
    assert (out / "data" / "effects.csv").read_bytes() == (
        out.parents[1] / "data" / "derived" / "effects.csv").read_bytes()


def test_nothing_on_the_site_loads_from_outside(built):
    _, out = built
    for page in _pages(out):
        doc = lxml.html.parse(str(page)).getroot()
        assert not doc.xpath("//script"), page
        loaded = doc.xpath("//img/@src | //link/@href | //iframe/@src | //source/@src")
        assert loaded and all(not re.match(r"[a-z]+:", u) for u in loaded), (page, loaded)
        assert "data:image/png;base64" not in page.read_text()
    css = (out / "style.css").read_text()
    assert "@import" not in css and "url(" not in css


def test_landing_page_has_the_verdict_table_stamp_and_claim_links(built):
    _, out = built
    doc = lxml.html.parse(str(out / "index.html")).getroot()
    assert doc.xpath("//h2[@id='summary-of-findings']/text()") == ["Summary of Findings"]
    rows = doc.xpath("//table[@id='verdict-table']/tbody/tr")
    assert [r.xpath(".//a[@class='claim-link']/@href")[0] for r in rows] == [
        "claims/C01.html", "claims/C02.html"]
    assert "⊕◯◯◯" in rows[0].text_content() and "MD 3.26 higher" in rows[0].text_content()
    assert rows[0].xpath("td")[-1].text_content() == "1 of 1"  # rule variants moving it
    assert "no evidence cited" in rows[1].text_content()
    stamp = doc.xpath("//p[@class='stamp']")[0].text_content()
    assert re.search(r"evidence \d+\.\d+\.\d+ · commit .+ · built \d{4}-\d\d-\d\d", stamp)
    assert inputs.load(out.parents[1]).input_hash() in stamp
    # the summary figure (placed on no claim or condition page) is on the landing page
    assert doc.xpath("//img[@src='figures/claims_summary.svg']/@alt") == [
        FIGURES["claims_summary"][1]]


def test_claim_page_links_every_evidence_row(built):
    _, out = built
    page = out / "claims" / "C01.html"
    doc = lxml.html.parse(str(page)).getroot()
    body = doc.text_content()
    assert "a. Imprecision -1: n = 47 < 400." in body  # SoF footnote
    assert "mid_off" in body and "OIS 400" in body  # sensitivity, downgrades
    assert [i.get("src") for i in doc.xpath("//figure/img")] == [
        "../figures/card_C01.svg", "../figures/map_C01.svg"]
    assert doc.xpath("//figure/img/@alt")[0] == FIGURES["card_C01"][1]
    r1, r2 = doc.xpath("//tr[@class='evidence-row']")
    assert r1.xpath(".//a/@href")[:2] == ["../data/effects.html#row-r1",
                                         "../data/outcomes.html#row-r1"]
    assert r1.xpath(".//a[@class='source-link']/@href") == [
        "https://pubmed.ncbi.nlm.nih.gov/11111111/",
        "https://pmc.ncbi.nlm.nih.gov/articles/PMC1234567/", "https://doi.org/10.1000/test.1"]
    assert "not estimable: not reported" in r2.text_content()
    assert r2.xpath(".//div[@class='wanted']/a/@href") == ["../data/wanted.html#wanted-1"]
    wanted = lxml.html.parse(str(out / "data" / "wanted.html")).getroot()
    assert "HARS per arm at 12 weeks" in wanted.get_element_by_id("wanted-1").text_content()


def test_every_internal_link_of_the_site_resolves(built):
    _, out = built
    ids = {p: set(lxml.html.parse(str(p)).getroot().xpath("//@id")) for p in _pages(out)}
    checked = 0
    for page in ids:
        for href in lxml.html.parse(str(page)).getroot().xpath("//a/@href"):
            if re.match(r"[a-z]+:", href):
                assert href.startswith("https://"), href
                continue
            target, _, frag = href.partition("#")
            path = (page.parent / target).resolve() if target else page
            assert path.exists(), (page, href)
            if frag and path.suffix == ".html":
                assert frag in ids[path], (page, href)
            checked += 1
    assert checked > 20


def test_counts_show_as_integers_on_the_data_pages(built):
    _, out = built
    text = (out / "data" / "effects.html").read_text()
    assert ">24<" in text and "24.0" not in text


def test_site_without_the_grading_files_shows_the_verdicts(tmp_path):
    root = make_project(tmp_path / "p", grading_files=False)
    out = site.build_site(inputs.load(root), root / "reports" / "site")
    doc = lxml.html.parse(str(out / "index.html")).getroot()
    assert doc.xpath("//h2[@id='summary-of-findings']/text()") == ["Verdicts"]
    assert "3.26 MD (0.35 to 6.17)" in doc.text_content()


def test_site_is_replaced_whole_or_not_at_all(project, monkeypatch):
    out = project / "reports" / "site"
    out.mkdir(parents=True)
    (out / "stale.html").write_text("old")
    site.build_site(inputs.load(project), out)
    assert not (out / "stale.html").exists() and (out / "index.html").exists()
    before = (out / "index.html").read_bytes()
    monkeypatch.setattr(site, "SITE_BUDGET", 1000)
    with pytest.raises(EvidenceError, match="over its 1,000 budget"):
        site.build_site(inputs.load(project), out)
    assert (out / "index.html").read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["site"]  # no temporary left


# --- the single file -----------------------------------------------------------------------

def test_single_file_is_self_contained_with_every_figure_once(project):
    out = site.build_single(inputs.load(project), project / "reports" / "evidence_report.html")
    text = out.read_text()
    doc = lxml.html.fromstring(text)
    assert not doc.xpath("//script | //link | //img | //iframe")
    ids = doc.xpath("//@id")
    assert len(ids) == len(set(ids))
    figures = doc.xpath("//figure/@id")
    assert sorted(figures) == sorted(f"fig-{f}" for f in FIGURES)
    for href in doc.xpath("//a/@href"):
        assert href.startswith(("#", "https://")), href
        if href.startswith("#"):
            assert href[1:] in ids, href
    assert doc.xpath("//nav[@id='toc']//a/@href")[:2] == ["#summary-of-findings", "#claims"]
    # page one: the verdict table comes before the contents and the claims
    assert text.index('id="verdict-table"') < text.index('id="toc"') < text.index('id="claims"')


def test_single_file_over_budget_is_an_error_and_keeps_the_old_file(project, monkeypatch):
    out = project / "reports" / "evidence_report.html"
    out.write_text("old")
    monkeypatch.setattr(site, "SINGLE_BUDGET", 10_000)
    with pytest.raises(EvidenceError, match="over its 10,000 budget"):
        site.build_single(inputs.load(project), out)
    assert out.read_text() == "old"


# --- the project's own report: budgets on the real outputs ----------------------------------

@pytest.fixture(scope="module")
def real(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real")
    data = inputs.load()
    return data, site.build_site(data, tmp / "site"), site.build_single(data, tmp / "one.html")


def test_the_project_report_holds_its_budgets(real):
    data, out, single = real
    assert site.size(out) < 10_000_000
    assert single.stat().st_size < 5_000_000
    assert {p.stem for p in (out / "claims").glob("C*.html")} == set(data.claims)
    assert {p.stem for p in (out / "conditions").glob("*.html")} - {"index"} == set(
        data.conditions())
    assert len(list((out / "figures").glob("*.svg"))) == len(data.figures)


def test_cli_builds_the_site_and_the_single_file(project, monkeypatch, capsys):
    import argparse

    monkeypatch.setattr(paths, "REPORTS", project / "reports")
    monkeypatch.setattr(inputs.paths, "ROOT", project)
    parser = argparse.ArgumentParser()
    report.add_arguments(parser)
    assert report.run(parser.parse_args(["--single"])) == 0
    assert (project / "reports" / "site" / "index.html").exists()
    assert (project / "reports" / "evidence_report.html").exists()
    assert "bytes" in capsys.readouterr().out
