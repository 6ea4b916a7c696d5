"""House rules every figure of `evidence figures` must keep (issue 13), checked on a small case
holding every result class: no two ids render the same image, every figure draws a mark, no text
under 6 pt, no sheet field name or data_type value in any figure text."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Polygon
from matplotlib.text import Annotation
from test_figures import MAPS, claim_yaml, run_figures, write_stage
from test_thin_evidence_plots import legacy_rows, sheet

from evidence.effects.schema import DATA_TYPES, OUTCOME_COLUMNS
from evidence.plots import house_style
from evidence.plots.style import MIN_PT

ANALYSES = """\
- {id: gad_anxiety_eot, title: GAD anxiety at end of treatment, condition: GAD, outcome: anxiety,
   measure: SMD, evidence_role: cited, rows: [e1, e2, x1]}
- {id: gad_pain_eot, title: GAD pain, condition: GAD, outcome: pain, measure: SMD, evidence_role: cited,
   rows: [p1]}
- {id: gad_other, title: GAD other outcomes, condition: GAD, outcome: other, measure: SMD,
   evidence_role: cited, rows: [s1, b1, r1, n1]}
"""
# names a reader could mistake for words (p, t, f, df, notes, source...) are left out: the rule is
# about tokens of the sheet that are not English, i.e. those written with an underscore
TOKENS = sorted({c for c in OUTCOME_COLUMNS if "_" in c} | {d for d in DATA_TYPES if "_" in d})


@pytest.fixture
def case_dir(make_case):
    outcomes = sheet()
    root = make_case(extra=MAPS, files={
        "data/mids.csv": "outcome,instrument,measure,mid,source,notes\n"
                         "any,any,SMD,0.5,\"Norman GR et al. Med Care 2003\",generic\n",
        "data/claims.yaml": claim_yaml("C01", "Massage eases anxiety.", ["abel2001"], ["gad_anxiety_eot"])
        + claim_yaml("C02", "Massage eases pain and worry.", [], ["gad_pain_eot", "gad_other"])
        + claim_yaml("C03", "Massage is safe.", []),
        "data/extraction/wanted.csv": "study_id,outcome,needed,where_in_paper,searched,status\n"
                                      "ford2010,worry,tables,Results,pages,open\n",
    })
    (root / "data" / "extraction").mkdir(parents=True, exist_ok=True)
    outcomes.to_csv(root / "data" / "extraction" / "outcomes.csv", index=False)
    write_stage(root, legacy_rows(), ANALYSES)
    pd.DataFrame({"claim_id": ["C01", "C02", "C03"], "kind": ["efficacy", "efficacy", "safety"],
                  "verdict": ["uncertain", "not supported by the cited evidence", "no evidence cited"],
                  "certainty": ["low", "very low", ""], "best_estimate": [0.4, 3.26, np.nan],
                  "ci_low": [0.01, 0.35, np.nan], "ci_high": [0.79, 6.17, np.nan], "measure": ["SMD", "MD", ""],
                  "n_studies": [1, 1, 0], "n_participants": [60, 47, 0], "reasons": "", "sources": ""}
                 ).to_csv(root / "data" / "derived" / "claims_verdicts.csv", index=False)
    pd.DataFrame({"claim_id": ["C01"], "analysis_id": ["gad_anxiety_eot"], "domain": ["imprecision"],
                  "levels": [1], "rule": ["below_ois"], "statistic": ["n = 60"], "reason": ["n = 60 < 400"]}
                 ).to_csv(root / "data" / "derived" / "downgrades.csv", index=False)
    return root


def drawn(case_dir):
    """(spec, Figure) for every figure the case calls for, drawn in the house style."""
    import matplotlib

    matplotlib.use("Agg")
    from evidence.claims import load_claims
    from evidence.figures import load_mids, optional_inputs, plan, read_analyses, read_effects

    effects = read_effects(case_dir / "data" / "derived" / "effects.csv")
    analyses = read_analyses(effects)
    specs = plan(effects, analyses=analyses, mids=load_mids(), claims=load_claims(),
                 verdicts=pd.read_csv(case_dir / "data" / "derived" / "claims_verdicts.csv"), **optional_inputs())
    out = []
    for spec in specs:
        with house_style(spec.width):
            fig = spec.draw()
            fig.canvas.draw()
        out.append((spec, fig))
    return out


def all_texts(fig):
    texts = list(fig.texts)
    for leg in fig.legends:
        texts += leg.get_texts()
    for ax in fig.axes:
        texts += list(ax.texts) + ax.get_xticklabels() + ax.get_yticklabels()
        texts += [ax.xaxis.label, ax.yaxis.label, ax.title, ax._left_title]
        if ax.get_legend():
            texts += ax.get_legend().get_texts()
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def marks(fig) -> int:
    n = 0
    for ax in fig.axes:
        n += sum(1 for ln in ax.lines if ln.get_marker() not in (None, "None", "", " "))
        n += sum(1 for p in ax.patches if isinstance(p, Polygon))
        n += sum(1 for t in ax.texts if isinstance(t, Annotation))
    return n


def test_the_case_has_each_new_kind(case_dir):
    ids = [s.id for s, _ in drawn(case_dir)]
    assert {"harvest_gad", "albatross_gad", "card_C01", "card_C02", "card_C03", "claims_summary"} <= set(ids)
    assert not [i for i in ids if re.fullmatch(r"map_C\d+", i)]  # claim maps are replaced by cards
    assert "forest_gad_other" not in ids and "forest_gad_pain_eot" not in ids  # nothing drawable
    assert "forest_gad_anxiety_eot" in ids


def test_every_figure_draws_a_mark_and_keeps_text_at_6_pt_or_more_in_words(case_dir):
    for spec, fig in drawn(case_dir):
        texts = all_texts(fig)
        joined = " ".join(t.get_text() for t in texts)
        if spec.id.startswith("card_") and "No cited result bears on this claim" in joined:
            pass  # a claim nothing measures: the card says so instead of drawing
        else:
            assert marks(fig) > 0, spec.id
        small = [(t.get_text()[:30], t.get_fontsize()) for t in texts if t.get_fontsize() < MIN_PT - 1e-9]
        assert small == [], spec.id
        found = [tok for tok in TOKENS if re.search(rf"\b{re.escape(tok)}\b", joined)]
        assert found == [], (spec.id, found)


def test_no_two_ids_render_the_same_image_and_reruns_are_identical(case_dir, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_figures(case_dir, a) == 0 and run_figures(case_dir, b) == 0
    index = pd.read_csv(a / "index.csv")
    pngs = {fid: hashlib.sha256((a / f"{fid}.png").read_bytes()).hexdigest() for fid in index["id"]}
    assert len(set(pngs.values())) == len(pngs), pngs
    for name in sorted(p.name for p in a.iterdir()):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    svg = (a / "card_C01.svg").read_text()
    assert "<text" in svg  # text kept as text (svg.fonttype none): small files, extents still measurable


def test_a_dropped_figure_leaves_no_stale_file(case_dir, tmp_path):
    out = tmp_path / "f"
    assert run_figures(case_dir, out) == 0
    index = out / "index.csv"  # as a previous run would have left it, with a figure now dropped
    index.write_text(index.read_text() + "map_C09,t,c,evidence figures,0,map_C09.png;map_C09.svg;map_C09.pdf\n")
    for ext in ("png", "svg", "pdf"):
        (out / f"map_C09.{ext}").write_text("old")
    assert run_figures(case_dir, out) == 0
    assert not list(out.glob("map_C09.*"))
