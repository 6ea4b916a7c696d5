"""The review-board report: notebooks executed deterministically, code hidden, figures loaded."""

from __future__ import annotations

import re
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from evidence import report  # noqa: E402


@pytest.fixture
def project(tmp_path):
    """Two small notebooks, one exported figure with its index, a verdicts table."""
    nbdir, figdir = tmp_path / "notebooks", tmp_path / "figures"
    nbdir.mkdir()
    figdir.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# First notebook"),
                nbformat.v4.new_code_cell("secret_variable_name = 6 * 7\nprint(secret_variable_name)")]
    nbformat.write(nb, nbdir / "00_first.ipynb")
    nb2 = nbformat.v4.new_notebook()
    nb2.cells = [nbformat.v4.new_markdown_cell("## Second notebook")]
    nbformat.write(nb2, nbdir / "10_second.ipynb")
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, 1])
    fig.savefig(figdir / "demo.png", dpi=50)
    plt.close(fig)
    pd.DataFrame([{"id": "demo", "title": "A demo figure", "caption": "Line.",
                   "source": "test", "input_sha256": "0"}]).to_csv(figdir / "index.csv", index=False)
    verdicts = tmp_path / "verdicts.csv"
    pd.DataFrame([{"claim_id": "C01", "verdict": "supported"}]).to_csv(verdicts, index=False)
    return tmp_path, nbdir, figdir, verdicts


def test_notebooks_are_found_in_reading_order(project):
    _, nbdir, _, _ = project
    (nbdir / "scratch.ipynb").write_text("{}")  # not numbered: not part of the project
    assert [p.name for p in report.notebooks(nbdir)] == ["00_first.ipynb", "10_second.ipynb"]


def test_execution_is_deterministic(project):
    _, nbdir, _, _ = project
    path = nbdir / "00_first.ipynb"
    report.execute(path)
    first = path.read_bytes()
    report.execute(path)
    assert path.read_bytes() == first
    outputs = nbformat.read(path, as_version=4).cells[1].outputs
    assert outputs[0]["text"] == "42\n"
    assert b"iopub.execute_input" not in first  # no timings recorded


def test_stream_chunks_are_merged(project):
    """A kernel may split one cell's stdout into several messages (timing); the saved
    notebook holds one stream output per run of chunks, so reruns give the same bytes."""
    _, nbdir, _, _ = project
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import sys, time\nprint('a', flush=True)\ntime.sleep(0.3)\nprint('b', flush=True)\n"
        "print('err', file=sys.stderr, flush=True)\ntime.sleep(0.3)\nprint('c')")]
    path = nbdir / "20_streams.ipynb"
    nbformat.write(nb, path)
    report.execute(path)
    outputs = nbformat.read(path, as_version=4).cells[0].outputs
    assert [(o["name"], o["text"]) for o in outputs] == [
        ("stdout", "a\nb\n"), ("stderr", "err\n"), ("stdout", "c\n")]


def test_report_hides_code_and_embeds_figures_and_verdicts(project):
    tmp, nbdir, figdir, verdicts = project
    nbs = report.notebooks(nbdir)
    report.execute(nbs[0])
    out = report.render(nbs, tmp / "report.html", figures=figdir, verdicts=verdicts)
    text = out.read_text()
    assert "secret_variable_name = 6 * 7" not in text  # code hidden
    assert ">42" in text or "42\n" in text  # its output shown
    assert "First notebook" in text and "Second notebook" in text
    assert "A demo figure" in text and "data:image/png;base64," in text
    assert "C01" in text and "supported" in text


def test_missing_figure_file_is_an_error(project):
    tmp, nbdir, figdir, verdicts = project
    (figdir / "demo.png").unlink()
    with pytest.raises(report.EvidenceError, match="demo"):
        report.render(report.notebooks(nbdir), tmp / "r.html", figures=figdir, verdicts=verdicts)


@pytest.mark.chromium
def test_report_renders_in_headless_chromium_with_every_figure_loaded(project, tmp_path):
    browser = report.chromium()
    if browser is None:
        pytest.skip("Chromium not installed (apt-get install chromium)")
    tmp, nbdir, figdir, verdicts = project
    out = report.render(report.notebooks(nbdir), tmp / "report.html", figures=figdir,
                        verdicts=verdicts)
    proc = subprocess.run(
        [browser, *report.CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=10000", "--dump-dom", out.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    total = re.search(r'data-images-total="(\d+)"', proc.stdout)
    loaded = re.search(r'data-images-loaded="(\d+)"', proc.stdout)
    assert total and loaded, "the page's load script did not run"
    assert int(total.group(1)) >= 1
    assert loaded.group(1) == total.group(1)


@pytest.mark.chromium
def test_report_prints_to_pdf(project):
    if report.chromium() is None:
        pytest.skip("Chromium not installed (apt-get install chromium)")
    tmp, nbdir, figdir, verdicts = project
    out = report.render(report.notebooks(nbdir), tmp / "report.html", figures=figdir,
                        verdicts=verdicts)
    pdf = report.to_pdf(out, tmp / "report.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5000
