"""Hostile and broken efetch XML: each case with its expected outcome (issue 17).

An outcome is either a refusal (the exception class and a phrase of its
message, which names the input) or the records parsed, compared with those
of the same PMIDs in a clean document. Every case is run from bytes and from
a file. Documents are built here from the synthetic records of
tests/eutils_server.py; nothing is fetched (a network or file access would
show as the secret text below appearing in a record).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from eutils_server import HEAD, XHTML_503, article_xml, articles_doc

from evidence.errors import DataError
from evidence.pubmed.parser import (
    EutilsErrorPayload,
    UnsafeXMLError,
    UnsupportedRecord,
    parse_articles,
    parse_esearch,
    parse_xml,
)

SECRET = "TOP-SECRET-CONTENT-42"
A, B = article_xml("1000"), article_xml("1001")
SET = f"<PubmedArticleSet>{A}{B}</PubmedArticleSet>"
DECL = '<?xml version="1.0" encoding="{}"?>'
NCBI_DOCTYPE = HEAD.split("\n", 1)[1]  # <!DOCTYPE PubmedArticleSet PUBLIC ... pubmed_250101.dtd">


def with_subset(subset: str, body: str = SET, name: str = "PubmedArticleSet") -> str:
    return f'<?xml version="1.0"?>\n<!DOCTYPE {name} [{subset}]>\n{body}'


def title_ref(ref: str) -> str:
    """The document with ``ref`` inside the first record's title."""
    return SET.replace("Synthetic record 1000 on", f"Synthetic record 1000 {ref} on", 1)


LAUGHS = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "lol"}">' for i in range(10))
QUADRATIC = f'<!ENTITY big "{"x" * 100_000}">'
JUNK_2MB = "<Junk><a>x</a><b>yy</b></Junk>" * 70_000

