"""Execute the notebooks in place; render one as an HTML fragment for the site, code hidden.

Execution is deterministic (no cell timings recorded, fixed kernel), so a
second ``make reproduce`` leaves the committed notebooks byte-identical.
Rendering uses nbconvert's ``basic`` template (a body fragment: none of the
CDN scripts the full templates add). A cell that displays an exported figure
(``figures["<id>"]`` in its source) shows that figure's SVG file instead of its
PNG; any other image is written beside the page as a file, never as base64.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable
from pathlib import Path

import nbformat

from evidence import atomic, paths
from evidence.errors import EvidenceError

KERNEL = "python3"
_FIGURE_REF = re.compile(r"""figures\[["']([^"']+)["']\]""")


def notebooks(folder: Path | None = None) -> list[Path]:
    """The project's notebooks in reading order (their numbered names)."""
    return sorted(Path(folder or paths.NOTEBOOKS).glob("[0-9][0-9]_*.ipynb"))


def execute(path: Path, timeout: int = 600) -> None:
    """Run one notebook top to bottom in its folder and save it with its outputs."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        raise EvidenceError(f"{path.name}: a cell failed:\n{exc}") from exc
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    text = nbformat.writes(nb)
    atomic.write_text(path, text if text.endswith("\n") else text + "\n")


def merge_streams(outputs: list) -> list:
    """Join consecutive stdout (or stderr) chunks: how the kernel splits a stream
    depends on timing, and the committed notebook must not."""
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and prev is not None
                and prev.get("output_type") == "stream" and prev.get("name") == out.get("name")):
            prev["text"] = "".join(prev["text"]) + "".join(out["text"])
        else:
            merged.append(out)
    return merged


def to_html(path: Path, img_dir: Path, img_href: str,
            figure: Callable[[str], str | None]) -> str:
    """One notebook as an HTML fragment with code hidden.

    ``figure(id)`` gives the ``<img>`` markup for an exported figure, or None
    for an unknown id; other images go to ``img_dir`` (linked as ``img_href``/name).
    """
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    count = 0
    for n, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        refs = _FIGURE_REF.findall(cell.source)
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" not in data:
                continue
            shown = figure(refs.pop(0)) if refs else None
            if shown is None:
                count += 1
                name = f"{path.stem}-{count}.png"
                atomic.write_bytes(img_dir / name, base64.b64decode(data["image/png"]))
                alt = html.escape(f"Figure {count} of notebook {path.stem} (cell {n + 1})")
                shown = f'<img src="{img_href}/{name}" alt="{alt}">'
            out["data"] = {"text/html": shown}
    exporter = HTMLExporter(template_name="basic", exclude_input=True,
                            exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    # Nothing a notebook printed may load a resource: scripts and links are dropped.
    body = re.sub(r"<script\b.*?</script>", "", body, flags=re.S | re.I)
    return re.sub(r"<link\b[^>]*>", "", body, flags=re.I)
