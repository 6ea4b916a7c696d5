"""Every cell of every table in a JATS article, with a locator back to the cell.

Tables are found anywhere in the article (body, back, floats-group,
table-wrap-group, alternatives, several ``<table>`` in one wrap, a table
outside any wrap); rows anywhere in a table (thead/tbody/tfoot or bare
``<tr>``). Row and column spans are laid out on a grid so each cell gets the
printed position of its top-left corner and the path of the headers above it
("Intervention / Mean"). Each XML cell gives exactly one row; its ``xpath``
(lxml's ``getpath``) selects that cell in the file that was parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from evidence.fulltext.numbers import parse
from evidence.pubmed.parser import _syntax_error, check_doctype, refuse_entity_refs

# As the record parser: no entity expansion, no network, no DTD, no huge-tree mode.
_SAFE = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}

COLUMNS = ("pmcid", "table_id", "label", "caption", "row", "col", "header_path", "row_label",
           "text", "value", "low", "high", "kind", "footnotes", "xpath")
_PMC_ID_TYPES = ("pmc", "pmcid", "pmcaid")
_MARK = re.compile(r"^[a-zA-Z*\u2020\u2021\u00a7\u00b6#\u2016,\s]{1,4}$")


@dataclass
class Cell:
    """One ``<td>``/``<th>`` placed on its table's grid (1-based row and column)."""

    el: object
    row: int
    col: int
    rowspan: int
    colspan: int
    header: bool  # in <thead>, or in a leading all-<th> row of a table without <thead>
    section: str  # thead, tbody, tfoot or table (bare <tr>)


def parse_document(data: bytes, name: str = "<xml>"):
    """The root of a JATS document, parsed safely (no DTD, no entities, no network), then
    checked as the record parser checks its input: no internal subset declaring entities or
    elements, no unresolved entity reference (whatever the encoding or the DOCTYPE's place)."""
    etree.clear_error_log()
    try:
        tree = etree.fromstring(data, etree.XMLParser(**_SAFE)).getroottree()
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, name) from exc
    check_doctype(tree, name)
    refuse_entity_refs(tree.getroot(), name)
    return tree


def articles(tree) -> list:
    """The articles of a document: the root ``<article>``, or each one of a ``<pmc-articleset>``."""
    root = tree.getroot()
    if _local(root) == "article":
        return [root]
    return [el for el in root if isinstance(el.tag, str) and _local(el) == "article"]


def pmcid_of(article) -> str:
    """``PMC`` + digits from the article's own ``article-meta`` ids ('' when it has none)."""
    for el in article.iter("{*}article-id"):
        if el.get("pub-id-type") in _PMC_ID_TYPES and _front(el, article):
            digits = "".join(ch for ch in (el.text or "") if ch.isdigit())
            if digits:
                return f"PMC{digits}"
    return ""


def has_body(article) -> bool:
    """False for PMC's metadata-only answer (article outside the open-access subset)."""
    return next((True for el in article if isinstance(el.tag, str) and _local(el) == "body"),
                False)


def _front(el, article) -> bool:
    p = el.getparent()
    while p is not None and p is not article:
        if _local(p) in ("sub-article", "ref-list", "related-article"):
            return False
        p = p.getparent()
    return True


def _local(el) -> str:
    tag = el.tag
    return tag[tag.rfind("}") + 1:] if isinstance(tag, str) else ""


def text_of(el, *, drop_marks: bool = False) -> str:
    """Printed text with whitespace collapsed; ``drop_marks`` leaves out footnote links
    (``<xref>``) and superscript letters or symbols, keeping numeric superscripts."""
    if len(el) == 0:
        return " ".join((el.text or "").split())
    if not drop_marks:
        return " ".join("".join(el.itertext()).split())
    parts: list[str] = []
    _walk(el, parts)
    return " ".join("".join(parts).split())


def block_text(el) -> str:
    """Text of a block with block children (caption: title + p; fn: label + p) kept apart."""
    kids = [c for c in el if isinstance(c.tag, str)]
    if not kids or not all(_local(c) in _BLOCKS for c in kids):
        return text_of(el)
    return " ".join(t for t in (text_of(c) for c in kids) if t)


