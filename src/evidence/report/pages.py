"""What each page says, as plain data for the templates (the site and the single file share it).

A claim page holds its verdict, card, Summary of Findings rows, downgrades,
sensitivity and every evidence row with its links; a condition page its
analyses and figures. Links are built by a ``Links`` object so the site (one
file per page) and the single file (anchors in one page) share this code.
"""

from __future__ import annotations

import datetime as dt
import inspect
import subprocess
from dataclasses import dataclass

import evidence
from evidence.report import inputs as inp
from evidence.report.inputs import Inputs, blank, slug, text

HOW_TO_READ = ("Each row is one claim of the article: the verdict says whether the evidence the "
               "article cites supports it, the certainty (GRADE: high, moderate, low, very low) how "
               "far that evidence can be trusted; open a claim for its card, its downgrades and "
               "every study result behind it, each linked to its source.")
CONDITION_NOTEBOOK_KEYS = {"context": ()}  # condition -> notebook name parts (default: itself)


@dataclass
class Links:
    """Where things are: per-page files (site) or anchors of one document (single)."""

    single: bool = False
    base: str = ""

    def claim(self, claim_id: str) -> str:
        return f"#claim-{slug(claim_id)}" if self.single else f"{self.base}claims/{slug(claim_id)}.html"

    def condition(self, key: str) -> str:
        return f"#condition-{slug(key)}" if self.single else f"{self.base}conditions/{slug(key)}.html"

    def data_row(self, table: str, anchor: str) -> str | None:
        """A row of a data table; the single file carries no data tables (None)."""
        return None if self.single else f"{self.base}data/{table}.html#{anchor}"

    def notebook(self, stem: str) -> str | None:
        return None if self.single else f"{self.base}notebooks/{stem}.html"


def table(rows: list[dict], key: str) -> dict:
    """Headers and formatted cells of the columns of ``inputs.TABLES[key]`` the rows hold."""
    present = {c for r in rows for c in r}
    cols = [(c, h) for c, h in inp.TABLES[key] if c in present]
    return {"headers": [h for _, h in cols],
            "rows": [[text(r.get(c), c) for c, _ in cols] for r in rows]}


def _verdict_row(inputs: Inputs, claim_id: str) -> dict:
    rows = inputs.rows_for("verdicts", claim_id)
    return rows[0] if rows else {}


def _estimate(row: dict, column: str = "yi") -> str:
    if blank(row.get(column)):
        return ""
    est = f"{text(row.get(column))} {text(row.get('measure'))}".strip()
    if not blank(row.get("ci_low")) and not blank(row.get("ci_high")):
        est += f" ({text(row['ci_low'])} to {text(row['ci_high'])})"
    return est


def evidence_rows(inputs: Inputs, analysis_id: str, links: Links) -> list[dict]:
    """Every effects row of an analysis with its effects, sheet, source and data-wanted links."""
    effects = inputs.tables["effects"].set_index("row_id", drop=False)
    studies = inputs.tables["studies"].set_index("study_id", drop=False)
    wanted = inputs.tables["wanted"]
    out = []
    for row_id in inputs.analysis_rows(analysis_id):
        if row_id not in effects.index:
            out.append({"row_id": row_id, "missing": True, "label": row_id})
            continue
        row = effects.loc[row_id].to_dict()
        study = studies.loc[row["study_id"]].to_dict() if row["study_id"] in studies.index else None
        estimable = str(row.get("estimable")).lower() == "true"
        wanted_hits = wanted[(wanted["study_id"] == row["study_id"])
                             & (wanted["outcome"] == row.get("outcome"))]
        out.append({
            "row_id": row_id, "missing": False, "label": text(row.get("label")),
            "what": ", ".join(text(row.get(c)) for c in ("outcome", "instrument", "timepoint")
                              if not blank(row.get(c))),
            "comparison": text(row.get("comparison")),
            "effect": _estimate(row) if estimable else "",
            "not_estimable": "" if estimable else text(row.get("not_estimable_reason")),
            "n": " / ".join(text(row.get(c), c) for c in ("n_int", "n_ctl")
                            if not blank(row.get(c))),
            "effects_href": links.data_row("effects", f"row-{slug(row_id)}"),
            "sheet_href": links.data_row("outcomes", f"row-{slug(row_id)}"),
            "sources": inp.source_links(study),
            "source_text": text(row.get("source")),
            "wanted": [{"needed": text(w["needed"]), "status": text(w["status"]),
                        "href": links.data_row("wanted", wanted_anchor(i))}
                       for i, w in wanted_hits.iterrows()] if not estimable else [],
        })
    return out


