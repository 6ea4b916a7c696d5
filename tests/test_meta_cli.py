"""`evidence meta` reproduces the metafor reference from the input CSVs; bad input gets one clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evidence.cli import main

HERE = Path(__file__).parent / "data" / "validation"
FIELDS = ["estimate", "se", "ci_low", "ci_high", "pval", "tau2", "I2", "H2", "Q", "Q_pval", "k",
          "pi_low", "pi_high"]


def run_json(capsys, *argv):
    assert main(["meta", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", ["normand1999_smd", "bcg_logor", "normand1999_smd_k3"])
@pytest.mark.parametrize("method,test", [("DL", "z"), ("REML", "knha"), ("EE", "z"), ("HE", "z")])
def test_cli_reproduces_reference(capsys, name, method, test):
    ref = json.loads((HERE / f"{name}_metafor.json").read_text())
    want = next(b for b in ref["fits"] if (b["method"], b["test"]) == (method, test))
    got = run_json(capsys, HERE / f"{name}_input.csv", "--method", method, "--test", test)
    tol = 1e-10  # tight references (tests/data/validation/README.md); measured worst 5e-14
    for f in FIELDS:
        if want[f] is None:
            assert got[f] is None
        else:
            assert got[f] == pytest.approx(want[f], rel=tol, abs=tol), f


@pytest.mark.parametrize("name,measure", [("bcg_logrr", "RR"), ("bcg_logor", "OR"),
                                          ("normand1999_smd", "SMD"), ("normand1999_md", "MD")])
def test_cli_from_arm_level_data(capsys, tmp_path, name, measure):
    df = pd.read_csv(HERE / f"{name}_input.csv").drop(columns=["yi", "vi"])
    path = tmp_path / "arms.csv"
    df.to_csv(path, index=False)
    want = next(b for b in json.loads((HERE / f"{name}_metafor.json").read_text())["fits"]
                if b["method"] == "DL")
    got = run_json(capsys, path, "--measure", measure, "--method", "DL")
    assert got["estimate"] == pytest.approx(want["estimate"], rel=1e-9)
    assert got["tau2"] == pytest.approx(want["tau2"], rel=1e-9)


def test_cli_readable_summary(capsys):
    assert main(["meta", str(HERE / "bcg_logrr_input.csv")]) == 0
    out = capsys.readouterr().out
    assert "Random-effects model (k = 13; tau² estimator: REML; test: z)" in out
    assert "prediction interval" in out


@pytest.mark.parametrize("text,args,message", [
    ("yi,vx\n0.1,0.2\n0.2,0.3\n", [], "field 'vi': missing column"),
    ("yi,vi\n0.1,0.2\n0.2,0\n", [], "row 3, field 'vi': variance must be positive"),
    ("yi,vi\n0.1,0.2\nabc,0.3\n", [], "row 3, field 'yi': not a number"),
    ("yi,vi\n0.1,0.2\n,0.3\n", [], "row 3, field 'yi': blank: a number is needed"),
    ("yi,vi\n0.1,0.2\n", ["--method", "DL"], "needs at least 2 studies, got 1"),
])
def test_cli_bad_input(capsys, tmp_path, text, args, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert main(["meta", str(path), *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and message in err


def test_cli_single_study_equal_effects_is_allowed(capsys, tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("yi,vi\n0.5,0.25\n")
    got = run_json(capsys, path, "--method", "EE")
    assert got["estimate"] == 0.5 and got["se"] == 0.5 and got["k"] == 1
