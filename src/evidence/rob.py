"""Risk of bias per domain: ``data/extraction/risk_of_bias.csv``, its reader and its vocabularies.

One row per study x domain, as a review (or the audit) judged it:
``study_id, tool, domain, judgement, support, source, assessed_by, notes``.
Only judgements a source actually gives are entered; a study without rows is
"not assessed" (figures draw it grey). This module is the one owner of the
tools, their domains and their judgements.

The overall judgement stays where grading reads it, ``studies.csv``
``risk_of_bias``; the sheet holds no "overall" rows. Where a study has both,
they must agree: the overall judgement uses the domain rows' tool's words and
is never better than the worst domain (Cochrane Handbook 5.1, 8.7: a study is
at high risk if one domain is; RoB 2, Sterne et al. BMJ 2019;366:l4898: the
overall judgement is at least as severe as the worst domain). It may be worse
than every domain row, because a source may show only some domains (Jane
2011's stored table stops after four). Domain rows without an overall
judgement are refused: grading would otherwise treat the study as not assessed.

``evidence extract`` validates the sheet against studies.csv and writes
``data/derived/risk_of_bias.csv`` whole (the figures read that file).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from evidence import atomic, cells
from evidence.errors import DataError
from evidence.vocabulary import RISK_OF_BIAS

FILE = "risk_of_bias.csv"  # in the extraction folder, and under the same name in data/derived/
COLUMNS = ("study_id", "tool", "domain", "judgement", "support", "source", "assessed_by", "notes")
DERIVED_COLUMNS = (*COLUMNS, "assessed_by_label")


@dataclass(frozen=True)
class Tool:
    name: str
    reference: str
    domains: tuple[str, ...]  # in the tool's order: the figures number them 1, 2, ...
    judgements: tuple[str, ...]  # best first


TOOLS = {
    "RoB 1": Tool(
        "RoB 1", "Higgins et al., BMJ 2011;343:d5928 (Cochrane Handbook 5.1, ch. 8)",
        ("random sequence generation", "allocation concealment",
         "blinding of participants and personnel", "blinding of outcome assessment",
         "incomplete outcome data", "selective reporting",
         # not one of the tool's own domains: some Cochrane reviews (Shin 2016) judge trial size
         "study size",
         "other bias"),
        ("low", "unclear", "high")),
    "RoB 2": Tool(
        "RoB 2", "Sterne et al., BMJ 2019;366:l4898",
        ("randomisation process", "deviations from intended interventions", "missing outcome data",
         "measurement of the outcome", "selection of the reported result"),
        ("low", "some concerns", "high")),
}
# domains some reviews add to a tool's own (the figures' legends say so)
EXTRA_DOMAINS = frozenset({"study size"})
# severity of a judgement, for comparing an overall judgement with its domains
SEVERITY = {"low": 0, "unclear": 1, "some concerns": 1, "high": 2}
assert set(SEVERITY) == set(RISK_OF_BIAS)  # noqa: S101 - studies.csv's words are these
SOURCE_ID = re.compile(r"\bPMID\s*\d{1,8}\b|\bPMC\d+\b", re.IGNORECASE)
NOT_ASSESSED = "not assessed"


@dataclass(frozen=True)
class Judgement:
    study_id: str
    tool: str
    domain: str
    judgement: str
    support: str
    source: str
    assessed_by: str
    notes: str = ""

    @property
    def number(self) -> int:
        """The domain's position in its tool (1-based), as the figures number it."""
        return TOOLS[self.tool].domains.index(self.domain) + 1


def load(path: Path, studies) -> list[Judgement]:
    """The sheet at ``path`` checked against ``studies`` (the validated studies.csv, an
    ``evidence.effects.schema.Sheet``); a missing sheet is no rows. Raises SheetErrors listing
    every problem, each naming file, row and field."""
    from evidence.effects.schema import SheetErrors, read_csv

    path = Path(path)
    if not path.exists():
        return []
    errors: list[DataError] = []
    sheet = read_csv(path, COLUMNS, errors, require_rows=False)
    if errors:
        raise SheetErrors(errors)
    by_study = {s["study_id"]: s for s in studies.rows}
    seen: dict[tuple[str, str], int] = {}
    out: list[tuple[int, Judgement]] = []
    for row in sheet.rows:
        line = row["_line"]

        def err(name, msg, line=line):
            errors.append(DataError(msg, file=path, row=line, field=name))

        ok = _check_row(row, by_study, err)
        key = (row["study_id"], row["domain"])
        if ok and key in seen:
            err("domain", f"duplicate: {row['study_id']} already has a {row['domain']!r} row "
                          f"(line {seen[key]})")
            ok = False
        if ok:
            seen[key] = line
            out.append((line, Judgement(*(row[c] for c in COLUMNS))))
    _check_overall(out, by_study, path, studies.path, errors)
    if errors:
        raise SheetErrors(errors)
    return [j for _, j in out]


