"""Execute the notebooks in place and render them into one report for the review board.

Execution is deterministic (no cell timings recorded, fixed kernel), so a
second ``make reproduce`` leaves the committed notebooks byte-identical.
The report hides code: the board reads prose, tables and figures, then the
verdicts table and every exported figure.
"""

from __future__ import annotations

import base64
import html
import shutil
import subprocess
from pathlib import Path

import nbformat
import pandas as pd

from evidence import atomic, case, paths
from evidence.errors import EvidenceError

KERNEL = "python3"
# Marks the page once every <img> has loaded, so a headless browser can check it.
_LOADED_SCRIPT = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images-total', imgs.length);
  document.body.setAttribute('data-images-loaded', ok);
});
</script>"""


def notebooks(folder: Path | None = None) -> list[Path]:
    """The project's notebooks in reading order (their numbered names)."""
    return sorted(Path(folder or paths.NOTEBOOKS).glob("[0-9][0-9]_*.ipynb"))


def execute(path: Path, timeout: int = 600) -> None:
    """Run one notebook top to bottom in its folder and save it with its outputs."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        raise EvidenceError(f"{path.name}: a cell failed:\n{exc}") from exc
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    nbformat.write(nb, path)


def merge_streams(outputs: list) -> list:
    """Join consecutive stdout (or stderr) chunks: how the kernel splits a stream
    depends on timing, and the committed notebook must not."""
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and prev is not None
                and prev.get("output_type") == "stream" and prev.get("name") == out.get("name")):
            prev["text"] = "".join(prev["text"]) + "".join(out["text"])
        else:
            merged.append(out)
    return merged


def _combined(nbs: list[Path]) -> nbformat.NotebookNode:
    book = nbformat.v4.new_notebook()
    for path in nbs:
        nb = nbformat.read(path, as_version=4)
        book.cells.append(nbformat.v4.new_markdown_cell(f"<hr/>\n\n*Notebook `{path.name}`*"))
        book.cells.extend(nb.cells)
    book.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    return book


def _appendix(figures: Path, verdicts: Path) -> str:
    parts = ['<section id="appendix"><h1>Appendix: verdicts and figures</h1>']
    if verdicts.exists():
        table = pd.read_csv(verdicts)
        parts.append("<h2>Claim verdicts</h2>")
        parts.append(table.to_html(index=False, na_rep="", classes="verdicts", border=0))
    index = figures / "index.csv"
    if index.exists():
        for fig in pd.read_csv(index).itertuples():
            png = figures / f"{fig.id}.png"
            if not png.exists():
                raise EvidenceError(f"{index}: figure {fig.id} has no PNG at {png}")
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            parts.append(f'<figure id="fig-{html.escape(fig.id)}"><img alt="{html.escape(fig.title)}" '
                         f'style="max-width:100%" src="data:image/png;base64,{data}"/>'
                         f"<figcaption><b>{html.escape(fig.title)}.</b> {html.escape(str(fig.caption))}"
                         "</figcaption></figure>")
    parts.append("</section>")
    return "\n".join(parts)


def render(nbs: list[Path], out: Path | None = None, figures: Path | None = None,
           verdicts: Path | None = None) -> Path:
    """Write one self-contained HTML file (code hidden, figures embedded)."""
    from nbconvert import HTMLExporter

    if not nbs:
        raise EvidenceError(f"no notebooks found in {paths.NOTEBOOKS}")
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(_combined(nbs))
    body = body.replace("<title>Notebook</title>",
                        f"<title>Evidence audit: {html.escape(case.current().title)}</title>")
    appendix = _appendix(Path(figures or paths.FIGURES), Path(verdicts or paths.VERDICTS))
    body = body.replace("</body>", appendix + _LOADED_SCRIPT + "\n</body>")
    out = Path(out or paths.REPORTS / "evidence_report.html")
    atomic.write_text(out, body)
    return out


def chromium() -> str | None:
    """The headless browser used for the PDF and the rendering test, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--hide-scrollbars"]


def to_pdf(report: Path, pdf: Path) -> Path:
    browser = chromium()
    if browser is None:
        raise EvidenceError("PDF needs Chromium: apt-get install chromium")
    import tempfile

    with tempfile.TemporaryDirectory() as profile:  # a fresh profile: nothing read or kept
        subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                        "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                        report.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    if not pdf.exists() or pdf.read_bytes()[:5] != b"%PDF-":
        raise EvidenceError(f"Chromium did not write a PDF to {pdf}")
    return pdf


def add_arguments(parser) -> None:
    parser.add_argument("--execute", action="store_true",
                        help="first re-execute every notebook in place (deterministic outputs)")
    parser.add_argument("--out", type=Path, default=None, help="HTML file to write")
    parser.add_argument("--pdf", action="store_true", help="also print a PDF with headless Chromium")


def run(args) -> int:
    nbs = notebooks()
    if args.execute:
        from tqdm import tqdm

        for path in tqdm(nbs, desc="notebooks", unit="nb"):
            execute(path)
    out = render(nbs, args.out)
    print(f"wrote {out}")
    if args.pdf:
        print(f"wrote {to_pdf(out, out.with_suffix('.pdf'))}")
    return 0
