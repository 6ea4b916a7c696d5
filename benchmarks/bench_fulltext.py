"""Full-text tables benchmark (reported, not a timed test).

Cells per second on a synthetic corpus of N JATS articles (default 1,000; each
with a spanned two-row-header results table, a baseline table and a table in
``<floats-group>``, numbers printed with U+2212 and middle dots): our parser
(``evidence.fulltext``: safe parse, grid, header paths, number parsing,
xpath per cell) vs ``pandas.read_html`` (lxml flavour) on the same article
text, which lays the tables out as DataFrames but keeps no locator and parses
no numbers. Both read every article from bytes in memory; the two are run in turn
(interleaved) ``--repeat`` times and the medians reported.

Run: ``.venv/bin/python benchmarks/bench_fulltext.py [--articles N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import warnings

import pandas as pd

from evidence.fulltext.jats import iter_cells, parse_document

MINUS = "\u2212"


def article(i: int) -> bytes:
    """One synthetic article; its numbers derive from ``i`` (not from any paper)."""
    rows = []
    for week in (4, 12, 26):
        rows.append(f'<tr><td colspan="6">Week {week}</td></tr>')
        for k, name in enumerate(("HARS", "PHQ-8", "PSWQ", "SDS")):
            a, b = (i + k + week) % 17, (i * 3 + k) % 11
            rows.append(
                f'<tr><th scope="row">{name}<xref ref-type="table-fn" rid="f{i}"><sup>a</sup>'
                f'</xref></th><td>{MINUS}{a}\u00b7{b}</td><td>{b}.{a}</td><td>{MINUS}{b}.{a}</td>'
                f'<td>{a + 1}\u00b7{b}</td><td>{MINUS}{a}.{b} [{MINUS}{a + 2}.1; {MINUS}{a}.0]'
                "</td></tr>")
    results = (
        f'<table-wrap id="T2-{i}"><label>Table 2</label><caption><p>Outcomes</p></caption><table>'
        '<thead><tr><th rowspan="2">Outcome</th><th colspan="2">Massage</th>'
        '<th colspan="2">Control</th><th rowspan="2">Difference [95% CI]</th></tr>'
        "<tr><th>Mean</th><th>SD</th><th>Mean</th><th>SD</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table><table-wrap-foot><fn id=\"f{i}\"><p>Scale."
        "</p></fn></table-wrap-foot></table-wrap>")
    baseline = (
        f'<table-wrap id="T1-{i}"><label>Table 1</label><table><thead><tr><th>Characteristic'
        "</th><th>Massage</th><th>Control</th></tr></thead><tbody>"
        f"<tr><td>Age, years</td><td>{40 + i % 9}.2 \u00b1 9.{i % 7}</td><td>41.0 \u00b1 8.8</td>"
        f"</tr><tr><td>Women, n (%)</td><td>{10 + i % 5} (52%)</td><td>11 (50%)</td></tr>"
        "</tbody></table></table-wrap>")
    floats = (
        f'<floats-group><table-wrap id="T3-{i}"><label>Table 3</label><table><tr><td>Events'
        f"</td><td>{i % 4}</td><td>p &lt;0.001</td></tr></table></table-wrap></floats-group>")
    return (f'<pmc-articleset><article><front><article-meta><article-id pub-id-type="pmc">{i}'
            f"</article-id></article-meta></front><body><sec>{results}{baseline}</sec></body>"
            f"{floats}</article></pmc-articleset>").encode()


def ours(corpus: list[bytes]) -> int:
    return sum(1 for data in corpus for _ in iter_cells(parse_document(data)))


def pandas_read_html(corpus: list[bytes]) -> int:
    n = 0
    for data in corpus:
        for df in pd.read_html(io.StringIO(data.decode()), flavor="lxml"):
            n += df.size
    return n


def timed(fn, corpus) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = fn(corpus)
    return time.perf_counter() - t0, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    corpus = [article(i) for i in range(1, args.articles + 1)]
    warnings.simplefilter("ignore")
    runs = []  # interleaved, so both see the same load on a shared machine
    for _ in range(args.repeat):
        (a, cells), (b, pd_cells) = timed(ours, corpus), timed(pandas_read_html, corpus)
        runs.append((a, b))
    t_ours = statistics.median(a for a, _b in runs)
    t_pd = statistics.median(b for _a, b in runs)
    ratios = sorted(b / a for a, b in runs)
    mb = sum(map(len, corpus)) / 1e6
    print(f"corpus: {args.articles} synthetic articles, {mb:.1f} MB, {cells} XML table cells; "
          f"median of {args.repeat} runs, pandas {pd.__version__}")
    print(f"evidence.fulltext : {t_ours:7.3f} s  {cells / t_ours:10,.0f} cells/s "
          "(with header paths, numbers, xpath)")
    print(f"pandas.read_html  : {t_pd:7.3f} s  {cells / t_pd:10,.0f} cells/s "
          f"({pd_cells} grid cells after span expansion, no locators)")
    print(f"ratio: evidence.fulltext is {statistics.median(ratios):.2f}x the speed of "
          f"pandas.read_html (median of per-run ratios; range {ratios[0]:.2f}-{ratios[-1]:.2f})")


if __name__ == "__main__":
    main()
