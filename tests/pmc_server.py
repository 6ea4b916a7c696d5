"""A fake PMC E-utilities server on 127.0.0.1: ``efetch db=pmc`` answers built from
JATS files, with the fault schedule of tests/eutils_server.py (429, 500, truncate,
cut, reset, timeout, error payloads), reused by subclassing.

Articles are given as ``{PMCID: JATS <article> XML}``; one in ``metadata_only``
is answered without its ``<body>`` (what NCBI does for an article outside the
open-access subset). An id it does not know gets a set with an ``<error>``.
"""

from __future__ import annotations

import re

from eutils_server import FakeEutils
from lxml import etree

HEAD = ('<?xml version="1.0" ?>\n<!DOCTYPE pmc-articleset PUBLIC "-//NLM//DTD ARTICLE SET '
        '2.0//EN" "https://dtd.nlm.nih.gov/ncbi/pmc/articleset/nlm-articleset-2.0.dtd">\n')


def article_element(jats: bytes) -> str:
    """The ``<article>`` of a JATS file as a string, prolog and DOCTYPE left out."""
    root = etree.fromstring(jats, etree.XMLParser(resolve_entities=False, load_dtd=False,
                                                  no_network=True))
    if root.tag != "article":
        root = root.find("article")
    return etree.tostring(root, encoding="unicode")


def without_body(article: str) -> str:
    return re.sub(r"<body>.*?</body>|<body/>", "", article, flags=re.S)


class FakePMC(FakeEutils):
    def __init__(self, articles: dict[str, str], metadata_only=(), **kw):
        super().__init__((), **kw)
        self.articles = dict(articles)
        self.metadata_only = set(metadata_only)

    def answer(self, endpoint: str, q: dict, fault: str | None = None) -> bytes:
        if endpoint != "efetch" or q.get("db", [""])[0] != "pmc":
            return super().answer(endpoint, q, fault)
        parts = []
        for raw in q["id"][0].split(","):
            pmcid = "PMC" + raw.strip().removeprefix("PMC")
            art = self.articles.get(pmcid)
            if art is None:
                parts.append(f'<error id="{raw}">The following PMCID is not available: '
                             f"{raw}</error>")
            else:
                parts.append(without_body(art) if pmcid in self.metadata_only else art)
        return (HEAD + f"<pmc-articleset>{''.join(parts)}</pmc-articleset>\n").encode()
