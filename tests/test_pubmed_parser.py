"""PubMed XML parser: our quirk fixtures, NCBI's real samples (../shared), hostile XML."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
from Bio import Entrez

from evidence.errors import DataError
from evidence.paths import SHARED
from evidence.pubmed import add_pubmed_arguments, run_pubmed
from evidence.pubmed.parser import (
    EutilsErrorPayload,
    UnsafeXMLError,
    parse_articles,
    parse_elink,
    parse_epost,
    parse_esearch,
    parse_xml,
)

FIX = Path(__file__).parent / "fixtures" / "pubmed"
SAMPLES = SHARED / "ncbi-samples"
needs_shared = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/ncbi-samples absent")


@pytest.fixture(scope="module")
def quirks():
    return {r.pmid: r for r in parse_articles(FIX / "quirks.xml")}


def test_inline_markup_flattened_nothing_lost(quirks):
    r = quirks["99000001"]
    assert r.title == "Effect of Swedish massage on CO2 and the 10th percentile: a pilot trial."
    assert r.abstract[1].text == "HARS fell by 2.5 points (95% CI 1.0 to 4.0)."
    assert r.abstract[0].text == "Anxiety is common."  # whitespace runs collapsed


def test_authors_collective_suffix_invalid_and_editors(quirks):
    # ValidYN="N" names and the editors' list are not authors; collective name verbatim (flattened)
    assert quirks["99000001"].authors == ["Müller J", "Smith JA Jr", "Massage Research Consortium"]
    assert quirks["99000002"].authors == ["Nakamura Kei"]  # no Initials: ForeName kept
    assert quirks["99000003"].authors == []


def test_dates_season_medlinedate_and_none(quirks):
    assert quirks["99000001"].year == 2004  # Year + Season
    assert quirks["99000002"].year == 1998  # MedlineDate "1998 Dec-1999 Jan"
    assert quirks["99000003"].year is None  # Season only, no year anywhere


def test_ids_pages_and_reference_list_not_leaking(quirks):
    a, b, c = quirks["99000001"], quirks["99000002"], quirks["99000003"]
    assert (a.doi, a.pmcid) == ("10.9999/eloc.only", None)  # ELocationID; refs' ids ignored
    assert (b.doi, b.pmcid) == ("10.9999/idlist.wins", "PMC7654321")
    assert a.pages == "101-109" and b.pages == "e12-e19" and c.pages is None
    assert (a.volume, a.issue, a.journal_abbrev) == ("12", "3", "J Invent Quirks")
    assert b.journal_abbrev is None


def test_mesh_qualifiers_and_abstract_sections(quirks):
    a = quirks["99000001"].to_dict()
    assert a["mesh"] == [
        {"descriptor": "Anxiety Disorders", "major": False,
         "qualifiers": [{"name": "therapy", "major": True},
                        {"name": "physiopathology", "major": False}]},
        {"descriptor": "Massage", "major": True, "qualifiers": []}]
    assert [s["label"] for s in a["abstract"]] == ["BACKGROUND", "RESULTS"]
    assert quirks["99000002"].to_dict()["abstract"] == [
        {"label": None, "text": "One unlabelled paragraph."}]
    assert quirks["99000003"].abstract == []
    assert quirks["99000001"].publication_types == ["Randomized Controlled Trial",
                                                     "Journal Article"]


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>
<ArticleTitle>&xxe;</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"""
LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
          + b"".join(b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                     for i in range(1, 10))
          + b"]>\n<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>"
            b"<ArticleTitle>&lol9;</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
            b"</PubmedArticleSet>")


@pytest.mark.parametrize("doc", [XXE, LAUGHS], ids=["external-entity", "billion-laughs"])
def test_hostile_xml_refused(doc, tmp_path):
    with pytest.raises(UnsafeXMLError, match="declares entities"):
        parse_articles(doc)
    with pytest.raises(UnsafeXMLError):
        parse_xml(doc)
    f = tmp_path / "evil.xml"
    f.write_bytes(doc)
    with pytest.raises(UnsafeXMLError, match="evil.xml"):
        parse_articles(f)


def test_external_dtd_reference_is_not_fetched(tmp_path):
    # A DOCTYPE naming an unreachable DTD parses without any network access.
    doc = (b'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet SYSTEM "http://192.0.2.1/x.dtd">'
           b"<PubmedArticleSet/>")
    assert parse_articles(doc) == []


def test_malformed_and_error_payloads():
    with pytest.raises(DataError, match="malformed XML"):
        parse_articles(b"<PubmedArticleSet><PubmedArticle><MedlineCitation>")
    with pytest.raises(EutilsErrorPayload, match="Unable to obtain query"):
        parse_articles(b"<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>")


def test_cli_parse_prints_one_json_record_per_line(capsys):
    parser = argparse.ArgumentParser()
    add_pubmed_arguments(parser)
    assert run_pubmed(parser.parse_args(["parse", str(FIX / "quirks.xml")])) == 0
    lines = capsys.readouterr().out.splitlines()
    recs = [json.loads(line) for line in lines]
    assert [r["pmid"] for r in recs] == ["99000001", "99000002", "99000003"]
    assert list(recs[0]) == ["pmid", "title", "authors", "journal", "year", "volume", "issue",
                             "pages", "doi", "pmcid", "publication_types", "mesh"]


