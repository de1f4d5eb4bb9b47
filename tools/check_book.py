"""Checks the built book in a real browser: headless Chromium (Debian's package) driven by
Selenium through Debian's chromedriver.

    python tools/check_book.py --book data/book --executed data/executed

It serves the site on 127.0.0.1 (a free port, for the check's lifetime), loads every page
and fails on:

* a broken link: a link to a page or file of the site that does not exist, or to an
  anchor (`page.html#term`) that page does not have;
* an image that did not load (a chart in the gallery, say);
* a chart that did not render: every chart output of an executed notebook must appear in
  its chapter's page as a drawn SVG or a loaded PNG;
* anything fetched from the network: the site must work offline. Chromium resolves no
  host name here (`--host-resolver-rules`), so a page that tried would also fail its load.

It keeps screenshots of the contents page and one chapter in `<book>/screenshots/`, for a
reviewer to look at. Links to other sites (further reading) are listed, never fetched.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import nbformat

# A chart output of an executed notebook shows as one SVG (or PNG) image in its page; the
# notebook runner counts them the same way for its summary.
from run_notebooks import count_figures as expected_charts

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = {"index.html": "contents.png", "02-retries-and-backoff.html": "chapter-02.png"}

# What the page tells the check, gathered in the browser after the page has loaded.
PROBE = """
const out = {images: [], links: [], ids: [], charts: 0, blank: [], resources: []};
for (const img of document.images) {
  out.images.push({src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0});
}
for (const a of document.querySelectorAll('a[href]')) out.links.push(a.href);
for (const el of document.querySelectorAll('[id]')) out.ids.push(el.id);
for (const el of document.querySelectorAll('[name]')) out.ids.push(el.getAttribute('name'));
// A chart output is an SVG or PNG image (nbconvert embeds either as an <img> with a data
// URI). Rendered means the browser drew it: painted onto a small canvas, it has ink (a
// broken SVG can still report a size).
function inked(img) {
  if (!(img.complete && img.naturalWidth > 100 && img.getBoundingClientRect().width > 100)) return false;
  const c = document.createElement('canvas');
  c.width = 96; c.height = 48;
  const g = c.getContext('2d');
  g.fillStyle = '#fff'; g.fillRect(0, 0, 96, 48);
  g.drawImage(img, 0, 0, 96, 48);
  const px = g.getImageData(0, 0, 96, 48).data;
  let ink = 0;
  for (let i = 0; i < px.length; i += 4) if (px[i] + px[i + 1] + px[i + 2] < 600) ink += 1;
  return ink > 50;
}
for (const el of document.querySelectorAll('[data-mime-type="image/svg+xml"], [data-mime-type="image/png"]')) {
  const img = el.querySelector('img');
  if (img && inked(img)) out.charts += 1;
}
for (const img of document.querySelectorAll('.jp-RenderedMarkdown img')) {
  if (!inked(img)) out.blank.push(img.currentSrc || img.src);
}
for (const r of performance.getEntriesByType('resource')) out.resources.push(r.name);
return out;
"""


def browser_missing() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).exists():
            return f"{path} is missing (Debian package {package})"
    return None


def driver(performance_log: bool = False):
    """Headless Chromium. With `performance_log`, Chrome's performance log too (every
    request the page made, for tools/check_play.py)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--window-size=1280,900", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions",
        # No name resolves but 127.0.0.1, where the check serves the site: nothing on these
        # pages may come from another machine.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        opts.add_argument(arg)
    logs = {"browser": "ALL", "performance": "ALL"} if performance_log else {"browser": "ALL"}
    opts.set_capability("goog:loggingPrefs", logs)
    # A driver path of our own: Selenium Manager (which would download one) never runs.
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def check(book: Path, executed: Path) -> list[str]:
    book = book.resolve()
    pages = sorted(book.glob("*.html"))
    if not pages:
        return [f"no pages in {book}: build the book first (./workbook book)"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(book)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        return check_served(book, executed, pages, f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()


def check_served(book: Path, executed: Path, pages: list[Path], base: str) -> list[str]:
    problems: list[str] = []
    seen: dict[Path, dict] = {}
    shots = book / "screenshots"
    shots.mkdir(exist_ok=True)
    d = driver()
    try:
        for page in pages:
            d.get(base + page.name)
            info = d.execute_script(PROBE)
            seen[page] = info
            for img in info["images"]:
                if not img["ok"]:
                    problems.append(f"{page.name}: image did not load: {img['src'][:120]}")
            for src in info["blank"]:
                problems.append(f"{page.name}: image drawn blank: {src[:120]}")
            for r in info["resources"]:
                if not r.startswith((base, "data:")):
                    problems.append(f"{page.name}: fetched from the network: {r}")
            for entry in d.get_log("browser"):
                if entry.get("level") == "SEVERE":
                    problems.append(f"{page.name}: browser error: {entry.get('message', '')[:200]}")
            nb_path = executed / page.with_suffix(".ipynb").name
            if nb_path.exists():
                want = expected_charts(nbformat.read(nb_path, as_version=4))
                if info["charts"] != want:
                    problems.append(f"{page.name}: {info['charts']} charts rendered, {want} in the executed notebook")
            if page.name in SHOTS:
                d.save_screenshot(str(shots / SHOTS[page.name]))
            print(f"  {page.name}: {len(info['images'])} images, {info['charts']} charts, "
                  f"{len(info['links'])} links", flush=True)
    finally:
        d.quit()

    external = 0
    for page, info in seen.items():
        for href in info["links"]:
            url, frag = urldefrag(href)
            if not url.startswith(base):
                if urlparse(url).scheme in ("http", "https", "mailto"):
                    external += 1
                else:
                    problems.append(f"{page.name}: link of unknown kind: {href}")
                continue
            target = book / unquote(url[len(base):])
            if not target.exists():
                problems.append(f"{page.name}: broken link: {href}")
                continue
            elif frag and target.suffix == ".html" and not {frag, unquote(frag)} & set(seen.get(target, {}).get("ids", [])):
                # A browser tries the fragment as written, then decoded (nbconvert's heading
                # ids are percent-encoded as written).
                problems.append(f"{page.name}: link to a missing anchor: {target.name}#{frag}")
    for name in SHOTS.values():
        if not (shots / name).exists():
            problems.append(f"screenshot {name} was not taken (its page is missing)")
    print(f"book: {len(pages)} pages checked in Chromium; {external} links to other sites, not followed")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--book", type=Path, required=True)
    ap.add_argument("--executed", type=Path, required=True)
    a = ap.parse_args()
    missing = browser_missing()
    if missing:
        print(f"browser check skipped: {missing}; install it (as root: apt-get install chromium chromium-driver)")
        return 0
    os.environ.setdefault("SE_AVOID_STATS", "true")
    problems = check(a.book, a.executed)
    problems = list(dict.fromkeys(problems))  # a link repeated on a page is one problem
    for p in problems:
        print(f"FAIL {p}")
    print(f"book check: {'passed' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
