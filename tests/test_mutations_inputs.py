"""Mutations of every curated input, each with its expected outcome (issue 17).

Each case copies the repository's case (``evidence.toml`` and ``data/``) to a
temporary folder whose derived files were regenerated there first (the
baseline), changes one input, and runs ``evidence extract``, ``analyse`` and
``grade`` on it. The expected outcome is one of:

- ``REJECTED``: a step exits non-zero and its message names the mutated file,
  the line and the field exactly once (and nothing else is reported); every
  derived file is byte for byte the baseline, with no temporary file left;
- ``SAME``: every step exits 0 and every derived file equals the baseline;
- ``NOT_ESTIMABLE``: every step exits 0, the mutated row is kept in
  effects.csv as not estimable with the reason, every other row unchanged;
- ``NEUTRALISED``: every step exits 0, the formula-like text reaches the
  derived CSVs only behind a ``'`` and no derived cell reads as a formula.

The cases marked ``issue`` are those the issue found to "exit 0 and change
the science"; they are measured here on every run.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from evidence import cli

REPO = Path(__file__).resolve().parents[1]
DERIVED = ("effects.csv", "analyses.csv", "claims_verdicts.csv", "downgrades.csv", "risk_of_bias.csv")
STEPS = ("extract", "analyse", "grade")
REJECTED, SAME, NOT_ESTIMABLE, NEUTRALISED = "rejected", "same", "not estimable", "neutralised"
FORMULA = re.compile(r"[=+\-@][A-Za-z(]")

STUDIES, OUTCOMES, WANTED = ("data/extraction/studies.csv", "data/extraction/outcomes.csv",
                             "data/extraction/wanted.csv")
CLAIMS, ANALYSES, MIDS, TOML = "data/claims.yaml", "data/analyses.yaml", "data/mids.csv", "evidence.toml"
ROB = "data/extraction/risk_of_bias.csv"

PAIN = "li2014-pain-eot-pooled-ge5wk"  # a pooled SMD with its CI: the headline of C01 and C08
ARMS = "wilkie2000-pain-2wk-vs-usualcare"  # an estimable arm_mean_sd row with n per arm
CHANGE_CI = "kutner2008-pain-immediate-vs-simpletouch"  # an estimable arm_change_ci row


# --- editing helpers: each returns the 1-based line the error should name -----------------------

def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    text = path.read_text(encoding="utf-8-sig")
    limit = csv.field_size_limit(len(text) + 1)  # this helper reads the mutated files too
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header, rows, line = next(reader), [], 2
        for cells in reader:
            rows.append((line, cells))
            line = reader.line_num + 1
    finally:
        csv.field_size_limit(limit)
    return header, rows


def _write(path: Path, header, rows) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(cells for _, cells in rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def _line_of_key(path: Path, key: str, keycol: int = 0) -> int:
    for line, cells in _rows(path)[1]:
        if cells and cells[keycol] == key:
            return line
    raise AssertionError(f"{key} not in {path}")


def cell(rel, key, first=False, **values):
    """Set columns of the row whose first cell is ``key`` (the first such row if ``first``;
    a missing row fails the test)."""
    def mutate(root: Path) -> int:
        path = root / rel
        header, rows = _rows(path)
        hits = [i for i, (_, cells) in enumerate(rows) if cells and cells[0] == key]
        assert hits and (first or len(hits) == 1), f"{key} not (once) in {rel}"
        for col, value in values.items():
            rows[hits[0]][1][header.index(col)] = value
        _write(path, header, rows)
        return _rows(path)[1][hits[0]][0]
    return mutate


def row_cells(rel, key, how):
    """Replace the cells of the first row of ``key`` by ``how(cells)`` (a short or long row)."""
    def mutate(root: Path) -> int:
        path = root / rel
        header, rows = _rows(path)
        i = next(i for i, (_, cells) in enumerate(rows) if cells and cells[0] == key)
        rows[i] = (rows[i][0], how(rows[i][1]))
        _write(path, header, rows)
        return _line_of_key(path, key)
    return mutate


def duplicate_key(rel, key, other):
    """Give the row of ``key`` the id ``other``: the later of the two rows is the duplicate."""
    def mutate(root: Path) -> int:
        cell(rel, key, **{_rows(root / rel)[0][0]: other})(root)
        return max(line for line, cells in _rows(root / rel)[1] if cells and cells[0] == other)
    return mutate


def extra_column(rel, name):
    """Append a column (named like an existing one, for a doubled header) with blank cells."""
    def mutate(root: Path) -> int:
        path = root / rel
        header, rows = _rows(path)
        _write(path, [*header, name], [(n, [*c, ""]) for n, c in rows])
        return 1
    return mutate


def one_past_last(rel):
    """How a row's cell beyond the header is named: 'cell N+1' for N columns."""
    return lambda root: f"cell {len(_rows(root / rel)[0]) + 1}"


def nth_column_from_end(rel, k):
    """The name of the k-th last column of a sheet (what a row k cells short lacks first)."""
    return lambda root: _rows(root / rel)[0][-k]


def raw_bytes(rel, key, col, bad: bytes):
    """Put raw bytes (not UTF-8, NUL...) inside one cell: written as a marker, then swapped."""
    marker = "MUTATION-MARKER"

    def mutate(root: Path) -> int:
        line = cell(rel, key, first=True, **{col: marker})(root)
        path = root / rel
        path.write_bytes(path.read_bytes().replace(marker.encode(), bad))
        return line
    return mutate


def header_only(rel):
    def mutate(root: Path) -> int:
        path = root / rel
        path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
        return 2
    return mutate


def whole_file(rel, content: bytes | None, line=None):
    """Replace a file (None: delete it)."""
    def mutate(root: Path):
        path = root / rel
        if content is None:
            path.unlink()
        else:
            path.write_bytes(content)
        return line
    return mutate