_BLOCKS = {"title", "p", "label", "list", "def-list", "disp-quote", "fn"}


def _walk(el, parts: list[str]) -> None:
    if el.text:
        parts.append(el.text)
    for child in el:
        if isinstance(child.tag, str):
            name = _local(child)
            inner = "".join(child.itertext())
            if not (name == "xref" or (name == "sup" and _MARK.match(inner or ""))):
                _walk(child, parts)
        if child.tail:
            parts.append(child.tail)


def grid(table) -> tuple[list[Cell], int]:
    """The table's cells placed with their spans, and the number of columns."""
    taken: set[tuple[int, int]] = set()
    cells: list[Cell] = []
    r = 0
    saw_body = False
    has_thead = any(_local(p) == "thead" for p in table.iter("{*}thead"))
    for tr in table.iter("{*}tr"):
        section = _local(tr.getparent())
        if _nearest_table(tr) is not table:
            continue  # a table nested inside a cell is laid out on its own
        r += 1
        c = 1
        row_cells = [el for el in tr if isinstance(el.tag, str) and _local(el) in ("td", "th")]
        all_th = bool(row_cells) and all(_local(el) == "th" for el in row_cells)
        is_header = section == "thead" or (not has_thead and not saw_body and all_th)
        saw_body = saw_body or not is_header
        for el in row_cells:
            while (r, c) in taken:
                c += 1
            rs, cs = _span(el, "rowspan"), _span(el, "colspan")
            for dr in range(rs):
                for dc in range(cs):
                    taken.add((r + dr, c + dc))
            cells.append(Cell(el, r, c, rs, cs, is_header, section))
            c += cs
    ncols = max((c for _r, c in taken), default=0)
    return cells, ncols


def _nearest_table(el):
    p = el.getparent()
    while p is not None and _local(p) != "table":
        p = p.getparent()
    return p


def _span(el, attr: str) -> int:
    try:
        return max(1, int(el.get(attr, "1")))
    except ValueError:
        return 1


def _footnotes(wrap) -> dict[str, str]:
    """Footnote id -> text, from the wrap's ``<table-wrap-foot>``."""
    out = {}
    if wrap is None:
        return out
    for fn in wrap.iter("{*}fn", "{*}target", "{*}p"):
        fid = fn.get("id")
        if fid and fid not in out:
            out[fid] = block_text(fn)
    return out


def _wrap_of(table):
    p = table.getparent()
    while p is not None and _local(p) not in ("table-wrap", "article", "sub-article"):
        p = p.getparent()
    return p if p is not None and _local(p) == "table-wrap" else None


def iter_cells(tree, default_pmcid: str = "") -> Iterator[dict]:
    """One dict (keys ``COLUMNS``) per table cell of every article in ``tree``
    (``default_pmcid`` for an article that carries no PMC id)."""
    for article in articles(tree):
        pmcid = pmcid_of(article) or default_pmcid
        per_wrap: dict[int, int] = {}
        loose = 0
        for table in article.iter("{*}table"):
            wrap = _wrap_of(table)
            if wrap is not None:
                k = per_wrap[id(wrap)] = per_wrap.get(id(wrap), 0) + 1
                n_in_wrap = sum(1 for t in wrap.iter("{*}table") if _wrap_of(t) is wrap)
                wid = wrap.get("id") or f"wrap{len(per_wrap)}"
                table_id = wid if n_in_wrap == 1 else f"{wid}#{k}"
                label = text_of(wrap.find("{*}label")) if wrap.find("{*}label") is not None else ""
                cap = wrap.find("{*}caption")
                caption = block_text(cap) if cap is not None else ""
            else:
                loose += 1
                table_id, label, caption = table.get("id") or f"table{loose}", "", ""
            yield from _table_rows(tree, table, pmcid, table_id, label, caption,
                                   _footnotes(wrap))


