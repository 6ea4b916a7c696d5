"""Safe, streaming parsers for E-utilities XML: efetch PubmedArticle sets and
the small esearch / epost / elink answers.

Why our own rather than ``Bio.Entrez.read``/``parse``: those build generic
nested dicts (slow, see benchmarks/bench_pubmed.py), may download a DTD they
do not ship from the URL the document names, and expand entities. Here lxml
runs with entities unresolved, no network, no DTD loading and no huge-tree
mode (text nodes over 10 MB and nesting over 256 levels are errors); the
parsed document itself is then checked, whatever its encoding or wherever
the DOCTYPE sits: an internal subset declaring entities or elements, or any
entity reference left unresolved, is refused. Elements that are not kept
are freed as soon as they end, so memory does not grow with the input.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree

from evidence.errors import DataError, EvidenceError
from evidence.pubmed.record import (
    AbstractSection,
    MeshHeading,
    PubmedRecord,
    Qualifier,
    valid_pmid,
)

_SAFE = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False,
         "remove_comments": True, "remove_pis": True}
_YEAR = re.compile(r"\b(\d{4})\b")
ARTICLE_SET = "PubmedArticleSet"
_ARTICLES = frozenset({"PubmedArticle", "PubmedBookArticle"})
_KEPT_IN_ARTICLE = frozenset({"MedlineCitation", "PubmedData"})


class UnsafeXMLError(EvidenceError):
    """The document declares entities or elements, or references an entity: refused."""


class UnsupportedRecord(DataError):
    """A record kind we do not parse (book chapters): retrying cannot help."""


class EutilsErrorPayload(EvidenceError):
    """NCBI answered 200 with an error document (``<ERROR>`` or a JSON ``error``)."""


def check_doctype(tree, name: str = "<xml>") -> None:
    """Refuse a document whose DOCTYPE has an internal subset declaring entities or elements.

    Called on the tree lxml builds, so neither the encoding (UTF-16/32, BOMs)
    nor the DOCTYPE's position or quoting can hide it. An external DTD alone
    (what NCBI sends) is allowed: it is never loaded. ATTLIST/NOTATION-only
    subsets are harmless here: attribute defaults are not applied.
    """
    dtd = tree.docinfo.internalDTD
    if dtd is None:
        return
    entities = [e.name for e in dtd.iterentities()]
    if entities:
        raise UnsafeXMLError(f"{name}: the DOCTYPE declares entities ({', '.join(entities[:5])}): "
                             "external entity or entity-expansion attack; refused")
    if next(dtd.iterelements(), None) is not None:
        raise UnsafeXMLError(f"{name}: the DOCTYPE declares elements (an internal DTD); refused")


def refuse_entity_refs(el, name: str = "<xml>") -> None:
    """Refuse an entity reference left unresolved (declared in a DTD that is never loaded)."""
    for ent in el.iter(etree.Entity):
        raise UnsafeXMLError(f"{name}: entity reference {ent.text} in <{ent.getparent().tag}> "
                             "(from a DTD that is never loaded); refused")


def _syntax_error(exc: etree.XMLSyntaxError, name: str) -> EvidenceError:
    """libxml2 stops entity bombs and undefined entities itself: report those as refused.

    The last fatal error of the parser's log is the cause (a streaming parse
    may report only "no element found").
    """
    msg = str(exc)
    fatals = exc.error_log.filter_from_fatals() if getattr(exc, "error_log", None) else []
    if fatals:
        last = fatals[-1]
        msg = f"{last.message.strip()}, line {last.line}, column {last.column}"
    if "entit" in msg.lower() or "amplification" in msg.lower():
        return UnsafeXMLError(f"{name}: entity use refused ({msg})")
    return DataError(f"malformed XML: {msg}", file=name)


def root_tag(data: bytes, name: str = "<response>") -> str:
    """Tag of the document's root element (its DOCTYPE checked), reading only its start."""
    return _peek_root(io.BytesIO(data), name)


