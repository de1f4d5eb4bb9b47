"""Executes the workbook's notebooks headless on the Rust kernel.

Runs under the virtual environment's Python (./workbook calls it). For each notebook it
prints which cell is running and how long it took, saves the executed copy, and ends with
a summary table. A cell fails if it produces an error output or anything on stderr (evcxr
reports panics and errors passed up with `?` only on stderr), shows a chart without its PNG
form (untrusted notebooks show no SVG) or a table without its HTML form, or runs past its
time-out;
the failure is reported with the notebook, the cell number, its source and the error.

A cell tagged `raises-exception` (a compile error shown on purpose) may fail; a cell
tagged `allow-stderr` may write to stderr.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def problem(cell) -> str | None:
    """What went wrong in an executed cell, or None."""
    tags = set(cell.get("metadata", {}).get("tags", []))
    if "raises-exception" in tags:
        return None
    outputs = cell.get("outputs", [])
    for out in outputs:
        if out.get("output_type") == "error":
            return f"{out.get('ename', 'error')}: {out.get('evalue', '')}\n" + "\n".join(out.get("traceback", []))
    for out in outputs:
        data = out.get("data", {})
        if "image/svg+xml" in data and "image/png" not in data:
            # JupyterLab renders no SVG from an untrusted notebook (the executed copies
            # are untrusted wherever they are opened); the PNG is what it shows there.
            return "a chart shown as SVG only: untrusted notebooks would show nothing (show it with Chart::show)"
        text = "".join(data.get("text/plain", ""))
        if (text.startswith("shape: (") or text.startswith("Table(shape: (")) and "text/html" not in data:
            # A polars frame shown as Debug text: JupyterLab gets no HTML table. End the
            # cell with `.table()` (the laboratory's AsTable), which shows both forms.
            return "a table shown as text only, without its HTML form (end the cell with .table())"
        if text.startswith("Figure {") or text.startswith("Chart {"):
            # A chart that fell back to Debug: its SVG and PNG bytes printed as text.
            return "a chart shown as Debug text instead of an image"
    if "allow-stderr" not in tags:
        text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stderr")
        if text.strip():
            return "stderr:\n" + text.strip()
    return None


def count_figures(nb) -> int:
    """Chart outputs (SVG or PNG) in an executed notebook."""
    n = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/svg+xml" in data or "image/png" in data:
                n += 1
    return n


def run_notebook(path: Path, out_dir: Path, index: int, total: int, first_timeout: int, timeout: int,
                 whole_lines: bool = False):
    nb = nbformat.read(path, as_version=4)
    # A warmed-up kernel answers only once it has loaded the laboratory (tools/kernel_warm.py).
    client = NotebookClient(nb, kernel_name="rust", timeout=timeout, allow_errors=True, startup_timeout=600,
                            resources={"metadata": {"path": str(path.parent)}})
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    started = time.monotonic()
    failure = None
    cell_times: list[float] = []
    with client.setup_kernel():
        for k, i in enumerate(code_cells, 1):
            cell = nb.cells[i]
            first_line = (cell.source.strip().splitlines() or [""])[0][:60]
            head = f"  [{index}/{total}] {path.stem}: cell {k}/{len(code_cells)} ({first_line}) ..."
            if not whole_lines:
                print(head, end="", flush=True)
            # The first cell may compile the support crate and its dependencies cold.
            client.timeout = first_timeout if k == 1 else timeout
            t0 = time.monotonic()
            try:
                client.execute_cell(cell, i)
            except Exception as e:  # a time-out or a dead kernel
                cell.setdefault("outputs", []).append(
                    nbformat.v4.new_output("error", ename=type(e).__name__, evalue=str(e), traceback=[]))
            dt = time.monotonic() - t0
            cell_times.append(dt)
            print(f"{head if whole_lines else ''} {dt:.1f} s  [elapsed {time.monotonic() - started:.0f} s]", flush=True)
            why = problem(cell)
            if why:
                failure = (k, cell.source, why)
                break
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / path.name)
    return {
        "name": path.stem,
        "cells": len(code_cells),
        "ran": len(cell_times),
        "seconds": time.monotonic() - started,
        "first": cell_times[0] if cell_times else 0.0,
        "median": sorted(cell_times)[len(cell_times) // 2] if cell_times else 0.0,
        "figures": count_figures(nb),
        "failure": failure,
    }


# Notebooks that assert on wall-clock measurements of a real server (08's pool sweep
# against PostgreSQL): with --jobs above 1 they run first, on their own.
ALONE = {"08-performance"}


def run_in_child(path: Path, args, index: int, total: int) -> dict:
    """Runs one notebook in a child process (its own kernel, and so its own build slot),
    relaying its progress lines, and returns its result."""
    with tempfile.TemporaryDirectory(prefix="run-notebook-") as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--out", str(args.out), "--first-cell-timeout", str(args.first_cell_timeout),
               "--cell-timeout", str(args.cell_timeout), "--child", f"{index}/{total}", "--result", str(result),
               path.name]
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as child:
            for line in child.stdout:
                print(line, end="", flush=True)
        if result.exists():
            r = json.loads(result.read_text())
            r["failure"] = tuple(r["failure"]) if r["failure"] else None
            return r
        return {"name": path.stem, "cells": 0, "ran": 0, "seconds": 0.0, "first": 0.0, "median": 0.0,
                "figures": 0, "failure": (0, "", f"the notebook's runner process exited with {child.returncode}")}


def run_all(paths: list[Path], args) -> list[dict]:
    total = len(paths)
    index = {p: n for n, p in enumerate(paths, 1)}
    if args.jobs <= 1:
        return [run_notebook(p, args.out, index[p], total, args.first_cell_timeout, args.cell_timeout)
                for p in paths]
    alone = [p for p in paths if p.stem in ALONE]
    results = {p: run_in_child(p, args, index[p], total) for p in alone}
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {p: pool.submit(run_in_child, p, args, index[p], total) for p in paths if p not in alone}
        results.update({p: f.result() for p, f in futures.items()})
    return [results[p] for p in paths]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="where to write the executed copies")
    ap.add_argument("--test", action="store_true", help="end with a test-style pass/fail line")
    ap.add_argument("--first-cell-timeout", type=int, default=3600)
    ap.add_argument("--cell-timeout", type=int, default=900)
    ap.add_argument("--jobs", type=int, default=1,
                    help="notebooks at once, each in its own kernel (default 1; ./workbook uses 2)")
    ap.add_argument("--child", help=argparse.SUPPRESS)   # "index/total": one notebook, for run_in_child
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("names", nargs="*", help="notebook names or prefixes (default: all)")
    args = ap.parse_args()
    if args.child:
        index, total = (int(x) for x in args.child.split("/"))
        path = ROOT / "notebooks" / args.names[0]
        r = run_notebook(path, args.out, index, total, args.first_cell_timeout, args.cell_timeout, whole_lines=True)
        args.result.write_text(json.dumps(r))
        return 0
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if args.names:
        paths = [p for p in paths if any(p.stem.startswith(n) or p.name == n for n in args.names)]
    if not paths:
        print("no notebook matched", file=sys.stderr)
        return 2
    jobs = max(1, min(args.jobs, len(paths)))
    print(f"executing {len(paths)} notebook(s) on the Rust kernel, {jobs} at a time; executed copies go to "
          f"{args.out}", flush=True)
    started = time.monotonic()
    results = run_all(paths, args)
    for r in results:
        if r["failure"]:
            k, src, why = r["failure"]
            print(f"\nFAILED: notebooks/{r['name']}.ipynb, code cell {k}\n--- source ---\n{src}\n--- error ---\n"
                  f"{why.rstrip()}\n", flush=True)
    print(f"\n{'notebook':<32} {'cells':>7} {'seconds':>8} {'1st cell':>9} {'median':>7} {'figures':>8}  result")
    for r in results:
        res = "FAILED at cell %d" % r["failure"][0] if r["failure"] else "ok"
        print(f"{r['name']:<32} {r['ran']:>3}/{r['cells']:<3} {r['seconds']:>8.1f} {r['first']:>9.1f} "
              f"{r['median']:>7.1f} {r['figures']:>8}  {res}")
    failed = sum(1 for r in results if r["failure"])
    total = sum(r["seconds"] for r in results)
    print(f"{len(results)} notebooks in {time.monotonic() - started:.0f} s of wall time ({total:.0f} s summed "
          f"over the notebooks, {jobs} at a time)")
    if args.test:
        print(f"notebooks: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
