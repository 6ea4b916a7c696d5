"""A fake E-utilities server on 127.0.0.1 for the PubMed tests and benchmark.

Answers esearch / epost / efetch / elink from synthetic PubmedArticle records
written here (not copies of NCBI samples), logs every request with its
arrival time (``time.time()``, comparable across processes: the kernel's
receive timestamp of its first byte where Linux gives one, else the time
the connection was accepted, so a busy server thread does not skew the
spacing measured between requests), and injects
faults on a schedule: ``429``, ``500``, ``429-retry-after`` (with
``Retry-After: 2``), ``429-retry-date`` (``Retry-After`` as an HTTP-date 2 s
ahead), ``429-retry-huge`` (``Retry-After: 86400``), ``timeout``/``stall``
(answers after the client gave up), ``truncate`` (Content-Length larger than
the body sent), ``cut`` (XML cut short), ``error_xml`` (``<ERROR>`` with
status 200), ``error_json`` (NCBI's JSON rate-limit error, echoing the api
key), ``reset`` (TCP reset, no answer), ``xhtml503`` (a well-formed XHTML
"503 Service Unavailable" page with status 200), ``missing_ids`` (the answer
leaves out the last two requested ids), ``dribble`` (the whole answer, a few
bytes at a time, each within the client's socket timeout) and
``dribble_headers`` (the status line and headers dribbled the same way).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

SO_TIMESTAMPING = getattr(socket, "SO_TIMESTAMPING", 37)
TS_RX_SOFTWARE = (1 << 3) | (1 << 4)  # SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE


def kernel_arrival(conn: socket.socket) -> float | None:
    """The kernel's receive time of the first unread byte on ``conn`` (peeked), if it has one."""
    try:
        _data, anc, _flags, _addr = conn.recvmsg(1, 1024, socket.MSG_PEEK)
    except OSError:
        return None
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPING and len(data) >= 16:
            sec, nsec = struct.unpack("qq", data[:16])
            if sec:
                return sec + nsec / 1e9
    return None


XHTML_503 = (b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML '
             b'1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
             b'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>503 Service Unavailable'
             b'</title></head><body><h1>Service Unavailable</h1><p>The server is temporarily '
             b'unable to service your request.</p></body></html>\n')
HEAD = ('<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, '
        '1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n')


def article_xml(pmid: str) -> str:
    """A small synthetic PubmedArticle whose fields derive from the PMID."""
    n = int(pmid)
    pmc = f'<ArticleId IdType="pmc">PMC{n + 7}</ArticleId>' if n % 2 == 0 else ""
    return (
        f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{n}</PMID>'
        '<Article PubModel="Print"><Journal><JournalIssue CitedMedium="Print">'
        f'<Volume>{n % 50 + 1}</Volume><Issue>{n % 4 + 1}</Issue>'
        f'<PubDate><Year>{2000 + n % 20}</Year><Month>Mar</Month></PubDate></JournalIssue>'
        '<Title>Journal of synthetic test records</Title><ISOAbbreviation>J Synth Test Rec'
        '</ISOAbbreviation></Journal>'
        f'<ArticleTitle>Synthetic record {n} on <i>massage</i> and anxiety.</ArticleTitle>'
        f'<Pagination><MedlinePgn>{n % 90 + 1}-{n % 90 + 9}</MedlinePgn></Pagination>'
        f'<Abstract><AbstractText Label="BACKGROUND">Background of {n}.</AbstractText>'
        f'<AbstractText Label="RESULTS">Results of {n}.</AbstractText></Abstract>'
        '<AuthorList CompleteYN="Y"><Author ValidYN="Y"><LastName>Tester</LastName>'
        '<ForeName>Ann B</ForeName><Initials>AB</Initials></Author><Author ValidYN="Y">'
        '<CollectiveName>Synthetic Trials Group</CollectiveName></Author></AuthorList>'
        '<PublicationTypeList><PublicationType UI="D016449">Randomized Controlled Trial'
        '</PublicationType></PublicationTypeList></Article>'
        '<MeshHeadingList><MeshHeading><DescriptorName UI="D008416" MajorTopicYN="Y">Massage'
        '</DescriptorName><QualifierName UI="Q000379" MajorTopicYN="N">methods</QualifierName>'
        '</MeshHeading></MeshHeadingList></MedlineCitation>'
        '<PubmedData><ArticleIdList>'
        f'<ArticleId IdType="pubmed">{n}</ArticleId><ArticleId IdType="doi">10.5555/synth.{n}'
        f'</ArticleId>{pmc}</ArticleIdList></PubmedData></PubmedArticle>')


