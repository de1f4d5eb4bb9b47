"""Checks the notebooks as committed: no outputs, the Rust kernel, navigation links that
match the chapter order, and the Summary and Exercises every chapter ends with.

    python3 tools/check_notebooks.py          # check (exit 1 on any problem)
    python3 tools/check_notebooks.py --fix    # rewrite navigation cells, strip outputs

Standard library only. The navigation cells (first and last cell, marked <!--NAV-->) are
generated from the order of the files and the `# NN · Title` heading of each notebook, as
the Python Data Science Handbook does, so links never rot.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
MARK = "<!--NAV-->"


def title(nb: dict) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            m = re.search(r"^# (\d\d) · (.+)$", "".join(cell["source"]), re.M)
            if m:
                return f"{m.group(1)} {m.group(2)}"
    return "?"


def nav(paths: list[Path], titles: list[str], i: int) -> str:
    parts = []
    if i > 0:
        parts.append(f"[← Previous: {titles[i - 1]}]({paths[i - 1].name})")
    parts.append(f"[Contents]({paths[0].name})")
    if i + 1 < len(paths):
        parts.append(f"[Next: {titles[i + 1]} →]({paths[i + 1].name})")
    # The marker stands alone on its line: in CommonMark a line that starts with an HTML
    # comment is an HTML block up to the line that closes it, so links on that same line
    # would never be parsed (JupyterLab showed them as raw markdown).
    return f"{MARK}\n" + " | ".join(parts)


def main() -> int:
    fix = "--fix" in sys.argv
    paths = sorted(NB_DIR.glob("*.ipynb"))
    nbs = [json.loads(p.read_text()) for p in paths]
    titles = [title(nb) for nb in nbs]
    problems = []
    for i, (p, nb) in enumerate(zip(paths, nbs)):
        name = p.name
        if not re.match(r"^\d\d-[a-z0-9-]+\.ipynb$", name):
            problems.append(f"{name}: name it NN-words-with-dashes.ipynb")
        if nb.get("metadata", {}).get("kernelspec", {}).get("name") != "rust":
            problems.append(f"{name}: kernelspec must be `rust`")
        if titles[i] == "?" or not name.startswith(titles[i][:2]):
            problems.append(f"{name}: needs a `# {name[:2]} · Title` heading matching its number")
        changed = False
        outputs_reported = False
        # Every cell has an id (nbformat 4.5; nbclient warns without one, and a future
        # nbformat refuses), and its source is a list of lines, so a diff shows lines.
        # Ids are unique within a notebook (nbformat rejects duplicates); --fix gives the
        # later of two equal ids a new one.
        seen: set[str] = set()
        for k, cell in enumerate(nb["cells"]):
            if cell.get("id") in seen:
                if fix:
                    del cell["id"]
                else:
                    problems.append(f"{name}: cell {k + 1} repeats the id {cell['id']!r} of an earlier cell (run with --fix)")
                    break
            if not cell.get("id") or isinstance(cell.get("source"), str):
                if fix:
                    if not cell.get("id"):
                        salt = 0
                        while (new_id := hashlib.sha1(f"{name}:{k}:{salt}".encode()).hexdigest()[:8]) in seen or any(
                            c.get("id") == new_id for c in nb["cells"]
                        ):
                            salt += 1
                        cell["id"] = new_id
                    if isinstance(cell.get("source"), str):
                        cell["source"] = cell["source"].splitlines(keepends=True)
                    changed = True
                else:
                    problems.append(f"{name}: cell {k + 1} lacks an id or has its source as one string (run with --fix)")
                    break
            seen.add(cell.get("id", ""))
        for cell in (c for c in nb["cells"] if c["cell_type"] == "code"):
            if cell.get("outputs") or cell.get("execution_count"):
                if fix:
                    cell["outputs"], cell["execution_count"] = [], None
                    changed = True
                elif not outputs_reported:
                    problems.append(f"{name}: has outputs committed (run with --fix to strip them)")
                    outputs_reported = True
            for line in "".join(cell["source"]).splitlines():
                if line.startswith(":") and line.rstrip().endswith(";"):
                    problems.append(f"{name}: kernel command `{line}` must not end with `;`")
        want = nav(paths, titles, i)
        for k in (0, -1):
            cell = nb["cells"][k] if nb["cells"] else None
            src = "".join(cell["source"]) if cell else ""
            if not (cell and cell["cell_type"] == "markdown" and src.startswith(MARK)):
                problems.append(f"{name}: the {'first' if k == 0 else 'last'} cell must be a navigation cell ({MARK})")
            elif src != want:
                if fix:
                    cell["source"] = want.splitlines(keepends=True)
                    changed = True
                else:
                    problems.append(f"{name}: navigation out of date (run with --fix)")
        text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        for heading in ("## Summary", "## Exercises"):
            if heading not in text:
                problems.append(f"{name}: missing a `{heading}` section")
        if changed:
            p.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
            print(f"fixed {name}")
    for pr in problems:
        print(f"problem: {pr}")
    print(f"checked {len(paths)} notebooks: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