def _peek_root(fh, name: str) -> str:
    """Root tag of a seekable binary file, parsed up to the root's start; rewinds the file."""
    pos = fh.tell()
    etree.clear_error_log()  # the log read by _syntax_error is this thread's, shared by parses
    try:
        for _event, el in etree.iterparse(fh, events=("start",), **_SAFE):
            check_doctype(el.getroottree(), name)
            return el.tag
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, name) from exc
    finally:
        fh.seek(pos)
    raise DataError("no root element", file=name)


def _text(el) -> str | None:
    """All text under an element, inline markup (<i>, <sup>, MathML) flattened, spaces collapsed."""
    if el is None:
        return None
    raw = el.text if len(el) == 0 else "".join(el.itertext())
    s = " ".join(raw.split()) if raw else ""  # same as collapsing \s+ runs, but faster
    return s or None


def _leaf(el) -> str:
    return (el.text or "").strip() if el is not None else ""


def _yn(el) -> bool:
    return el.get("MajorTopicYN", "N") == "Y"


def _authors(article) -> list[str]:
    out = []
    for alist in article.iterfind("AuthorList"):
        if alist.get("Type", "authors") != "authors":
            continue  # editors of a book chapter
        for au in alist.iterfind("Author"):
            if au.get("ValidYN", "Y") == "N":
                continue  # NLM marks names printed in error as invalid
            f = {c.tag: c for c in au}  # one pass over the children: hot loop
            if "CollectiveName" in f:
                out.append(_text(f["CollectiveName"]) or "")
                continue
            last = _leaf(f.get("LastName"))
            ini = _leaf(f.get("Initials")) or _leaf(f.get("ForeName"))
            suffix = _leaf(f.get("Suffix"))
            name = f"{last} {ini}".strip()
            out.append(f"{name} {suffix}" if suffix else name)
    return out


def _year(pubdate) -> int | None:
    if pubdate is None:
        return None
    y = pubdate.findtext("Year")
    if y and y.strip().isdigit():
        return int(y)
    m = _YEAR.search(pubdate.findtext("MedlineDate") or "")
    return int(m.group(1)) if m else None


def _pages(article) -> str | None:
    pag = article.find("Pagination")
    if pag is None:
        return None
    pgn = _text(pag.find("MedlinePgn"))
    if pgn:
        return pgn
    start, end = _text(pag.find("StartPage")), _text(pag.find("EndPage"))
    if start and end:
        return f"{start}-{end}"
    return start


def _mesh(mc) -> list[MeshHeading]:
    out = []
    for mh in mc.iterfind("MeshHeadingList/MeshHeading"):
        d = mh.find("DescriptorName")
        out.append(MeshHeading((d.text or "").strip(), _yn(d),
                               [Qualifier((q.text or "").strip(), _yn(q))
                                for q in mh.iterfind("QualifierName")]))
    return out


