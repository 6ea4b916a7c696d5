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
    digest,
    group_by_condition_outcome_timepoint,
    mid_for,
    plan,
    slug,
)
from evidence.plots import house_style

COLUMNS = ["row_id", "study_id", "pmid", "condition", "outcome", "instrument", "timepoint",
           "timepoint_weeks", "comparison", "comparator_type", "design", "measure", "yi", "vi", "se",
           "ci_low", "ci_high", "n_massage", "n_control", "favours_massage_positive", "evidence_role",
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
                    "ci_low": yi - 1.96 * se, "ci_high": yi + 1.96 * se, "n_massage": 20, "n_control": 20,
                    "favours_massage_positive": True, "evidence_role": "cited", "source": f"PMID x, Table 1 ({rid})",
                    "derived": "", "estimable": est, "not_estimable_reason": why,
                    "label": sid.capitalize()[:-4] + " " + sid[-4:]})
    return pd.DataFrame(out, columns=COLUMNS)


@pytest.fixture
def inputs(tmp_path):
    effects = tmp_path / "effects.csv"
    effects_table().to_csv(effects, index=False)
    mids = tmp_path / "mids.csv"
    mids.write_text("outcome,instrument,measure,mid,source,notes\n"
                    "any,any,SMD,0.5,\"Norman GR et al. Med Care 2003\",generic\n")
    claims = tmp_path / "claims.yaml"
    claims.write_text("- id: C01\n  claim: Massage eases anxiety.\n  sources: [a2010, c2016]\n"
                      "- id: C02\n  claim: Nothing cited.\n  sources: []\n")
    verdicts = tmp_path / "claims_verdicts.csv"
    pd.DataFrame({"claim_id": ["C01", "C02"], "kind": ["efficacy", "advice"],
                  "verdict": ["uncertain", "not assessable"], "certainty": ["low", ""],
                  "best_estimate": [0.3, np.nan], "ci_low": [-0.1, np.nan], "ci_high": [0.7, np.nan],
                  "measure": ["SMD", ""], "n_studies": [3, 0], "n_participants": [120, 0],
                  "reasons": ["", ""], "sources": ["", ""]}).to_csv(verdicts, index=False)
    return {"--effects": effects, "--mids": mids, "--claims": claims, "--verdicts": verdicts,
            "--analyses": tmp_path / "no_analyses.yaml"}


def run_figures(inputs, out, **override):
    argv = ["figures", "--out", str(out)]
    for k, v in {**inputs, **override}.items():
        argv += [k, str(v)]
    return cli.main(argv)


def test_interim_grouping_pools_trials_per_condition_outcome_timepoint():
    seen = {}

    def fake_fit(yi, vi, labels):  # records what would be pooled
        seen[tuple(labels)] = (list(yi), list(vi))
        return None

    analyses = group_by_condition_outcome_timepoint(effects_table(), fit=fake_fit)
    ids = [a.id for a in analyses]
    assert ids == ["gad_anxiety_end_of_treatment", "migraine_headache_frequency_post"]
    assert list(seen) == [("A 2010", "B 2012", "C 2016")]  # k=1 (migraine) is not fitted
    assert len(analyses[1].rows) == 2  # the not-estimable row stays with its analysis


def test_mid_lookup_by_measure_and_instrument():
    mids = pd.DataFrame({"outcome": ["any", "pain"], "instrument": ["any", "VAS 0-100 mm"],
                         "measure": ["SMD", "mm"], "mid": ["0.5", "12"],
                         "source": ["Norman GR ... 2003", "Kelly AM ... 2001"], "notes": ["", ""]})
    assert mid_for(mids, "anxiety", "SMD", {"HARS"}) == (0.5, "Norman 2003")
    assert mid_for(mids, "pain", "MD", {"VAS 0-100 mm"}) == (12.0, "Kelly 2001")
    assert mid_for(mids, "pain", "MD", {"NRS 0-10"}) == (None, "")
    assert slug("palliative cancer", "pain", "post (2 weeks)") == "palliative_pain_post_2_weeks"


