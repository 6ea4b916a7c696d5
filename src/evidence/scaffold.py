"""``evidence init DIR``: a new case folder, ready to fill and run.

Writes ``evidence.toml``, the curated files with their headers (and one
commented example where the format allows comments), the generic notebooks
(overview, records, extraction, claim verdicts) and a Makefile with the two
commands. Nothing is overwritten: an existing ``evidence.toml`` is an error.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from evidence import atomic
from evidence.effects.schema import OUTCOME_COLUMNS, STUDY_COLUMNS
from evidence.errors import EvidenceError

WANTED_COLUMNS = ("study_id", "outcome", "needed", "where_in_paper", "searched", "status")

TOML = """\
# The case: one audit of one article. Read by every `evidence` command run in
# this folder (or given --root / EVIDENCE_ROOT). See the README of evidence.

[case]
title = "{title}"
intervention = "{intervention}"    # the words figures and tables use ("Favours ...")
control = "{control}"
# claim_id_pattern = '^C\\d{{2}}$'  # default: letters, digits, - and _

[vocabulary]  # added to the built-in lists (evidence.vocabulary)
outcomes = []
conditions = []

[grading]  # thresholds; defaults (with their sources) in docs/grading.md
# i2_serious = 50.0
# ois_continuous = 400

# One evidence map per condition of the analyses:
# [[figures.condition_map]]
# key = "asthma"            # figure id map_asthma
# condition = "asthma"      # the `condition` of its analyses in data/analyses.yaml
# title = "Asthma"
# context = []              # ids of context analyses drawn beside it
"""

CLAIMS = """\
# The article's claims, in our own words (never copied), one entry per claim.
# Read by `evidence grade`; see docs/contracts.md (Grading) for every field.
#
# - id: C01
#   section: Benefits
#   kind: efficacy                 # efficacy | safety | mechanism | advice (a list when several)
#   claim: The intervention may ease chronic pain.
#   hedged: true                   # worded as a possibility ("may")
#   sources: [smith2020]           # study_ids of data/extraction/studies.csv
#   pico:
#     population: adults with chronic pain
#     conditions: [chronic pain]   # trial conditions that count as the claim's population
#     intervention: the intervention
#     comparator: no treatment
#     comparator_type: no treatment   # no treatment | usual care | waitlist | any
#     outcome: pain
#     outcomes: [pain]
#   analyses: [pain_post]          # ids of data/analyses.yaml
[]
"""

ANALYSES = """\
# Which rows of data/derived/effects.csv are analysed together, and how.
# Read by `evidence analyse`; see docs/contracts.md.
#
# - id: pain_post
#   title: Chronic pain, end of treatment
#   condition: chronic pain
#   outcome: pain
#   measure: SMD                   # of the estimable rows: SMD, MD, logOR, logRR
#   evidence_role: cited           # cited | included_in_cited_review | context
#   rows: [smith2020-pain-post]    # row_ids of outcomes.csv
#   method: REML                   # tau² estimator (EE, DL, REML, PM, ML, SJ, HE)
#   test: knha                     # knha (Hartung-Knapp) or z
[]
"""

# The generic SMD threshold, a sourced value every case may keep or replace.
MIDS = (
    "outcome,instrument,measure,mid,source,notes\n"
    'any,any,SMD,0.5,"Norman GR, Sloan JA, Wyrwich KW. Interpretation of changes in '
    "health-related quality of life: the remarkable universality of half a standard deviation. "
    'Med Care 2003;41(5):582-592. doi:10.1097/01.MLR.0000062554.74615.4C","Generic MID for '
    'standardised mean differences (distribution-based rule of thumb). Replace or add '
    'outcome-specific anchors with their sources."\n'
)

MAKEFILE = """\
# The two commands of this case. `evidence` must be installed (pip install evidence).
EVIDENCE ?= evidence

.PHONY: reproduce test
reproduce:
\t$(EVIDENCE) fetch
\t$(EVIDENCE) extract
\t$(EVIDENCE) analyse
\t$(EVIDENCE) grade
\t$(EVIDENCE) figures
\t$(EVIDENCE) report --execute

