"""`evidence figures`: which figures exist, the index, three formats, identical bytes on rerun."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from evidence import cli
from evidence.analyses import load_specs
from evidence.errors import EvidenceError
from evidence.figures import (
    condition_map,
    condition_of,
    condition_rows,
    mid_for,
    plan,
    slug,
)
from evidence.plots import house_style

COLUMNS = ["row_id", "study_id", "pmid", "condition", "outcome", "instrument", "timepoint",
           "timepoint_weeks", "comparison", "comparator_type", "design", "measure", "yi", "vi", "se",
           "ci_low", "ci_high", "n_int", "n_ctl", "favours_int_positive", "evidence_role",
           "source", "derived", "estimable", "not_estimable_reason", "label"]


def effects_table() -> pd.DataFrame:
    """Invented rows in the effects.csv vocabulary: 3 GAD trials (pooled), 1 migraine trial,
    1 not-estimable migraine row, 1 review's pooled estimate (never re-pooled)."""
    rows = [
        ("g1", "a2010", "GAD", "anxiety", "HARS", "end of treatment", "RCT", "SMD", 0.40, 0.08, True, ""),
        ("g2", "b2012", "GAD", "anxiety", "HARS", "end of treatment", "RCT", "SMD", 0.10, 0.05, True, ""),
        ("g3", "c2016", "GAD", "anxiety", "BAI", "end of treatment", "uncontrolled before-after", "SMD",
         0.90, 0.10, True, ""),
        ("m1", "d2006", "migraine", "headache_frequency", "diary", "post", "RCT", "SMD", 0.50, 0.12, True, ""),
        ("m2", "e2019", "migraine", "headache_frequency", "diary", "post", "RCT", "SMD", np.nan, np.nan,
         False, "n per arm not reported"),
        ("r1", "li2014", "fibromyalgia", "pain", "various", "post", "meta-analysis", "SMD", 0.62, 0.08,
         True, ""),
    ]
    out = []
    for rid, sid, cond, outc, inst, tp, design, measure, yi, vi, est, why in rows:
        se = np.sqrt(vi)
        out.append({"row_id": rid, "study_id": sid, "pmid": "", "condition": cond, "outcome": outc,
                    "instrument": inst, "timepoint": tp, "timepoint_weeks": np.nan,
                    "comparison": "massage vs control", "comparator_type": "none" if design != "RCT" else "usual care",
                    "design": design, "measure": measure, "yi": yi, "vi": vi, "se": se,
                    "ci_low": yi - 1.96 * se, "ci_high": yi + 1.96 * se, "n_int": 20, "n_ctl": 20,
                    "favours_int_positive": True, "evidence_role": "cited", "source": f"PMID x, Table 1 ({rid})",
                    "derived": "", "estimable": est, "not_estimable_reason": why,
                    "label": sid.capitalize()[:-4] + " " + sid[-4:]})
    return pd.DataFrame(out, columns=COLUMNS)


MAPS = """
[[figures.condition_map]]
key = "gad"
condition = "GAD"
title = "Generalized anxiety disorder"
context = ["context_depression_hou2010"]

[[figures.condition_map]]
key = "migraine"
condition = "migraine"
title = "Migraine"

[[figures.condition_map]]
key = "fibromyalgia"
condition = "fibromyalgia"
title = "Fibromyalgia"

[[figures.condition_map]]
key = "palliative"
condition = "palliative cancer"
title = "Palliative care"
context = ["context_cancer_pain", "context_cancer_reviews"]
"""

ANALYSES = """\
- {id: gad_anxiety_eot, title: GAD anxiety at end of treatment, condition: GAD, outcome: anxiety,
   measure: SMD, evidence_role: cited, rows: [g1, g2, g3]}
- {id: migraine_frequency_post, title: Migraine frequency, condition: migraine,
   outcome: headache_frequency, measure: SMD, evidence_role: cited, rows: [m1, m2]}
"""


def claim_yaml(cid, text, sources, analyses=()):
    return (f"- id: {cid}\n  section: s\n  kind: efficacy\n  claim: {text}\n"
            f"  sources: [{', '.join(sources)}]\n  analyses: [{', '.join(analyses)}]\n"
            "  pico: {population: p, intervention: i, comparator: c, outcome: o}\n")


MIDS_CSV = ("outcome,instrument,measure,mid,source,notes\n"
            "any,any,SMD,0.5,\"Norman GR et al. Med Care 2003\",generic\n")