def drop_column(rel, col):
    def mutate(root: Path) -> int:
        path = root / rel
        header, rows = _rows(path)
        i = header.index(col)
        _write(path, header[:i] + header[i + 1:], [(n, c[:i] + c[i + 1:]) for n, c in rows])
        return 1
    return mutate


def text(rel, old, new, mark=None, count=1):
    """Replace ``old`` by ``new`` in a text file; the line expected is that of ``mark`` (a
    substring of the new text, default ``new``) in the result."""
    def mutate(root: Path):
        path = root / rel
        body = path.read_text(encoding="utf-8")
        assert body.count(old) >= count, f"{old!r} not in {rel}"
        body = body.replace(old, new, count)
        path.write_text(body, encoding="utf-8")
        where = mark if mark is not None else new
        if where is False:
            return None
        return body[:body.index(where)].count("\n") + 1
    return mutate


def transform(rel, fn, line=None):
    def mutate(root: Path):
        path = root / rel
        path.write_bytes(fn(path.read_bytes()))
        return line
    return mutate


def crlf(rel):
    return transform(rel, lambda b: b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


def bom(rel):
    return transform(rel, lambda b: b"\xef\xbb\xbf" + b)


def blank_line_after_header(rel):
    def fn(b: bytes) -> bytes:
        head, _, rest = b.partition(b"\n")
        return head + b"\n\n" + rest
    return transform(rel, fn)


STRENGTH = "  strength: usage or mechanism\n"  # C01's, the first claim's


def after_strength(line: str):
    """Insert a line after C01's strength; the line expected is the inserted one."""
    return text(CLAIMS, STRENGTH, STRENGTH + line, mark=line)


def then(*mutations):
    """Several edits; the line of the last is expected."""
    def mutate(root: Path):
        line = None
        for m in mutations:
            line = m(root)
        return line
    return mutate


def alias_bomb() -> bytes:
    """Nested YAML aliases (the 'billion laughs' of YAML): tiny on disk, huge when expanded."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return ("- id: C01\n  notes:\n    " + "\n    ".join(lines) + "\n").encode()  # 9**10 items


# --- the cases ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    file: str  # the file whose error is expected (relative to the case root)
    mutate: object
    expect: str
    field: object = None  # the field named, or a function of the case root giving it
    count: object = 1  # problems expected in the message (or a function of the case root)
    reason: str = ""  # NOT_ESTIMABLE: text of the reason; NEUTRALISED: the formula text
    row_id: str = ""
    line: object = "auto"  # "auto": what mutate returns; None: a whole-file error (no line)
    issue: bool = False


def rej(id_, file, mutate, field=None, **kw):
    return Case(id_, file, mutate, REJECTED, field, **kw)


def same(id_, file, mutate):
    return Case(id_, file, mutate, SAME)


LONG = "x" * 131_073
YEAR_NOW_PLUS = "3024"

CASES = [
    # ---- studies.csv
    rej("pmid-fullwidth", STUDIES, cell(STUDIES, "li2014", pmid="２５１２３４５６"), "pmid", issue=True),
    rej("pmid-superscript", STUDIES, cell(STUDIES, "li2014", pmid="²⁵¹²³"), "pmid", issue=True),
    rej("pmid-leading-zero", STUDIES, cell(STUDIES, "sherman2010", pmid="020186971"), "pmid"),
    rej("pmid-nine-digits", STUDIES, cell(STUDIES, "sherman2010", pmid="201869710"), "pmid"),
    rej("pmid-inner-space", STUDIES, cell(STUDIES, "sherman2010", pmid="2018 6971"), "pmid"),
    rej("pmid-decimal", STUDIES, cell(STUDIES, "sherman2010", pmid="20186971.0"), "pmid"),
    rej("pmid-scientific", STUDIES, cell(STUDIES, "sherman2010", pmid="2e7"), "pmid"),
    rej("year-future", STUDIES, cell(STUDIES, "wilkie2000", year=YEAR_NOW_PLUS), "year", issue=True),
    rej("year-too-old", STUDIES, cell(STUDIES, "wilkie2000", year="1799"), "year"),
    rej("year-fraction", STUDIES, cell(STUDIES, "wilkie2000", year="2000.5"), "year"),
    rej("year-underscore", STUDIES, cell(STUDIES, "wilkie2000", year="2_000"), "year"),
    rej("year-fullwidth", STUDIES, cell(STUDIES, "wilkie2000", year="２０００"), "year"),
    rej("year-word", STUDIES, cell(STUDIES, "wilkie2000", year="two thousand"), "year"),
    rej("n-randomised-underscore", STUDIES, cell(STUDIES, "wilkie2000", n_randomised="2_9"),
        "n_randomised"),
    rej("n-randomised-zero", STUDIES, cell(STUDIES, "wilkie2000", n_randomised="0"), "n_randomised"),
    rej("n-randomised-negative", STUDIES, cell(STUDIES, "wilkie2000", n_randomised="-29"),
        "n_randomised"),
    rej("n-randomised-overflow", STUDIES, cell(STUDIES, "wilkie2000", n_randomised="1e400"),
        "n_randomised"),
    rej("n-randomised-nan", STUDIES, cell(STUDIES, "wilkie2000", n_randomised="nan"), "n_randomised"),
    rej("n-randomised-infinity", STUDIES, cell(STUDIES, "wilkie2000", n_randomised="Infinity"),
        "n_randomised"),
    rej("n-randomised-below-arms", OUTCOMES,  # one problem per outcomes row of the study with n
        then(cell(STUDIES, "wilkie2000", n_randomised="20", n_analysed=""),
             lambda root: _rows_with_n(root, "wilkie2000")[0]), "n_int",
        count=lambda root: len(_rows_with_n(root, "wilkie2000")), issue=True),
    rej("n-analysed-underscore", STUDIES, cell(STUDIES, "wilkie2000", n_analysed="2_9"), "n_analysed"),
    rej("n-analysed-above-randomised", STUDIES, cell(STUDIES, "wilkie2000", n_analysed="300"),
        "n_analysed"),
    rej("design-case", STUDIES, cell(STUDIES, "wilkie2000", design="rct"), "design"),
    rej("role-unknown", STUDIES, cell(STUDIES, "wilkie2000", evidence_role="primary"), "evidence_role"),
    rej("rob-unknown", STUDIES, cell(STUDIES, "wilkie2000", risk_of_bias="medium-ish"), "risk_of_bias"),
    rej("source-blank", STUDIES, cell(STUDIES, "wilkie2000", source=""), "source"),
    rej("cited-by-unknown", STUDIES, cell(STUDIES, "wilkie2000", cited_by="nobody2000"), "cited_by"),
    rej("study-id-duplicate", STUDIES, duplicate_key(STUDIES, "nccih_wyntk", "nccih_digest"),
        "study_id"),
    rej("studies-short-row", STUDIES, row_cells(STUDIES, "wilkie2000", lambda c: c[:-1]), "notes",
        issue=True),
    rej("studies-long-row", STUDIES, row_cells(STUDIES, "wilkie2000", lambda c: [*c, "extra"]),
        one_past_last(STUDIES)),
    rej("studies-not-utf8", STUDIES, raw_bytes(STUDIES, "wilkie2000", "notes", b"caf\xe9"), "notes"),
    rej("studies-nul", STUDIES, raw_bytes(STUDIES, "wilkie2000", "notes", b"a\x00b"), "notes"),
    rej("studies-huge-cell", STUDIES, cell(STUDIES, "wilkie2000", notes=LONG), "notes"),
    rej("studies-header-only", STUDIES, header_only(STUDIES)),
    rej("studies-empty", STUDIES, whole_file(STUDIES, b"", line=1)),
    rej("studies-missing", STUDIES, whole_file(STUDIES, None), line=None),
    rej("studies-no-notes-column", STUDIES, drop_column(STUDIES, "notes"), "notes"),
    rej("studies-duplicate-column", STUDIES, extra_column(STUDIES, "doi"), "doi"),
    same("studies-crlf", STUDIES, crlf(STUDIES)),
    same("studies-bom", STUDIES, bom(STUDIES)),
    same("studies-blank-line", STUDIES, blank_line_after_header(STUDIES)),
    same("studies-padded-year", STUDIES, cell(STUDIES, "wilkie2000", year=" 2000 ")),
    same("studies-year-scientific", STUDIES, cell(STUDIES, "wilkie2000", year="2.000e3")),
    same("studies-notes-edited", STUDIES, cell(STUDIES, "wilkie2000", notes="a curator's note")),
    Case("first-author-formula", STUDIES, cell(STUDIES, "wilkie2000", first_author="=HYPERLINK(\"x\")"),
         NEUTRALISED, reason='=HYPERLINK("x")'),

    # ---- outcomes.csv
    rej("ci-zero-width", OUTCOMES, cell(OUTCOMES, PAIN, estimate_ci_low="0.62",
                                        estimate_ci_high="0.62"), "estimate_ci_low", issue=True),
    rej("arm-ci-zero-width", OUTCOMES, cell(OUTCOMES, CHANGE_CI, ci_low_int="-1.87",
                                            ci_high_int="-1.87"), "ci_low_int"),
    rej("ci-reversed", OUTCOMES, cell(OUTCOMES, PAIN, estimate_ci_low="1.2", estimate_ci_high="0.05"),
        "estimate_ci_low"),
    rej("estimate-outside-ci", OUTCOMES, cell(OUTCOMES, PAIN, estimate="2.5"), "estimate"),
    rej("ci-one-bound", OUTCOMES, cell(OUTCOMES, PAIN, estimate_ci_high=""), "estimate_ci_high"),
    rej("n-underscore", OUTCOMES, cell(OUTCOMES, ARMS, n_int="1_5"), "n_int", issue=True),
    rej("n-fullwidth", OUTCOMES, cell(OUTCOMES, ARMS, n_int="１５"), "n_int"),
    rej("n-arabic-indic", OUTCOMES, cell(OUTCOMES, ARMS, n_int="١٥"), "n_int"),
    rej("n-decimal-comma", OUTCOMES, cell(OUTCOMES, ARMS, n_int="15,0"), "n_int"),
    rej("n-thousands", OUTCOMES, cell(OUTCOMES, ARMS, n_int="1,500"), "n_int"),
    rej("n-one", OUTCOMES, cell(OUTCOMES, ARMS, n_int="1"), "n_int"),
    rej("n-fraction", OUTCOMES, cell(OUTCOMES, ARMS, n_int="15.5"), "n_int"),
    rej("n-hex", OUTCOMES, cell(OUTCOMES, ARMS, n_int="0xF"), "n_int"),
    rej("n-above-randomised", OUTCOMES, cell(OUTCOMES, ARMS, n_int="100"), "n_int", issue=True),
    rej("mean-word", OUTCOMES, cell(OUTCOMES, ARMS, mean_int="one"), "mean_int"),
    rej("mean-minus-sign", OUTCOMES, cell(OUTCOMES, ARMS, mean_int="−1.4"), "mean_int"),
    rej("sd-decimal-comma", OUTCOMES, cell(OUTCOMES, ARMS, sd_int="1,5"), "sd_int"),
    rej("sd-zero", OUTCOMES, cell(OUTCOMES, ARMS, sd_int="0"), "sd_int"),
    rej("sd-negative", OUTCOMES, cell(OUTCOMES, ARMS, sd_int="-1.5"), "sd_int"),
    rej("sd-inf", OUTCOMES, cell(OUTCOMES, ARMS, sd_int="inf"), "sd_int"),
    rej("sd-nan", OUTCOMES, cell(OUTCOMES, ARMS, sd_int="nan"), "sd_int"),
    rej("sd-overflow", OUTCOMES, cell(OUTCOMES, ARMS, sd_int="1e999"), "sd_int"),
    rej("sd-underscore", OUTCOMES, cell(OUTCOMES, ARMS, sd_int="1_5"), "sd_int"),
    rej("estimate-decimal-comma", OUTCOMES, cell(OUTCOMES, PAIN, estimate="0,62"), "estimate"),
    rej("ci-low-word", OUTCOMES, cell(OUTCOMES, PAIN, estimate_ci_low="low"), "estimate_ci_low"),
    rej("p-zero", OUTCOMES, cell(OUTCOMES, PAIN, p="0"), "p"),
    rej("p-above-one", OUTCOMES, cell(OUTCOMES, PAIN, p="1.5"), "p"),
    rej("p-percent", OUTCOMES, cell(OUTCOMES, PAIN, p="3%"), "p"),
    rej("p-sided-three", OUTCOMES, cell(OUTCOMES, PAIN, p_sided="3"), "p_sided"),
    rej("p-sided-fraction", OUTCOMES, cell(OUTCOMES, PAIN, p_sided="1.5"), "p_sided"),
    rej("df-zero", OUTCOMES, cell(OUTCOMES, ARMS, df="0"), "df"),
    rej("i2-above-100", OUTCOMES, cell(OUTCOMES, PAIN, i2="150"), "i2"),
    rej("k-studies-zero", OUTCOMES, cell(OUTCOMES, PAIN, k_studies="0"), "k_studies"),
    rej("timepoint-negative", OUTCOMES, cell(OUTCOMES, ARMS, timepoint_weeks="-2"), "timepoint_weeks"),
    rej("data-type-unknown", OUTCOMES, cell(OUTCOMES, ARMS, data_type="arm_mean"), "data_type"),
    rej("outcome-unknown", OUTCOMES, cell(OUTCOMES, ARMS, outcome="pian"), "outcome"),
    rej("scale-direction-unknown", OUTCOMES, cell(OUTCOMES, ARMS, scale_direction="lower_better"),
        "scale_direction"),
    rej("comparator-type-blank", OUTCOMES, cell(OUTCOMES, ARMS, comparator_type=""), "comparator_type"),
    rej("double-extracted-maybe", OUTCOMES, cell(OUTCOMES, ARMS, double_extracted="maybe"),
        "double_extracted"),
    rej("study-id-unknown", OUTCOMES, cell(OUTCOMES, ARMS, study_id="wilkie2001"), "study_id"),
    rej("row-id-duplicate", OUTCOMES, duplicate_key(OUTCOMES, "wilkie2000-pain-baseline-vs-usualcare",
                                                    ARMS), "row_id"),
    rej("source-blank", OUTCOMES, cell(OUTCOMES, ARMS, source=""), "source"),
    rej("row-id-formula", OUTCOMES, cell(OUTCOMES, ARMS, row_id="=wilkie"), "row_id"),
    rej("overflow-mean", OUTCOMES, cell(OUTCOMES, ARMS, mean_int="1e308", mean_ctl="-1e308"),
        "data_type"),
    rej("overflow-sd-tiny", OUTCOMES, cell(OUTCOMES, ARMS, sd_int="1e-320", sd_ctl="1e-320"),
        "data_type"),
    rej("overflow-t", OUTCOMES, cell(OUTCOMES, ARMS, data_type="t_stat", t="1e308",
                                     diff_direction="int_minus_ctl"), "data_type"),
    rej("outcomes-header-only", OUTCOMES, header_only(OUTCOMES), issue=True),
    rej("outcomes-empty", OUTCOMES, whole_file(OUTCOMES, b"", line=1)),
    rej("outcomes-short-row", OUTCOMES, row_cells(OUTCOMES, ARMS, lambda c: c[:-3]),
        nth_column_from_end(OUTCOMES, 3), issue=True),
    rej("outcomes-long-row", OUTCOMES, row_cells(OUTCOMES, ARMS, lambda c: [*c, ""]),
        one_past_last(OUTCOMES)),
    rej("outcomes-not-utf8", OUTCOMES, raw_bytes(OUTCOMES, ARMS, "source", b"Table \xff2"), "source"),
    rej("outcomes-latin1", OUTCOMES, raw_bytes(OUTCOMES, ARMS, "notes", "Müller".encode("latin-1")),
        "notes"),
    rej("outcomes-huge-cell", OUTCOMES, cell(OUTCOMES, ARMS, notes=LONG), "notes"),
    rej("outcomes-no-source-column", OUTCOMES, drop_column(OUTCOMES, "source"), "source"),
    Case("p-one-sided-one", OUTCOMES, cell(OUTCOMES, ARMS, data_type="p_only", p="1", p_sided="1",
                                                p_operator=""),
         NOT_ESTIMABLE, reason="one-sided p = 1 > 0.5", row_id=ARMS, issue=True),
    Case("p-one-sided-0.9", OUTCOMES, cell(OUTCOMES, ARMS, data_type="p_only", p="0.9", p_sided="1",
                                                p_operator=""),
         NOT_ESTIMABLE, reason="one-sided p = 0.9 > 0.5", row_id=ARMS, issue=True),
    Case("source-hyperlink", OUTCOMES, cell(OUTCOMES, PAIN, source='=HYPERLINK("http://x","y")'),
         NEUTRALISED, reason='=HYPERLINK("http://x","y")', issue=True),
    Case("source-plus-cmd", OUTCOMES, cell(OUTCOMES, PAIN, source="+cmd|' /C calc'!A0"),
         NEUTRALISED, reason="+cmd|' /C calc'!A0"),
    Case("source-at-sum", OUTCOMES, cell(OUTCOMES, PAIN, source="@SUM(1+1)"), NEUTRALISED,
         reason="@SUM(1+1)"),
    Case("instrument-minus-paren", OUTCOMES, cell(OUTCOMES, PAIN, instrument="-(1+1)"), NEUTRALISED,
         reason="-(1+1)"),
    same("outcomes-crlf", OUTCOMES, crlf(OUTCOMES)),
    same("outcomes-bom", OUTCOMES, bom(OUTCOMES)),
    same("outcomes-blank-line", OUTCOMES, blank_line_after_header(OUTCOMES)),
    same("n-written-15.0", OUTCOMES, cell(OUTCOMES, ARMS, n_int="15.0")),
    same("mean-scientific", OUTCOMES, cell(OUTCOMES, ARMS, mean_int="1.4e0")),
    same("mean-padded", OUTCOMES, cell(OUTCOMES, ARMS, mean_int=" 1.4 ")),
    same("mean-plus-sign", OUTCOMES, cell(OUTCOMES, ARMS, mean_int="+1.4")),
    same("estimate-trailing-zero", OUTCOMES, cell(OUTCOMES, PAIN, estimate="0.620")),
    same("outcomes-notes-edited", OUTCOMES, cell(OUTCOMES, ARMS, notes="checked twice")),

    # ---- wanted.csv
    rej("wanted-study-unknown", WANTED, cell(WANTED, "sherman2010", first=True, study_id="nobody2000"),
        "study_id"),
    rej("wanted-status-unknown", WANTED, cell(WANTED, "yuan2013", first=True, status="done"), "status"),
    rej("wanted-outcome-unknown", WANTED, cell(WANTED, "yuan2013", first=True, outcome="pian"), "outcome"),
    rej("wanted-needed-blank", WANTED, cell(WANTED, "yuan2013", first=True, needed=""), "needed"),
    rej("wanted-short-row", WANTED, row_cells(WANTED, "yuan2013", lambda c: c[:-1]), "status"),
    # ---- risk_of_bias.csv (evidence.rob): checked before extract writes anything
    rej("rob-study-unknown", ROB, cell(ROB, "wilkie2000", first=True, study_id="nobody2000"), "study_id"),
    rej("rob-domain-unknown", ROB, cell(ROB, "jane2011", first=True, domain="blinding"), "domain"),
    rej("rob-judgement-unknown", ROB, cell(ROB, "jane2011", first=True, judgement="moderate"), "judgement"),
    rej("rob-source-blank", ROB, cell(ROB, "jane2011", first=True, source=""), "source"),
    rej("rob-overall-better-than-domains", STUDIES, cell(STUDIES, "wilkie2000", risk_of_bias="low"),
        "risk_of_bias"),
    rej("wanted-long-row", WANTED, row_cells(WANTED, "yuan2013", lambda c: [*c, "x"]), one_past_last(WANTED)),
    rej("wanted-not-utf8", WANTED, raw_bytes(WANTED, "yuan2013", "searched", b"\xc3("), "searched"),
    rej("wanted-huge-cell", WANTED, cell(WANTED, "yuan2013", first=True, searched=LONG), "searched"),
    rej("wanted-no-status-column", WANTED, drop_column(WANTED, "status"), "status"),
    same("wanted-header-only", WANTED, header_only(WANTED)),
    same("wanted-filled", WANTED, cell(WANTED, "yuan2013", first=True, status="filled")),
    same("wanted-crlf", WANTED, crlf(WANTED)),
    same("wanted-searched-edited", WANTED, cell(WANTED, "yuan2013", first=True, searched="pages: one more")),

    # ---- claims.yaml
    rej("hedged-quoted-false", CLAIMS, after_strength('  hedged: "false"\n'), "hedged", issue=True),
    rej("hedged-quoted-true", CLAIMS, after_strength("  hedged: 'true'\n"), "hedged"),
    rej("hedged-number", CLAIMS, after_strength("  hedged: 0\n"), "hedged"),
    rej("strength-mapping", CLAIMS, text(CLAIMS, STRENGTH, "  strength: {may: 1}\n"), "strength"),
    rej("strength-unknown", CLAIMS, text(CLAIMS, STRENGTH, "  strength: maybe\n"), "strength"),
    rej("strength-phrase-number", CLAIMS, text(CLAIMS, '  strength_phrase: "is used to treat"\n',
                                               "  strength_phrase: 12\n"), "strength_phrase"),
    rej("duplicate-analyses-key", CLAIMS,  # a second analyses: at the end of C01
        text(CLAIMS, "\n- id: C02\n", "\n  analyses: []\n- id: C02\n", mark="  analyses: []\n- id: C02"),
        "analyses", issue=True),
    rej("duplicate-strength-key", CLAIMS, after_strength("  strength: states\n"), "strength"),
    rej("duplicate-claim-id", CLAIMS, text(CLAIMS, "- id: C02\n", "- id: C01\n", mark=False), "id",
        line="second-claim"),
    rej("anchor", CLAIMS, text(CLAIMS, "  sources: [nccih_digest, li2014]",
                               "  sources: &s [nccih_digest, li2014]"), line="auto"),
    rej("alias-bomb", CLAIMS, whole_file(CLAIMS, alias_bomb(), line=3)),  # its first anchor
    rej("merge-key", CLAIMS, after_strength("  <<: {notes: x}\n")),
    rej("python-tag", CLAIMS, text(CLAIMS, STRENGTH, "  strength: !!python/object/apply:os.system [echo]\n")),
    rej("syntax-unclosed-bracket", CLAIMS, text(CLAIMS, "  sources: [nccih_digest, li2014]",
                                                "  sources: [nccih_digest, li2014", mark="  pico:")),
    rej("syntax-tab-indent", CLAIMS, text(CLAIMS, STRENGTH, "\tstrength: usage or mechanism\n")),
    rej("deep-nesting", CLAIMS, text(CLAIMS, "  sources: [nccih_digest, li2014]",
                                     "  sources: " + "[" * 60 + "]" * 60)),
    rej("kind-mapping", CLAIMS, text(CLAIMS, "  kind: efficacy\n  claim: Therapeutic massage is commonly",
                                     "  kind: {a: 1}\n  claim: Therapeutic massage is commonly",
                                     mark="  kind: {a: 1}"), "kind"),
    rej("comparator-type-mapping", CLAIMS,
        text(CLAIMS, "    comparator_type: no treatment\n", "    comparator_type: {a: 1}\n"),
        "pico.comparator_type"),
    rej("population-list", CLAIMS,
        text(CLAIMS, "    population: people with muscle pain, muscle injury or stiffness\n",
             "    population: [people]\n"), "pico.population"),
    rej("section-list", CLAIMS, text(CLAIMS, "  section: What is it\n", "  section: [What, is, it]\n"),
        "section"),
    rej("section-date", CLAIMS, text(CLAIMS, "  section: What is it\n", "  section: 2024-01-01\n"),
        "section"),
    rej("claim-number", CLAIMS,
        text(CLAIMS, "  claim: Therapeutic massage is commonly used as a treatment for muscle pain, "
             "injuries and stiffness.\n", "  claim: 12\n"), "claim"),
    rej("sources-string", CLAIMS, text(CLAIMS, "  sources: [nccih_digest, li2014]",
                                       "  sources: li2014"), "sources"),
    rej("sources-boolean", CLAIMS, text(CLAIMS, "  sources: [nccih_digest, li2014]",
                                        "  sources: [true]"), "sources"),
    rej("sources-unknown", CLAIMS, text(CLAIMS, "  sources: [nccih_digest, li2014]",
                                        "  sources: [nccih_digest, li2015]"), "sources"),
    rej("conditions-string", CLAIMS,
        text(CLAIMS, "    conditions: [musculoskeletal pain, muscle injury]\n",
             "    conditions: fibromyalgia\n"), "pico.conditions"),
    rej("unknown-key", CLAIMS, after_strength("  hedge: true\n"), "hedge"),
    rej("id-lowercase", CLAIMS, text(CLAIMS, "- id: C01\n", "- id: c01\n"), "id"),
    rej("claims-not-utf8", CLAIMS, transform(CLAIMS, lambda b: b.replace(b"What is it", b"What \xe9s it",
                                                                         1)), line="first-section"),
    rej("claims-mapping", CLAIMS, whole_file(CLAIMS, b"C01: {section: x}\n", line=1)),
    rej("claims-empty", CLAIMS, whole_file(CLAIMS, b"", line=1)),
    rej("claims-missing", CLAIMS, whole_file(CLAIMS, None), line=None),
    same("claims-quoted-strength", CLAIMS, text(CLAIMS, STRENGTH, "  strength: 'usage or mechanism'\n")),
    same("claims-comment", CLAIMS, text(CLAIMS, "- id: C01\n", "# a reviewer's comment\n- id: C01\n")),
    same("claims-quoted-section", CLAIMS, text(CLAIMS, "  section: What is it\n",
                                               '  section: "What is it"\n')),
    same("claims-block-sources", CLAIMS, text(CLAIMS, "  sources: [nccih_digest, li2014]",
                                              "  sources:\n    - nccih_digest\n    - li2014")),
    same("claims-crlf", CLAIMS, crlf(CLAIMS)),

    # ---- analyses.yaml
    rej("rows-one-string", ANALYSES,
        text(ANALYSES, "  rows:\n    - sherman2010-anxiety-12wk-vs-thermotherapy\n",
             "  rows: sherman2010-anxiety-12wk-vs-thermotherapy\n", mark="  rows:"), "rows"),
    rej("rows-repeated", ANALYSES,
        text(ANALYSES, "  rows:\n    - sherman2010-anxiety-12wk-vs-thermotherapy\n",
             "  rows:\n    - sherman2010-anxiety-12wk-vs-thermotherapy\n"
             "    - sherman2010-anxiety-12wk-vs-thermotherapy\n", mark="  rows:"), "rows"),
    rej("rows-mapping-item", ANALYSES,
        text(ANALYSES, "    - sherman2010-anxiety-12wk-vs-thermotherapy\n",
             "    - {id: sherman2010-anxiety-12wk-vs-thermotherapy}\n", mark="  rows:"), "rows"),
    rej("method-mapping", ANALYSES, text(ANALYSES, "  measure: MD\n  evidence_role: cited\n",
                                         "  measure: MD\n  method: {REML: 1}\n  evidence_role: cited\n",
                                         mark="  method:"), "method"),
    rej("method-unknown", ANALYSES, text(ANALYSES, "  measure: MD\n  evidence_role: cited\n",
                                         "  measure: MD\n  method: XX\n  evidence_role: cited\n",
                                         mark="  method:"), "method"),
    rej("test-unknown", ANALYSES, text(ANALYSES, "  measure: MD\n  evidence_role: cited\n",
                                       "  measure: MD\n  test: t\n  evidence_role: cited\n",
                                       mark="  test:"), "test"),
    rej("pool-quoted", ANALYSES, text(ANALYSES, "  measure: MD\n  evidence_role: cited\n",
                                      "  measure: MD\n  pool: 'false'\n  evidence_role: cited\n",
                                      mark="  pool:"), "pool"),
    rej("measure-duplicate-key", ANALYSES, text(ANALYSES, "  measure: MD\n  evidence_role: cited\n",
                                                "  measure: MD\n  measure: SMD\n  evidence_role: cited\n",
                                                mark="  measure: SMD"), "measure"),
    rej("id-number", ANALYSES, text(ANALYSES, "- id: gad_anxiety_eot\n", "- id: 17\n"), "id"),
    rej("id-formula", ANALYSES, text(ANALYSES, "- id: gad_anxiety_eot\n", "- id: '@gad'\n"), "id"),
    rej("title-mapping", ANALYSES, text(ANALYSES, "  title: GAD, anxiety (HARS), end of treatment\n",
                                        "  title: {GAD: anxiety}\n"), "title"),
    rej("unknown-key", ANALYSES, text(ANALYSES, "  measure: MD\n  evidence_role: cited\n",
                                      "  measure: MD\n  model: REML\n  evidence_role: cited\n",
                                      mark="  model:"), "model"),
    rej("anchor", ANALYSES, text(ANALYSES, "  measure: MD\n  evidence_role: cited\n",
                                 "  measure: &m MD\n  evidence_role: cited\n", mark="  measure: &m")),
    rej("syntax-bad-indent", ANALYSES, text(ANALYSES, "  measure: MD\n  evidence_role: cited\n",
                                            "  measure: MD\n   evidence_role: cited\n",
                                            mark="   evidence_role")),
    rej("analyses-not-utf8", ANALYSES, transform(ANALYSES, lambda b: b.replace(
        b"GAD, anxiety (HARS), end of treatment", b"GAD, anxi\xe9ty (HARS), end of treatment", 1)),
        line="first-title"),
    rej("analyses-mapping", ANALYSES, whole_file(ANALYSES, b"gad: {rows: [a]}\n", line=1)),
    same("analyses-comment", ANALYSES, text(ANALYSES, "- id: gad_anxiety_eot\n",
                                            "# note\n- id: gad_anxiety_eot\n")),
    same("analyses-quoted-title", ANALYSES, text(ANALYSES, "  title: GAD, anxiety (HARS), end of treatment\n",
                                                 "  title: 'GAD, anxiety (HARS), end of treatment'\n")),
    same("analyses-quoted-measure", ANALYSES, text(ANALYSES, "  measure: MD\n  evidence_role: cited\n",
                                                   "  measure: 'MD'\n  evidence_role: \"cited\"\n")),

    # ---- mids.csv
    rej("mids-missing", MIDS, whole_file(MIDS, None), line=None, issue=True),
    rej("mids-header-only", MIDS, header_only(MIDS), issue=True),
    rej("mid-negative", MIDS, cell(MIDS, "any", mid="-0.5"), "mid", issue=True),
    rej("mid-zero", MIDS, cell(MIDS, "any", mid="0"), "mid", issue=True),
    rej("mid-infinite", MIDS, cell(MIDS, "any", mid="inf"), "mid", issue=True),
    rej("mid-overflow", MIDS, cell(MIDS, "any", mid="1e999"), "mid"),
    rej("mid-underscore", MIDS, cell(MIDS, "any", mid="0_5"), "mid"),
    rej("mid-fullwidth", MIDS, cell(MIDS, "any", mid="０.５"), "mid"),
    rej("mid-blank", MIDS, cell(MIDS, "any", mid=""), "mid"),
    rej("mid-source-blank", MIDS, cell(MIDS, "any", source=""), "source"),
    rej("mids-duplicate-row", MIDS, lambda root: _duplicate_last_row(root / MIDS), "outcome", issue=True),
    rej("mids-short-row", MIDS, row_cells(MIDS, "any", lambda c: c[:-1]), "notes"),
    rej("mids-long-row", MIDS, row_cells(MIDS, "any", lambda c: [*c, "x"]), one_past_last(MIDS)),
    rej("mids-not-utf8", MIDS, raw_bytes(MIDS, "any", "notes", b"\xff"), "notes"),
    rej("mids-no-mid-column", MIDS, drop_column(MIDS, "mid")),
    same("mid-trailing-zero", MIDS, cell(MIDS, "any", mid="0.50")),
    same("mid-scientific", MIDS, cell(MIDS, "any", mid="5e-1")),
    same("mids-crlf", MIDS, crlf(MIDS)),
    same("mids-bom", MIDS, bom(MIDS)),

    # ---- evidence.toml (tomllib reports a syntax error's line in its message)
    rej("toml-syntax", TOML, text(TOML, "[grading]", "[grading"), line="in-message"),
    rej("toml-duplicate-key", TOML, text(TOML, 'control = "control"\n',
                                         'control = "control"\ncontrol = "sham"\n',
                                         mark='control = "sham"'), line="in-message"),
    rej("toml-unknown-table", TOML, text(TOML, "[grading]", "[grades]", mark=False), "grades", line=None),
    rej("toml-threshold-negative", TOML, text(TOML, "[grading]", "[grading]\ni2_serious = -1", mark=False),
        "grading.i2_serious", line=None),
    rej("toml-threshold-string", TOML, text(TOML, "[grading]", '[grading]\ni2_serious = "50"', mark=False),
        "grading.i2_serious", line=None),
    rej("toml-threshold-bool", TOML, text(TOML, "[grading]", "[grading]\ni2_serious = true", mark=False),
        "grading.i2_serious", line=None),
    rej("toml-threshold-unknown", TOML, text(TOML, "[grading]", "[grading]\ni2 = 50", mark=False),
        "grading.i2", line=None),
    rej("toml-pattern-invalid", TOML, text(TOML, "claim_id_pattern = '^C\\d{2}$'",
                                           "claim_id_pattern = '^C[\\d{2}$'", mark=False),
        "case.claim_id_pattern", line=None),
    rej("toml-title-blank", TOML, text(TOML, 'title = \'"What Is Therapeutic Massage?" (Verywell Mind)\'',
                                       'title = " "', mark=False), "case.title", line=None),
    rej("toml-map-key", TOML, text(TOML, 'key = "gad"', 'key = "Gad Map"', mark=False),
        "figures.condition_map[1].key", line=None),
    rej("toml-pattern-rejects-ids", CLAIMS, text(TOML, "claim_id_pattern = '^C\\d{2}$'",
                                                 "claim_id_pattern = '^K\\d{2}$'", mark=False),
        "id", line="first-claim"),
    rej("toml-not-utf8", TOML, transform(TOML, lambda b: b.replace(b"[grading]", b"[grading]\n# \xff")),
        line=None),
    same("toml-comment", TOML, text(TOML, "[grading]", "# thresholds\n[grading]")),
    same("toml-default-threshold", TOML, text(TOML, "[grading]", "[grading]\ni2_serious = 50.0")),
]


def _rows_with_n(root: Path, study: str) -> list[int]:
    """Lines of the outcomes rows of ``study`` that give both arms' n."""
    header, rows = _rows(root / OUTCOMES)
    at = {c: header.index(c) for c in ("study_id", "n_int", "n_ctl")}
    return [line for line, c in rows if c[at["study_id"]] == study and c[at["n_int"]].strip()
            and c[at["n_ctl"]].strip()]


def _duplicate_last_row(path: Path) -> int:
    header, rows = _rows(path)
    rows.append((0, list(rows[-1][1])))
    _write(path, header, rows)
    return _rows(path)[1][-1][0]


def _expected_line(case: Case, returned, root: Path):
    """The line an error should name: computed from the mutated file, never hard-coded."""
    if case.line == "auto":
        return returned
    path = root / case.file
    if case.line in ("first-section", "first-title", "first-claim", "second-claim"):
        body = path.read_bytes().decode("utf-8", errors="replace")
        if case.line == "second-claim":  # the second of two claims with id C01
            return body[:body.index("- id: C01", body.index("- id: C01") + 1)].count("\n") + 1
        marker = {"first-section": "  section: What", "first-title": "  title: GAD, anx",
                  "first-claim": "- id: C01"}[case.line]
        return body[:body.index(marker)].count("\n") + 1
    return case.line


# --- running ------------------------------------------------------------------------------------

def _copy_case(dst: Path) -> Path:
    dst.mkdir(parents=True)
    shutil.copy2(REPO / "evidence.toml", dst / "evidence.toml")
    shutil.copytree(REPO / "data", dst / "data")
    return dst


def _run(root: Path, capsys) -> tuple[list[int], str]:
    codes = []
    capsys.readouterr()
    for step in STEPS:
        codes.append(cli.main(["--root", str(root), step]))
        if codes[-1]:
            break
    return codes, capsys.readouterr().err


def _derived(root: Path) -> dict[str, bytes]:
    return {name: (root / "data/derived" / name).read_bytes() for name in DERIVED}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The repository's case, its derived files regenerated in a temporary folder."""
    root = _copy_case(tmp_path_factory.mktemp("baseline") / "case")
    for step in STEPS:
        assert cli.main(["--root", str(root), step]) == 0, step
    return root, _derived(root)


def test_there_are_enough_cases_and_ids_are_unique():
    ids = [f"{Path(c.file).name}:{c.id}" for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 120
    files = {Path(c.file).name for c in CASES}
    assert {"studies.csv", "outcomes.csv", "wanted.csv", "claims.yaml", "analyses.yaml",
            "mids.csv", "evidence.toml"} <= files


def _locator(path: Path, line, field) -> re.Pattern:
    where = re.escape(str(path))
    where += rf", row {line}(?: \([^)]*\))?" if line is not None else r"(?!, row)"
    where += rf", field '{re.escape(field)}'" if field is not None else r"(?!, field)"
    return re.compile(where + ":")


@pytest.mark.parametrize("case", CASES, ids=[f"{Path(c.file).name}:{c.id}" for c in CASES])
def test_mutation(case: Case, baseline, tmp_path, capsys):
    base_root, base = baseline
    root = tmp_path / "case"
    shutil.copytree(base_root, root)
    returned = case.mutate(root)
    codes, err = _run(root, capsys)
    after = _derived(root)
    leftovers = sorted(p.name for p in (root / "data/derived").iterdir() if p.name.endswith(".tmp"))
    assert leftovers == []

    if case.expect == REJECTED:
        assert codes[-1] != 0, f"accepted: {err}"
        assert after == base, "a rejected input changed a derived file"
        assert "Traceback" not in err and "rerun with --debug" not in err, err
        path = root / case.file
        line = _expected_line(case, returned, root)
        if line == "in-message":  # tomllib: "... (at line N, column M)"
            assert str(path) in err and re.search(r"at line \d+, column \d+", err), err
            return
        field = case.field(root) if callable(case.field) else case.field
        hits = _locator(path, line, field).findall(err)
        assert len(hits) == 1, f"expected {path.name} line {line} field {field} once in:\n{err}"
        problems = re.match(r"evidence: error: (\d+) problem\(s\)", err)
        count = case.count(root) if callable(case.count) else case.count
        assert (int(problems.group(1)) if problems else 1) == count, err
        return

    assert codes == [0, 0, 0], err
    if case.expect == SAME:
        assert after == base
    elif case.expect == NOT_ESTIMABLE:
        rows = {r["row_id"]: r for r in csv.DictReader(io.StringIO(after["effects.csv"].decode()))}
        was = {r["row_id"]: r for r in csv.DictReader(io.StringIO(base["effects.csv"].decode()))}
        assert rows.keys() == was.keys()
        hit = rows[case.row_id]
        assert hit["estimable"] == "False" and hit["yi"] == "" and hit["vi"] == ""
        assert case.reason in hit["not_estimable_reason"], hit["not_estimable_reason"]
        assert {k: v for k, v in rows.items() if k != case.row_id} == \
               {k: v for k, v in was.items() if k != case.row_id}
    else:  # NEUTRALISED
        seen = 0
        for name, data in after.items():
            for cells in csv.reader(io.StringIO(data.decode())):
                for value in cells:
                    assert not FORMULA.match(value), f"{name}: {value!r} reads as a formula"
                    seen += case.reason in value and value.startswith("'")
        assert seen, "the mutated text should reach a derived file, neutralised"