test:
\tpython -m pytest --nbval --nbval-current-env notebooks/
"""

GITIGNORE = "data/pubmed/cache/\nreports/\n.ipynb_checkpoints/\n"

# (name, [(cell type, source)]): thin narrative over package calls
NOTEBOOKS = {
    "00_overview.ipynb": [
        ("markdown", "# Overview\n\nWhat this case audits, and the claims it grades."),
        ("code", "from evidence import case\nfrom evidence.claims import load_claims\n\n"
                 "print(case.current().title)\nclaims = load_claims()\n"
                 "for c in claims:\n    print(f\"{c.id}: {c.claim}\")"),
    ],
    "01_records.ipynb": [
        ("markdown", "# PubMed records\n\nThe offline snapshot every step reads "
                     "(`data/pubmed/records.jsonl`)."),
        ("code", "from evidence import paths\nfrom evidence.pubmed.snapshot import load_snapshot\n\n"
                 "records = load_snapshot(paths.RECORDS)\n"
                 "for r in records:\n    print(r.pmid, r.year, r.title)\n"
                 "print(len(records), 'records')"),
    ],
    "02_extraction.ipynb": [
        ("markdown", "# Extraction and effects\n\nEvery outcome row, estimable or not, "
                     "with its source (`data/derived/effects.csv`)."),
        ("code", "import pandas as pd\n\nfrom evidence import paths, tables\n\n"
                 "effects = pd.read_csv(paths.EFFECTS)\ntables.effects_table(effects)"),
    ],
    "20_claim_verdicts.ipynb": [
        ("markdown", "# Claim verdicts\n\nEach claim's verdict and certainty "
                     "(`data/derived/claims_verdicts.csv`), and every downgrade behind it "
                     "(`data/derived/downgrades.csv`)."),
        ("code", "import pandas as pd\n\nfrom evidence import paths, tables\n\n"
                 "verdicts = tables.read_verdicts()\ntables.verdicts_table(verdicts)"),
        ("code", "pd.read_csv(paths.DOWNGRADES)"),
    ],
}


def _notebook(cells) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "markdown"
                else nbformat.v4.new_code_cell(src) for kind, src in cells]
    return nbformat.writes(nb)


def files(title: str, intervention: str, control: str) -> dict[str, str]:
    """Relative path -> text of every file of a new case."""
    out = {
        "evidence.toml": TOML.format(title=title.replace('"', "'"), intervention=intervention,
                                     control=control),
        "data/claims.yaml": CLAIMS,
        "data/analyses.yaml": ANALYSES,
        "data/mids.csv": MIDS,
        "data/extraction/studies.csv": ",".join(STUDY_COLUMNS) + "\n",
        "data/extraction/outcomes.csv": ",".join(OUTCOME_COLUMNS) + "\n",
        "data/extraction/wanted.csv": ",".join(WANTED_COLUMNS) + "\n",
        "data/pubmed/records.jsonl": "",
        "Makefile": MAKEFILE,
        ".gitignore": GITIGNORE,
    }
    out.update({f"notebooks/{name}": _notebook(cells) for name, cells in NOTEBOOKS.items()})
    return out


def init(folder: Path, title: str, intervention: str, control: str) -> list[Path]:
    folder = Path(folder)
    if (folder / "evidence.toml").exists():
        raise EvidenceError(f"{folder / 'evidence.toml'} exists: {folder} is already a case")
    todo = {folder / rel: text for rel, text in files(title, intervention, control).items()}
    clash = [p for p in todo if p.exists()]
    if clash:  # checked before anything is written: no half-made case
        raise EvidenceError(f"{clash[0]} exists: init writes only into a new or empty case folder")
    written = []
    for path, text in todo.items():
        atomic.write_text(path, text)
        written.append(path)
    for sub in ("data/derived", "figures", "reports"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return written


def add_arguments(parser) -> None:
    parser.add_argument("folder", type=Path, help="the new case folder (created if absent)")
    parser.add_argument("--title", default="An audit of a health article's claims",
                        help="the case's title (report, captions)")
    parser.add_argument("--intervention", default="intervention",
                        help="the intervention's name in figures and tables")
    parser.add_argument("--control", default="control", help="the control's name")


def run(args) -> int:
    written = init(args.folder, args.title, args.intervention, args.control)
    print(f"created case {args.folder} ({len(written)} files); next: fill data/extraction/ and "
          f"data/claims.yaml, then `make reproduce` there")
    return 0
