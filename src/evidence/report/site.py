"""Write the review-board site (``reports/site/``) and the single file to send.

Own Jinja2 templates, not Sphinx: the pages are tables and figures built from
CSV files, every row linked to another page's row; templates give that in a
few hundred lines with nothing loaded from outside, where Sphinx + myst-nb
would add two dependencies, a theme's scripts and a conf.py, and still need the
same table code. The site is built in a temporary folder and swapped in whole.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import jinja2

from evidence import atomic, case, paths
from evidence.errors import EvidenceError
from evidence.report import notebook, pages
from evidence.report.inputs import Inputs, slug, text
from evidence.report.svg import Inliner, minify

SITE_BUDGET = 10_000_000  # bytes, the whole site
SINGLE_BUDGET = 5_000_000  # bytes, the file to send
TEMPLATES = Path(__file__).with_name("templates")
DATA_PAGES = {  # page name -> (table key, anchor column, anchor prefix)
    "effects": ("effects", "row_id", "row-"), "outcomes": ("outcomes", "row_id", "row-"),
    "studies": ("studies", "study_id", "study-"), "wanted": ("wanted", None, None),
    "claims_verdicts": ("verdicts", None, "row-"),
    "summary_of_findings": ("summary_of_findings", None, "row-"),
    "downgrades": ("downgrades", None, "row-"), "verdict_sensitivity": ("sensitivity", None, "row-"),
    "analyses": ("analyses", "analysis_id", "analysis-"),
}
DICTIONARY_SECTIONS = ("Extraction sheets", "Effects", "Analyses", "Grading")


def _env(render_figure) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True)
    c = case.current()  # the case's words: nothing here names one article
    env.globals.update(render_figure=render_figure, article=c.title, intervention=c.intervention,
                       control=c.control, how_to_read=pages.HOW_TO_READ)
    return env


def _figure(f: dict, body: str) -> str:
    return (f'<figure id="fig-{html.escape(f["id"])}">{body}<figcaption><b>{html.escape(f["title"])}.'
            f'</b> {html.escape(f["caption"])}</figcaption></figure>')


def size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _data_rows(inputs: Inputs, page: str) -> tuple[list[str], list[tuple[str, list[str]]]] | None:
    key, column, prefix = DATA_PAGES[page]
    frame = inputs.table(key)
    if frame is None:
        return None
    rows, seen = [], set()
    for n, rec in enumerate(frame.to_dict("records"), start=1):
        if page == "wanted":
            anchor = pages.wanted_anchor(n - 1)
        elif column and column in rec:
            anchor = f"{prefix}{slug(rec[column])}"
        else:
            anchor = f"{prefix}{n}"
        if anchor in seen:
            anchor = f"{anchor}-{n}"
        seen.add(anchor)
        rows.append((anchor, [text(rec[c], c) for c in frame.columns]))
    return list(frame.columns), rows


def _dictionary(root: Path) -> str:
    import mistune

    contracts = root / "docs" / "contracts.md"
    if not contracts.exists():
        return ""
    parts = re.split(r"^## ", contracts.read_text(encoding="utf-8"), flags=re.M)
    keep = [p for p in parts if p.startswith(DICTIONARY_SECTIONS)]
    return mistune.html("".join(f"## {p}" for p in keep))


def build_site(inputs: Inputs, out: Path | None = None) -> Path:
    """Write every page under ``out`` (default ``reports/site``); returns ``out``."""
    out = Path(out or paths.REPORTS / "site")
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _write_site(inputs, tmp)
        total = size(tmp)
        if total > SITE_BUDGET:
            raise EvidenceError(f"the site is {total:,} bytes, over its {SITE_BUDGET:,} budget")
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _write_site(inputs: Inputs, root: Path) -> None:
    ids = set(inputs.figures["id"])
    base = {"": ""}

    def render_figure(f: dict) -> str:
        src = f'{base[""]}figures/{html.escape(f["id"])}.svg'
        return _figure(f, f'<img src="{src}" alt="{html.escape(f["alt"])}">')

    env = _env(render_figure)
    stamp = pages.stamp(inputs)

    def page(rel: str, template: str, **context) -> None:
        depth = rel.count("/")
        base[""] = "../" * depth
        html_text = env.get_template(template).render(base=base[""], **context)
        atomic.write_text(root / rel, html_text)

    atomic.write_text(root / "style.css", (TEMPLATES / "style.css").read_text(encoding="utf-8"))
    for fid in inputs.figures["id"]:
        svg = (inputs.figures_dir / f"{fid}.svg").read_text(encoding="utf-8")
        atomic.write_text(root / "figures" / f"{fid}.svg", minify(svg))

    site = pages.Links(base="")
    page("index.html", "index.html", title="Verdicts", land=pages.landing(inputs, site),
         stamp=stamp)
    sub = pages.Links(base="../")
    claims = [pages.claim_page(inputs, cid, sub) for cid in sorted(inputs.claims)]
    for c in claims:
        page(f"claims/{slug(c['id'])}.html", "claim.html", title=c["id"], c=c)
    page("claims/index.html", "listing.html", title="Claims", intro="", doc="",
         items=[(c["id"], f"{slug(c['id'])}.html", f"{c['text']} ({c['verdict']})")
                for c in claims])
    conds = [pages.condition_page(inputs, k, sub) for k in inputs.conditions()]
    for k in conds:
        page(f"conditions/{slug(k['key'])}.html", "condition.html", title=k["title"], k=k)
    page("conditions/index.html", "listing.html", title="Conditions", intro="", doc="",
         items=[(k["title"], f"{slug(k['key'])}.html", f"{len(k['analyses'])} analyses")
                for k in conds])
    page("methods.html", "methods.html", title="Methods", m=pages.methods(inputs))

    items = []
    for name in DATA_PAGES:
        table = _data_rows(inputs, name)
        if table is None:
            continue
        src = next(p for p in inputs.files if p.suffix == ".csv" and p.stem == name)
        atomic.write_bytes(root / "data" / f"{name}.csv", src.read_bytes())
        page(f"data/{name}.html", "datatable.html", title=f"{src.name}", csv=f"{name}.csv",
             headers=table[0], rows=table[1])
        items.append((f"{src.name}", f"{name}.html", f"{len(table[1])} rows, "
                      f"{src.relative_to(inputs.root)}; download as CSV: {name}.csv"))
    page("data/index.html", "listing.html", title="Data", items=items,
         intro="Every table the report reads, as a page and as its CSV file.",
         doc='<h2 id="dictionary">Data dictionary</h2>' + _dictionary(inputs.root))

    def nb_figure(fid: str) -> str | None:
        if fid not in ids:
            return None
        return render_figure(pages.figure(inputs, fid))

    nbs = []
    for nb in inputs.notebooks:
        base[""] = "../"
        body = notebook.to_html(nb, root / "notebooks" / "img", "img", nb_figure)
        page(f"notebooks/{nb.stem}.html", "notebook.html", title=nb.stem, name=nb.stem, body=body)
        nbs.append((nb.stem, f"{nb.stem}.html", ""))
    page("notebooks/index.html", "listing.html", title="Notebooks", items=nbs, doc="",
         intro="The executed notebooks, code hidden: prose, tables and figures.")


def build_single(inputs: Inputs, out: Path | None = None) -> Path:
    """One self-contained HTML file (SVG inline, CSS inline, no script) to send."""
    out = Path(out or paths.REPORTS / "evidence_report.html")
    inliner, shown = Inliner(), set()

    def render_figure(f: dict) -> str:
        if f["id"] in shown:  # each figure once: later uses point back to it
            return (f'<p class="figref">Figure: <a href="#fig-{html.escape(f["id"])}">'
                    f'{html.escape(f["title"])}</a> (shown above).</p>')
        shown.add(f["id"])
        svg = (inputs.figures_dir / f"{f['id']}.svg").read_text(encoding="utf-8")
        return _figure(f, inliner.inline(svg, slug(f["id"]), f["alt"]))

    env = _env(render_figure)
    links = pages.Links(single=True)
    document = env.get_template("single.html").render(
        css=(TEMPLATES / "style.css").read_text(encoding="utf-8"), glyphs="<!--GLYPHS-->",
        stamp=pages.stamp(inputs), land=pages.landing(inputs, links),
        claims=[pages.claim_page(inputs, c, links) for c in sorted(inputs.claims)],
        conditions=[pages.condition_page(inputs, k, links) for k in inputs.conditions()],
        m=pages.methods(inputs))
    document = document.replace("<!--GLYPHS-->", inliner.defs(), 1)
    data = document.encode("utf-8")
    if len(data) > SINGLE_BUDGET:
        raise EvidenceError(f"the single file is {len(data):,} bytes, over its "
                            f"{SINGLE_BUDGET:,} budget")
    atomic.write_bytes(out, data)
    return out