def articles_doc(pmids, known=None) -> bytes:
    body = "".join(article_xml(p) for p in pmids if known is None or p in known)
    return (HEAD + f"<PubmedArticleSet>{body}</PubmedArticleSet>\n").encode()


class FakeEutils:
    """The server state: known PMIDs, search corpus, fault schedule, request log."""

    def __init__(self, pmids=(), search_corpus=None, timeout_sleep=0.6, dribble_step=0.05,
                 dribble_bytes=64):
        self.known = {str(p) for p in pmids}
        self.override: dict[str, str] = {}  # pmid -> custom PubmedArticle XML
        self.fixed: dict[str, bytes] = {}  # endpoint -> this body whatever is asked
        self.search_corpus = search_corpus or []  # [(pmid, date)]
        self.faults: list[tuple[str, str | None]] = []  # (endpoint or "*", fault)
        self.log: list[dict] = []
        self.sessions: dict[str, list[str]] = {}
        self.timeout_sleep = timeout_sleep
        self.dribble_step, self.dribble_bytes = dribble_step, dribble_bytes
        self._lock = threading.Lock()
        self._accepted: dict[int, float] = {}  # id(socket) -> time the server accepted it
        fake = self

        class Server(ThreadingHTTPServer):
            def get_request(self):
                conn, addr = super().get_request()
                fake._accepted[id(conn)] = time.time()  # arrival, before any handler thread runs
                return conn, addr

        self.httpd = Server(("127.0.0.1", 0), self._handler())
        try:  # kernel receive timestamps, inherited by accepted sockets (Linux)
            self.httpd.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, TS_RX_SOFTWARE)
        except OSError:
            pass
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def schedule(self, endpoint: str, *faults: str | None) -> None:
        self.faults.extend((endpoint, f) for f in faults)

    def requests(self, endpoint: str | None = None) -> list[dict]:
        return [r for r in self.log if endpoint is None or r["endpoint"] == endpoint]

    def _next_fault(self, endpoint: str) -> str | None:
        with self._lock:
            for i, (ep, f) in enumerate(self.faults):
                if ep in (endpoint, "*"):
                    del self.faults[i]
                    return f
        return None

    def _article_doc(self, ids) -> bytes:
        parts = [self.override.get(p) or article_xml(p) for p in ids if p in self.known]
        return (HEAD + f"<PubmedArticleSet>{''.join(parts)}</PubmedArticleSet>\n").encode()

    def answer(self, endpoint: str, q: dict, fault: str | None = None) -> bytes:
        if endpoint in self.fixed:
            return self.fixed[endpoint]
        one = {k: v[0] for k, v in q.items()}
        if endpoint == "efetch":
            if "WebEnv" in one:
                ids = self.sessions[one["WebEnv"]]
                start, n = int(one.get("retstart", 0)), int(one.get("retmax", 20))
                ids = ids[start:start + n]
            else:
                ids = one["id"].split(",")
            if fault == "missing_ids":
                ids = ids[:-2]
            return self._article_doc(ids)
        if endpoint == "epost":
            webenv = f"MCID_fake{len(self.sessions)}"
            self.sessions[webenv] = one["id"].split(",")
            return (f'<?xml version="1.0" ?><ePostResult><QueryKey>1</QueryKey>'
                    f"<WebEnv>{webenv}</WebEnv></ePostResult>").encode()
        if endpoint == "esearch":
            lo = dt.datetime.strptime(one.get("mindate", "1800/01/01"), "%Y/%m/%d").date()
            hi = dt.datetime.strptime(one.get("maxdate", "2100/01/01"), "%Y/%m/%d").date()
            hits = [p for p, d in self.search_corpus if lo <= d <= hi]
            n = int(one.get("retmax", 20))
            ids = "".join(f"<Id>{p}</Id>" for p in hits[:n])
            return (f'<?xml version="1.0" ?><eSearchResult><Count>{len(hits)}</Count>'
                    f"<RetMax>{min(n, len(hits))}</RetMax><RetStart>0</RetStart>"
                    f"<QueryKey>1</QueryKey><WebEnv>MCID_search</WebEnv><IdList>{ids}</IdList>"
                    f"<QueryTranslation>{escape(one.get('term', ''))}</QueryTranslation>"
                    "</eSearchResult>").encode()
        if endpoint == "elink":
            sets = []
            for p in q.get("id", []):
                link = (f"<LinkSetDb><DbTo>pmc</DbTo><LinkName>pubmed_pmc</LinkName><Link><Id>"
                        f"{int(p) + 7}</Id></Link></LinkSetDb>") if int(p) % 2 == 0 else ""
                sets.append(f"<LinkSet><DbFrom>pubmed</DbFrom><IdList><Id>{p}</Id></IdList>"
                            f"{link}</LinkSet>")
            return f'<?xml version="1.0" ?><eLinkResult>{"".join(sets)}</eLinkResult>'.encode()
        raise KeyError(endpoint)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def handle(self):
                self.arrival = kernel_arrival(self.connection)
                super().handle()

            def do_GET(self):
                self._serve(parse_qs(urlparse(self.path).query), "GET")

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                self._serve(parse_qs(self.rfile.read(n).decode()), "POST")

            def _send(self, status, body, ctype="text/xml; charset=UTF-8", length=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def _dribble(self, body, headers_too):
                head = (f"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=UTF-8\r\n"
                        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
                pieces = ([head[i:i + 4] for i in range(0, len(head), 4)] if headers_too
                          else [head])
                n = fake.dribble_bytes
                pieces += [body[i:i + n] for i in range(0, len(body), n)]
                for piece in pieces:  # bounded: ends with the data or when the peer leaves
                    self.wfile.write(piece)
                    time.sleep(fake.dribble_step)

            def _serve(self, q, method):
                endpoint = urlparse(self.path).path.rstrip("/").rsplit("/", 1)[-1]
                endpoint = endpoint.removesuffix(".fcgi")
                with fake._lock:
                    accepted = fake._accepted.pop(id(self.connection), None)
                    t = self.arrival or accepted or time.time()
                    self.arrival = None  # one request per connection (Connection: close)
                    fake.log.append({"t": t, "method": method,
                                     "endpoint": endpoint, "params": q})
                fault = fake._next_fault(endpoint)
                self.close_connection = True
                try:
                    if fault == "429":
                        return self._send(429, b"Too Many Requests", "text/plain")
                    if fault == "429-retry-after":
                        self.send_response(429)
                        self.send_header("Retry-After", "2")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    if fault in ("429-retry-date", "429-retry-huge"):
                        when = (email.utils.formatdate(time.time() + 2, usegmt=True)
                                if fault == "429-retry-date" else "86400")
                        self.send_response(429)
                        self.send_header("Retry-After", when)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    if fault == "500":
                        return self._send(500, b"Internal Server Error", "text/plain")
                    if fault == "reset":
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                   struct.pack("ii", 1, 0))
                        self.connection.close()
                        return
                    if fault in ("timeout", "stall"):
                        time.sleep(fake.timeout_sleep)
                    if fault == "xhtml503":
                        return self._send(200, XHTML_503, "application/xhtml+xml")
                    if fault == "error_xml":
                        return self._send(200, b'<?xml version="1.0" ?><eFetchResult><ERROR>'
                                          b"Unable to obtain query #1</ERROR></eFetchResult>")
                    if fault == "error_json":
                        key = q.get("api_key", [""])[0]
                        return self._send(200, json.dumps({
                            "error": "API rate limit exceeded", "api-key": key,
                            "count": "11", "limit": "10"}).encode(), "application/json")
                    body = fake.answer(endpoint, q, fault)
                    if fault in ("dribble", "dribble_headers"):
                        return self._dribble(body, fault == "dribble_headers")
                    if fault == "truncate":
                        return self._send(200, body[: len(body) // 2], length=len(body))
                    if fault == "cut":
                        return self._send(200, body[: len(body) // 2])
                    return self._send(200, body)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass

        return Handler
