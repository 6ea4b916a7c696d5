"""Safe, streaming parsers for E-utilities XML: efetch PubmedArticle sets and
the small esearch / epost / elink answers.

Why our own rather than ``Bio.Entrez.read``/``parse``: those build generic
nested dicts (slow, see benchmarks/bench_pubmed.py), may download a DTD they
do not ship from the URL the document names, and expand entities. Here lxml
runs with entities unresolved, no network, no DTD loading and no huge-tree
mode, and any DOCTYPE that declares entities is refused before parsing.
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
from evidence.pubmed.record import AbstractSection, MeshHeading, PubmedRecord, Qualifier

_SAFE = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}
_HEAD = 65536  # bytes scanned for a DOCTYPE before the parser sees the document
_YEAR = re.compile(r"\b(\d{4})\b")


class UnsafeXMLError(EvidenceError):
    """The document declares entities (XXE, entity-expansion bombs): refused unparsed."""


class UnsupportedRecord(DataError):
    """A record kind we do not parse (book chapters): retrying cannot help."""


class EutilsErrorPayload(EvidenceError):
    """NCBI answered 200 with an error document (``<ERROR>`` or a JSON ``error``)."""


def check_prolog(head: bytes, name: str = "<xml>") -> None:
    """Refuse a DOCTYPE with an internal subset declaring entities (or one too long to check)."""
    start = head.find(b"<!DOCTYPE")
    if start < 0:
        return
    close = head.find(b">", start)
    bracket = head.find(b"[", start)
    if bracket < 0 or (0 <= close < bracket):
        return  # external id only: never loaded (load_dtd=False, no_network=True)
    end = head.find(b"]>", bracket)
    if end < 0 and re.search(rb"\]\s*>", head[bracket:]) is None:
        raise UnsafeXMLError(f"{name}: DOCTYPE internal subset too long to check; refused")
    if b"<!ENTITY" in head[bracket:(end if end >= 0 else len(head))]:
        raise UnsafeXMLError(f"{name}: the DOCTYPE declares entities (external entity or "
                             "entity-expansion attack); refused")


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


def _open_checked(source) -> tuple[object, str]:
    """A binary file object positioned at 0 whose prolog was checked, and a display name."""
    if isinstance(source, bytes):
        fh, name = io.BytesIO(source), "<bytes>"
    elif isinstance(source, str | os.PathLike):
        fh, name = open(source, "rb"), str(source)  # noqa: SIM115 - closed by caller
    else:
        fh, name = source, getattr(source, "name", "<stream>")
    check_prolog(fh.read(_HEAD), name)
    fh.seek(0)
    return fh, name


def iter_articles(source) -> Iterator[PubmedRecord]:
    """Stream PubmedRecords from efetch XML (path, bytes or binary file), constant memory."""
    fh, name = _open_checked(source)
    try:
        context = etree.iterparse(fh, events=("end",),
                                  tag=("PubmedArticle", "PubmedBookArticle", "ERROR"), **_SAFE)
        for _event, el in context:
            if el.tag == "ERROR":
                raise EutilsErrorPayload(f"{name}: E-utilities error: {_text(el)}")
            if el.tag == "PubmedBookArticle":
                raise UnsupportedRecord("PubmedBookArticle (book chapter) is not supported",
                                file=name, field="PubmedBookArticle")
            yield record_from_element(el, name)
            el.clear(keep_tail=False)
            while el.getprevious() is not None:
                del el.getparent()[0]
    except etree.XMLSyntaxError as exc:
        raise DataError(f"malformed XML: {exc}", file=name) from exc
    finally:
        if fh is not source:
            fh.close()


def parse_articles(source) -> list[PubmedRecord]:
    """All records of an efetch XML document."""
    return list(iter_articles(source))


def parse_xml(data: bytes, name: str = "<response>"):
    """Parse a small XML document safely and return its root element."""
    check_prolog(data[:_HEAD], name)
    try:
        root = etree.fromstring(data, etree.XMLParser(**_SAFE))
    except etree.XMLSyntaxError as exc:
        raise DataError(f"malformed XML: {exc}", file=name) from exc
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
