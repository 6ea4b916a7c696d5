"""Mutation suite for ``evidence meta FILE.csv`` (issue 17): bad CSVs and arguments.

Each case is a mutation of a good three-study CSV with its expected outcome:
- ("reject", line, field, fragment): exit 1, one line on stderr naming the file,
  "row <line>" when a line is given, "field '<field>'" when a field is given,
  and the fragment of the message;
- ("usage", fragment): argparse rejects the argument (exit 2, names the option);
- ("accept", yi, vi): exit 0 and the JSON result equals ``rma`` on these numbers
  (the fit itself is validated against metafor in test_meta_validation.py).
"""

from __future__ import annotations

import json

import pytest

from evidence.cli import main
from evidence.meta import rma

GOOD = "study,yi,vi\nA,0.10,0.04\nB,0.30,0.02\nC,0.55,0.09\n"
Y, V = [0.10, 0.30, 0.55], [0.04, 0.02, 0.09]

CASES = {
    # --- structure of the file
    "empty file": ("", [], ("reject", None, None, "empty file")),
    "blank lines only": ("\n\n  \n", [], ("reject", None, None, "empty file")),
    "header only": ("study,yi,vi\n", [], ("reject", None, None, "no data rows")),
    "too many cells": (GOOD.replace("B,0.30,0.02", "B,0.30,0.02,7"), [],
                       ("reject", 3, None, "4 cells but the header has 3")),
    "too few cells": (GOOD.replace("B,0.30,0.02", "B,0.30"), [],
                      ("reject", 3, None, "2 cells but the header has 3")),
    "trailing comma on every row": (GOOD.replace("\n", ",\n").replace("vi,\n", "vi\n"), [],
                                    ("reject", 2, None, "4 cells but the header has 3")),
    "unterminated quote": ('study,yi,vi\nA,0.10,0.04\n"B,0.30,0.02\nC,0.55,0.09\n', [],
                           ("reject", 3, None, "cannot read CSV")),
    "duplicate column": ("study,yi,yi,vi\nA,1,2,0.1\nB,1,2,0.1\n", [],
                         ("reject", 1, "yi", "column named twice")),
    "unnamed column": ("study,,vi\nA,0.1,0.04\nB,0.3,0.02\n", [], ("reject", 1, None, "column 2 has no name")),
    "missing vi column": (GOOD.replace(",vi", ",var"), [], ("reject", None, "vi", "missing column")),
    "missing yi column": (GOOD.replace(",yi", ",es"), [], ("reject", None, "yi", "missing column")),
    "semicolon separated": (GOOD.replace(",", ";"), [], ("reject", None, "yi", "missing column")),
    "not UTF-8": (b"study,yi,vi\nA,0.10,0.04\nB\xff,0.30,0.02\nC,0.55,0.09\n", [],
                  ("reject", 3, None, "not UTF-8")),
    "NUL byte": ("study,yi,vi\nA,0.10,0.04\nB,0.30\x00,0.02\nC,0.55,0.09\n", [],
                 ("reject", 3, None, "NUL byte")),
    "cell of 200,000 characters": (GOOD.replace("B,", "B" * 200_000 + ","), [],
                                   ("reject", 3, None, "cannot read CSV")),
    "cell of 20,000 characters": (GOOD.replace("B,", "B" * 20_000 + ","), [],
                                  ("reject", 3, "study", "cell of 20,000 characters")),
    # --- numbers
    "text in yi": (GOOD.replace("0.30", "abc"), [], ("reject", 3, "yi", "not a number: 'abc'")),
    "blank yi": (GOOD.replace("0.30", ""), [], ("reject", 3, "yi", "blank")),
    "blank vi": (GOOD.replace("0.02", " "), [], ("reject", 3, "vi", "blank")),
    "underscore digits": (GOOD.replace("0.30", "0_30"), [], ("reject", 3, "yi", "not a number: '0_30'")),
    "decimal comma": (GOOD.replace("0.30", '"0,30"'), [], ("reject", 3, "yi", "not a number: '0,30'")),
    "thousands separator": (GOOD.replace("0.02", '"1,000"'), [], ("reject", 3, "vi", "not a number")),
    "full-width digits": (GOOD.replace("0.30", "０.３０"), [], ("reject", 3, "yi", "not a number")),
    "unicode minus": (GOOD.replace("0.30", "\u22120.30"), [], ("reject", 3, "yi", "not a number")),
    "hex number": (GOOD.replace("0.30", "0x1"), [], ("reject", 3, "yi", "not a number")),
    "inf effect": (GOOD.replace("0.30", "inf"), [], ("reject", 3, "yi", "not a number: 'inf'")),
    "nan variance": (GOOD.replace("0.02", "nan"), [], ("reject", 3, "vi", "not a number: 'nan'")),
    "NA variance": (GOOD.replace("0.02", "NA"), [], ("reject", 3, "vi", "not a number: 'NA'")),
    "overflowing effect": (GOOD.replace("0.30", "1e400"), [], ("reject", 3, "yi", "not a finite number")),
    "zero variance": (GOOD.replace("0.02", "0"), [], ("reject", 3, "vi", "variance must be positive")),
    "negative variance": (GOOD.replace("0.02", "-0.02"), [], ("reject", 3, "vi", "variance must be positive")),
    "denormal variance": (GOOD.replace("0.02", "1e-320"), [], ("reject", 3, "vi", "finite inverse")),
    "effects too extreme": ("yi,vi\n1e200,1\n-1e200,1\n", [], ("reject", None, None, "too extreme")),
    # --- labels
    "duplicated label": (GOOD.replace("B,", "A,"), [], ("reject", 3, "study", "'A' already used on line 2")),
    "blank label": (GOOD.replace("B,", ","), [], ("reject", 3, "study", "blank study label")),
    # --- arguments
    "level 0": (GOOD, ["--level", "0"], ("usage", "--level")),
    "level 95": (GOOD, ["--level", "95"], ("usage", "for 95% write 0.95")),
    "level 1": (GOOD, ["--level", "1"], ("usage", "--level")),
    "level nan": (GOOD, ["--level", "nan"], ("usage", "--level")),
    "level text": (GOOD, ["--level", "high"], ("usage", "--level")),
    "unknown method": (GOOD, ["--method", "XYZ"], ("usage", "--method")),
    "unknown test": (GOOD, ["--test", "t"], ("usage", "--test")),
    "one study, random effects": ("yi,vi\n0.1,0.04\n", [], ("reject", None, None, "needs at least 2 studies")),
    "arm data, underscore count": ("study,n1i,m1i,sd1i,n2i,m2i,sd2i\nA,2_0,1,1,20,0.5,1\nB,30,1,1,30,0.4,1\n",
                                   ["--measure", "MD"], ("reject", 2, "n1i", "not a number: '2_0'")),
    # --- harmless variations: accepted with the same result
    "byte order mark": ("\ufeff" + GOOD, [], ("accept", Y, V)),
    "CRLF line ends": (GOOD.replace("\n", "\r\n"), [], ("accept", Y, V)),
    "spaces around cells and names": (GOOD.replace(",", " , "), [], ("accept", Y, V)),
    "blank line inside": (GOOD.replace("B,", "\nB,"), [], ("accept", Y, V)),
    "quoted numbers": (GOOD.replace("0.30", '"0.30"'), [], ("accept", Y, V)),
    "scientific and signed numbers": (GOOD.replace("0.30", "+3e-1").replace("0.10", ".1"), [], ("accept", Y, V)),
    "no label column": ("yi,vi\n0.10,0.04\n0.30,0.02\n0.55,0.09\n", [], ("accept", Y, V)),
    "level 0.9": (GOOD, ["--level", "0.9"], ("accept", Y, V)),
    "huge variances": ("yi,vi\n0.1,1e200\n0.5,3e200\n-0.2,2e200\n", [],
                       ("accept", [0.1, 0.5, -0.2], [1e200, 3e200, 2e200])),
}


