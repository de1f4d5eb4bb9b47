"""Checks the live widgets: the play server (`./workbook play`) serving the built book, in a
real browser, and its API fuzzed from its own OpenAPI description.

    python tools/check_play.py --server target/debug/unbreakable-play --book data/book

It starts the server on 127.0.0.1 (a free port), stops it at the end, and fails on:

* a widget of the API (`GET /api/scenarios`) with no place in the book, or a place in the
  book for a widget the API does not have;
* a widget whose chart or numbers do not change when one of its controls is moved (the
  browser's keys on the control, as a reader would), or that shows anything other than
  what the API answers for the parameters the page sent (the chart's lines and texts,
  every number);
* an error in the browser's console, or a request to anything but the server (Chrome's
  performance log; no name resolves but 127.0.0.1 anyway);
* with `--fuzz` (the default): schemathesis (a bounded number of generated requests per
  operation, a fixed seed) finding a 5xx, a status, content type or body that the OpenAPI
  description does not allow, or an invalid request accepted.

It saves screenshots of three widgets (`--shots DIR`, default `<book>/screenshots`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from check_book import browser_missing, driver

ROOT = Path(__file__).resolve().parent.parent
SHOTS = {"retry-timeline": "play-retry-timeline.png", "conn-pool": "play-conn-pool.png",
         "lease-fencing": "play-lease-fencing.png"}


def start(server: Path, book: Path) -> tuple[subprocess.Popen, str]:
    """Starts the server on a free loopback port; returns it and its base address."""
    proc = subprocess.Popen([str(server), "--port", "0", "--book", str(book)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    m = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if not m:
        proc.kill()
        sys.exit(f"error: the play server did not start (it said {line!r})")
    return proc, m.group(0)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, as Ctrl-C would: the server must stop cleanly and exit 0."""
    proc.terminate()
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        sys.exit("error: the play server did not stop within 20 s of SIGTERM")
    if code != 0:
        sys.exit(f"error: the play server exited {code} on SIGTERM (want 0: a clean stop)")