# --- NCBI's own output (Biopython test files), values read in those files -----------------

@pytest.fixture(scope="module")
def samples():
    if not SAMPLES.is_dir():
        pytest.skip("../shared/ncbi-samples absent")
    return {f.name: parse_articles(f) for f in sorted(SAMPLES.glob("pubmed*.xml"))}


@needs_shared
def test_samples_every_record_parsed(samples):
    assert {k: [r.pmid for r in v] for k, v in samples.items()} == {
        "pubmed1.xml": ["12091962", "9997"], "pubmed2.xml": ["11748933", "11700088"],
        "pubmed4.xml": ["27797938"], "pubmed5.xml": ["28775130"], "pubmed6.xml": ["30108519"],
        "pubmed7.xml": ["29963580"]}


@needs_shared
def test_samples_quirks(samples):
    p1 = {r.pmid: r for r in samples["pubmed1.xml"]}
    season = p1["12091962"]  # <Year>1990</Year><Season>Spring</Season>
    assert (season.year, season.volume, season.issue, season.pages) == (1990, "17", "1", "113-25")
    assert season.authors == ["Olivero JM"] and season.doi is None
    assert p1["9997"].doi == "10.1016/0005-2795(76)90109-4"
    p6 = samples["pubmed6.xml"][0]  # title with <i> spanning a quote
    assert p6.title == ('A "Blood Relationship" Between the Overlooked Minimum Lactate Equivalent '
                        "and Maximal Lactate Steady State in Trained Runners. Back to the Old Days?")
    assert p6.authors == ["Garcia-Tabar I", "Gorostiaga EM"] and p6.issue is None
    p7 = samples["pubmed7.xml"][0]  # collective author; reference list with its own ids
    assert p7.authors[-1] == "Canadian Respiratory Research Network" and len(p7.authors) == 9
    assert (p7.pmcid, p7.doi, p7.pages) == ("PMC6022861", "10.1117/1.JMI.5.2.026002", "026002")
    p4 = samples["pubmed4.xml"][0]
    assert p4.title.startswith("Leucocyte telomere length, genetic variants at the TERT gene")
    assert [a.label for a in p4.abstract] == ["OBJECTIVE", "DESIGN", "RESULTS", "CONCLUSIONS"]
    assert (p4.pmcid, p4.year, p4.journal) == ("PMC5442267", 2017, "Gut")
    sea_bream = next(m for m in samples["pubmed2.xml"][0].mesh if m.descriptor == "Sea Bream")
    assert [(q.name, q.major) for q in sea_bream.qualifiers] == [
        ("anatomy & histology", True), ("physiology", False)]


@needs_shared
def test_samples_agree_with_bio_entrez(samples):
    """Cross-check against Biopython's generic parser: ids, authors, MeSH, dates, titles."""
    for name, ours in samples.items():
        with open(SAMPLES / name, "rb") as fh:
            theirs = Entrez.read(fh)["PubmedArticle"]
        assert len(theirs) == len(ours)
        for r, t in zip(ours, theirs, strict=True):
            mc, art = t["MedlineCitation"], t["MedlineCitation"]["Article"]
            assert r.pmid == str(mc["PMID"])
            assert len(r.authors) == len(art.get("AuthorList", []))
            assert [m.descriptor for m in r.mesh] == [
                str(h["DescriptorName"]) for h in mc.get("MeshHeadingList", [])]
            assert r.year == int(art["Journal"]["JournalIssue"]["PubDate"]["Year"])
            flat = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", str(art["ArticleTitle"]))).strip()
            assert r.title == flat


@needs_shared
def test_samples_esearch_epost_elink():
    r1 = parse_esearch((SAMPLES / "esearch1.xml").read_bytes())
    assert (r1.count, r1.retmax, len(r1.ids), r1.ids[0]) == (63, 20, 20, "41282813")
    r3 = parse_esearch((SAMPLES / "esearch3.xml").read_bytes())
    assert (r3.count, r3.retstart, r3.ids[-1]) == (2651, 6, "11121072")
    r8 = parse_esearch((SAMPLES / "esearch8.xml").read_bytes())
    assert r8.count == 0 and r8.ids == [] and r8.errors == {"PhraseNotFound": ["abcXYZ"]}
    assert r8.warnings == {"OutputMessage": ["No items found."]}
    post = parse_epost((SAMPLES / "epost1.xml").read_bytes())
    assert (post.query_key, post.webenv) == ("1", "MCID_692851c130aec64bed0a8c2a")
    link = parse_elink((SAMPLES / "elink1.xml").read_bytes())
    assert link[0].ids == ["9298984"] and link[0].links["pubmed_pubmed"][:2] == ["9298984",
                                                                               "8794856"]
    with open(SAMPLES / "elink1.xml", "rb") as fh:
        theirs = Entrez.read(fh)
    dbs = theirs[0]["LinkSetDb"]
    assert {d["LinkName"]: [x["Id"] for x in d["Link"]] for d in dbs} == link[0].links