def wanted_anchor(index: int) -> str:
    """The anchor of a wanted.csv row: its number among the data rows (1 = first)."""
    return f"wanted-{int(index) + 1}"


def analysis_block(inputs: Inputs, analysis_id: str, links: Links, scope: str) -> dict:
    """An analysis and its rows as shown on the page of ``scope`` (a claim or condition)."""
    spec = inputs.analyses.get(analysis_id, {})
    stats = []
    frame = inputs.table("analyses")
    if frame is not None and "analysis_id" in frame.columns:
        stats = frame[frame["analysis_id"] == analysis_id].to_dict("records")
    anchor = f"{slug(scope)}-analysis-{slug(analysis_id)}"
    rows = evidence_rows(inputs, analysis_id, links)
    for row in rows:
        row["anchor"] = f"{anchor}-{slug(row['row_id'])}"
    return {"id": analysis_id, "anchor": anchor,
            "title": spec.get("title", analysis_id), "role": spec.get("evidence_role", ""),
            "notes": spec.get("notes", ""), "stats": table(stats, "analyses") if stats else None,
            "rows": rows,
            "condition": inp.condition_of(analysis_id)}


def figure(inputs: Inputs, fid: str) -> dict:
    hit = inputs.figures[inputs.figures["id"] == fid]
    rec = hit.iloc[0].to_dict() if len(hit) else {"id": fid, "title": fid, "caption": ""}
    return {"id": fid, "title": text(rec.get("title")), "caption": text(rec.get("caption")),
            "alt": text(rec.get("caption")) or text(rec.get("title"))}


def claim_page(inputs: Inputs, claim_id: str, links: Links) -> dict:
    claim = inputs.claims.get(claim_id, {})
    verdict = _verdict_row(inputs, claim_id)
    fig_ids = list(inputs.figures["id"])
    shown_elsewhere = {"claim_id", "kind", "reasons", "verdict", "certainty", "best_estimate", "ci_low",
                       "ci_high", "measure"}
    details = [("best estimate", _estimate(verdict, "best_estimate"))] if not blank(
        verdict.get("best_estimate")) else []
    details += [(c.replace("_", " "), text(v, c)) for c, v in verdict.items()
                if c not in shown_elsewhere and not blank(v)]
    sources = []
    studies = inputs.tables["studies"].set_index("study_id", drop=False)
    for sid in claim.get("sources") or []:
        study = studies.loc[sid].to_dict() if sid in studies.index else None
        sources.append({"id": sid, "title": text((study or {}).get("short_title")),
                        "links": inp.source_links(study),
                        "href": links.data_row("studies", f"study-{slug(sid)}") if study else None})
    return {
        "id": claim_id, "anchor": f"claim-{slug(claim_id)}", "text": claim.get("claim", ""),
        "section": claim.get("section", ""), "kind": claim.get("kind", ""),
        "notes": claim.get("notes", ""), "pico": claim.get("pico") or {},
        "verdict": text(verdict.get("verdict")), "certainty": text(verdict.get("certainty")),
        "details": details, "reasons": reasons(verdict.get("reasons")),
        "figures": [figure(inputs, f) for f in inp.claim_figures(claim_id, fig_ids)],
        "sof": table(inputs.rows_for("summary_of_findings", claim_id), "summary_of_findings"),
        "downgrades": table(inputs.rows_for("downgrades", claim_id), "downgrades"),
        "sensitivity": table(inputs.rows_for("sensitivity", claim_id), "sensitivity"),
        "analyses": [analysis_block(inputs, a, links, claim_id)
                     for a in inputs.claim_analyses(claim_id)],
        "sources": sources,
    }


def reasons(value) -> list[list[str]]:
    """A verdict's reasons: items split on '; ', each item's steps on ' / '."""
    if blank(value):
        return []
    return [[s.strip() for s in item.split(" / ")] for item in str(value).split("; ") if item.strip()]


def condition_page(inputs: Inputs, key: str, links: Links) -> dict:
    ids = [a for a in inputs.analyses if inp.condition_of(a) == key]
    conditions = sorted({str(inputs.analyses[a].get("condition", "")) for a in ids} - {""})
    claims = [c for c in inputs.claims if set(inputs.claim_analyses(c)) & set(ids)]
    parts = CONDITION_NOTEBOOK_KEYS.get(key, (key,))
    nbs = [p.stem for p in inputs.notebooks if any(part in p.stem for part in parts)]
    title = ", ".join(conditions) or key
    title = title[:1].upper() + title[1:]
    if all(inputs.analyses[a].get("evidence_role") == "context" for a in ids):
        title = f"Context, not cited by the article: {title[:1].lower() + title[1:]}"
    return {"key": key, "anchor": f"condition-{slug(key)}", "title": title,
            "analyses": [analysis_block(inputs, a, links, key) for a in ids],
            "figures": [figure(inputs, f) for f in inp.condition_figures(key, list(inputs.figures["id"]))],
            "claims": [(c, links.claim(c)) for c in claims],
            "notebooks": [(n, links.notebook(n)) for n in nbs]}


