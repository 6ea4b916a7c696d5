"""The article's claims (``data/claims.yaml``): read, checked and returned as records.

The one reader of the claims file. Ids follow the case's ``claim_id_pattern``
(``evidence.toml``); a claim's sources are study ids of ``studies.csv`` (web
pages among them, recognised by ``design = "web page"``) or PMIDs of the
snapshot; its analyses are ids of ``analyses.yaml``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from evidence import case, paths, vocabulary
from evidence.curated import line_of, read_yaml_list
from evidence.errors import DataError

KINDS = ("efficacy", "safety", "mechanism", "advice")
KEYS = {"id", "section", "kind", "claim", "hedged", "strength", "strength_phrase", "sources",
        "pico", "analyses", "relevance", "notes"}
# GRADE 26 (Santesso et al., J Clin Epidemiol 2020;119:126): how strongly a statement is
# worded, and the certainty that wording needs (levels 4 high .. 1 very low). A usage or
# mechanism statement implies an effect without stating its size: read at the "may" level.
STRENGTHS = {"states": 4, "probably": 3, "may": 2, "very uncertain": 1, "usage or mechanism": 2}
RELEVANCE = ("direct", "other population", "other outcome", "other comparator")
PICO_KEYS = ("population", "intervention", "comparator", "outcome")


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    kinds: tuple[str, ...]
    claim: str
    sources: tuple[str, ...]
    pico: dict
    analyses: tuple[str, ...]
    hedged: bool = False
    strength: str = "states"
    strength_phrase: str = ""
    relevance: dict = field(default_factory=dict)  # analysis_id -> {relevance, reason}

    @property
    def required_level(self) -> int:
        """The certainty level (4 high .. 1 very low) the wording asserts (GRADE 26)."""
        return STRENGTHS[self.strength]


def load_claims(path=None, known_sources=None, known_analyses=None) -> list[Claim]:
    """Read and check the claims file; a bad entry raises DataError naming claim and field.

    ``known_sources`` / ``known_analyses`` (sets) switch on the cross-checks.
    """
    path = Path(path or paths.CLAIMS)
    pattern = case.current().claim_id
    entries = read_yaml_list(path, "claims")
    claims, seen = [], set()
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise DataError("each claim must be a mapping", file=path, row=i)
        cid = entry.get("id")

        def bad(msg, fld, entry=entry, cid=cid, i=i):
            top, _, sub = fld.partition(".")
            inner = entry.get(top) if sub else None
            line = (line_of(inner, sub) if isinstance(inner, dict) else None) or line_of(entry, top)
            where = f"{line or i} ({cid})" if isinstance(cid, str) else str(line or i)
            return DataError(msg, file=path, row=where, field=fld)

        if not isinstance(cid, str) or not pattern.search(cid):
            raise bad(f"claim id {cid!r} does not match the case's claim_id_pattern "
                      f"{pattern.pattern!r} (evidence.toml)", "id")
        if cid in seen:
            raise bad(f"duplicate claim id {cid}", "id")
        seen.add(cid)
        unknown = sorted(set(entry) - KEYS)
        if unknown:
            raise bad(f"unknown keys {unknown}", unknown[0])
        for key in ("section", "kind", "claim", "pico"):
            if entry.get(key) in (None, "", []):
                raise bad("missing", key)
        for key in ("section", "claim", "notes"):
            if key in entry and not isinstance(entry[key], str):
                raise bad(f"must be text, not {_kind(entry[key])}", key)
        if not isinstance(entry.get("hedged", False), bool):
            raise bad(f"must be true or false, not {entry['hedged']!r}", "hedged")
        # `hedged` is the field before the strength ladder; read for one release
        strength = entry.get("strength", "may" if entry.get("hedged") else "states")
        if not isinstance(strength, str) or strength not in STRENGTHS:
            raise bad(f"unknown strength {strength!r}; one of {list(STRENGTHS)}", "strength")
        phrase = entry.get("strength_phrase", "")
        if not isinstance(phrase, str):
            raise bad("must be text (the article's words the strength rests on)", "strength_phrase")
        overrides = entry.get("relevance") or {}
        if not isinstance(overrides, dict):
            raise bad("must map analysis ids to {relevance, reason}", "relevance")
        for aid, o in overrides.items():
            if not isinstance(o, dict) or o.get("relevance") not in RELEVANCE:
                raise bad(f"{aid}: relevance must be one of {list(RELEVANCE)}", "relevance")
            if not isinstance(o.get("reason"), str) or not o["reason"].strip():
                raise bad(f"{aid}: an override must give its reason", "relevance")
            if known_analyses is not None and aid not in known_analyses:
                raise bad(f"analysis {aid!r} is not among the analyses", "relevance")
        kinds = entry["kind"] if isinstance(entry["kind"], list) else [entry["kind"]]
        for kind in kinds:
            if not isinstance(kind, str):
                raise bad(f"must be text or a list of text, not {_kind(kind)}", "kind")
            if kind not in KINDS:
                raise bad(f"unknown kind {kind!r}; one of {sorted(KINDS)}", "kind")
        pico = entry["pico"]
        if not isinstance(pico, dict):
            raise bad("pico must be a mapping", "pico")
        for key in PICO_KEYS:
            if not pico.get(key):
                raise bad("missing", f"pico.{key}")
        for key in (*PICO_KEYS, "comparator_type"):
            if key in pico and not isinstance(pico[key], str):
                raise bad(f"must be text, not {_kind(pico[key])}", f"pico.{key}")
        if pico.get("comparator_type", "any") not in vocabulary.CLAIM_COMPARATORS:
            raise bad(f"unknown comparator_type {pico.get('comparator_type')!r}; "
                      f"one of {sorted(vocabulary.CLAIM_COMPARATORS)}", "pico.comparator_type")
        sources = entry.get("sources") or []
        analyses = entry.get("analyses") or []
        for fld, values in (("sources", sources), ("analyses", analyses),
                            ("pico.conditions", pico.get("conditions", [])),
                            ("pico.outcomes", pico.get("outcomes", []))):
            if not isinstance(values, list) or not all(
                    isinstance(v, str | int) and not isinstance(v, bool) for v in values):
                raise bad(f"must be a list of ids, not {_kind(values)}", fld)
        if known_sources is not None:
            for src in sources:
                if str(src) not in known_sources:
                    raise bad(f"source {src!r} is neither in studies.csv nor in the PubMed "
                              f"snapshot", "sources")
        if known_analyses is not None:
            for aid in analyses:
                if aid not in known_analyses:
                    raise bad(f"analysis {aid!r} is not among the analyses", "analyses")
        claims.append(Claim(id=cid, section=entry["section"], kinds=tuple(kinds),
                            claim=entry["claim"], sources=tuple(str(s) for s in sources),
                            pico=dict(pico), analyses=tuple(analyses),
                            hedged=strength in ("may", "very uncertain"), strength=strength,
                            strength_phrase=phrase, relevance=dict(overrides)))
    return claims


def _kind(value) -> str:
    """What a YAML value is, for an error: 'a mapping', 'the text "x"', 'True'."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value!r}"
    return repr(value)


def _studies(studies) -> list[dict]:
    from evidence.effects.schema import load_studies

    return load_studies(studies)


def known_sources(studies=None, records=None) -> set[str]:
    """Source keys a claim may cite: study ids of studies.csv and snapshot PMIDs (bare or ``pmid:``)."""
    studies, records = Path(studies or paths.STUDIES), Path(records or paths.RECORDS)
    keys = {r["study_id"] for r in _studies(studies)} if studies.exists() else set()
    if records.exists():
        for line in records.read_text(encoding="utf-8").splitlines():
            if line.strip():
                pmid = str(json.loads(line)["pmid"])
                keys |= {pmid, f"pmid:{pmid}"}
    return keys


def web_pages(studies=None) -> set[str]:
    """Study ids of the cited web pages (``design = "web page"`` in studies.csv): no study data."""
    studies = Path(studies or paths.STUDIES)
    if not studies.exists():
        return set()
    return {r["study_id"] for r in _studies(studies) if r["design"] == vocabulary.WEB_PAGE}
