"""A case: one audit, a folder with ``evidence.toml`` at its root.

The library knows no article. Everything an audit has of its own (title, the
intervention's and control's names for figures, the claim-id pattern,
vocabulary added to the built-in lists, grading thresholds, which condition
maps to draw) is read here from the case's ``evidence.toml``, and every
command finds its case the same way: ``evidence --root DIR``, else the
``EVIDENCE_ROOT`` environment variable, else the nearest folder at or above
the working directory that holds ``evidence.toml``.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from evidence.errors import DataError, EvidenceError

CONFIG = "evidence.toml"
DEFAULT_CLAIM_ID = r"^[A-Za-z0-9_-]+$"

# grading thresholds a case may change; defaults and their sources are in
# docs/grading.md (and the grading module's docstring)
GRADING_DEFAULTS = {
    "i2_serious": 50.0,
    "ois_continuous": 400,
    "egger_min_k": 10,
    "egger_alpha": 0.10,
    "ratio_appreciable": 1.25,
    "rob_serious": 0.5,
    "rob_very_serious": 1.5,
}


@dataclass(frozen=True)
class ConditionMap:
    """One condition's evidence map: its analyses (by ``condition``) and context analyses named."""

    key: str  # figure id map_<key>
    condition: str  # the ``condition`` of its analyses in analyses.yaml
    title: str
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    root: Path
    title: str
    intervention: str = "intervention"
    control: str = "control"
    claim_id_pattern: str = DEFAULT_CLAIM_ID
    outcomes: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    grading: dict = field(default_factory=lambda: dict(GRADING_DEFAULTS))
    condition_maps: tuple[ConditionMap, ...] = ()

    @property
    def claim_id(self) -> re.Pattern:
        return re.compile(self.claim_id_pattern)

    @property
    def favours(self) -> tuple[str, str]:
        """The two ends of an effect axis: positive favours the intervention."""
        return f"Favours {self.control}", f"Favours {self.intervention}"

    @property
    def arms(self) -> str:
        """Label of an n column: 'n intervention/control'."""
        return f"{self.intervention}/{self.control}"


def find_root(start: Path | None = None) -> Path:
    """The case folder: ``EVIDENCE_ROOT`` if set, else the nearest ``evidence.toml`` upward."""
    env = os.environ.get("EVIDENCE_ROOT")
    if env:
        root = Path(env).resolve()
        if not (root / CONFIG).is_file():
            raise EvidenceError(f"EVIDENCE_ROOT={env}: no {CONFIG} there")
        return root
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG).is_file():
            return folder
    raise EvidenceError(f"no {CONFIG} in {here} or any folder above it: run the command inside "
                        f"a case folder, pass --root DIR, or create one with `evidence init DIR`")


def _strings(value, path, fld) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise DataError("must be a list of non-empty strings", file=path, field=fld)
    return tuple(value)


def load(root: Path) -> Case:
    """Read and check ``root/evidence.toml``; an error names the file and the key."""
    path = Path(root) / CONFIG
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EvidenceError(f"{path}: not found") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"not valid TOML: {exc}", file=path) from exc
    known = {"case", "vocabulary", "grading", "figures"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise DataError(f"unknown table(s) {unknown}", file=path, field=unknown[0])
    case = data.get("case", {})
    for key in ("title", "intervention", "control", "claim_id_pattern"):
        if key in case and not (isinstance(case[key], str) and case[key].strip()):
            raise DataError("must be a non-empty string", file=path, field=f"case.{key}")
    if "title" not in case:
        raise DataError("missing", file=path, field="case.title")
    extra = sorted(set(case) - {"title", "intervention", "control", "claim_id_pattern"})
    if extra:
        raise DataError("unknown key", file=path, field=f"case.{extra[0]}")
    pattern = case.get("claim_id_pattern", DEFAULT_CLAIM_ID)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise DataError(f"not a regular expression: {exc}", file=path,
                        field="case.claim_id_pattern") from exc
    vocab = data.get("vocabulary", {})
    extra = sorted(set(vocab) - {"outcomes", "conditions"})
    if extra:
        raise DataError("unknown key", file=path, field=f"vocabulary.{extra[0]}")
    grading = dict(GRADING_DEFAULTS)
    for key, value in data.get("grading", {}).items():
        if key not in GRADING_DEFAULTS:
            raise DataError(f"unknown threshold; one of {sorted(GRADING_DEFAULTS)}", file=path,
                            field=f"grading.{key}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise DataError("must be a positive number", file=path, field=f"grading.{key}")
        grading[key] = value
    maps = []
    for i, entry in enumerate(data.get("figures", {}).get("condition_map", []), start=1):
        fld = f"figures.condition_map[{i}]"
        if not isinstance(entry, dict) or not {"key", "condition", "title"} <= set(entry):
            raise DataError("needs key, condition and title", file=path, field=fld)
        if not re.fullmatch(r"[a-z0-9_]+", str(entry["key"])):
            raise DataError("key must be lower-case letters, digits and _", file=path,
                            field=f"{fld}.key")
        maps.append(ConditionMap(str(entry["key"]), str(entry["condition"]), str(entry["title"]),
                                 _strings(entry.get("context", []), path, f"{fld}.context")))
    if len({m.key for m in maps}) != len(maps):
        raise DataError("duplicate condition map key", file=path, field="figures.condition_map")
    return Case(root=Path(root).resolve(), title=case["title"].strip(),
                intervention=case.get("intervention", "intervention").strip(),
                control=case.get("control", "control").strip(), claim_id_pattern=pattern,
                outcomes=_strings(vocab.get("outcomes", []), path, "vocabulary.outcomes"),
                conditions=_strings(vocab.get("conditions", []), path, "vocabulary.conditions"),
                grading=grading, condition_maps=tuple(maps))


_chosen: Path | None = None
_loaded: dict[Path, Case] = {}


def use(root: str | os.PathLike | None) -> None:
    """Select the case folder for this process (``--root``); ``None``: find it from the environment."""
    global _chosen
    _chosen = None if root is None else Path(root).resolve()
    if _chosen is not None and not (_chosen / CONFIG).is_file():
        raise EvidenceError(f"--root {root}: no {CONFIG} there")


def root() -> Path:
    """The current case folder (cheap: a few ``stat`` calls, so a changed cwd or env is seen)."""
    return _chosen or find_root()


def current() -> Case:
    """The current case's configuration, read once per folder."""
    where = root()
    if where not in _loaded:
        _loaded[where] = load(where)
    return _loaded[where]
