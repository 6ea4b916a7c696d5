"""Reading the curated YAML files (analyses, claims): one strict loader, one set of errors.

PyYAML's ``safe_load`` lets the last of two equal keys win silently and
expands aliases (a 13.7 KB file of nested aliases grows to gigabytes when
walked). Curated files need neither, so this loader refuses duplicate keys,
anchors, aliases and merge keys, and every error names the file, the line
and the column. Mappings come back as ``Located`` dicts that remember the
line of each key, so a checker can say where a bad field is.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from evidence.errors import DataError

MAX_BYTES = 2 * 1024 * 1024  # a curated file is a few hundred lines; refuse anything huge


class Located(dict):
    """A YAML mapping with its line (1-based) and the line of each key."""

    line: int = 0
    key_lines: dict

    def line_of(self, key) -> int:
        return getattr(self, "key_lines", {}).get(key, self.line)


MAX_DEPTH = 50  # nesting a curated file never needs; deeper is refused before recursion fails


class _Refused(yaml.MarkedYAMLError):
    def __init__(self, problem, mark, field=None):
        super().__init__(problem=problem, problem_mark=mark)
        self.field = field


class _Loader(yaml.SafeLoader):
    """SafeLoader without anchors, aliases, merge keys or duplicate keys."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"alias *{event.anchor} not allowed in a curated file "
                           "(write the value out)", event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise _Refused(f"anchor &{event.anchor} not allowed in a curated file",
                           event.start_mark)
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_map(loader: _Loader, node: yaml.MappingNode):
    data = Located()
    data.line, data.key_lines = node.start_mark.line + 1, {}
    yield data
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            raise _Refused("merge key '<<' not allowed in a curated file", key_node.start_mark)
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int) or isinstance(key, bool):
            raise _Refused(f"a key must be text, not {type(key).__name__}", key_node.start_mark)
        if key in data:
            raise _Refused(f"duplicate key {key!r} (first on line {data.key_lines[key]}; "
                           "the second would silently win)", key_node.start_mark, field=key)
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = key_node.start_mark.line + 1


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def load_yaml(path: Path):
    """The document in ``path``, strictly parsed; any problem raises DataError with file and line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise DataError("file not found", file=path) from exc
    if len(raw) > MAX_BYTES:
        raise DataError(f"{len(raw)} bytes: larger than the {MAX_BYTES} a curated file may be",
                        file=path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataError(f"not UTF-8 text (byte {exc.start}: {exc.reason})", file=path,
                        row=line) from exc
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid YAML"
        if mark is None:
            raise DataError(f"not valid YAML: {problem}", file=path) from exc
        raise DataError(f"{problem} (line {mark.line + 1}, column {mark.column + 1})",
                        file=path, row=mark.line + 1, field=getattr(exc, "field", None)) from exc
    except yaml.YAMLError as exc:
        raise DataError(f"not valid YAML: {exc}", file=path) from exc


def read_yaml_list(path: Path, what: str) -> list:
    """The list a curated YAML file holds; a missing file or another shape names the file."""
    entries = load_yaml(path)
    if not isinstance(entries, list):
        raise DataError(f"expected a list of {what}", file=path, row=1)
    return entries


def line_of(entry, key=None) -> int | None:
    """The line of ``key`` in a loaded mapping (of the mapping itself without a key)."""
    if not isinstance(entry, Located):
        return None
    return entry.line if key is None else entry.line_of(key)