def write_stage(root, effects, analyses_text):
    """The stages before figures, for a test case: effects.csv, analyses.yaml and analyses.csv."""
    from evidence import analyses

    (root / "data" / "derived").mkdir(parents=True, exist_ok=True)
    effects.to_csv(root / "data" / "derived" / "effects.csv", index=False)
    (root / "data" / "analyses.yaml").write_text(analyses_text)
    fits = analyses.fit_all(pd.read_csv(root / "data" / "derived" / "effects.csv"),
                            analyses.load_specs(root / "data" / "analyses.yaml"))
    analyses.write_fits(fits, root / "data" / "derived" / "analyses.csv")


@pytest.fixture
def inputs(make_case):
    root = make_case(extra=MAPS, files={
        "data/mids.csv": MIDS_CSV,
        "data/claims.yaml": claim_yaml("C01", "Massage eases anxiety.", ["a2010", "c2016"])
        + claim_yaml("C02", "Nothing cited.", []),
    })
    write_stage(root, effects_table(), ANALYSES)
    verdicts = root / "data" / "derived" / "claims_verdicts.csv"
    pd.DataFrame({"claim_id": ["C01", "C02"], "kind": ["efficacy", "advice"],
                  "verdict": ["uncertain", "not assessable"], "certainty": ["low", ""],
                  "best_estimate": [0.3, np.nan], "ci_low": [-0.1, np.nan], "ci_high": [0.7, np.nan],
                  "measure": ["SMD", ""], "n_studies": [3, 0], "n_participants": [120, 0],
                  "reasons": ["", ""], "sources": ["", ""]}).to_csv(verdicts, index=False)
    return root


def run_figures(root, out, *extra):
    return cli.main(["--root", str(root), "figures", "--out", str(out), *map(str, extra)])


def test_mid_lookup_by_measure_and_instrument(tmp_path):
    from evidence import mids

    path = tmp_path / "mids.csv"
    path.write_text(MIDS_CSV + "pain,VAS 0-100 mm,mm,12,\"Kelly AM ... 2001\",\n")
    table = mids.load(path)
    assert mid_for(table, "anxiety", "SMD", {"HARS"}) == (0.5, "Norman 2003")
    assert mid_for(table, "pain", "MD", {"VAS 0-100 mm"}) == (12.0, "Kelly 2001")
    assert mid_for(table, "pain", "MD", {"NRS 0-10"}) == (None, "")
    assert slug("palliative cancer", "pain", "post (2 weeks)") == "palliative_pain_post_2_weeks"


