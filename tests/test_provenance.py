"""evidence.provenance: record provenance, the flow of sources, extraction status.

Small hand-made sheets whose expected counts are worked out by hand in each test.
"""

from __future__ import annotations

import matplotlib
import pandas as pd
import pytest

from evidence import paths
from evidence import provenance as pv
from evidence.errors import DataError
from evidence.pubmed.record import Provenance, PubmedRecord

matplotlib.use("Agg")


def _record(pmid, method="transcribed", authors=("Doe J",)):
    return PubmedRecord(pmid=pmid, title=f"t{pmid}", authors=list(authors), journal="J",
                        year=2010, doi=None, pmcid="PMC1" if pmid == "1" else None,
                        provenance=Provenance(method, "2020-01-01", "url", ""))


@pytest.fixture
def studies():
    return pd.DataFrame({
        "study_id": ["a", "b", "c", "d", "e"],
        "pmid": ["1", "", "", "", ""],
        "design": ["RCT", "web page", "RCT", "RCT", "meta-analysis"],
        "evidence_role": ["cited", "cited", "included_in_cited_review",
                          "included_in_cited_review", "context"],
    })


@pytest.fixture
def log():
    return pd.DataFrame({"pmid": ["1", "3", ""], "study_id": ["a", "c", "d"],
                         "fields_null_and_why": ["", "", "no record: PMID not shown"]})


@pytest.fixture
def records():
    return [_record("1"), _record("3", authors=()), _record("9", method="efetch")]


@pytest.fixture
def outcomes():
    return pd.DataFrame({
        "row_id": ["a-p", "a-nr", "c-arm", "d-nr", "e-pool"],
        "study_id": ["a", "a", "c", "d", "e"],
        "data_type": ["p_only", "not_reported", "arm_mean_sd", "not_reported",
                      "pooled_smd_ci"],
        "double_extracted": ["yes", "no", "no", "no", "no"],
        "source": ["PMID 1, abstract (Results)", "PMID 1, Abstract", "J 2010, Table 2, p. 3",
                   "PMID 4, Figure 1", "web copy of the paper"],
    })


@pytest.fixture
def effects():
    return pd.DataFrame({
        "row_id": ["a-nr", "a-p", "c-arm", "d-nr", "e-pool"],
        "study_id": ["a", "a", "c", "d", "e"],
        "estimable": [False, False, True, False, True],
        "not_estimable_reason": ["not reported: abstract only",
                                 "only a p value: the direction of the difference is not reported", "",
                                 "-1.24 reported without a CI: variance unknown", ""],
    })


def test_method_counts_and_record_frame(records, studies, log):
    counts = pv.method_counts(records)
    assert counts.to_dict("list") == {"method": ["efetch", "transcribed"], "records": [1, 2]}
    ids = pv.record_study_ids(records, studies, log)
    assert ids == {"1": "a", "3": "c"}  # "1" from studies.csv, "3" from the log; "9" unknown
    frame = pv.record_frame(records, ids)
    assert frame["study_id"].tolist() == ["a", "c", ""]
    assert frame["first_author"].tolist() == ["Doe J", "", "Doe J"]
    assert frame["pmcid"].tolist() == ["PMC1", "", ""]


def test_record_study_ids_conflict_is_an_error(records, studies, log):
    log = log.assign(study_id=["z", "c", "d"])  # PMID 1 is 'a' in studies.csv
    with pytest.raises(DataError, match="PMID 1"):
        pv.record_study_ids(records, studies, log)


def test_gaps_and_studies_without_record(records, studies, log):
    ids = pv.record_study_ids(records, studies, log)
    assert pv.pmid_gaps(records, studies, log).to_dict("list") == {
        "study_id": ["c"], "pmid_in_snapshot": ["3"]}
    missing = pv.studies_without_record(studies, ids, log)
    assert missing["study_id"].tolist() == ["b", "d", "e"]
    assert missing["reason"].tolist() == [
        "web page: not indexed in PubMed", "no record: PMID not shown",
        "no PMID in studies.csv and no entry in the transcription log"]


def test_flow_counts_nested_per_role(records, studies, log, outcomes, effects):
    ids = pv.record_study_ids(records, studies, log)
    sets = pv.flow_sets(studies, outcomes, effects, ids, analysed={"c-arm", "a-p"})
    table = pv.flow_table(sets).set_index("stage")
    # cited: a, b; a has a record and a p value (not estimable); b is a web page
    # included: c (record via log, estimable, analysed), d (nothing reported)
    # context: e (estimable, not in an analysis)
    expected = {
        "sources in the extraction sheet": [2, 2, 1, 5],
        "with a record in the PubMed snapshot": [1, 1, 0, 2],
        "with at least one extracted number": [1, 1, 1, 3],
        "with at least one estimable effect": [0, 1, 1, 2],
        "with an effect in an analysis": [0, 1, 0, 1],  # a-p is listed but not estimable
    }
    assert {k: v.tolist() for k, v in table.iterrows()} == expected
    losses = pv.flow_losses(sets)
    cited = losses[losses["evidence_role"] == "cited"]
    assert cited["lost"].tolist() == [1, 1, 0]
    assert cited["studies"].tolist() == ["b", "a", ""]