def record_from_element(art, name: str = "<xml>") -> PubmedRecord:
    """One PubmedArticle element -> PubmedRecord (provenance left to the caller)."""
    mc = art.find("MedlineCitation")
    pmid = mc.findtext("PMID") if mc is not None else None
    a = mc.find("Article") if mc is not None else None
    if not pmid or a is None:
        raise DataError("PubmedArticle without PMID or Article", file=name, field="PMID")
    if not valid_pmid(pmid.strip()):
        raise DataError(f"not a PMID (1-8 ASCII digits, no leading zero): {pmid!r}", file=name,
                        field="PMID")
    journal = a.find("Journal")
    ji = journal.find("JournalIssue") if journal is not None else None
    ids = {i.get("IdType"): (i.text or "").strip()
           for i in art.iterfind("PubmedData/ArticleIdList/ArticleId")}
    doi = ids.get("doi")
    if not doi:
        for e in a.iterfind("ELocationID"):
            if e.get("EIdType") == "doi" and e.get("ValidYN", "Y") == "Y":
                doi = _text(e)
                break
    return PubmedRecord(
        pmid=pmid.strip(),
        title=_text(a.find("ArticleTitle")) or _text(a.find("VernacularTitle")) or "",
        authors=_authors(a),
        journal=(_text(journal.find("Title")) or "") if journal is not None else "",
        journal_abbrev=_text(journal.find("ISOAbbreviation")) if journal is not None else None,
        year=_year(ji.find("PubDate")) if ji is not None else None,
        volume=_text(ji.find("Volume")) if ji is not None else None,
        issue=_text(ji.find("Issue")) if ji is not None else None,
        pages=_pages(a),
        doi=doi or None,
        pmcid=ids.get("pmc") or None,
        publication_types=[(p.text or "").strip()
                           for p in a.iterfind("PublicationTypeList/PublicationType")],
        mesh=_mesh(mc),
        abstract=[AbstractSection(t.get("Label"), _text(t) or "")
                  for t in a.iterfind("Abstract/AbstractText")],
    )


def _open(source) -> tuple[object, str]:
    """A binary file object and a display name."""
    if isinstance(source, bytes):
        return io.BytesIO(source), "<bytes>"
    if isinstance(source, str | os.PathLike):
        return open(source, "rb"), str(source)  # noqa: SIM115 - closed by caller
    return source, getattr(source, "name", "<stream>")


def _drop(el) -> None:
    """Free an element that ended and is not kept, with the siblings before it."""
    el.clear(keep_tail=False)
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


def _prune(root) -> None:
    """Free every finished element on the open path from ``root`` that a record cannot use.

    Only the last child of an open element can still be open; all earlier
    ones have ended, and any article among them was already yielded. Inside
    an open article, only its MedlineCitation and PubmedData are kept.
    """
    node = root
    while node is not None:
        if node.tag in _ARTICLES:
            for child in list(node)[:-1]:
                if child.tag not in _KEPT_IN_ARTICLE:
                    node.remove(child)
            if not len(node) or node[-1].tag in _KEPT_IN_ARTICLE:
                return
        else:
            while len(node) > 1:
                del node[0]
        node = node[-1] if len(node) else None


class _PruningReader:
    """File wrapper: before lxml reads the next chunk, free what the last one finished."""

    def __init__(self, fh):
        self.fh, self.root = fh, None

    def read(self, n: int = -1) -> bytes:
        if self.root is not None:
            _prune(self.root)
        return self.fh.read(n)


def iter_articles(source) -> Iterator[PubmedRecord]:
    """Stream PubmedRecords from efetch XML (path, bytes or binary file), constant memory.

    The root must be a PubmedArticleSet (or NCBI's ``<eFetchResult><ERROR>``,
    raised as EutilsErrorPayload); anything else (an XHTML error page) is a
    DataError naming the root. Elements a record does not use are freed
    chunk by chunk, so non-article content does not accumulate.
    """
    fh, name = _open(source)
    try:
        root = _peek_root(fh, name)
        if root not in (ARTICLE_SET, "eFetchResult"):
            raise DataError(f"not a {ARTICLE_SET}: the root element is <{root}>", file=name)
        reader = _PruningReader(fh)
        etree.clear_error_log()
        context = etree.iterparse(reader, events=("start", "end"),
                                  tag=(root, "PubmedArticle", "PubmedBookArticle", "ERROR"),
                                  **_SAFE)
        for event, el in context:
            if event == "start":
                if reader.root is None:
                    check_doctype(el.getroottree(), name)
                    reader.root = el
                continue
            if el.tag == "ERROR":
                raise EutilsErrorPayload(f"{name}: E-utilities error: {_text(el)}")
            if el.tag == "PubmedBookArticle":
                raise UnsupportedRecord("PubmedBookArticle (book chapter) is not supported",
                                        file=name, field="PubmedBookArticle")
            if el.tag == "PubmedArticle":
                refuse_entity_refs(el, name)
                yield record_from_element(el, name)
            _drop(el)
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, name) from exc
    finally:
        if fh is not source:
            fh.close()
    if root == "eFetchResult":
        raise DataError("eFetchResult without ERROR or records", file=name)


