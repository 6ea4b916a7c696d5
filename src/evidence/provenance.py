"""Where the evidence came from: record provenance, the flow of sources, extraction status.

The tables notebooks 01 and 02 show, computed from the data so they follow
every edit of the sheets: which sources have a PubMed record, which gave
numbers, which gave an estimable effect, which enter an analysis; what was
double-extracted and what is still wanted. Nothing here writes a file.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pandas as pd

from evidence import paths
from evidence.errors import DataError

ROLES = ("cited", "included_in_cited_review", "context")
ROLE_LABELS = {"cited": "cited by the article",
               "included_in_cited_review": "included in a cited review",
               "context": "context (not cited)"}
# the curated provenance files of the current case, resolved when used
_FILES = {"TRANSCRIPTION_LOG": ("PUBMED", "transcription_log.csv"),
          "RECONCILIATION": ("EXTRACTION", "reconciliation.csv"),
          "SECOND": ("EXTRACTION", "second/outcomes.csv"),
          "WANTED": ("EXTRACTION", "wanted.csv")}


def __getattr__(name: str):
    if name in _FILES:
        folder, rel = _FILES[name]
        return getattr(paths, folder) / rel
    raise AttributeError(f"module 'evidence.provenance' has no attribute {name!r}")
STAGES = ("sources", "record", "numbers", "estimable", "analysed")
STAGE_LABELS = {
    "sources": "sources in the extraction sheet",
    "record": "with a record in the PubMed snapshot",
    "numbers": "with at least one extracted number",
    "estimable": "with at least one estimable effect",
    "analysed": "with an effect in an analysis",
}


def read_sheet(path: str | Path) -> pd.DataFrame:
    """A curated CSV as text (blank cells = ''), so PMIDs stay strings."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", file=path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def sheet_frame(sheet) -> pd.DataFrame:
    """A validated ``evidence.effects`` Sheet as a DataFrame (without the line numbers)."""
    return pd.DataFrame([{k: v for k, v in r.items() if k != "_line"} for r in sheet.rows])


# --- PubMed records ---------------------------------------------------------

