"""What the report reads: the stage outputs, the column names it shows, the figure placement.

The report builds from files other steps wrote and never refits or regrades.
Column names and figure ids that other steps are still settling live here
only (``TABLES``, ``claim_figures``, ``condition_figures``), so a rename is
one edit.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evidence import paths
from evidence.curated import read_yaml_list
from evidence.errors import DataError

# Per table: (column in the CSV, header the reader sees). Columns a file lacks are
# left out of the page; a table whose file is absent is not shown.
TABLES: dict[str, list[tuple[str, str]]] = {
    "summary_of_findings": [
        ("outcome", "Outcome"), ("population", "Population"),
        ("intervention", "Intervention"), ("comparison", "Comparison"),
        ("effect_text", "Effect (95% CI)"), ("participants", "Participants"),
        ("studies", "Studies"), ("certainty_symbols", "Certainty"), ("certainty", ""),
        ("footnotes", "Footnotes")],
    "verdicts": [
        ("verdict", "Verdict"), ("certainty", "Certainty"), ("best_estimate", "Best estimate"),
        ("ci_low", "CI low"), ("ci_high", "CI high"), ("measure", "Measure"),
        ("n_studies", "Studies"), ("n_participants", "Participants")],
    "downgrades": [
        ("analysis_id", "Analysis"), ("domain", "Domain"), ("levels", "Levels"),
        ("rule", "Rule"), ("statistic", "Statistic"), ("reason", "Reason")],
    "sensitivity": [
        ("variant", "Rule variant"), ("verdict", "Verdict"), ("certainty", "Certainty"),
        ("moved", "Moved")],
    "analyses": [
        ("analysis_id", "Analysis"), ("measure", "Measure"), ("method", "Method"),
        ("test", "Test"), ("k", "k"), ("k_estimable", "k estimable"),
        ("estimate", "Estimate"), ("ci_low", "CI low"), ("ci_high", "CI high"),
        ("pi_low", "PI low"), ("pi_high", "PI high"), ("tau2", "tau²"), ("i2", "I² (%)"),
        ("q", "Q"), ("q_p", "P (Q)"), ("egger_p", "P (Egger)")],
    "evidence": [
        ("label", "Study"), ("outcome", "Outcome"), ("timepoint", "Timepoint"),
        ("comparison", "Comparison"), ("measure", "Measure"), ("yi", "Effect"),
        ("ci_low", "CI low"), ("ci_high", "CI high"), ("n_int", "n (intervention)"),
        ("n_ctl", "n (control)")],
}
# The derived files the report may read, by key: path relative to the data folder.
OPTIONAL = {
    "summary_of_findings": "derived/summary_of_findings.csv",
    "downgrades": "derived/downgrades.csv",
    "sensitivity": "derived/verdict_sensitivity.csv",
    "analyses": "derived/analyses.csv",
}
REQUIRED = {
    "verdicts": "derived/claims_verdicts.csv",
    "effects": "derived/effects.csv",
    "studies": "extraction/studies.csv",
    "outcomes": "extraction/outcomes.csv",
    "wanted": "extraction/wanted.csv",
}
# Integer columns: pandas reads a column with blanks as float; show 404, not 404.0.
INTEGER_COLUMNS = {"n_studies", "n_participants", "participants", "studies", "k", "k_estimable",
                   "n_int", "n_ctl", "levels", "pmid", "year", "n_randomised",
                   "timepoint_weeks", "k_studies"}

PUBMED = "https://pubmed.ncbi.nlm.nih.gov/{}/"
PMC = "https://pmc.ncbi.nlm.nih.gov/articles/{}/"
DOI = "https://doi.org/{}"


def blank(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""


def text(value, column: str = "") -> str:
    """A cell as the reader sees it: blanks empty, counts without '.0', numbers to 3 places."""
    if blank(value):
        return ""
    if isinstance(value, float):
        if column in INTEGER_COLUMNS and value.is_integer():
            return str(int(value))
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:g}"
    return str(value)


def source_links(study: dict | None) -> list[tuple[str, str]]:
    """(label, URL) of a study's PubMed, PMC and DOI records, in that order; outbound only."""
    if not study:
        return []
    links = []
    if not blank(study.get("pmid")):
        pmid = text(study["pmid"], "pmid")
        links.append((f"PubMed {pmid}", PUBMED.format(pmid)))
    if not blank(study.get("pmcid")):
        links.append((str(study["pmcid"]), PMC.format(study["pmcid"])))
    if not blank(study.get("doi")):
        links.append((f"doi:{study['doi']}", DOI.format(study["doi"])))
    return links


