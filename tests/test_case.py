"""The case: evidence.toml found and checked, one vocabulary, one MID lookup for every reader."""

from __future__ import annotations

import pytest

from evidence import case, grading, mids, paths, vocabulary
from evidence.errors import DataError, EvidenceError
from evidence.figures import mid_for


def test_root_is_found_upward_from_the_working_directory(make_case, tmp_path, monkeypatch):
    root = make_case()
    monkeypatch.delenv("EVIDENCE_ROOT")
    deep = root / "data" / "extraction"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert case.root() == root.resolve()
    assert paths.EFFECTS == root.resolve() / "data" / "derived" / "effects.csv"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EvidenceError, match="no evidence.toml .*evidence init"):
        case.root()


def test_root_option_and_environment_take_precedence(make_case, tmp_path):
    a = make_case(tmp_path / "a")
    b = make_case(tmp_path / "b")  # EVIDENCE_ROOT now points at b
    assert case.root() == b.resolve()
    case.use(a)
    assert case.root() == a.resolve() and paths.ROOT == a.resolve()
    with pytest.raises(EvidenceError, match="no evidence.toml there"):
        case.use(tmp_path)


def test_the_repository_is_the_massage_case():
    c = case.current()
    assert (c.intervention, c.control) == ("massage", "control")
    assert c.favours == ("Favours control", "Favours massage")
    assert [m.key for m in c.condition_maps] == ["gad", "migraine", "fibromyalgia", "palliative"]
    assert c.claim_id.search("C01") and not c.claim_id.search("C1")


@pytest.mark.parametrize("text, field", [
    ('[case]\nintervention = "x"\n', "case.title"),
    ('[case]\ntitle = "t"\ncolour = "red"\n', "case.colour"),
    ('[case]\ntitle = "t"\nclaim_id_pattern = "["\n', "case.claim_id_pattern"),
    ('[case]\ntitle = "t"\n[grading]\ni2_serious = -1\n', "grading.i2_serious"),
    ('[case]\ntitle = "t"\n[grading]\ni2_serious = true\n', "grading.i2_serious"),
    ('[case]\ntitle = "t"\n[grading]\nmystery = 1\n', "grading.mystery"),
    ('[case]\ntitle = "t"\n[vocabulary]\noutcomes = "pain"\n', "vocabulary.outcomes"),
    ('[case]\ntitle = "t"\n[[figures.condition_map]]\nkey = "x"\n', "figures.condition_map[1]"),
    ('[case]\ntitle = "t"\n[bogus]\n', "bogus"),
])
def test_a_bad_config_names_the_key(tmp_path, text, field):
    (tmp_path / "evidence.toml").write_text(text)
    with pytest.raises(DataError) as err:
        case.load(tmp_path)
    assert err.value.field == field and "evidence.toml" in str(err.value)


def test_config_outcomes_extend_the_built_in_vocabulary(make_case):
    make_case(extra='[vocabulary]\noutcomes = ["tuberculosis"]\n')
    assert "tuberculosis" in vocabulary.outcomes()
    assert {"function", "adverse_events"} <= set(vocabulary.outcomes())


def test_safety_outcomes_are_in_the_sheet_vocabulary():
    """Regression: grading judged safety on `adverse_events`, which extraction rejected."""
    assert set(vocabulary.SAFETY_OUTCOMES) <= set(vocabulary.outcomes())
    from evidence.effects.schema import _check_outcome_text

    errors = []
    row = {"study_id": "s", "outcome": "adverse_events", "design": "RCT", "comparator_type": "sham",
           "scale_direction": "higher_worse", "data_type": "counts", "diff_direction": "",
           "row_id": "r", "source": "x", "timepoint": "t", "comparison": "c", "p_operator": "",
           "direction": "", "p": None}
    _check_outcome_text(row, {"s"}, lambda f, m: errors.append((f, m)))
    assert [f for f, _ in errors if f == "outcome"] == []


def test_one_mid_lookup_for_grading_and_figures(tmp_path):
    """Regression: an outcome-specific SMD MID was used by grading while the forest plots
    still shaded the generic one (the file's first matching row)."""
    from types import SimpleNamespace

    import pandas as pd

    f = tmp_path / "mids.csv"
    f.write_text("outcome,instrument,measure,mid,source,notes\n"
                 "any,any,SMD,0.5,Norman 2003,generic\n"
                 "pain,any,SMD,0.3,Anchor 2020,pain-specific\n")
    table = mids.load(f)
    fit = SimpleNamespace(spec=SimpleNamespace(outcome="pain", measure="SMD"),
                          rows=pd.DataFrame({"instrument": ["VAS"]}))
    assert grading.analysis_mid(table, fit) == 0.3
    assert mid_for(table, "pain", "SMD", {"VAS"}) == (0.3, "Anchor 2020")
    assert mid_for(table, "anxiety", "SMD", {"HARS"}) == (0.5, "Norman 2003")


@pytest.mark.parametrize("body, field", [
    ("", None),  # header only
    ("pain,NRS,points,-2,src,\n", "mid"),
    ("pain,NRS,points,0,src,\n", "mid"),
    ("pain,NRS,points,inf,src,\n", "mid"),
    ("pain,NRS,points,1_0,src,\n", "mid"),
    ("pain,NRS,points,2,,\n", "source"),
    ("pain,NRS,points,2,src,\npain,NRS,points,3,src,\n", "outcome"),
    ("pain,NRS,points,2,src\n", "notes"),  # a short row: named by its first missing cell
])
def test_bad_mids_are_rejected_naming_the_line(tmp_path, body, field):
    f = tmp_path / "mids.csv"
    f.write_text("outcome,instrument,measure,mid,source,notes\n" + body)
    with pytest.raises(DataError) as err:
        mids.load(f)
    assert err.value.field == field and "mids.csv" in str(err.value)


def test_missing_mids_file_is_an_error(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        mids.load(tmp_path / "mids.csv")
