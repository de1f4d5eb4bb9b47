"""Builds the workbook as a static HTML site from the executed notebooks.

Runs under the virtual environment's Python (`./workbook book` calls it, and the main job
calls it after it has executed the notebooks and written the charts):

    python tools/book.py --executed data/executed --charts data/charts --out data/book

Every page goes through nbconvert's HTML exporter (the JupyterLab look), so the chapters
read as they do in JupyterLab, outputs and charts included. The contents, gallery and
glossary pages are built as small notebooks of Markdown cells and converted the same way.
Links between chapters (`02-retries-and-backoff.ipynb`) become links between pages, and
the gallery links every chart to its SVG, PNG and CSV, copied beside the pages.

The pages load nothing from the network: the exporter's MathJax, RequireJS and Mermaid
scripts (from a CDN) are left out by the template in tools/book/, which the workbook does
not need (no cell uses them). `tools/check_book.py` proves it in a browser.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "tools" / "book"
TITLE = "Unbreakable"

# The live widgets (`./workbook play`, tools/book/play.js): each scenario of the play
# server's `GET /api/scenarios`, placed in its chapter under the first code cell whose
# source has this text and whose output is a chart (tools/check_play.py checks that the
# two lists agree). A third text, where given, places the widget under the first code cell
# with that text (whatever its output) when no charted cell has the first (chapter 03's
# breaker widget falls back to the breaker experiment's cell if its chart cell goes).
WIDGETS = {
    "retry-timeline": ("02-retries-and-backoff", "widget_timeline("),
    "herd": ("02-retries-and-backoff", "herd_load("),
    "breaker": ("03-circuit-breakers-and-budgets", "breaker_timeline(", "fn guard(config: BreakerConfig)"),
    "timeouts": ("04-timeouts-and-deadlines", "weather("),
    "degradation": ("05-graceful-degradation", "shop_sales("),
    "idempotent-transfer": ("06-idempotency", "double_charges("),
    "order-saga": ("07-distributed-transactions", "saga_timeline("),
    "two-pc": ("07-distributed-transactions", "blocking("),
    "conn-pool": ("08-performance", "pool_widget("),
    "compression": ("08-performance", "compression_saved("),
    "pagination": ("08-performance", "offset_drift("),
    "cqrs-lag": ("09-cqrs", "lag_percentiles("),
    "replay": ("10-event-sourcing", "rebuild_work("),
    "lease-fencing": ("11-locks-and-leader-election", "race_timeline("),
    "election": ("11-locks-and-leader-election", "election_cdf("),
}

# `](02-retries-and-backoff.ipynb#x)` and `](glossary.md#x)`: links between the workbook's
# own files, which become links between the site's pages.
LOCAL_LINK = re.compile(r"(\]\(|href=\")((?:\d\d-[\w-]+)\.ipynb|glossary\.md)(#[^)\"\s]*)?")


def page_name(file: str) -> str:
    return re.sub(r"\.(ipynb|md)$", ".html", file)


def relink(text: str) -> str:
    return LOCAL_LINK.sub(lambda m: m.group(1) + page_name(m.group(2)) + (m.group(3) or ""), text)


def chapter_title(nb) -> str:
    """The first level-one heading of a notebook ("02 · Retries and backoff")."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^# (.+)$", cell.source, re.M)
            if m:
                return m.group(1).strip()
    return "untitled"


def chapter_lines(start_here) -> dict[str, str]:
    """What each chapter teaches, from chapter 00's table of chapters ("after it you can
    ..."), keyed by notebook file name."""
    lines = {}
    for cell in start_here.cells:
        if cell.cell_type == "markdown":
            for m in re.finditer(r"^\| \[[^\]]+\]\((\d\d-[\w-]+\.ipynb)\) \| (.+?) \|$", cell.source, re.M):
                lines[m.group(1)] = m.group(2)
    return lines