def record_frame(records, study_ids: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per snapshot record: pmid, study_id, first author, year, journal, ids, method."""
    study_ids = study_ids or {}
    rows = [{"pmid": r.pmid, "study_id": study_ids.get(r.pmid, ""),
             "first_author": r.authors[0] if r.authors else "",
             "year": r.year, "journal": r.journal, "doi": r.doi or "", "pmcid": r.pmcid or "",
             "method": r.provenance.method, "date": r.provenance.date} for r in records]
    cols = ["pmid", "study_id", "first_author", "year", "journal", "doi", "pmcid", "method",
            "date"]
    return pd.DataFrame(rows, columns=cols)


def method_counts(records) -> pd.DataFrame:
    """Records per provenance method (``efetch`` = fetched live, ``transcribed`` = typed)."""
    counts = Counter(r.provenance.method for r in records)
    return pd.DataFrame({"method": list(counts), "records": list(counts.values())}) \
        .sort_values("method", ignore_index=True)


COMPLETENESS_FIELDS = ("authors", "journal_abbrev", "year", "volume", "issue", "pages", "doi",
                       "pmcid", "publication_types", "mesh", "abstract")


def field_completeness(records) -> pd.DataFrame:
    """Per record field: how many records hold a value (null or [] counts as none)."""
    n = len(records)
    rows = []
    for f in COMPLETENESS_FIELDS:
        have = sum(1 for r in records if getattr(r, f) not in (None, "", []))
        rows.append({"field": f, "with_value": have, "empty": n - have})
    return pd.DataFrame(rows, columns=["field", "with_value", "empty"])


def record_study_ids(records, studies: pd.DataFrame,
                     log: pd.DataFrame | None = None) -> dict[str, str]:
    """PMID -> study_id: from studies.csv's pmid first, else the transcription log's row.

    Both sources must agree; a PMID mapped to two different studies is an error.
    """
    out: dict[str, str] = {}
    have = {r.pmid for r in records}
    for source, frame in (("studies.csv", studies), ("transcription_log.csv", log)):
        if frame is None:
            continue
        for sid, pmid in zip(frame["study_id"], frame["pmid"], strict=True):
            if pmid in have and sid:
                if out.get(pmid, sid) != sid:
                    raise DataError(f"PMID {pmid} is {out[pmid]!r} elsewhere but {sid!r} here",
                                    file=source, field="study_id")
                out.setdefault(pmid, sid)
    return out


def pmid_gaps(records, studies: pd.DataFrame, log: pd.DataFrame) -> pd.DataFrame:
    """Studies the snapshot holds a record for (per the log) whose studies.csv pmid is blank."""
    in_sheet = set(studies["study_id"])
    blank = set(studies.loc[studies["pmid"] == "", "study_id"])
    have = {r.pmid for r in records}
    rows = [{"study_id": sid, "pmid_in_snapshot": pmid}
            for sid, pmid in zip(log["study_id"], log["pmid"], strict=True)
            if pmid in have and sid in blank and sid in in_sheet]
    return pd.DataFrame(rows, columns=["study_id", "pmid_in_snapshot"]) \
        .sort_values("study_id", ignore_index=True)


def studies_without_record(studies: pd.DataFrame, study_ids: dict[str, str],
                           log: pd.DataFrame | None = None) -> pd.DataFrame:
    """Sources of studies.csv with no snapshot record, and why (web page, or the log's reason)."""
    with_record = set(study_ids.values())
    reasons = {}
    if log is not None:
        for sid, pmid, why in zip(log["study_id"], log["pmid"], log["fields_null_and_why"],
                                  strict=True):
            if not pmid:
                reasons[sid] = why
    rows = []
    for s in studies.itertuples():
        if s.study_id in with_record:
            continue
        if s.design == "web page":
            why = "web page: not indexed in PubMed"
        else:
            why = reasons.get(s.study_id, "no PMID in studies.csv and no entry in the "
                                          "transcription log")
        rows.append({"study_id": s.study_id, "design": s.design,
                     "evidence_role": s.evidence_role, "reason": why})
    return pd.DataFrame(rows, columns=["study_id", "design", "evidence_role", "reason"])


# --- the flow of sources ----------------------------------------------------

def analysed_row_ids(specs) -> set[str] | None:
    """Row ids any analysis uses; None when there are no specs yet (analyses.yaml absent)."""
    if specs is None:
        return None
    return {row for spec in specs for row in spec.rows}


def flow_sets(studies: pd.DataFrame, outcomes: pd.DataFrame, effects: pd.DataFrame,
              study_ids: dict[str, str], analysed: set[str] | None = None
              ) -> dict[str, dict[str, set[str]]]:
    """Study ids reaching each stage, per evidence role.

    Stages after ``sources`` are nested except ``record``, which is a property
    (a source without a PubMed record can still give numbers).
    ``numbers``: a row of outcomes.csv other than ``not_reported``;
    ``estimable``: an estimable row of the effects; ``analysed``: an estimable
    row listed in an analysis (missing when ``analysed`` is None).
    """
    with_record = set(study_ids.values())
    numbers = set(outcomes.loc[outcomes["data_type"] != "not_reported", "study_id"])
    ok = effects[effects["estimable"].astype(bool)]
    estimable = set(ok["study_id"])
    out: dict[str, dict[str, set[str]]] = {}
    for role in ROLES:
        src = set(studies.loc[studies["evidence_role"] == role, "study_id"])
        stages = {"sources": src, "record": src & with_record, "numbers": src & numbers,
                  "estimable": src & numbers & estimable}
        if analysed is not None:
            stages["analysed"] = stages["estimable"] & set(
                ok.loc[ok["row_id"].isin(analysed), "study_id"])
        out[role] = stages
    return out


def flow_table(sets: dict[str, dict[str, set[str]]]) -> pd.DataFrame:
    """Counts per stage (rows) and evidence role (columns), with a total."""
    stages = [s for s in STAGES if s in sets[ROLES[0]]]
    rows = []
    for stage in stages:
        row = {"stage": STAGE_LABELS[stage]}
        for role in ROLES:
            row[role] = len(sets[role][stage])
        row["total"] = sum(row[r] for r in ROLES)
        rows.append(row)
    return pd.DataFrame(rows, columns=["stage", *ROLES, "total"])


def flow_losses(sets: dict[str, dict[str, set[str]]]) -> pd.DataFrame:
    """Who drops out before each nested stage, per role (study ids, sorted)."""
    chain = [s for s in ("sources", "numbers", "estimable", "analysed") if s in sets[ROLES[0]]]
    rows = []
    for role in ROLES:
        for before, after in zip(chain, chain[1:], strict=False):
            lost = sorted(sets[role][before] - sets[role][after])
            rows.append({"evidence_role": role, "not reaching": STAGE_LABELS[after],
                         "lost": len(lost), "studies": ", ".join(lost)})
    return pd.DataFrame(rows, columns=["evidence_role", "not reaching", "lost", "studies"])


def flow_figure(sets: dict[str, dict[str, set[str]]], width: str = "double"):
    """A PRISMA-style flow: one column of boxes per evidence role, counts and who drops out."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    from evidence.plots import WIDTHS, house_style

    chain = [s for s in ("sources", "numbers", "estimable", "analysed") if s in sets[ROLES[0]]]
    with house_style(width):
        fig, ax = plt.subplots(figsize=(WIDTHS[width], 0.9 * len(chain)))
        ax.set_xlim(0, 3)
        ax.set_ylim(-len(chain) + 0.7, 0.3)
        ax.axis("off")
        for col, role in enumerate(ROLES):
            x = col + 0.5
            for i, stage in enumerate(chain):
                n = len(sets[role][stage])
                text = f"{STAGE_LABELS[stage]}\nn = {n}"
                if stage == "sources":
                    text = (f"{ROLE_LABELS[role]}\nn = {n}, "
                            f"{len(sets[role]['record'])} with a PubMed record")
                ax.add_patch(FancyBboxPatch((x - 0.45, -i - 0.22), 0.9, 0.44,
                                            boxstyle="round,pad=0.02", fc="white", lw=0.6))
                ax.text(x, -i, text, ha="center", va="center", wrap=True)
                if i:
                    lost = sorted(sets[role][chain[i - 1]] - sets[role][stage])
                    ax.annotate("", xy=(x, -i + 0.24), xytext=(x, -i + 0.76),
                                arrowprops={"arrowstyle": "->", "lw": 0.6})
                    if lost:
                        ax.text(x + 0.03, -i + 0.5, f"- {len(lost)}", ha="left", va="center",
                                color="#6b6b6b")
        fig.tight_layout()
    return fig


# --- extraction status ------------------------------------------------------

def rows_by_study(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Outcome rows per study (rows) and data_type (columns), with totals, zeros shown."""
    table = pd.crosstab(outcomes["study_id"], outcomes["data_type"], margins=True,
                        margins_name="total")
    table.columns.name = None
    return table


def source_kind(source: str) -> str:
    """What a row's ``source`` says was read: 'abstract', 'table or figure', or 'other'.

    A keyword reading of the citation text, not a judgement of the paper.
    """
    if re.search(r"\babstract\b", source, re.I):
        return "abstract"
    if re.search(r"\b(table|figure|fig\.)\s*\d", source, re.I):
        return "table or figure"
    return "other"


def source_kinds(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Rows and studies per kind of source read (abstract, table or figure, other)."""
    kinds = outcomes.assign(read=outcomes["source"].map(source_kind))
    out = kinds.groupby("read").agg(rows=("row_id", "size"), studies=("study_id", "nunique"))
    return out.reset_index()


def _reason_key(reason: str) -> str:
    """The reason's head: text before the first ':' with a leading reported number dropped."""
    head = reason.split(":", 1)[0]
    return re.sub(r"^-?\d+(\.\d+)? ", "", head).strip()


def not_estimable_summary(effects: pd.DataFrame) -> pd.DataFrame:
    """Not-estimable rows counted per study and reason (the reason's first clause)."""
    bad = effects[~effects["estimable"].astype(bool)]
    bad = bad.assign(reason=bad["not_estimable_reason"].map(_reason_key))
    out = bad.groupby(["study_id", "reason"]).size().rename("rows").reset_index()
    return out.sort_values(["study_id", "reason"], ignore_index=True)


def double_extraction_status(outcomes: pd.DataFrame, second: pd.DataFrame,
                             reconciliation: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per study: rows by extractor A, by extractor B, A's rows marked double-extracted,
    and entries in the reconciliation log (when it exists)."""
    a = outcomes.groupby("study_id").size()
    b = second.groupby("study_id").size()
    yes = outcomes[outcomes["double_extracted"] == "yes"].groupby("study_id").size()
    out = pd.DataFrame({"rows_A": a, "rows_B": b, "A_double_extracted": yes})
    if reconciliation is not None and "study_id" in reconciliation:
        out["reconciliation_entries"] = reconciliation.groupby("study_id").size()
    out = out.fillna(0).astype(int).sort_index()
    out.index.name = "study_id"
    return out.reset_index()


def reconciliation_summary(log: pd.DataFrame) -> pd.DataFrame:
    """Entries of the reconciliation log per study (rows) and resolution (columns), with totals."""
    table = pd.crosstab(log["study_id"], log["resolution"], margins=True, margins_name="total")
    table.columns.name = None
    return table


def reconciled_fields(log: pd.DataFrame) -> pd.DataFrame:
    """Which fields disagreed between the extractors, and how often each was settled how."""
    disagreed = log[log["resolution"] != "agreed"]
    table = pd.crosstab(disagreed["field"], disagreed["resolution"])
    table.columns.name = None
    table["total"] = table.sum(axis=1)
    return table.sort_values(["total"], ascending=False, kind="stable")


def unresolved(log: pd.DataFrame) -> pd.DataFrame:
    """The log's unresolved entries: study, A's row, field, A's and B's values, why."""
    cols = ["study_id", "row_id_a", "field", "value_a", "value_b", "note"]
    return log.loc[log["resolution"] == "unresolved", cols].reset_index(drop=True)


def wanted_by_study(wanted: pd.DataFrame) -> pd.DataFrame:
    """The data-wanted register per study: how many items, for which outcomes, open/filled."""
    rows = []
    for sid, g in wanted.groupby("study_id", sort=True):
        rows.append({"study_id": sid, "items": len(g),
                     "outcomes": ", ".join(sorted(set(g["outcome"]) - {""})),
                     "open": int((g["status"] == "open").sum()),
                     "filled": int((g["status"] == "filled").sum())})
    return pd.DataFrame(rows, columns=["study_id", "items", "outcomes", "open", "filled"])