def parse_articles(source) -> list[PubmedRecord]:
    """All records of an efetch XML document."""
    return list(iter_articles(source))


def parse_xml(data: bytes, name: str = "<response>"):
    """Parse a small XML document safely and return its root element."""
    etree.clear_error_log()
    try:
        root = etree.fromstring(data, etree.XMLParser(**_SAFE))
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, name) from exc
    check_doctype(root.getroottree(), name)
    refuse_entity_refs(root, name)
    err = root if root.tag == "ERROR" else root.find("ERROR")
    if err is not None:
        raise EutilsErrorPayload(f"{name}: E-utilities error: {_text(err)}")
    return root


def check_json_error(data: bytes) -> None:
    """Raise EutilsErrorPayload for NCBI's JSON errors (``{"error": "API rate limit exceeded"}``)."""
    if data.lstrip()[:1] != b"{":
        return
    try:
        obj = json.loads(data)
    except ValueError:
        return
    if isinstance(obj, dict) and "error" in obj:
        raise EutilsErrorPayload(f"E-utilities error: {obj['error']}")


@dataclass
class SearchResult:
    count: int
    retmax: int
    retstart: int
    ids: list[str]
    webenv: str | None = None
    query_key: str | None = None
    translation: str | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)


def _grouped(el) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if el is not None:
        for child in el:
            out.setdefault(child.tag, []).append(_text(child) or "")
    return out


def parse_esearch(data: bytes) -> SearchResult:
    root = parse_xml(data, "esearch")
    if root.tag != "eSearchResult":
        raise DataError(f"expected eSearchResult, got {root.tag}", file="esearch")
    return SearchResult(
        count=int(root.findtext("Count") or 0), retmax=int(root.findtext("RetMax") or 0),
        retstart=int(root.findtext("RetStart") or 0),
        ids=[(i.text or "").strip() for i in root.iterfind("IdList/Id")],
        webenv=root.findtext("WebEnv"), query_key=root.findtext("QueryKey"),
        translation=root.findtext("QueryTranslation"),
        errors=_grouped(root.find("ErrorList")), warnings=_grouped(root.find("WarningList")))


@dataclass
class PostResult:
    webenv: str
    query_key: str
    invalid_ids: list[str] = field(default_factory=list)


def parse_epost(data: bytes) -> PostResult:
    root = parse_xml(data, "epost")
    webenv, key = root.findtext("WebEnv"), root.findtext("QueryKey")
    if root.tag != "ePostResult" or not webenv or not key:
        raise DataError("epost answer without WebEnv/QueryKey", file="epost")
    return PostResult(webenv.strip(), key.strip(),
                      [(i.text or "").strip() for i in root.iterfind("InvalidIdList/Id")])


@dataclass
class LinkSet:
    db_from: str
    ids: list[str]
    links: dict[str, list[str]]  # link name (e.g. pubmed_pmc) -> linked ids


def parse_elink(data: bytes) -> list[LinkSet]:
    root = parse_xml(data, "elink")
    if root.tag != "eLinkResult":
        raise DataError(f"expected eLinkResult, got {root.tag}", file="elink")
    out = []
    for ls in root.iterfind("LinkSet"):
        links = {}
        for db in ls.iterfind("LinkSetDb"):
            links[db.findtext("LinkName") or db.findtext("DbTo") or ""] = [
                (i.text or "").strip() for i in db.iterfind("Link/Id")]
        out.append(LinkSet(ls.findtext("DbFrom") or "",
                           [(i.text or "").strip() for i in ls.iterfind("IdList/Id")], links))
    return out