OK = "records"
CASES = {
    # --- entity declarations: refused whatever the spelling, encoding or position
    "xxe-file": (with_subset('<!ENTITY x SYSTEM "file://{secret}">', title_ref("&x;")),
                 UnsafeXMLError, "declares entities (x)"),
    "xxe-http": (with_subset('<!ENTITY x SYSTEM "http://192.0.2.1/x">', title_ref("&x;")),
                 UnsafeXMLError, "declares entities"),
    "xxe-unreferenced": (with_subset('<!ENTITY x SYSTEM "file:///etc/passwd">'),
                         UnsafeXMLError, "declares entities"),
    "billion-laughs": (with_subset(LAUGHS, title_ref("&l9;")), UnsafeXMLError, "entit"),
    "quadratic-blowup": (with_subset(QUADRATIC, title_ref("&big;" * 2000)), UnsafeXMLError,
                         "declares entities (big)"),
    "internal-parameter-entity": (with_subset('<!ENTITY % p "<!ENTITY g \'G\'>"> %p;',
                                              title_ref("&g;")), UnsafeXMLError, "declares"),
    "external-parameter-entity": (with_subset('<!ENTITY % p SYSTEM "file://{secret}"> %p;'),
                                  UnsafeXMLError, "declares entities (p)"),
    "gt-inside-quoted-system-id": (
        f'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet SYSTEM "a>b" '
        f'[<!ENTITY x "y">]>{title_ref("&x;")}', UnsafeXMLError, "declares entities"),
    "gt-inside-quoted-public-id": (
        f'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet PUBLIC "-//x//EN" "z>]>.dtd" '
        f'[<!ENTITY x "y">]>{SET}', UnsafeXMLError, "declares entities"),
    "gt-inside-entity-value": (with_subset('<!ENTITY x "a>b]>c">', title_ref("&x;")),
                               UnsafeXMLError, "declares entities"),
    "doctype-after-64kb-comment": (
        f'<?xml version="1.0"?><!--{"c" * 70_000}--><!DOCTYPE PubmedArticleSet '
        f'[<!ENTITY x "y">]>{title_ref("&x;")}', UnsafeXMLError, "declares entities"),
    "doctype-after-64kb-whitespace": (
        f'<?xml version="1.0"?>{" " * 70_000}<!DOCTYPE PubmedArticleSet '
        f'[<!ENTITY x "y">]>{SET}', UnsafeXMLError, "declares entities"),
    "subset-over-64kb": (with_subset("<!-- pad -->" * 6000 + '<!ENTITY x "y">', title_ref("&x;")),
                         UnsafeXMLError, "declares entities"),
    "utf16-le-bom": ((DECL.format("UTF-16") + with_subset('<!ENTITY x "y">', title_ref("&x;"))
                      .split("?>", 1)[1]).encode("utf-16"), UnsafeXMLError, "declares entities"),
    "utf16-be-bom": (b"\xfe\xff" + (DECL.format("UTF-16") + with_subset('<!ENTITY x "y">')
                                    .split("?>", 1)[1]).encode("utf-16-be"),
                     UnsafeXMLError, "declares entities"),
    "utf16-le-no-declaration": (("\ufeff" + f'<!DOCTYPE PubmedArticleSet [<!ENTITY x "y">]>{SET}'
                                 ).encode("utf-16-le"), UnsafeXMLError, "declares entities"),
    "utf32-be-declared": ((DECL.format("UTF-32BE") + f'<!DOCTYPE PubmedArticleSet '
                           f'[<!ENTITY x "y">]>{SET}').encode("utf-32-be"),
                          UnsafeXMLError, "declares entities"),
    "utf32-bom-unsupported": ((DECL.format("UTF-32") + SET).encode("utf-32"), DataError,
                              "malformed XML"),
    "utf8-bom-with-entity": (b"\xef\xbb\xbf" + with_subset('<!ENTITY x "y">').encode(),
                             UnsafeXMLError, "declares entities"),
    "element-declarations": (with_subset("<!ELEMENT PubmedArticleSet ANY>"), UnsafeXMLError,
                             "declares elements"),
    "entity-from-external-dtd": (f'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet SYSTEM '
                                 f'"file://{{dtd}}">{title_ref("&x;")}', UnsafeXMLError,
                                 "entity reference &x;"),
    "undeclared-entity": (title_ref("&xxe;"), UnsafeXMLError, "Entity 'xxe' not defined"),
    # --- refused as malformed or as the wrong document, with the reason
    "truncated-mid-record": (SET[: len(SET) // 2], DataError, "malformed XML"),
    "truncated-prolog-only": ('<?xml version="1.0"?>', DataError, "malformed XML"),
    "empty": (b"", DataError, "malformed XML"),
    "nul-byte": (SET.replace("Tester", "Te\x00ster", 1), DataError, "malformed XML"),
    "doctype-after-root": (SET + '<!DOCTYPE a [<!ENTITY x "y">]>', DataError, "malformed XML"),
    "two-roots": (SET + "<PubmedArticleSet/>", DataError, "Extra content"),
    "wrong-encoding-declared": ((DECL.format("UTF-16") + SET).encode(), DataError,
                                "malformed XML"),
    "xhtml-503-page": (XHTML_503, DataError, "root element is <{http://www.w3.org/1999/xhtml}html>"),
    "esearch-root": ("<eSearchResult><Count>0</Count></eSearchResult>", DataError,
                     "root element is <eSearchResult>"),
    "namespaced-root": (f'<x:PubmedArticleSet xmlns:x="urn:x">{A}</x:PubmedArticleSet>',
                        DataError, "root element is <{urn:x}PubmedArticleSet>"),
    "efetch-error": ("<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>",
                     EutilsErrorPayload, "Unable to obtain query #1"),
    "efetch-result-without-error": ("<eFetchResult/>", DataError, "without ERROR"),
    "error-inside-set": (f"<PubmedArticleSet>{A}<ERROR>Backend failed</ERROR></PubmedArticleSet>",
                         EutilsErrorPayload, "Backend failed"),
    "huge-text-node": (SET.replace("Background of 1000.", "x" * 11_000_000), DataError,
                       "Text node too long"),
    "deep-nesting": (SET.replace("</PubmedArticleSet>", "<j>" * 300 + "</j>" * 300
                                 + "</PubmedArticleSet>"), DataError, "Excessive depth"),
    "book-chapter": ('<PubmedArticleSet><PubmedBookArticle><BookDocument><PMID>1000</PMID>'
                     '</BookDocument></PubmedBookArticle></PubmedArticleSet>', UnsupportedRecord,
                     "book chapter"),
    "pmid-full-width": (SET.replace('<PMID Version="1">1000<', '<PMID Version="1">１０００<'),
                        DataError, "not a PMID"),
    "pmid-superscript": (SET.replace('<PMID Version="1">1000<', '<PMID Version="1">1²<'),
                         DataError, "not a PMID"),
    "pmid-leading-zero": (SET.replace('<PMID Version="1">1000<', '<PMID Version="1">01000<'),
                          DataError, "not a PMID"),
    "pmid-nine-digits": (SET.replace('<PMID Version="1">1000<', '<PMID Version="1">100000000<'),
                         DataError, "not a PMID"),
    # --- parsed, to the same records as a clean document
    "ncbi-external-dtd-never-fetched": (HEAD + SET, OK, ["1000", "1001"]),
    "utf16-clean": ((DECL.format("UTF-16") + SET).encode("utf-16"), OK, ["1000", "1001"]),
    "utf8-bom-clean": (b"\xef\xbb\xbf" + SET.encode(), OK, ["1000", "1001"]),
    "latin1-declared": ((DECL.format("ISO-8859-1") + SET).encode("latin-1"), OK,
                        ["1000", "1001"]),
    "attlist-default-not-applied": (with_subset('<!ATTLIST Author ValidYN CDATA "N">'), OK,
                                    ["1000", "1001"]),
    "comment-only-subset": (with_subset("<!-- nothing declared -->"), OK, ["1000", "1001"]),
    "xinclude-not-processed": (SET.replace(
        "<ArticleTitle>", '<ArticleTitle><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
        'href="file://{secret}" parse="text"/>', 1), OK, ["1000", "1001"]),
    "comments-and-pis-everywhere": (SET.replace("<Article ", "<!-- c --><?pi x?><Article ")
                                    .replace("</PubmedArticle>", "<!--c--></PubmedArticle>"),
                                    OK, ["1000", "1001"]),
    "cdata-and-char-refs": (SET.replace("Synthetic record 1000 on", "<![CDATA[Synthetic]]> record "
                                        "&#x31;000 on", 1), OK, ["1000", "1001"]),
    "junk-between-and-after-records": (f"<PubmedArticleSet><Junk/>{A}{JUNK_2MB}{B}{JUNK_2MB}"
                                       "</PubmedArticleSet>", OK, ["1000", "1001"]),
    "junk-inside-a-record": (SET.replace("</MedlineCitation>", "</MedlineCitation>"
                                         + "<Junk><x>1</x></Junk>" * 50_000, 1),
                             OK, ["1000", "1001"]),
    "junk-nested-deep-inside-wrapper": (f"<PubmedArticleSet><W><V>{JUNK_2MB}</V></W>{A}{B}"
                                        "</PubmedArticleSet>", OK, ["1000", "1001"]),
}


@pytest.fixture(scope="module")
def clean():
    return {r.pmid: r.to_dict() for r in parse_articles(articles_doc(["1000", "1001"]))}


def materialise(doc, tmp_path: Path) -> bytes:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    dtd = tmp_path / "x.dtd"
    dtd.write_text(f'<!ENTITY x "{SECRET}">')
    if isinstance(doc, str):
        doc = doc.replace("{secret}", str(secret)).replace("{dtd}", str(dtd)).encode()
    return doc


def test_suite_is_large_enough():
    assert len(CASES) >= 33
    assert sum(1 for _d, kind, _e in CASES.values() if kind is not OK) >= 33


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_xml(case, tmp_path, clean):
    doc, kind, expected = CASES[case]
    data = materialise(doc, tmp_path)
    f = tmp_path / f"{case}.xml"
    f.write_bytes(data)
    for source, name in ((data, "<bytes>"), (f, str(f))):
        if kind is OK:
            recs = parse_articles(source)
            assert [r.pmid for r in recs] == expected
            assert {r.pmid: r.to_dict() for r in recs} == {p: clean[p] for p in expected}
            assert not any(SECRET in str(r.to_dict()) for r in recs)
        else:
            with pytest.raises(kind) as err:
                parse_articles(source)
            assert expected in str(err.value)
            assert name in str(err.value)  # the message names the input
            assert SECRET not in str(err.value)


@pytest.mark.parametrize("case", ["xxe-file", "billion-laughs", "gt-inside-quoted-system-id",
                                  "doctype-after-64kb-comment", "utf16-le-bom",
                                  "entity-from-external-dtd", "undeclared-entity"])
def test_small_answers_refuse_the_same(case, tmp_path):
    """esearch/epost/elink answers go through parse_xml: the same refusals."""
    doc = materialise(CASES[case][0], tmp_path)
    doc = doc.replace(b"PubmedArticleSet", b"eSearchResult") if b"<Pubmed" in doc else doc
    with pytest.raises(UnsafeXMLError):
        parse_xml(doc)
    with pytest.raises(UnsafeXMLError):
        parse_esearch(doc)


MEASURE = textwrap.dedent("""
    import resource, sys
    from evidence.pubmed.parser import parse_articles
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    recs = parse_articles(sys.argv[1])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(len(recs), (peak - base) / 1024)
""")


def _peak_growth_mb(path: Path) -> tuple[int, float]:
    out = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    return int(out[0]), float(out[1])


def _junk_file(path: Path, mb: int, nested: bool) -> Path:
    junk = b"<Junk><a>x</a><b>yy</b></Junk>" * 1000
    with path.open("wb") as fh:
        fh.write(b"<PubmedArticleSet>" + A.encode() + (b"<W>" if nested else b""))
        for _ in range(mb * 1024 * 1024 // len(junk)):
            fh.write(junk)
        fh.write((b"</W>" if nested else b"") + B.encode() + b"</PubmedArticleSet>")
    return path


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
def test_memory_does_not_grow_with_non_article_content(tmp_path, nested):
    """Peak RSS growth parsing 20 MB of non-article elements vs 2 MB (the old parser kept
    them all: ~21 MB of RSS per MB of input, so 200 MB took ~1.9 GB)."""
    n2, small = _peak_growth_mb(_junk_file(tmp_path / "2.xml", 2, nested))
    n20, big = _peak_growth_mb(_junk_file(tmp_path / "20.xml", 20, nested))
    assert n2 == n20 == 2
    assert big < 20 and big - small < 10, (small, big)  # MB; a tree of 20 MB would be ~400
