"""Numbers as tables print them: ``0·45``, ``−1.2``, ``12.3 ± 4.5``, ``0.45 (0.30–0.60)``,
``[0.3; 0.6]``, ``<0.001``, ``12 (34%)``.

Parsed from the raw cell text, never through a transliteration (unidecode
turns ``0·45`` into ``0*45`` and ``χ²`` into ``kh2``). A cell whose text is
not one of these shapes gets no number: a value the cell does not give is
left empty, never guessed.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

# Characters that print as a minus, a range dash or a decimal point in journal typesetting.
_MINUS = "\u2212\u2010\u2011\ufe63\uff0d"
_DASH = "\u2013\u2014\u2012"
_SPACES = "\u00a0\u2009\u202f\u2007\u2002\u2003\u200a"
_MARKS = "*\u2020\u2021\u00a7\u00b6#\u2016"  # footnote marks printed inline: * † ‡ § ¶ # ‖

_NUM = r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)"
_SEP = r"(?:;|,|to|-|\u2013|\u2014|\.\.\.)"
_PCT = r"\s*%?"
_CI_PREFIX = r"(?:\d+\s*%\s*)?(?:CI|CrI|confidence interval)?\s*[:,]?\s*"
_OPEN, _CLOSE = r"[\(\[]\s*", r"\s*[\)\]]"

_RE_BOUND = re.compile(rf"^(?:p\s*)?(<=|>=|<|>|\u2264|\u2265)\s*({_NUM})({_PCT})$", re.I)
_RE_P = re.compile(rf"^p\s*(?:=|:)?\s*({_NUM})$", re.I)
_RE_PM = re.compile(rf"^({_NUM}){_PCT}\s*(?:\u00b1|\+/-|\+-)\s*({_NUM}){_PCT}$")
_RE_POINT_INTERVAL = re.compile(
    rf"^({_NUM})({_PCT})\s*{_OPEN}{_CI_PREFIX}({_NUM}){_PCT}\s*{_SEP}\s*({_NUM}){_PCT}{_CLOSE}$", re.I)
_RE_POINT_PAIR = re.compile(rf"^({_NUM})({_PCT})\s*{_OPEN}({_NUM})({_PCT}){_CLOSE}$")
_RE_RANGE = re.compile(rf"^(?:{_OPEN})?({_NUM}){_PCT}\s*(?:to|\u2013|\u2014|-|;)\s*({_NUM}){_PCT}"
                       rf"(?:{_CLOSE})?$")
_RE_COMMA_PAIR = re.compile(rf"^(?:{_OPEN})?({_NUM}){_PCT}\s*,\s*({_NUM}){_PCT}(?:{_CLOSE})?$")
_RE_SINGLE = re.compile(rf"^({_NUM})({_PCT})$|^\(\s*({_NUM})({_PCT})\s*\)$")
_THOUSANDS = re.compile(r"(?<![\d.])(\d{1,3})((?:,\d{3})+)(?![\d,])")
_MIDDOT = re.compile(r"(?<=\d)[\u00b7\u2027\u22c5](?=\d)")
_EMPTY = {"", "-", "--", "na", "n/a", "nr", "nd", "ne", "."}


@dataclass(frozen=True)
class Parsed:
    """What a cell says: a point ``value``, an interval or bound ``low``/``high``, a second
    statistic ``spread`` (SD, SE or percentage of ``a ± b``/``a (b)``) and the ``kind``."""

    value: float | None = None
    low: float | None = None
    high: float | None = None
    spread: float | None = None
    kind: str = ""


_TRANSLATE = str.maketrans({**{c: " " for c in _SPACES}, **{c: "-" for c in _MINUS}})


def normalise(text: str) -> str:
    """Typographic minus/dash/space/decimal variants to ASCII, inline footnote marks removed."""
    s = text.translate(_TRANSLATE)
    if "\u00b7" in s or "\u2027" in s or "\u22c5" in s:
        s = _MIDDOT.sub(".", s)
    s = s.strip().rstrip(_MARKS).strip()
    if "," in s:
        s = _THOUSANDS.sub(lambda m: m.group(1) + m.group(2).replace(",", ""), s)
    return " ".join(s.split())


@functools.lru_cache(maxsize=4096)  # a table's cells share few header contexts
def hints(context: str) -> frozenset[str]:
    """Statistic words in a header, row label or caption: mean, SD, SE, CI, n, %, p, median,
    range, IQR."""
    c = _ARM_SIZE.sub(" ", normalise(context))  # "Intervention (n = 23)" names the arm, not n
    found = set()
    for kind, pattern in _HINTS:
        if pattern.search(c):
            found.add(kind)
    return frozenset(found)


_ARM_SIZE = re.compile(r"\(?\s*\bn\s*=\s*\d+\s*\)?", re.I)
_HINTS = [
    ("mean", re.compile(r"\bmeans?\b|\bM\b|\badjusted\b", re.I)),
    ("SD", re.compile(r"\bSD\b|\bS\.D\.|standard deviation|\u00b1", re.I)),
    ("SE", re.compile(r"\bSEM?\b|standard error", re.I)),
    ("CI", re.compile(r"\bC[rI]\b|\bC\.\s?I\.|confidence interval", re.I)),
    ("n", re.compile(r"(?<![\w-])(?:n|no\.|number|count)(?![\w-])", re.I)),
    ("%", re.compile(r"%|percent", re.I)),
    ("p", re.compile(r"(?<![\w-])p(?:[- ]?values?)?(?![\w-])", re.I)),
    ("median", re.compile(r"\bmedian\b", re.I)),
    ("IQR", re.compile(r"\bIQR\b|interquartile", re.I)),
    ("range", re.compile(r"\brange\b", re.I)),
]


def parse(text: str, context: str = "") -> Parsed:
    """The numbers of one cell; ``context`` (header path, row label) names their statistic."""
    s = normalise(text)
    if s.lower() in _EMPTY:
        return Parsed()
    h = hints(context) if context else frozenset()
    m = _RE_SINGLE.match(s)  # the commonest shape first; no other pattern matches it
    if m:  # "12.3", "45%", or "(1.2)" alone in an SD column
        x, pct = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
        return Parsed(value=float(x), kind="%" if pct.strip() else _single(h))
    m = _RE_BOUND.match(s)
    if m:
        op, x = m.group(1), float(m.group(2))
        kind = "p" if ("p" in h or s[:1] in "pP") else "bound"
        return Parsed(low=x if op in (">", ">=", "\u2265") else None,
                      high=x if op in ("<", "<=", "\u2264") else None, kind=kind)
    m = _RE_P.match(s)
    if m:
        return Parsed(value=float(m.group(1)), kind="p")
    m = _RE_PM.match(s)
    if m:
        return Parsed(value=float(m.group(1)), spread=float(m.group(2)),
                      kind=_centre(h) + (", SE" if "SE" in h and "SD" not in h else ", SD"))
    m = _RE_POINT_INTERVAL.match(s)
    if m:
        kind = _interval(h, s)
        if kind in ("IQR", "range") and "median" in h:
            kind = f"median, {kind}"
        return Parsed(value=float(m.group(1)), low=float(m.group(3)), high=float(m.group(4)),
                      kind=kind)
    m = _RE_POINT_PAIR.match(s)
    if m:
        return _pair(float(m.group(1)), m.group(2), float(m.group(3)), m.group(4), h)
    m = _RE_RANGE.match(s)
    if m:
        return Parsed(low=float(m.group(1)), high=float(m.group(2)), kind=_interval(h, s))
    m = _RE_COMMA_PAIR.match(s)
    if m and h & {"CI", "IQR", "range"}:  # "29.7, 49.5" under a 95% CI header
        return Parsed(low=float(m.group(1)), high=float(m.group(2)), kind=_interval(h, s))
    return Parsed()


def _centre(h: frozenset[str]) -> str:
    return "median" if "median" in h and "mean" not in h else "mean"


def _interval(h: frozenset[str], s: str) -> str:
    if "CI" in h or re.search(r"\bC[rI]\b", s):
        return "CI"
    for k in ("IQR", "range"):
        if k in h:
            return k
    return "interval"


def _pair(a: float, a_pct: str, b: float, b_pct: str, h: frozenset[str]) -> Parsed:
    """``a (b)``: n (%), mean (SD) or mean (SE) as the header says; unnamed if it says none."""
    if b_pct.strip() or a_pct.strip() == "" and "%" in h and "SD" not in h and "SE" not in h:
        kind = "n, %"
    elif "SE" in h and "SD" not in h:
        kind = _centre(h) + ", SE"
    elif "SD" in h:
        kind = _centre(h) + ", SD"
    else:
        kind = "pair"  # the table does not say what the bracketed number is
    return Parsed(value=a, spread=b, kind=kind)


def _single(h: frozenset[str]) -> str:
    """A lone number's statistic, only when the header names exactly one."""
    named = h & {"mean", "SD", "SE", "n", "%", "p", "median"}
    return next(iter(named)) if len(named) == 1 else ""