def test_export_index_formats_and_identical_bytes(inputs, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_figures(inputs, a) == 0
    assert run_figures(inputs, b) == 0
    index = pd.read_csv(a / "index.csv")
    assert list(index.columns) == ["id", "title", "caption", "source", "input_sha256", "files"]
    assert list(index["id"]) == ["forest_gad_anxiety_eot", "forest_migraine_frequency_post",
                                 "harvest_gad", "albatross_gad", "map_gad",
                                 "harvest_migraine", "albatross_migraine", "map_migraine",
                                 "card_C01", "card_C02", "claims_summary"]
    assert set(index["source"]) == {"evidence figures"}
    assert index["input_sha256"].str.fullmatch(r"[0-9a-f]{64}").all()
    for fid in index["id"]:
        for ext in ("png", "svg", "pdf"):
            assert (a / f"{fid}.{ext}").stat().st_size > 1000, (fid, ext)
    files = sorted(p.name for p in a.iterdir())
    assert files == sorted(p.name for p in b.iterdir())
    assert not [f for f in files if f.endswith(".tmp")]  # written whole, renamed into place
    for name in files:
        ha = hashlib.sha256((a / name).read_bytes()).hexdigest()
        hb = hashlib.sha256((b / name).read_bytes()).hexdigest()
        assert ha == hb, name
    svg = (a / "forest_gad_anxiety_eot.svg").read_text()
    assert "<dc:date>" not in svg
    assert b"/CreationDate" not in (a / "claims_summary.pdf").read_bytes()


def test_png_is_300_dpi(inputs, tmp_path):
    from PIL import Image

    assert run_figures(inputs, tmp_path / "f") == 0
    with Image.open(tmp_path / "f" / "forest_gad_anxiety_eot.png") as im:
        assert im.size[0] == round(3.5 * 300)
        assert round(im.info["dpi"][0]) == 300


def test_caption_carries_the_sources_and_the_model(inputs, tmp_path):
    assert run_figures(inputs, tmp_path / "f") == 0
    index = pd.read_csv(tmp_path / "f" / "index.csv").set_index("id")
    cap = index.loc["forest_migraine_frequency_post", "caption"]
    assert "1 estimable of 2 reported effects; not pooled." in cap
    assert "PMID x, Table 1 (m2)" in cap
    assert "3 estimable of 3 reported effects; random effects" in index.loc["forest_gad_anxiety_eot",
                                                                            "caption"]


def test_claim_summary_skipped_with_a_message_when_no_verdicts(inputs, tmp_path, capsys):
    assert run_figures(inputs, tmp_path / "f", "--verdicts", tmp_path / "missing.csv") == 0
    assert "claim summary skipped" in capsys.readouterr().out
    assert "claims_summary" not in set(pd.read_csv(tmp_path / "f" / "index.csv")["id"])


def test_missing_inputs_are_one_clear_error(inputs, tmp_path, capsys):
    assert run_figures(inputs, tmp_path / "f", "--effects", tmp_path / "nope.csv") == 1
    assert "nope.csv: not found; run `evidence extract` first" in capsys.readouterr().err
    (inputs / "data" / "derived" / "analyses.csv").unlink()
    assert run_figures(inputs, tmp_path / "f") == 1
    assert "run `evidence analyse` first" in capsys.readouterr().err


def test_figures_read_the_analysis_stage_and_never_refit(inputs, tmp_path, monkeypatch):
    import evidence.meta

    def refit(*a, **k):
        raise AssertionError("figures refitted an analysis")

    monkeypatch.setattr(evidence.meta, "rma", refit)
    assert run_figures(inputs, tmp_path / "f") == 0


def test_a_stale_stage_file_is_refused(inputs, tmp_path, capsys):
    (inputs / "data" / "analyses.yaml").write_text(ANALYSES.replace("[g1, g2, g3]", "[g1, g2]"))
    assert run_figures(inputs, tmp_path / "f") == 1
    assert "run `evidence analyse` again" in capsys.readouterr().err


CONDITION_ANALYSES = """\
- {id: gad_anxiety_eot, title: GAD anxiety, condition: GAD, outcome: anxiety, measure: SMD,
   evidence_role: cited, rows: [g1, g2, g3]}
- {id: migraine_frequency_post, title: Migraine frequency, condition: migraine, outcome: headache_frequency,
   measure: SMD, evidence_role: cited, rows: [m1, m2, m3, m4], pool: false}
- {id: fibromyalgia_pain_li2014, title: Li 2014 pain, condition: fibromyalgia, outcome: pain, measure: SMD,
   evidence_role: cited, rows: [r1]}
- {id: fibromyalgia_trials, title: Candidate trials, condition: fibromyalgia, outcome: other, measure: SMD,
   evidence_role: context, rows: [y1]}
- {id: palliative_pain_later, title: Palliative pain, condition: palliative cancer, outcome: pain,
   measure: SMD, evidence_role: included_in_cited_review, rows: [p1, p2]}
- {id: context_depression_hou2010, title: Hou 2010, condition: depression, outcome: depression,
   measure: SMD, evidence_role: context, rows: [h1]}
- {id: context_cancer_pain, title: Zhang 2023, condition: cancer, outcome: pain, measure: SMD,
   evidence_role: context, rows: [z1]}
- {id: context_cancer_reviews, title: Later reviews, condition: cancer, outcome: pain, measure: SMD,
   evidence_role: context, rows: [z1, b1]}
"""


def condition_effects() -> pd.DataFrame:
    """effects_table plus invented rows for every condition map: two more unreported migraine
    rows (same study and reason as m2, so they collapse), a fibromyalgia trial, palliative rows,
    and context reviews (z1 listed by two context analyses, drawn once)."""
    base = effects_table()
    extra = []
    for rid, sid, cond, role, est, why in [
            ("m3", "e2019", "migraine", "cited", False, "n per arm not reported"),
            ("m4", "e2019", "migraine", "cited", False, "n per arm not reported"),
            ("y1", "y2013", "fibromyalgia", "cited", False, "only a bound on p"),
            ("p1", "w2000", "palliative cancer", "included_in_cited_review", True, ""),
            ("p2", "k2008", "palliative cancer", "included_in_cited_review", False, "sign unknown"),
            ("h1", "h2010", "depression", "context", True, ""),
            ("z1", "z2023", "cancer", "context", True, ""),
            ("b1", "b2016", "cancer", "context", False, "no CI")]:
        row = base.iloc[3].copy()  # a migraine RCT row as the template
        row[["row_id", "study_id", "condition", "evidence_role", "estimable", "not_estimable_reason"]] = \
            [rid, sid, cond, role, est, why]
        row["label"] = sid.capitalize()[:-4] + " " + sid[-4:]
        row["source"] = f"PMID x, Table 1 ({rid})"
        if not est:
            row[["yi", "vi", "se", "ci_low", "ci_high"]] = np.nan
        extra.append(row)
    return pd.concat([base, pd.DataFrame(extra)], ignore_index=True)


def accounted(fig) -> int:
    """Effects a map accounts for: every line carries its result class in the Result column, one
    line per row or per collapsed group ("E 2019 \u2014 3 effects"), which counts its rows."""
    import re

    from evidence.plots.results import CLASSES

    labels = [t.get_text().replace("\n", " ") for t in fig.texts]
    classes = sum(any(t == c or t.startswith(c + ", ") for c in CLASSES.values()) for t in labels)
    collapsed = [int(n) for t in labels for n in re.findall(r"\u2014 (\d+) effects", t)]
    return classes - len(collapsed) + sum(collapsed)


def test_condition_maps_in_the_index_in_three_formats_with_every_row(inputs, tmp_path):
    write_stage(inputs, condition_effects(), CONDITION_ANALYSES)
    spec = inputs / "data" / "analyses.yaml"
    (inputs / "data" / "claims.yaml").write_text("[]\n")
    assert run_figures(inputs, tmp_path / "f") == 0
    index = pd.read_csv(tmp_path / "f" / "index.csv").set_index("id")
    maps = ["map_gad", "map_migraine", "map_fibromyalgia", "map_palliative"]
    assert [i for i in index.index if i.startswith("map_")] == maps
    assert index.index[-1] == "claims_summary"
    for mid in maps:
        assert index.loc[mid, "title"].startswith("Evidence map: ")
        assert "Sources: " in index.loc[mid, "caption"] and "PMID x, Table 1" in index.loc[mid, "caption"]
        for ext in ("png", "svg", "pdf"):
            assert (tmp_path / "f" / f"{mid}.{ext}").stat().st_size > 1000
    assert "with context_depression_hou2010 as context" in index.loc["map_gad", "caption"]
    assert "Generalized anxiety disorder" in index.loc["map_gad", "title"]  # from evidence.toml
    assert "with fibromyalgia_trials as context" in index.loc["map_fibromyalgia", "caption"]
    assert "context_cancer_pain, context_cancer_reviews as context" in index.loc["map_palliative", "caption"]
    assert "context" not in index.loc["map_migraine", "caption"]

    eff = condition_effects()
    specs = load_specs(spec)
    expected = {"gad": {"g1", "g2", "g3", "h1"}, "migraine": {"m1", "m2", "m3", "m4"},
                "fibromyalgia": {"r1", "y1"}, "palliative": {"p1", "p2", "z1", "b1"}}
    for cond, ids in expected.items():
        rows = condition_rows(cond, eff, specs)
        assert set(rows["row_id"]) == ids and rows["row_id"].is_unique  # z1 of two analyses, once
        with house_style("double"):
            fig = condition_map(cond, eff, specs, mids=())
        assert accounted(fig) == len(ids), cond  # every row of the condition drawn or counted
    roles = condition_rows("fibromyalgia", eff, specs).set_index("row_id")["evidence_role"]
    assert roles["y1"] == "context" and roles["r1"] == "cited"  # context by its analysis, not its row
    with house_style("double"):
        s = " ".join(t.get_text() for t in condition_map("migraine", eff, specs).texts)
    assert "E 2019 \u2014 3 effects" in s.replace("\n", " ")  # m2-m4: one study, one reason


def test_condition_map_names_the_known_conditions_when_asked_for_another(inputs):
    with pytest.raises(EvidenceError, match="no evidence map for condition 'asthma'.*gad"):
        condition_map("asthma", effects_table(), [])
    assert condition_of("palliative cancer").key == "palliative" and condition_of("GAD").key == "gad"


def test_claim_card_holds_the_rows_of_its_analyses_tagged_relevance_not_computed(inputs):
    """Until relevance.csv exists, a claim's card shows the rows of the claim's analyses (a review's
    trials reach it through them), tagged "relevance not computed"; the old per-claim maps are gone."""
    from evidence.claims import Claim
    from evidence.figures import claim_rows, read_analyses

    effects = effects_table()
    analyses = read_analyses(effects)
    claims = [Claim("C09", "s", ("efficacy",), "Massage helps migraine.", ("li2014",), {},
                    ("migraine_frequency_post",))]
    specs = {s.id: s for s in plan(effects, analyses=analyses, mids=(), claims=claims)}
    assert "map_C09" not in specs and "card_C09" in specs
    assert "relevance not computed" in specs["card_C09"].caption
    rows = claim_rows(claims[0], effects, analyses, None)
    assert list(rows["row_id"]) == ["m1", "m2"] and set(rows["relevance"]) == {"relevance not computed"}
    relevance = pd.DataFrame({"claim_id": ["C09"], "analysis_id": ["x"], "row_id": ["r1"],
                              "relevance": ["other population"], "reason": ["fibromyalgia"]})
    rows = claim_rows(claims[0], effects, analyses, relevance)  # relevance.csv decides when present
    assert list(rows["row_id"]) == ["r1"] and list(rows["relevance"]) == ["other population"]
