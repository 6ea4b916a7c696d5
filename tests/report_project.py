"""A small project tree for the report tests: every stage output the report reads.

Two claims, one condition (gad) with one analysis of two effects rows (one
estimable, one not, with its data-wanted entry), the grading's coming files
(Summary of Findings, downgrades, sensitivity, analyses) and figures drawn by
matplotlib as SVG, plus one notebook that shows an exported figure and draws a
plot of its own. Values are made up for the tests, not data of the project.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

FIGURES = {
    "card_C01": ("Claim card: C01", "Card of claim C01, one estimable effect."),
    "map_C01": ("Evidence map: C01", "Old-style map, shown after the card."),
    "map_gad": ("Evidence map: GAD", "Every effect of the GAD analyses."),
    "forest_gad_anxiety_eot": ("Forest plot: GAD anxiety", "One estimable of two effects."),
    "albatross_gad": ("Albatross plot: GAD", "P against n, split by direction."),
    "claims_summary": ("Summary of Findings", "Verdict and certainty per claim."),
}


def _csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def make_project(root: Path, *, grading_files: bool = True, notebook_outputs: bool = True) -> Path:
    data, derived, extraction = root / "data", root / "data" / "derived", root / "data" / "extraction"
    claims = [
        {"id": "C01", "section": "Uses", "kind": "efficacy", "hedged": False,
         "claim": "Massage eases anxiety.", "sources": ["s1"],
         "pico": {"population": "adults with GAD", "conditions": ["GAD"]},
         "analyses": ["gad_anxiety_eot"], "notes": "Test claim."},
        {"id": "C02", "section": "Uses", "kind": "mechanism", "hedged": True,
         "claim": "Massage lowers heart rate.", "sources": [], "analyses": []},
    ]
    data.mkdir(parents=True)
    (data / "claims.yaml").write_text(yaml.safe_dump(claims, sort_keys=False))
    (data / "analyses.yaml").write_text(yaml.safe_dump([
        {"id": "gad_anxiety_eot", "title": "GAD, anxiety, end of treatment", "condition": "GAD",
         "outcome": "anxiety", "measure": "MD", "evidence_role": "cited", "rows": ["r1", "r2"]}]))
    _csv(derived / "claims_verdicts.csv", [
        {"claim_id": "C01", "kind": "efficacy", "verdict": "partly supported (overstated)",
         "certainty": "very low", "best_estimate": 3.26, "ci_low": 0.35, "ci_high": 6.17,
         "measure": "MD", "n_studies": 1.0, "n_participants": 47.0,
         "reasons": "1 of 2 analyses show a benefit; gad_anxiety_eot: MD 3.26 / imprecision -1",
         "sources": "s1"},
        {"claim_id": "C02", "kind": "mechanism", "verdict": "no evidence cited", "certainty": "",
         "best_estimate": None, "ci_low": None, "ci_high": None, "measure": "",
         "n_studies": None, "n_participants": None, "reasons": "cites nothing", "sources": ""}])
    effects = [
        {"row_id": "r1", "study_id": "s1", "pmid": 11111111, "condition": "GAD",
         "outcome": "anxiety", "instrument": "HARS", "timepoint": "6 weeks",
         "comparison": "massage vs light touch", "measure": "MD", "yi": 3.26, "ci_low": 0.35,
         "ci_high": 6.17, "n_massage": 24.0, "n_control": 23.0, "source": "PMID 11111111, abstract",
         "estimable": True, "not_estimable_reason": "", "label": "Study One 2016"},
        {"row_id": "r2", "study_id": "s2", "pmid": None, "condition": "GAD", "outcome": "anxiety",
         "instrument": "HARS", "timepoint": "12 weeks", "comparison": "massage vs room",
         "measure": "MD", "yi": None, "ci_low": None, "ci_high": None, "n_massage": 23.0,
         "n_control": 22.0, "source": "journal page, abstract", "estimable": False,
         "not_estimable_reason": "not reported: full text not reachable offline",
         "label": "Study Two 2010"}]
    _csv(derived / "effects.csv", effects)
    _csv(extraction / "outcomes.csv", [{"row_id": r["row_id"], "study_id": r["study_id"],
                                        "outcome": "anxiety", "source": r["source"]}
                                       for r in effects])
    _csv(extraction / "studies.csv", [
        {"study_id": "s1", "pmid": 11111111, "pmcid": "PMC1234567", "doi": "10.1000/test.1",
         "short_title": "First trial", "source": "PMID 11111111"},
        {"study_id": "s2", "pmid": None, "pmcid": None, "doi": None, "short_title": "Second trial",
         "source": "journal page"}])
    _csv(extraction / "wanted.csv", [
        {"study_id": "s2", "outcome": "anxiety", "needed": "HARS per arm at 12 weeks",
         "where_in_paper": "Table 2", "searched": "abstract only", "status": "open"}])
    if grading_files:
        _csv(derived / "summary_of_findings.csv", [
            {"claim_id": "C01", "outcome": "Anxiety (HARS, 0-56), 6 weeks",
             "population": "adults with GAD", "intervention": "massage",
             "comparison": "light touch", "measure": "MD", "effect": 3.26, "ci_low": 0.35,
             "ci_high": 6.17, "effect_text": "MD 3.26 higher (0.35 to 6.17 higher)",
             "participants": 47.0, "studies": 1.0, "certainty": "very low",
             "certainty_symbols": "⊕◯◯◯", "footnotes": "a. Imprecision -1: n = 47 < 400."}])
        _csv(derived / "downgrades.csv", [
            {"claim_id": "C01", "analysis_id": "gad_anxiety_eot", "domain": "imprecision",
             "levels": -1.0, "rule": "OIS 400", "statistic": "n = 47", "reason": "n below OIS"}])
        _csv(derived / "verdict_sensitivity.csv", [
            {"claim_id": "C01", "variant": "mid_off", "verdict": "partly supported (overstated)",
             "certainty": "low", "moved": True}])
        _csv(derived / "analyses.csv", [
            {"analysis_id": "gad_anxiety_eot", "measure": "MD", "method": "REML", "test": "knha",
             "k": 2.0, "k_estimable": 1.0, "estimate": 3.26, "se": 1.49, "ci_low": 0.35,
             "ci_high": 6.17, "row_ids": "r1;r2"}])
    figdir = root / "figures"
    figdir.mkdir()
    rows = []
    for n, (fid, (title, caption)) in enumerate(FIGURES.items()):
        fig, ax = plt.subplots(figsize=(3, 1.5))
        ax.plot([0, 1, 2], [0, n + 1, 1])
        ax.set_title(fid)
        fig.savefig(figdir / f"{fid}.svg")
        plt.close(fig)
        rows.append({"id": fid, "title": title, "caption": caption, "source": "test",
                     "input_sha256": "0", "files": f"{fid}.svg"})
    _csv(figdir / "index.csv", rows)
    nbdir = root / "notebooks"
    nbdir.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# GAD notebook\n\nProse the board reads."),
                nbformat.v4.new_code_cell("secret_variable_name = 6 * 7\nprint(secret_variable_name)"),
                nbformat.v4.new_code_cell('display(Image(tables.png(figures["forest_gad_anxiety_eot"])))'),
                nbformat.v4.new_code_cell("plt.plot([1, 2])\nplt.show()")]
    if notebook_outputs:
        png = _png()
        nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
        for cell in nb.cells[2:]:
            cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png,
                                                                         "text/plain": "<Fig>"})]
    nbformat.write(nb, nbdir / "10_gad_anxiety.ipynb")
    (root / "reports").mkdir()
    return root


def _png() -> str:
    import base64
    import io

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=30)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()