def landing(inputs: Inputs, links: Links) -> dict:
    """The verdict table, one row per claim: its most direct Summary of Findings row where the
    grading wrote them (the others are on the claim's page), else the verdict."""
    sof = inputs.table("summary_of_findings")
    rows = []
    for cid in sorted(inputs.claims):
        verdict = _verdict_row(inputs, cid)
        base = {"id": cid, "href": links.claim(cid), "claim": inputs.claims[cid].get("claim", ""),
                "verdict": text(verdict.get("verdict")), "certainty": text(verdict.get("certainty"))}
        sof_rows = inputs.rows_for("summary_of_findings", cid) if sof is not None else []
        if sof_rows:  # the most direct row here; every row on the claim's page
            more = len(sof_rows) - 1
            for r in sof_rows[:1]:
                rows.append({**base, "outcome": text(r.get("outcome"))
                             + (f" (+{more} more on the claim page)" if more else ""),
                             "effect": text(r.get("effect_text")) or _estimate(r, "effect"),
                             "n": _n(r.get("participants"), r.get("studies")),
                             "symbols": text(r.get("certainty_symbols")),
                             "certainty": text(r.get("certainty")) or base["certainty"],
                             # on the landing page the domains only (the full footnotes,
                             # with their statistics, are on the claim's page)
                             "footnotes": ", ".join(
                                 f"{d['domain']} \u2212{int(float(d['levels']))}"
                                 for d in inputs.rows_for("downgrades", cid)
                                 if d.get("analysis_id") == r.get("analysis_id"))})
        else:
            rows.append({**base, "outcome": "", "footnotes": "",
                         "effect": _estimate(verdict, "best_estimate"),
                         "n": _n(verdict.get("n_participants"), verdict.get("n_studies")),
                         "symbols": ""})
    sens = inputs.table("sensitivity") is not None
    for r in rows:
        r["moves"] = _moves(inputs.rows_for("sensitivity", r["id"])) if sens else ""
    figs = placed_figures(inputs)
    summary = [figure(inputs, f) for f in inputs.figures["id"] if f not in figs]
    return {"rows": rows, "has_sof": sof is not None, "has_sensitivity": sens,
            "summary_figures": summary}


def _moves(rows: list[dict]) -> str:
    """'moves under 1 of 5 rule variants' from verdict_sensitivity.csv's ``moved`` column."""
    if not rows:
        return ""
    moved = sum(str(r.get("moved")).strip().lower() in ("true", "1", "yes") for r in rows)
    return f"{moved} of {len(rows)}"


def _n(participants, studies) -> str:
    if blank(participants) and blank(studies):
        return ""
    p = text(participants, "participants") or "?"
    return f"{p} ({text(studies, 'studies') or '?'})"


def placed_figures(inputs: Inputs) -> set[str]:
    """Figures that a claim or condition page shows; the rest go on the landing page."""
    ids = list(inputs.figures["id"])
    placed = {f for c in inputs.claims for f in inp.claim_figures(c, ids)}
    return placed | {f for k in inputs.conditions() for f in inp.condition_figures(k, ids)}


def methods(inputs: Inputs) -> dict:
    import mistune

    from evidence import grading

    specs = [{"id": a, "title": s.get("title", a), "method": s.get("method", "REML"),
              "test": s.get("test", "knha"), "pool": s.get("pool", True),
              "role": s.get("evidence_role", "")} for a, s in inputs.analyses.items()]
    frame = inputs.table("analyses")
    return {"grading": mistune.html(inspect.getdoc(grading) or ""), "specs": specs,
            "stats": table(frame.to_dict("records"), "analyses") if frame is not None else None,
            "simulation": [n.stem for n in inputs.notebooks if "small_k" in n.stem]}


def stamp(inputs: Inputs) -> dict:
    """Version, commit, build date and the hash of every input file."""
    try:
        commit = subprocess.run(["git", "-C", str(inputs.root), "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(inputs.root), "status", "--porcelain", "--",
                                "src", "data", "figures", "notebooks"],
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown (not a git checkout)"
    return {"version": evidence.__version__, "commit": commit,
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "inputs_sha256": inputs.input_hash(), "n_inputs": len(inputs.files)}
