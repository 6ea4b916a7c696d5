"""A second case, built through `evidence init`: the library audits any article.

BCG vaccine against tuberculosis (13 trials, 2x2 counts; tests/data/second_case/
README.md says where the numbers come from). It reaches what the massage data
never do: counts -> log odds ratios, pooling, k >= 10 (funnel plot, Egger's
test), a claim-id pattern of its own, a web-page-only claim and an outcome
added through the config. The pooled estimate must equal R metafor's.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evidence import cli, scaffold
from evidence.effects.schema import OUTCOME_COLUMNS, STUDY_COLUMNS

DATA = Path(__file__).parent / "data"
BCG = DATA / "second_case" / "dat_bcg.csv"
METAFOR = DATA / "validation" / "bcg_logor_metafor.json"  # R metafor 3.8.1, same counts

CONFIG_EXTRA = """
claim_id_pattern = '^BCG-\\d+$'

[vocabulary]
outcomes = ["tuberculosis"]
conditions = ["tuberculosis prevention"]

[[figures.condition_map]]
key = "tb"
condition = "tuberculosis prevention"
title = "Tuberculosis prevention"
"""

CLAIMS = """\
- id: BCG-1
  section: Benefits
  kind: efficacy
  claim: The vaccine lowers the risk of tuberculosis.
  hedged: false
  sources: [aronson1948]
  pico:
    population: people at risk of tuberculosis
    conditions: [tuberculosis prevention]
    intervention: BCG vaccine
    comparator: no vaccine
    comparator_type: no treatment
    outcome: tuberculosis
    outcomes: [tuberculosis]
  analyses: [tb_all]
- id: BCG-2
  section: Safety
  kind: safety
  claim: The vaccine is safe for everyone.
  hedged: false
  sources: [health_page]
  pico: {population: anyone, intervention: BCG vaccine, comparator: none, outcome: harms}
"""

ANALYSES = """\
- id: tb_all
  title: Tuberculosis, all trials
  condition: tuberculosis prevention
  outcome: tuberculosis
  measure: logOR
  evidence_role: cited
  rows: [{rows}]
  method: REML
  test: knha
