"""Make matplotlib's SVG files small enough to send, and safe to inline several in one page.

Matplotlib writes each glyph as a path in every file that uses it and gives
coordinates six decimals. For the site we drop the metadata block and round
path data and translations to 0.01 pt (far below a printed dot); scale factors
are left as written. For the single file every figure's ids are prefixed so
inlined figures cannot collide, and glyph definitions with the same outline
are kept once for the whole document.
"""

from __future__ import annotations

import hashlib
import re

_NUMBER = re.compile(r"-?\d+\.\d{3,}")
_PATH_D = re.compile(r'(\sd=")([^"]*)(")')
_TRANSLATE = re.compile(r"(translate\()([^)]*)(\))")
# A glyph definition: matplotlib writes each as a path scaled from font units.
_GLYPH = re.compile(r'<path id="([^"]+)" d="([^"]*)" (transform="scale\([^)]*\)")\s*/>')


def _round(match: re.Match) -> str:
    value = f"{float(match.group(0)):.2f}".rstrip("0").rstrip(".")
    return "0" if value == "-0" else value


def _round_numbers(match: re.Match) -> str:
    return match.group(1) + _NUMBER.sub(_round, match.group(2)) + match.group(3)


def minify(svg: str) -> str:
    """The same drawing in fewer bytes: no XML prolog or metadata, rounded path data."""
    svg = re.sub(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = _PATH_D.sub(_round_numbers, svg)
    svg = _TRANSLATE.sub(_round_numbers, svg)
    svg = re.sub(r"\s*\n\s*", " ", svg)
    svg = re.sub(r">\s+<", "><", svg)
    return svg.strip()


class Inliner:
    """Inline SVG figures into one HTML document with ids that cannot collide.

    ``inline(svg, key, label)`` returns the figure's ``<svg>`` element;
    ``defs()`` the hidden ``<svg>`` holding the shared glyphs, once per document.
    """

    def __init__(self) -> None:
        self.glyphs: dict[str, str] = {}  # shared id -> path data

    def inline(self, svg: str, key: str, label: str) -> str:
        svg = minify(svg)
        prefix = f"f-{key}-"
        svg = re.sub(r'\sid="([^"]+)"', lambda m: f' id="{prefix}{m.group(1)}"', svg)
        svg = re.sub(r'(href=")#([^"]+)"', lambda m: f'{m.group(1)}#{prefix}{m.group(2)}"', svg)
        svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", svg)
        renames: dict[str, str] = {}

        def share(match: re.Match) -> str:
            body = f'd="{match.group(2)}" {match.group(3)}'
            shared = "g-" + hashlib.sha256(body.encode()).hexdigest()[:12]
            self.glyphs.setdefault(shared, body)
            renames[match.group(1)] = shared
            return ""

        svg = _GLYPH.sub(share, svg)
        if renames:
            svg = re.sub(r'href="#([^"]+)"',
                         lambda m: f'href="#{renames.get(m.group(1), m.group(1))}"', svg)
        svg = svg.replace("xlink:href=", "href=")
        title = label.replace("&", "&amp;").replace("<", "&lt;")
        return re.sub(r"<svg\b([^>]*)>", lambda m: (
            f'<svg{m.group(1)} role="img" aria-label="{title.replace(chr(34), "&quot;")}">'
            f"<title>{title}</title>"), svg, count=1)

    def defs(self) -> str:
        paths = "".join(f'<path id="{k}" {body}/>' for k, body in self.glyphs.items())
        return ('<svg xmlns="http://www.w3.org/2000/svg" width="0" height="0" aria-hidden="true" '
                f'style="position:absolute"><defs>{paths}</defs></svg>')