def api(base: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path.lstrip("/"), data=data, method="POST" if data else "GET",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def fmt(v, unit: str = "") -> str:
    """A number as play.js shows it."""
    if v is None:
        return "—"
    if unit == "yes/no":
        return "yes" if v else "no"
    if float(v).is_integer():
        return f"{int(v):,}"
    a = abs(v)
    return f"{v:.1f}" if a >= 100 else f"{v:.2f}" if a >= 1 else f"{v:.3f}"


def shown_numbers(answer: dict) -> list[list[str]]:
    return [[x["name"], fmt(x["value"], x["unit"]) + (f" {x['unit']}" if x["unit"] not in ("", "share", "yes/no") else "")]
            for x in answer["numbers"]]


# The widget as the page shows it: its state, what it sent, the numbers' rows, and the
# chart's lines and texts (what the reader sees of the SVG).
READ = """
const box = document.getElementById(arguments[0]);
const svg = box.querySelector('.play-chart svg');
const shape = (root) => root ? {
  lines: Array.from(root.querySelectorAll('polyline, path, circle, rect')).map(e =>
    e.getAttribute('points') || e.getAttribute('d') || [e.getAttribute('cx'), e.getAttribute('cy'), e.getAttribute('x'), e.getAttribute('y'), e.getAttribute('width')].join(',')),
  texts: Array.from(root.querySelectorAll('text')).map(e => e.textContent),
} : null;
return {
  state: box.dataset.state || '', runs: Number(box.dataset.runs || 0),
  sent: box.dataset.sent ? JSON.parse(box.dataset.sent) : null,
  numbers: Array.from(box.querySelectorAll('.play-numbers tr')).map(tr => [tr.children[0].textContent, tr.children[1].textContent]),
  chart: shape(svg),
  api: arguments[1] ? shape(new DOMParser().parseFromString(arguments[1], 'image/svg+xml').documentElement) : null,
  controls: Array.from(box.querySelectorAll('[data-param]')).filter(e => e.dataset.param !== 'seed').map(e => e.id),
};
"""


def wait_ready(d, box_id: str, runs_above: int, timeout: float = 30.0) -> dict:
    end = time.monotonic() + timeout
    while True:
        info = d.execute_script(READ, box_id, None)
        if info["state"] == "ready" and info["runs"] > runs_above:
            return info
        if time.monotonic() > end:
            raise TimeoutError(f"{box_id}: no answer drawn within {timeout:.0f} s (state {info['state']!r})")
        time.sleep(0.05)


def move(d, control_id: str) -> bool:
    """Moves a control with the keyboard, as a reader would; False if it could not move."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    el = d.find_element(By.ID, control_id)
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    kind = el.get_attribute("type")
    before = el.get_attribute("value") if kind != "checkbox" else el.is_selected()
    if kind == "checkbox":
        el.send_keys(Keys.SPACE)
        return el.is_selected() != before
    for key in (Keys.ARROW_RIGHT, Keys.ARROW_LEFT) if kind == "range" else (Keys.ARROW_DOWN, Keys.ARROW_UP):
        el.send_keys(key)
        if el.get_attribute("value") != before:
            return True
    return False


def check_widgets(d, base: str, book: Path, shots: Path) -> list[str]:
    problems: list[str] = []
    scenarios = {s["id"]: s for s in api(base, "/api/scenarios")["scenarios"]}
    placed: dict[str, str] = {}
    for page in sorted(book.glob("*.html")):
        for wid in re.findall(r'<div class="play-widget"[^>]*\sdata-scenario="([^"]+)"', page.read_text()):
            placed[wid] = page.name
    for wid in scenarios.keys() - placed.keys():
        problems.append(f"widget {wid}: the API has it but no page of the book shows it (tools/book.py WIDGETS)")
    for wid in placed.keys() - scenarios.keys():
        problems.append(f"widget {wid}: {placed[wid]} shows it but the API has no such scenario")
    pages = sorted({placed[w] for w in scenarios.keys() & placed.keys()})
    for page in pages:
        d.get(base + page)
        for wid in [w for w in scenarios if placed.get(w) == page]:
            box = f"play-{wid}"
            try:
                first = wait_ready(d, box, 0)
            except TimeoutError as e:
                problems.append(f"{page}: {e}")
                continue
            moved = None
            for control in first["controls"]:
                if not move(d, control):
                    continue
                try:
                    info = wait_ready(d, box, first["runs"])
                except TimeoutError as e:
                    problems.append(f"{page}: after moving {control}: {e}")
                    break
                if info["chart"] != first["chart"] and info["numbers"] != first["numbers"]:
                    moved = (control, info)
                    break
                first = info
            if moved is None:
                problems.append(f"{page}: widget {wid}: no control changed both its chart and its numbers")
                continue
            control, info = moved
            answer = api(base, f"/api/run/{wid}", info["sent"])
            seen = d.execute_script(READ, box, answer["svg"])
            if seen["chart"] != seen["api"]:
                problems.append(f"{page}: widget {wid}: the chart drawn is not the API's for {info['sent']}")
            if seen["numbers"] != shown_numbers(answer):
                problems.append(f"{page}: widget {wid}: numbers {seen['numbers']} are not the API's "
                                f"{shown_numbers(answer)} for {info['sent']}")
            print(f"  {page}: {wid}: moved {info['sent']['params']} -> chart and "
                  f"{len(answer['numbers'])} numbers as the API answers", flush=True)
            if wid in SHOTS:
                from selenium.webdriver.common.by import By
                # The page's sticky bar would cover the widget's top in the picture.
                d.execute_script("document.querySelector('.book-nav').style.display = 'none';"
                                 "arguments[0].scrollIntoView({block: 'start'})", d.find_element(By.ID, box))
                d.find_element(By.ID, box).screenshot(str(shots / SHOTS[wid]))
        for entry in d.get_log("browser"):
            if entry.get("level") == "SEVERE":
                problems.append(f"{page}: browser error: {entry.get('message', '')[:200]}")
        for entry in d.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg.get("method") == "Network.requestWillBeSent":
                url = msg["params"]["request"]["url"]
                if not url.startswith((base, "data:", "blob:", "about:")):
                    problems.append(f"{page}: a request left the server: {url[:120]}")
    return problems


def fuzz(base: str, examples: int) -> list[str]:
    st = Path(sys.executable).parent / "schemathesis"
    cmd = [str(st), "run", base + "api/openapi.json", "--checks",
           "not_a_server_error,status_code_conformance,content_type_conformance,"
           "response_schema_conformance,negative_data_rejection",
           "--max-examples", str(examples), "--seed", "42", "--workers", "1",
           "--phases", "examples,coverage,fuzzing", "--request-timeout", "30"]
    print("  $ " + " ".join(cmd), flush=True)
    env = dict(os.environ, SCHEMATHESIS_TELEMETRY="false", NO_COLOR="1")
    # In a directory of its own: schemathesis keeps a cache of earlier failures under its
    # working directory and replays them, which would make one run depend on the last
    # (and write into the checkout).
    try:
        with tempfile.TemporaryDirectory(prefix="schemathesis-") as cwd:
            code = subprocess.call(cmd, env=env, timeout=900, cwd=cwd)
    except subprocess.TimeoutExpired:
        return ["schemathesis did not finish within 15 minutes"]
    return [] if code == 0 else [f"schemathesis found problems (exit code {code}, above)"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", type=Path, required=True, help="the built unbreakable-play binary")
    ap.add_argument("--book", type=Path, required=True)
    ap.add_argument("--shots", type=Path, help="where to save the widgets' screenshots (default <book>/screenshots)")
    ap.add_argument("--examples", type=int, default=25, help="schemathesis examples per operation")
    ap.add_argument("--no-fuzz", action="store_true")
    ap.add_argument("--no-browser", action="store_true")
    a = ap.parse_args()
    shots = a.shots or a.book / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SE_AVOID_STATS", "true")
    proc, base = start(a.server, a.book.resolve())
    problems: list[str] = []
    try:
        missing = browser_missing()
        if a.no_browser:
            pass
        elif missing:
            print(f"play browser check skipped: {missing}")
        else:
            d = driver(performance_log=True)
            try:
                problems += check_widgets(d, base, a.book, shots)
            finally:
                d.quit()
        if not a.no_fuzz:
            problems += fuzz(base, a.examples)
    finally:
        stop(proc)
    for p in problems:
        print(f"FAIL {p}")
    print(f"play check: {'passed' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