def _table_rows(tree, table, pmcid, table_id, label, caption, notes) -> Iterator[dict]:
    cells, ncols = grid(table)
    header_at: dict[tuple[int, int], str] = {}  # (row, col) -> header text covering it
    header_rows: set[int] = set()
    for cell in cells:
        if cell.header:
            t = text_of(cell.el, drop_marks=True)
            header_rows.update(range(cell.row, cell.row + cell.rowspan))
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    header_at[(cell.row + dr, cell.col + dc)] = t
    by_row: dict[int, list[Cell]] = {}
    for cell in cells:
        by_row.setdefault(cell.row, []).append(cell)
    spanning: dict[tuple[int, int], Cell] = {}  # a row-spanned stub cell seen from lower rows
    for cell in cells:
        for dr in range(cell.rowspan):
            for dc in range(cell.colspan):
                spanning[(cell.row + dr, cell.col + dc)] = cell
    subgroup = ""
    for r in sorted(by_row):
        row = by_row[r]
        texts = {id(c): text_of(c.el, drop_marks=True) for c in row}
        if row and row[0].section == "tfoot":
            subgroup = ""  # notes under the table belong to no subgroup
        elif r not in header_rows:
            filled = [c for c in row if texts[id(c)]]
            if (len(filled) == 1 and filled[0].col == 1 and ncols > 1
                    and (filled[0].colspan == ncols or len(row) == 1 or _rest_blank(row, filled))
                    and not _number_like(texts[id(filled[0])])):
                subgroup = texts[id(filled[0])]
        stub = _stub(r, row, spanning, texts, header_rows)
        for cell in row:
            text = text_of(cell.el)
            heads = _header_path(cell, header_rows, header_at)
            is_sub = r not in header_rows and subgroup and texts[id(cell)] == subgroup \
                and cell.col == 1 and stub == subgroup
            row_label = "" if r in header_rows else (
                subgroup if is_sub else " / ".join(x for x in (subgroup, stub) if x))
            context = " ".join((heads, row_label))
            p = parse(texts[id(cell)], context) if r not in header_rows else None
            yield {
                "pmcid": pmcid, "table_id": table_id, "label": label, "caption": caption,
                "row": r, "col": cell.col, "header_path": heads, "row_label": row_label,
                "text": text,
                "value": _fmt(p.value) if p else "", "low": _fmt(p.low) if p else "",
                "high": _fmt(p.high) if p else "", "kind": p.kind if p else "",
                "footnotes": _cell_notes(cell.el, notes), "xpath": tree.getpath(cell.el),
            }


def _rest_blank(row, filled) -> bool:
    return all(c is filled[0] or not text_of(c.el) for c in row)


def _number_like(t: str) -> bool:
    return bool(parse(t).kind or parse(t).value is not None)


def _stub(r, row, spanning, texts, header_rows) -> str:
    """The row's label: its ``<th>`` cells in the body, else the cell in column 1
    (a row-spanned one from above included)."""
    if r in header_rows:
        return ""
    ths = [texts[id(c)] for c in row if _local(c.el) == "th" and texts[id(c)]]
    if ths:
        return " / ".join(ths)
    first = spanning.get((r, 1))
    if first is None:
        return ""
    return texts.get(id(first)) or text_of(first.el, drop_marks=True)


def _header_path(cell, header_rows, header_at) -> str:
    """Headers above the cell's first column, top down, repeats (spanned headers) once."""
    path: list[str] = []
    for hr in sorted(header_rows):
        if hr >= cell.row:
            break
        t = header_at.get((hr, cell.col), "")
        if t and (not path or path[-1] != t):
            path.append(t)
    return " / ".join(path)


def _cell_notes(el, notes: dict[str, str]) -> str:
    out = []
    for x in el.iter("{*}xref"):
        for rid in (x.get("rid") or "").split():
            if rid in notes and notes[rid] not in out:
                out.append(notes[rid])
    return "; ".join(out)


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    return repr(x) if x != int(x) or abs(x) >= 1e16 else str(int(x))