def test_flow_without_analyses_has_no_analysed_stage(records, studies, log, outcomes, effects):
    sets = pv.flow_sets(studies, outcomes, effects, pv.record_study_ids(records, studies, log))
    assert pv.analysed_row_ids(None) is None
    assert len(pv.flow_table(sets)) == 4
    assert len(pv.flow_losses(sets)) == 2 * len(pv.ROLES)


def test_flow_figure_draws_one_box_per_role_and_stage(records, studies, log, outcomes,
                                                      effects):
    import matplotlib.pyplot as plt

    sets = pv.flow_sets(studies, outcomes, effects, pv.record_study_ids(records, studies, log),
                        analysed={"c-arm"})
    fig = pv.flow_figure(sets)
    ax = fig.axes[0]
    assert len(ax.patches) == 3 * 4
    texts = [t.get_text() for t in ax.texts]
    assert "cited by the article\nn = 2, 1 with a PubMed record" in texts
    assert "with an effect in an analysis\nn = 1" in texts
    assert "- 1" in texts  # cited: b has no numbers
    plt.close(fig)


def test_rows_by_study_and_source_kinds(outcomes):
    table = pv.rows_by_study(outcomes)
    assert table.loc["a", "not_reported"] == 1
    assert table.loc["total", "total"] == 5
    assert pv.source_kind("PMID 1, Abstract (Results)") == "abstract"
    assert pv.source_kind("ISRN Nurs 2011, Table 3, hindawi page") == "table or figure"
    assert pv.source_kind("tablet study") == "other"
    kinds = pv.source_kinds(outcomes)
    assert kinds.to_dict("list") == {"read": ["abstract", "other", "table or figure"],
                                     "rows": [2, 1, 2], "studies": [1, 1, 2]}


def test_not_estimable_summary_groups_reasons(effects):
    out = pv.not_estimable_summary(effects)
    assert out.to_dict("list") == {
        "study_id": ["a", "a", "d"],
        "reason": ["not reported", "only a p value", "reported without a CI"],
        "rows": [1, 1, 1]}


def test_double_extraction_status(outcomes):
    second = pd.DataFrame({"study_id": ["a", "a", "f"]})
    recon = pd.DataFrame({"study_id": ["a", "a", "a"]})
    out = pv.double_extraction_status(outcomes, second, recon).set_index("study_id")
    assert out.loc["a"].tolist() == [2, 2, 1, 3]
    assert out.loc["f"].tolist() == [0, 1, 0, 0]  # B extracted a study A did not
    assert "reconciliation_entries" not in pv.double_extraction_status(outcomes, second)


def test_wanted_by_study():
    wanted = pd.DataFrame({"study_id": ["x", "x", "y"], "outcome": ["pain", "", "anxiety"],
                           "status": ["open", "filled", "open"]})
    out = pv.wanted_by_study(wanted)
    assert out.to_dict("list") == {"study_id": ["x", "y"], "items": [2, 1],
                                   "outcomes": ["pain", "anxiety"], "open": [1, 1],
                                   "filled": [1, 0]}


def test_read_sheet_names_a_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        pv.read_sheet(tmp_path / "nope.csv")


def test_every_snapshot_record_belongs_to_a_study():
    """Project data: each record of the snapshot maps to a study via studies.csv or the log."""
    from evidence.pubmed import load_snapshot

    records = load_snapshot(paths.RECORDS)
    studies = pv.read_sheet(paths.EXTRACTION / "studies.csv")
    ids = pv.record_study_ids(records, studies, pv.read_sheet(pv.TRANSCRIPTION_LOG))
    assert sorted(ids) == sorted(r.pmid for r in records)
    assert set(ids.values()) <= set(studies["study_id"])


def test_field_completeness_counts_null_and_empty_lists(records):
    out = pv.field_completeness(records).set_index("field")
    assert out.loc["pmcid"].tolist() == [1, 2]  # only PMID 1 has a PMCID
    assert out.loc["authors"].tolist() == [2, 1]  # record 3 has no authors
    assert out.loc["abstract"].tolist() == [0, 3]


def test_reconciliation_tables():
    log = pd.DataFrame({
        "study_id": ["a", "a", "a", "b"],
        "row_id_a": ["a-1", "a-1", "", "b-1"],
        "field": ["n_int", "p", "all other fields", "n_int"],
        "value_a": ["23", "0.4", "", "10"], "value_b": ["", "0.39", "", "12"],
        "resolution": ["took_B", "kept_A", "agreed", "unresolved"],
        "note": ["x", "y", "z", "source unclear"],
    })
    summary = pv.reconciliation_summary(log)
    assert summary.loc["a"].tolist() == [1, 1, 1, 0, 3]  # agreed, kept_A, took_B, unresolved
    assert summary.loc["total", "total"] == 4
    fields = pv.reconciled_fields(log)
    assert fields.index.tolist() == ["n_int", "p"]  # 'agreed' rows are not disagreements
    assert fields.loc["n_int", "total"] == 2
    assert pv.unresolved(log).to_dict("records") == [{
        "study_id": "b", "row_id_a": "b-1", "field": "n_int", "value_a": "10",
        "value_b": "12", "note": "source unclear"}]