def _check_row(row, by_study, err) -> bool:
    n = 0

    def bad(name, msg):
        nonlocal n
        n += 1
        err(name, msg)

    for name in COLUMNS:
        if row[name] and cells.safe(row[name]) != row[name]:
            bad(name, f"{row[name]!r} begins like a spreadsheet formula")
    sid = row["study_id"]
    if not sid:
        bad("study_id", "blank; required")
    elif sid not in by_study:
        bad("study_id", f"{sid!r} is not a study_id of studies.csv")
    tool = TOOLS.get(row["tool"])
    if tool is None:
        bad("tool", (f"{row['tool']!r} is not" if row["tool"] else "blank; must be")
            + f" one of: {', '.join(TOOLS)}")
    else:
        if row["domain"].lower() == "overall":
            bad("domain", "an overall judgement belongs in studies.csv (risk_of_bias), not here")
        elif row["domain"] not in tool.domains:
            bad("domain", (f"{row['domain']!r} is not" if row["domain"] else "blank; must be")
                + f" a {tool.name} domain: {', '.join(tool.domains)}")
        if row["judgement"] not in tool.judgements:
            bad("judgement", (f"{row['judgement']!r} is not" if row["judgement"] else "blank; must be")
                + f" a {tool.name} judgement: {', '.join(tool.judgements)}")
    if not row["support"]:
        bad("support", "blank; say (in your own words) why the source judged it so")
    if not row["source"]:
        bad("source", "blank; every judgement needs its source (PMID or PMCID and the table)")
    elif not SOURCE_ID.search(row["source"]):
        bad("source", f"{row['source']!r} names no PMID or PMCID")
    assessor = row["assessed_by"]
    if not assessor:
        bad("assessed_by", "blank; the study_id of the review (or source) that made the judgement")
    elif assessor not in by_study:
        bad("assessed_by", f"{assessor!r} is not a study_id of studies.csv")
    return n == 0


def _check_overall(rows: list[tuple[int, Judgement]], by_study, path, studies_path, errors) -> None:
    """Each study's domain rows: one tool, and an overall judgement in studies.csv consistent with them."""
    groups: dict[str, list[tuple[int, Judgement]]] = {}
    for line, j in rows:
        groups.setdefault(j.study_id, []).append((line, j))
    for sid, group in groups.items():
        tools = dict.fromkeys(j.tool for _, j in group)
        if len(tools) > 1:
            line = next(ln for ln, j in group if j.tool != group[0][1].tool)
            errors.append(DataError(f"{sid} mixes tools ({', '.join(tools)}); one tool per study",
                                    file=path, row=line, field="tool"))
            continue
        tool = TOOLS[group[0][1].tool]
        study = by_study[sid]
        overall = study.get("risk_of_bias") or ""
        where = {"file": studies_path, "row": study.get("_line"), "field": "risk_of_bias"}
        worst_line, worst = max(group, key=lambda t: SEVERITY[t[1].judgement])
        if not overall:
            errors.append(DataError(
                f"blank, but {path.name} has {len(group)} domain row(s) for {sid} (worst: "
                f"{worst.domain} {worst.judgement}, line {worst_line}); enter the overall judgement "
                "they support", **where))
        elif overall not in tool.judgements:
            errors.append(DataError(
                f"{overall!r} is not a {tool.name} judgement ({', '.join(tool.judgements)}), the tool "
                f"of {sid}'s domain rows in {path.name}", **where))
        elif SEVERITY[overall] < SEVERITY[worst.judgement]:
            errors.append(DataError(
                f"{overall!r} is better than {sid}'s worst domain in {path.name} ({worst.domain}: "
                f"{worst.judgement}, line {worst_line}); an overall judgement is at least as severe "
                "as its worst domain", **where))


def to_csv(rows: list[Judgement], labels: dict[str, str] | None = None) -> str:
    """Deterministic CSV of validated rows, by study then the tool's domain order, with the
    assessor's label ("Shin 2016", from ``labels``: study_id -> label) for figure legends."""
    labels = labels or {}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(DERIVED_COLUMNS)
    for j in sorted(rows, key=lambda j: (j.study_id, j.number)):
        writer.writerow([cells.safe(getattr(j, c)) for c in COLUMNS]
                        + [cells.safe(labels.get(j.assessed_by, j.assessed_by))])
    return buf.getvalue()


def write(rows: list[Judgement], out_path: Path, labels: dict[str, str] | None = None) -> None:
    """Replace ``out_path`` whole with the validated rows."""
    atomic.write_text(Path(out_path), to_csv(rows, labels))


def read_derived(path: Path):
    """``data/derived/risk_of_bias.csv`` as a DataFrame (all text), or None when absent."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        return None
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in DERIVED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"missing column(s): {', '.join(missing)}; rerun `evidence extract`",
                        file=path, row=1, field=missing[0])
    for i, r in frame.iterrows():
        tool = TOOLS.get(r["tool"])
        if tool is None or r["domain"] not in tool.domains or r["judgement"] not in tool.judgements:
            raise DataError("not a row `evidence extract` writes; rerun it", file=path, row=i + 2,
                            field="tool" if tool is None else "domain")
    return frame


def domain_marks(frame, study_id: str) -> dict[tuple[str, str], str]:
    """{(tool, domain): judgement} of one study ({} when not assessed)."""
    if frame is None or frame.empty:
        return {}
    sub = frame[frame["study_id"] == study_id]
    return {(r["tool"], r["domain"]): r["judgement"] for _, r in sub.iterrows()}