def slug(value: str) -> str:
    """An id safe for a file name and an HTML anchor."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(value)).strip("-")


def condition_of(analysis_id: str) -> str:
    """The condition key of an analysis id (``<condition>_<outcome>_<timepoint>``)."""
    return str(analysis_id).split("_", 1)[0]


def claim_figures(claim_id: str, figure_ids: list[str]) -> list[str]:
    """The figures a claim page shows: its card, its albatross plot, then its evidence map
    (the card's predecessor, shown while it exists)."""
    wanted = (f"card_{claim_id}", f"albatross_{claim_id}", f"map_{claim_id}")
    return [f for f in wanted if f in figure_ids]


def condition_figures(condition: str, figure_ids: list[str]) -> list[str]:
    """A condition's figures: albatross, harvest, evidence map, then its forest plots."""
    head = [f"albatross_{condition}", f"harvest_{condition}", f"map_{condition}"]
    forests = [f for f in figure_ids if f.startswith(f"forest_{condition}_")]
    return [f for f in head if f in figure_ids] + forests


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=object, keep_default_na=False).map(
            lambda v: None if v == "" else v)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read: {exc}", file=str(path)) from exc


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns that hold only numbers become floats (formatted by ``text``)."""
    for col in frame.columns:
        converted = pd.to_numeric(frame[col], errors="coerce")
        if converted.notna().sum() == frame[col].notna().sum() and frame[col].notna().any():
            frame[col] = converted
    return frame


@dataclass
class Inputs:
    """Every file the report shows, read once."""

    root: Path
    tables: dict[str, pd.DataFrame]
    claims: dict[str, dict]
    analyses: dict[str, dict]
    figures: pd.DataFrame
    figures_dir: Path
    notebooks: list[Path]
    files: list[Path] = field(default_factory=list)

    def table(self, key: str) -> pd.DataFrame | None:
        return self.tables.get(key)

    def rows_for(self, key: str, claim_id: str) -> list[dict]:
        frame = self.tables.get(key)
        if frame is None or "claim_id" not in frame.columns:
            return []
        return frame[frame["claim_id"] == claim_id].to_dict("records")

    def claim_analyses(self, claim_id: str) -> list[str]:
        """Analyses bearing on a claim: the grading's (downgrades.csv) after the curated list."""
        ids = [str(a) for a in self.claims.get(claim_id, {}).get("analyses") or []]
        for row in self.rows_for("downgrades", claim_id):
            if not blank(row.get("analysis_id")) and row["analysis_id"] not in ids:
                ids.append(str(row["analysis_id"]))
        return ids

    def analysis_rows(self, analysis_id: str) -> list[str]:
        """Effects row ids of an analysis: analyses.csv's when present, else analyses.yaml's."""
        frame = self.tables.get("analyses")
        if frame is not None and "row_ids" in frame.columns:
            hit = frame[frame["analysis_id"] == analysis_id]
            if len(hit) and not blank(hit.iloc[0]["row_ids"]):
                return [r for r in re.split(r"[;,\s]+", str(hit.iloc[0]["row_ids"])) if r]
        return [str(r) for r in self.analyses.get(analysis_id, {}).get("rows") or []]

    def conditions(self) -> list[str]:
        seen: list[str] = []
        for aid in self.analyses:
            if condition_of(aid) not in seen:
                seen.append(condition_of(aid))
        return seen

    def input_hash(self) -> str:
        """SHA-256 over every input file's relative path and bytes, in sorted order."""
        digest = hashlib.sha256()
        for path in sorted(self.files):
            digest.update(str(path.relative_to(self.root)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()


def load(root: Path | None = None) -> Inputs:
    """Read the stage outputs under ``root`` (the project checkout by default)."""
    root = Path(root or paths.ROOT)
    data, figures_dir = root / "data", root / "figures"
    files: list[Path] = []
    tables: dict[str, pd.DataFrame] = {}
    for key, rel in {**REQUIRED, **OPTIONAL}.items():
        path = data / rel
        if not path.exists():
            if key in REQUIRED:
                raise DataError("missing: run the pipeline first (make reproduce)", file=str(path))
            continue
        tables[key] = _numeric(_read_csv(path))
        files.append(path)
    claims_path, analyses_path = data / "claims.yaml", data / "analyses.yaml"
    claims = {str(c["id"]): c for c in read_yaml_list(claims_path, "claims")}
    analyses = {str(a["id"]): a for a in read_yaml_list(analyses_path, "analyses")}
    files += [claims_path, analyses_path]
    index_path = figures_dir / "index.csv"
    figures = _read_csv(index_path) if index_path.exists() else pd.DataFrame(
        columns=["id", "title", "caption"])
    for n, fig in enumerate(figures.to_dict("records"), start=2):
        svg = figures_dir / f"{fig['id']}.svg"
        if not svg.exists():
            raise DataError(f"figure {fig['id']} has no SVG at {svg}", file=str(index_path), row=n,
                            field="id")
        files.append(svg)
    if index_path.exists():
        files.append(index_path)
    nbs = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    files += nbs
    return Inputs(root, tables, claims, analyses, figures, figures_dir, nbs, files)