@pytest.mark.parametrize("name", list(CASES))
def test_mutation(name, tmp_path, capsys):
    content, args, expect = CASES[name]
    path = tmp_path / "case.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8"))
    argv = ["meta", str(path), "--json", *args]
    if expect[0] == "usage":
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        assert expect[1] in capsys.readouterr().err
        return
    code = main(argv)
    out, err = capsys.readouterr()
    if expect[0] == "reject":
        _, line, field, fragment = expect
        assert code == 1 and out == "", err
        assert err.count("\n") == 1 and str(path) in err, err
        if line is not None:
            assert f"row {line}" in err, err
        if field is not None:
            assert f"field '{field}'" in err, err
        assert fragment in err, err
        assert "Traceback" not in err and "Error:" not in err.split(":", 2)[-1][:30], err
        return
    _, y, v = expect
    assert code == 0, err
    got = json.loads(out)
    level = float(args[args.index("--level") + 1]) if "--level" in args else 0.95
    want = rma(y, v, level=level)
    for f in ("estimate", "se", "ci_low", "ci_high", "tau2", "Q", "k"):
        assert got[f] == pytest.approx(getattr(want, f), rel=1e-12, abs=1e-300), f


def test_the_suite_is_large_enough():
    kinds = [c[2][0] for c in CASES.values()]
    assert len(CASES) >= 35 and kinds.count("accept") >= 5 and kinds.count("reject") >= 30