"""


def _sheets(root: Path) -> None:
    """Fill the scaffolded sheets from dat.bcg (one study and one outcome row per trial)."""
    bcg = list(csv.DictReader(BCG.open()))
    studies, outcomes = [], []
    for t in bcg:
        sid = f"{t['author'].split()[0].lower().strip('&')}{t['year']}"
        source = f"metafor dat.bcg (Colditz 1994), row {t['trial']}"
        design = "RCT" if t["alloc"] == "random" else "quasi-RCT"
        studies.append({"study_id": sid, "first_author": t["author"], "year": t["year"],
                        "short_title": "BCG vaccine trial", "design": design,
                        "condition": "tuberculosis prevention", "evidence_role": "cited",
                        "cited_by": "article", "source": source})
        n_int, n_ctl = int(t["tpos"]) + int(t["tneg"]), int(t["cpos"]) + int(t["cneg"])
        outcomes.append({"row_id": f"{sid}-tb", "study_id": sid, "outcome": "tuberculosis",
                         "instrument": "TB cases", "scale_direction": "higher_worse",
                         "timepoint": "end of follow-up", "comparison": "BCG vs no vaccine",
                         "comparator": "no vaccine", "comparator_type": "no treatment",
                         "design": design, "data_type": "counts", "n_int": n_int,
                         "n_ctl": n_ctl, "events_int": t["tpos"], "events_ctl": t["cpos"],
                         "source": source, "extractor": "test", "double_extracted": "no"})
    studies.append({"study_id": "health_page", "first_author": "Health agency",
                    "short_title": "Vaccine facts", "design": "web page",
                    "evidence_role": "cited", "cited_by": "article", "source": "a web page"})
    # the two sheets as the scaffold made them: the library's own columns, in its order
    pd.DataFrame(studies, columns=list(STUDY_COLUMNS)).to_csv(
        root / "data/extraction/studies.csv", index=False)
    pd.DataFrame(outcomes, columns=list(OUTCOME_COLUMNS)).to_csv(
        root / "data/extraction/outcomes.csv", index=False)
    (root / "data/claims.yaml").write_text(CLAIMS)
    rows = ", ".join(o["row_id"] for o in outcomes)
    (root / "data/analyses.yaml").write_text(ANALYSES.format(rows=rows))
    toml = (root / "evidence.toml").read_text()
    toml = toml.replace("[vocabulary]  # added to the built-in lists (evidence.vocabulary)\n"
                        "outcomes = []\nconditions = []\n", "")
    toml = toml.replace('control = "no vaccine"\n', 'control = "no vaccine"\n' + CONFIG_EXTRA, 1)
    (root / "evidence.toml").write_text(toml)


@pytest.fixture(scope="module")
def bcg_case(tmp_path_factory):
    root = tmp_path_factory.mktemp("bcg") / "case"
    assert cli.main(["init", str(root), "--title", "BCG vaccine and tuberculosis",
                     "--intervention", "BCG vaccine", "--control", "no vaccine"]) == 0
    _sheets(root)
    for step in ("fetch", "extract", "analyse", "grade", "figures"):
        assert cli.main(["--root", str(root), step]) == 0, step
    return root


def test_init_writes_every_file_and_refuses_to_overwrite(tmp_path, capsys):
    root = tmp_path / "new"
    assert cli.main(["init", str(root)]) == 0
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == sorted(
        scaffold.files("t", "i", "c"))
    header = (root / "data/extraction/outcomes.csv").read_text().strip().split(",")
    assert header == list(OUTCOME_COLUMNS) and "n_int" in header
    assert cli.main(["init", str(root)]) == 1
    assert "already a case" in capsys.readouterr().err


def test_pooled_log_odds_ratio_equals_metafor(bcg_case):
    want = next(f for f in json.loads(METAFOR.read_text())["fits"]
                if f["method"] == "REML" and f["test"] == "knha")
    fit = pd.read_csv(bcg_case / "data/derived/analyses.csv").set_index("analysis_id").loc["tb_all"]
    assert fit["status"] == "pooled" and fit["k_estimable"] == 13
    # positive favours the vaccine: our estimate is metafor's log OR (vaccinated / control) negated
    assert fit["estimate"] == pytest.approx(-want["estimate"], abs=1e-6)
    assert fit["tau2"] == pytest.approx(want["tau2"], abs=1e-6)
    assert (fit["ci_low"], fit["ci_high"]) == pytest.approx((-want["ci_high"], -want["ci_low"]),
                                                            abs=1e-6)
    egger = json.loads(METAFOR.read_text())["egger"]  # regtest(model="lm", predictor="sei")
    assert fit["egger_p"] == pytest.approx(egger["pval"], abs=1e-8)


def test_whole_pipeline_reaches_the_binary_and_k10_paths(bcg_case):
    effects = pd.read_csv(bcg_case / "data/derived/effects.csv")
    assert set(effects["measure"]) == {"logOR"} and effects["estimable"].all()
    ids = set(pd.read_csv(bcg_case / "figures/index.csv")["id"])
    assert {"forest_tb_all", "funnel_tb_all", "map_tb", "card_BCG-1", "harvest_tb", "claims_summary"} <= ids
    verdicts = pd.read_csv(bcg_case / "data/derived/claims_verdicts.csv").set_index("claim_id")
    assert list(verdicts.index) == ["BCG-1", "BCG-2"]  # the case's own id pattern
    assert verdicts.loc["BCG-2", "verdict"] == "no evidence cited"  # a web page only
    assert "only secondary web pages cited (health_page)" in verdicts.loc["BCG-2", "reasons"]
    downgrades = pd.read_csv(bcg_case / "data/derived/downgrades.csv")
    assert set(downgrades["claim_id"]) == {"BCG-1"}
    assert "inconsistency" in set(downgrades["domain"])  # I² = 92% in these trials


def test_no_output_mentions_massage(bcg_case):
    texts = [p for p in bcg_case.rglob("*") if p.is_file()
             and p.suffix in {".csv", ".svg", ".toml", ".yaml", ".ipynb", ".bib", ".ris", ".jsonl"}]
    assert any(p.suffix == ".svg" for p in texts)
    hits = [str(p) for p in texts if "massage" in p.read_text(encoding="utf-8").lower()]
    assert hits == []
    svg = (bcg_case / "figures/forest_tb_all.svg").read_text()
    assert "Favours BCG vaccine" in svg or "BCG vaccine" in svg


def test_a_claim_id_outside_the_case_pattern_is_refused(bcg_case, capsys):
    claims = bcg_case / "data/claims.yaml"
    text = claims.read_text()
    try:
        claims.write_text(text.replace("id: BCG-2", "id: C02"))
        assert cli.main(["--root", str(bcg_case), "grade"]) == 1
        assert "claim_id_pattern" in capsys.readouterr().err
    finally:
        claims.write_text(text)


def test_runs_from_a_non_editable_install_in_a_folder_outside_the_repository(bcg_case, tmp_path):
    """`pip install .` (here: into a target folder, no dependencies) finds the case from the
    working directory, not from where the package is installed."""
    repo = Path(__file__).resolve().parents[1]
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(repo)], check=True, capture_output=True,
                   timeout=300)
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    where = subprocess.run([sys.executable, "-c", "import evidence; print(evidence.__file__)"],
                           env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(target))  # the installed copy, not the checkout
    for step in ("fetch", "extract", "analyse", "grade", "figures"):  # the whole pipeline
        out = subprocess.run([sys.executable, "-m", "evidence", step], cwd=bcg_case / "data",
                             env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, (step, out.stderr)
    assert str(bcg_case / "figures") in out.stdout