def chapter_blurb(nb) -> str:
    """The first paragraph after the title, as one line of Markdown: for a chapter that
    chapter 00's table does not list yet."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and re.search(r"^# ", cell.source, re.M):
            paras = [p for p in re.split(r"\n\s*\n", cell.source) if p.strip() and not p.startswith("#")]
            return " ".join(paras[0].split()) if paras else ""
    return ""


def has_chart(cell) -> bool:
    return any(o.get("data", {}).keys() & {"image/svg+xml", "image/png"} for o in cell.get("outputs", []))


def add_widgets(nb, stem: str) -> list[str]:
    """Puts each of the chapter's live widgets under the executed output it makes live (a
    raw HTML cell; without the play server it says how to start it). Returns the ids of
    those whose code cell was not found (placed at the end instead)."""
    missing = []
    for wid, (chapter, marker, *near) in WIDGETS.items():
        if chapter != stem:
            continue
        html = (f'<div class="play-widget" id="play-{wid}" data-scenario="{wid}">'
                '<p class="play-offline">This chart is live when the book is served by '
                '<code>./workbook play</code>: open this page from the address it prints to '
                'move its parameters.</p></div>')
        cell = nbformat.v4.new_raw_cell(html, metadata={"raw_mimetype": "text/html", "unbreakable_play": True})
        at = next((i for i, c in enumerate(nb.cells)
                   if c.cell_type == "code" and marker in c.source and has_chart(c)), None)
        if at is None and near:
            at = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and near[0] in c.source), None)
        if at is None:
            missing.append(wid)
            nb.cells.append(cell)
        else:
            nb.cells.insert(at + 1, cell)
    return missing


def exporter() -> HTMLExporter:
    e = HTMLExporter(template_name="book", extra_template_basedirs=[str(TEMPLATES)])
    e.exclude_input_prompt = False
    return e


def nav(current: str) -> str:
    """The bar at the top of every page. (Each chapter carries its own previous / next
    links, as it does in JupyterLab.)"""
    links = [("index.html", "Contents"), ("gallery.html", "Chart gallery"), ("glossary.html", "Glossary")]
    here = ' aria-current="page"'
    parts = [f'<a href="{h}"{here if h == current else ""}>{t}</a>' for h, t in links]
    return '<nav class="book-nav"><span class="book-title">' + TITLE + "</span> " + " ".join(parts) + "</nav>"


def write_page(nb, name: str, out: Path, title: str) -> None:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = relink(cell.source)
    nb.metadata["title"] = f"{title} · {TITLE}"
    body, _ = exporter().from_notebook_node(nb, resources={"book_nav": nav(name)})
    (out / name).write_text(body, encoding="utf-8")


def markdown_notebook(*cells: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(c) for c in cells]
    return nb


def gallery(charts: Path, out: Path, chapters: list[tuple[str, str]]) -> tuple[object, int]:
    """The gallery notebook: every chart of the chart command, with its chapter, title,
    seed and parameters, linked to its files. Copies the files into `out/charts`."""
    index = charts / "index.json"
    if not index.exists():
        sys.exit(f"error: {index} is missing: run the chart command first (./workbook charts)")
    # In chapter order; the chart command lists them in the order it runs them.
    entries = sorted(json.loads(index.read_text()), key=lambda e: e["id"][:2])
    dest = out / "charts"
    dest.mkdir(parents=True, exist_ok=True)
    by_prefix = {n[:2]: (n, t) for n, t in chapters}
    cells = [
        "# Chart gallery\n\nEvery chart of the workbook, as the chart command draws it "
        "(`./workbook charts`): the same scenarios and seeds the chapters use. Each links to "
        "its data as CSV (`series,x,y`), to re-plot with any tool, and to its SVG and PNG."
    ]
    current = None
    for e in entries:
        for ext in ("svg", "png", "csv"):
            shutil.copy2(charts / f"{e['id']}.{ext}", dest / f"{e['id']}.{ext}")
        chapter = by_prefix.get(e["id"][:2])
        if chapter and chapter != current:
            current = chapter
            cells.append(f"## [{chapter[1]}]({chapter[0]})")
        # The caption names the seed and the settings; say the seed where it does not.
        about = e["caption"] if "seed" in e["caption"] else f"seed {e['seed']} · {e['caption']}"
        cells.append(
            f'<a id="{e["id"]}"></a>\n\n### {e["title"]}\n\n'
            f"![{e['title']}](charts/{e['id']}.svg)\n\n"
            f"`{e['id']}` · {about}\n\n"
            f"Files: [CSV](charts/{e['id']}.csv) · [SVG](charts/{e['id']}.svg) · [PNG](charts/{e['id']}.png)"
        )
    return markdown_notebook(*cells), len(entries)


def build(executed: Path, charts: Path, out: Path) -> int:
    paths = sorted(executed.glob("[0-9][0-9]-*.ipynb"))
    if not paths:
        sys.exit(f"error: no executed notebooks in {executed}: run the notebooks first (./workbook run)")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    notebooks = [(p, nbformat.read(p, as_version=4)) for p in paths]
    chapters = [(page_name(p.name), chapter_title(nb)) for p, nb in notebooks]

    teaches = chapter_lines(notebooks[0][1]) if paths[0].name.startswith("00-") else {}
    shutil.copy2(TEMPLATES / "play.js", out / "play.js")
    for (p, nb), (name, title) in zip(notebooks, chapters):
        for wid in add_widgets(nb, p.stem):
            print(f"  warning: widget {wid}: no charted code cell with {WIDGETS[wid][1]!r} in {p.name}; "
                  "placed at the end", flush=True)
        write_page(nb, name, out, title)
        print(f"  {name}", flush=True)

    rows = "\n".join(
        f"| [{t}]({n}) | {relink(teaches.get(p.name) or chapter_blurb(nb))} |"
        for (n, t), (p, nb) in zip(chapters, notebooks)
    )
    contents = markdown_notebook(
        f"# {TITLE}\n\nA workbook on how real systems survive failure: retries and backoff, "
        "circuit breakers, timeouts and deadlines, graceful degradation, idempotency, "
        "distributed transactions, performance, CQRS, event sourcing, locks and leader "
        "election. Every pattern is built in Rust, simulated under failure on a seeded "
        "virtual clock, and plotted.\n\n"
        "These pages are the chapters as the main job executed them, outputs and charts "
        "included. To change a number and run a cell yourself, clone the repository and "
        "run `./workbook lab` (the README says how).",
        "## Chapters\n\n| chapter | after it you can |\n|---|---|\n" + rows,
        "## Also\n\n* [Chart gallery](gallery.html): every chart, with its seed, parameters and data.\n"
        "* [Glossary](glossary.html): the workbook's terms in plain words.",
    )
    write_page(contents, "index.html", out, "Contents")

    gal, n_charts = gallery(charts, out, chapters)
    write_page(gal, "gallery.html", out, "Chart gallery")

    glossary = ROOT / "notebooks" / "glossary.md"
    write_page(markdown_notebook(glossary.read_text(encoding="utf-8")), "glossary.html", out, "Glossary")
    print(f"book: {len(chapters)} chapters, {n_charts} charts, contents, gallery and glossary in {out}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--executed", type=Path, default=ROOT / "data" / "executed")
    ap.add_argument("--charts", type=Path, default=ROOT / "data" / "charts")
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "book")
    a = ap.parse_args()
    return build(a.executed, a.charts, a.out)


if __name__ == "__main__":
    sys.exit(main())