def test_export_index_formats_and_identical_bytes(inputs, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_figures(inputs, a) == 0
    assert run_figures(inputs, b) == 0
    out = capsys.readouterr().out
    assert "grouping effects by condition x outcome x timepoint" in out
    index = pd.read_csv(a / "index.csv")
    assert list(index.columns) == ["id", "title", "caption", "source", "input_sha256", "files"]
    assert list(index["id"]) == ["forest_gad_anxiety_end_of_treatment",
                                 "forest_migraine_headache_frequency_post", "map_C01", "claims_summary"]
    assert set(index["source"]) == {"evidence figures"}
    assert index["input_sha256"].str.fullmatch(r"[0-9a-f]{64}").all()
    for fid in index["id"]:
        for ext in ("png", "svg", "pdf"):
            assert (a / f"{fid}.{ext}").stat().st_size > 1000, (fid, ext)
    files = sorted(p.name for p in a.iterdir())
    assert files == sorted(p.name for p in b.iterdir())
    for name in files:
        ha = hashlib.sha256((a / name).read_bytes()).hexdigest()
        hb = hashlib.sha256((b / name).read_bytes()).hexdigest()
        assert ha == hb, name
    svg = (a / "forest_gad_anxiety_end_of_treatment.svg").read_text()
    assert "<dc:date>" not in svg
    assert b"/CreationDate" not in (a / "claims_summary.pdf").read_bytes()


def test_png_is_300_dpi(inputs, tmp_path):
    from PIL import Image

    assert run_figures(inputs, tmp_path / "f", **{"--claims": tmp_path / "none.yaml"}) == 0
    with Image.open(tmp_path / "f" / "forest_gad_anxiety_end_of_treatment.png") as im:
        assert im.size[0] == round(3.5 * 300)
        assert round(im.info["dpi"][0]) == 300


def test_caption_carries_the_sources(inputs, tmp_path):
    assert run_figures(inputs, tmp_path / "f") == 0
    index = pd.read_csv(tmp_path / "f" / "index.csv").set_index("id")
    cap = index.loc["forest_migraine_headache_frequency_post", "caption"]
    assert "1 estimable of 2 reported effects; not pooled." in cap
    assert "PMID x, Table 1 (m2)" in cap


def test_claim_summary_skipped_with_a_message_when_no_verdicts(inputs, tmp_path, capsys):
    assert run_figures(inputs, tmp_path / "f", **{"--verdicts": tmp_path / "missing.csv"}) == 0
    assert "claim summary skipped" in capsys.readouterr().out
    assert "claims_summary" not in set(pd.read_csv(tmp_path / "f" / "index.csv")["id"])


def test_missing_effects_is_one_clear_error(inputs, tmp_path, capsys):
    assert run_figures(inputs, tmp_path / "f", **{"--effects": tmp_path / "nope.csv"}) == 1
    err = capsys.readouterr().err
    assert "nope.csv: not found; run `evidence extract` first" in err


def test_curated_analyses_replace_the_interim_grouping(inputs, tmp_path, capsys):
    spec = tmp_path / "analyses.yaml"
    spec.write_text("- id: gad_anxiety_eot\n  title: GAD, anxiety at end of treatment\n"
                    "  condition: GAD\n  outcome: anxiety\n  measure: SMD\n  evidence_role: cited\n"
                    "  rows: [g1, g2]\n")
    assert run_figures(inputs, tmp_path / "f", **{"--analyses": spec, "--claims": tmp_path / "x.yaml"}) == 0
    assert "grouping effects" not in capsys.readouterr().out
    index = pd.read_csv(tmp_path / "f" / "index.csv")
    assert list(index["id"]) == ["forest_gad_anxiety_eot", "map_gad", "claims_summary"]  # a GAD analysis: a GAD map
    assert "2 estimable of 2 reported effects; random effects" in index.loc[0, "caption"]


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
    """Effects a map shows: markers and diamonds, single text lines, and the counts of collapsed lines."""
    import re

    from matplotlib.patches import Polygon

    drawn = sum(len([ln for ln in ax.lines if ln.get_marker() == "s"])
                + len([p for p in ax.patches if isinstance(p, Polygon)]) for ax in fig.axes)
    labels = [t.get_text().replace("\n", " ") for t in fig.texts]
    collapsed = [int(n) for t in labels for n in re.findall(r"\u2014 (\d+) effects", t)]
    messages = sum(t.startswith("not estimable") for t in labels)
    return drawn + messages - len(collapsed) + sum(collapsed)


def test_condition_maps_in_the_index_in_three_formats_with_every_row(inputs, tmp_path):
    effects = tmp_path / "effects_c.csv"
    condition_effects().to_csv(effects, index=False)
    spec = tmp_path / "analyses.yaml"
    spec.write_text(CONDITION_ANALYSES)
    assert run_figures(inputs, tmp_path / "f", **{"--effects": effects, "--analyses": spec,
                                                   "--claims": tmp_path / "x.yaml"}) == 0
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
            fig = condition_map(cond, eff, specs, mids=pd.DataFrame(columns=["measure", "outcome", "mid"]))
        assert accounted(fig) == len(ids), cond  # every row of the condition drawn or counted
    roles = condition_rows("fibromyalgia", eff, specs).set_index("row_id")["evidence_role"]
    assert roles["y1"] == "context" and roles["r1"] == "cited"  # context by its analysis, not its row
    with house_style("double"):
        s = " ".join(t.get_text() for t in condition_map("migraine", eff, specs).texts)
    assert "E 2019 \u2014 3 effects" in s.replace("\n", " ")  # m2-m4: one study, one reason


def test_condition_map_names_the_known_conditions_when_asked_for_another():
    with pytest.raises(EvidenceError, match="no evidence map for condition 'asthma'.*gad"):
        condition_map("asthma", effects_table(), [])
    assert condition_of("palliative cancer").key == "palliative" and condition_of("GAD").key == "gad"


def test_claim_map_includes_the_rows_of_its_analyses():
    """A claim citing a review reaches the review's trials through its analyses: their
    rows (other study ids) are on the claim's map, next to the claim's own sources."""
    effects = effects_table()
    analyses = group_by_condition_outcome_timepoint(effects)
    mig = next(a for a in analyses if a.id.startswith("migraine"))
    claims = [{"id": "C09", "claim": "Massage helps migraine.", "sources": ["li2014"],
               "analyses": [mig.id]}]
    mids = pd.DataFrame(columns=["outcome", "instrument", "measure", "mid", "source", "notes"])
    specs = {s.id: s for s in plan(effects, analyses=analyses, mids=mids, claims=claims)}
    caption = specs["map_C09"].caption
    assert "sources and analyses of claim C09" in caption
    expected = digest(effects[effects["row_id"].isin(["m1", "m2", "r1"])])
    assert specs["map_C09"].input_sha256 == expected
