"""Self-checking exercises, in the manner of rustlings: `./workbook exercises`.

Standard library only. The exercises are test targets of the crate
`crates/unbreakable-exercises` (one per file under `exercises/NN-chapter/`); their tests
fail until the exercise is solved. Solutions mirror them under `solutions/`, built as
targets of their own (`solNN_...`) with the crate's feature `solutions`. An exercise has
one name: its number, `03.2`; its title, file stem and test target name it too.

    ./workbook exercises             every exercise, per chapter, passing or not, and the
                                     next one to do with its failure
    ./workbook exercises 02          only chapter 02
    ./workbook exercises 03.2        only exercise 03.2 (or `amplification`, or its file):
                                     its compiler errors or its failing tests
    ./workbook exercises 03.2 --hint      its hint
    ./workbook exercises 03.2 --reset     back to the shipped version (yours is kept in
                                          target/exercises-backup/)
    ./workbook exercises 03.2 --solution  its solution (asks first if it does not pass yet)
    ./workbook exercises --watch     the same, again on every save; "Next" follows the file
                                     you saved
    ./workbook exercises --prove     every exercise compiles and fails as shipped, every
                                     solution passes, and the set is consistent (the test
                                     suite runs this)
    ./workbook exercises --write-manifest   regenerate the crate's list of targets, and
                                     each chapter's list of its exercises, from the
                                     directory tree (for authors adding an exercise)

One `cargo build --tests --keep-going` builds every target that compiles (one that does
not never stops the others), then each test binary runs directly, with a time limit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATE = ROOT / "crates" / "unbreakable-exercises"
NOTEBOOKS = ROOT / "notebooks"
PACKAGE = "unbreakable-exercises"
TEST_MODULE = "#[cfg(test)]"
# The generated part of Cargo.toml starts at this line; everything above it is kept.
MANIFEST_MARK = "# One test target per exercise"
LEARNER_TIMEOUT = 10.0  # seconds: a learner's endless loop should not cost two minutes
PROVE_TIMEOUT = 60.0


@dataclass
class Exercise:
    path: Path  # .../exercises/02-retries-and-backoff/01_decorrelated_jitter.rs

    @property
    def chapter(self) -> str:  # "02"
        return self.path.parent.name[:2]

    @property
    def number(self) -> int:  # 1
        return int(self.path.name[:2])

    @property
    def id(self) -> str:  # "02.1"
        return f"{self.chapter}.{self.number}"

    @property
    def title(self) -> str:  # "decorrelated_jitter"
        return self.path.stem[3:]

    @property
    def label(self) -> str:  # "02.1 decorrelated_jitter": how an exercise is named everywhere
        return f"{self.id} {self.title}"

    @property
    def name(self) -> str:  # the test target, ex02_01_decorrelated_jitter
        return f"ex{self.chapter}_{self.path.stem}"

    @property
    def solution_target(self) -> str:
        return "sol" + self.name[2:]

    @property
    def solution(self) -> Path:
        return CRATE / "solutions" / self.path.relative_to(CRATE / "exercises")

    @property
    def short(self) -> str:
        return str(self.path.relative_to(ROOT))

    def matches(self, query: str) -> bool:
        q = query.strip().removesuffix(".rs")
        return q in (self.id, self.title, self.path.stem, self.name, self.solution_target) or (
            q.endswith(self.path.stem) and Path(q).name == self.path.stem
        )

    def hint(self) -> str:
        """The framing comment's `// Hint:` paragraph."""
        lines, on = [], False
        for line in self.path.read_text().splitlines():
            if not line.startswith("//"):
                break
            text = line[2:].strip()
            if text.startswith("Hint:"):
                on, text = True, text[len("Hint:"):].strip()
            elif on and (not text or re.match(r"^[A-Z][a-z]+( [a-z]+)?:", text)):
                break
            if on:
                lines.append(text)
        return " ".join(lines)

    def first_line(self) -> str:
        """`Exercise 02.1: ...` from the first comment line."""
        return self.path.read_text().splitlines()[0].lstrip("/ ").strip()


def exercises() -> list[Exercise]:
    """Every exercise in the tree, sorted by chapter and number (the directory tree is the
    list; Cargo.toml is generated from it and `--prove` checks that it matches)."""
    return [Exercise(p) for p in sorted((CRATE / "exercises").glob("[0-9][0-9]-*/[0-9][0-9]_*.rs"))]


# ---------------------------------------------------------------------------------------
# Cargo.toml, generated from the tree


def manifest_targets(all_ex: list[Exercise]) -> str:
    out = [
        MANIFEST_MARK + ", so that one that does not compile yet never stops the",
        "# others. Generated by `python3 tools/exercises.py --write-manifest` from the directory",
        "# tree; `--prove` fails if it is out of date.",
        "",
    ]
    for ex in all_ex:
        out += ["[[test]]", f'name = "{ex.name}"', f'path = "{ex.path.relative_to(CRATE)}"', ""]
    out += ["# The solutions, mirroring the exercises (feature `solutions`).", ""]
    for ex in all_ex:
        out += [
            "[[test]]",
            f'name = "{ex.solution_target}"',
            f'path = "{ex.solution.relative_to(CRATE)}"',
            'required-features = ["solutions"]',
            "",
        ]
    return "\n".join(out)


def expected_manifest(all_ex: list[Exercise]) -> str:
    text = (CRATE / "Cargo.toml").read_text()
    head = text[: text.index(MANIFEST_MARK)] if MANIFEST_MARK in text else text.rstrip() + "\n\n"
    return head + manifest_targets(all_ex)


def manifest_problems(all_ex: list[Exercise]) -> list[str]:
    """What is wrong with Cargo.toml's targets, one line each (empty when it is as generated)."""
    have = tomllib.loads((CRATE / "Cargo.toml").read_text()).get("test", [])
    want = tomllib.loads(expected_manifest(all_ex)).get("test", [])
    problems = []
    have_names = [t.get("name") for t in have]
    want_names = [t["name"] for t in want]
    for name in sorted(set(want_names) - set(have_names)):
        problems.append(f"Cargo.toml: no target {name}")
    for name in sorted(set(have_names) - set(want_names)):
        problems.append(f"Cargo.toml: target {name} has no file in the tree (or a name that does not match it)")
    by_name = {t.get("name"): t for t in have}
    for t in want:
        h = by_name.get(t["name"])
        if h is not None and h != t:
            diff = ", ".join(f"{k} = {h.get(k)!r}, want {t.get(k)!r}" for k in sorted(set(h) | set(t)) if h.get(k) != t.get(k))
            problems.append(f"Cargo.toml: target {t['name']}: {diff}")
    common = [n for n in have_names if n in set(want_names)]
    wanted_order = [n for n in want_names if n in set(common)]
    if common != wanted_order:
        first = next(i for i, (a, b) in enumerate(zip(common, wanted_order)) if a != b)
        problems.append(f"Cargo.toml: targets out of order: {common[first]} stands where {wanted_order[first]} belongs")
    if not problems and (CRATE / "Cargo.toml").read_text() != expected_manifest(all_ex):
        problems.append("Cargo.toml: the target list differs from the generated text (layout or comments)")
    if problems:
        problems.append("(run `python3 tools/exercises.py --write-manifest` to regenerate it)")
    return problems


# ---------------------------------------------------------------------------------------
# Building and running


@dataclass
class Build:
    executables: dict[str, str]  # target name -> test binary
    errors: dict[str, list[str]]  # target name -> rendered compiler errors
    other: str  # cargo's own complaints (a broken manifest, the library not compiling)


def build(solutions: bool, quiet: bool = False) -> Build:
    """Builds every test target that compiles."""
    cmd = ["cargo", "build", "-p", PACKAGE, "--tests", "--keep-going", "--message-format=json"]
    if solutions:
        cmd += ["--features", "solutions"]
    if not quiet:
        # The first build compiles the core crate and tokio (minutes on two cores).
        note = "building the exercises (the first time also their dependencies: a few minutes)..."
        print(note, end="\r" if sys.stderr.isatty() else "\n", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not quiet and sys.stderr.isatty():
        print(" " * 90, end="\r", file=sys.stderr, flush=True)
    result = Build({}, {}, "")
    for line in proc.stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        target = msg.get("target", {})
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and "test" in target.get("kind", []):
            result.executables[target["name"]] = msg["executable"]
        elif msg.get("reason") == "compiler-message" and msg["message"].get("level") in ("error", "warning"):
            if msg["message"]["level"] == "error" or "test" in target.get("kind", []):
                result.errors.setdefault(target.get("name", "?"), []).append(msg["message"].get("rendered", ""))
    result.other = "\n".join(l for l in proc.stderr.splitlines() if l.strip().startswith(("error", "warning: ")) and "could not compile" not in l and "build failed" not in l)
    return result


@dataclass
class Run:
    status: str  # "pass", "fail", "timeout", "does not compile"
    output: str = ""
    passed: int = 0
    failed: int = 0
    ignored: int = 0


def run_binary(exe: str, timeout: float) -> Run:
    env = {**os.environ, "RUST_BACKTRACE": "0"}
    try:
        proc = subprocess.run([exe, "-q"], cwd=CRATE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return Run("timeout", out + f"\ntimed out after {timeout:.0f} s: is there a loop that never ends?")
    m = re.search(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", proc.stdout)
    counts = tuple(int(x) for x in m.groups()) if m else (0, 0, 0)
    return Run("pass" if proc.returncode == 0 else "fail", proc.stdout, *counts)


def list_tests(exe: str) -> list[str]:
    proc = subprocess.run([exe, "--list", "--format", "terse"], cwd=CRATE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=30)
    return sorted(line[: -len(": test")] for line in proc.stdout.splitlines() if line.endswith(": test"))


def check(chosen: list[Exercise], built: Build | None = None) -> dict[str, Run]:
    built = built or build(solutions=False)

    def one(ex: Exercise) -> Run:
        exe = built.executables.get(ex.name)
        return run_binary(exe, LEARNER_TIMEOUT) if exe else Run("does not compile")

    # Two at a time: the binaries mostly wait (paused clocks, loopback sockets).
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip((ex.name for ex in chosen), pool.map(one, chosen)))


def failure_excerpt(output: str, limit: int = 14, tests: int = 3) -> str:
    """The first `tests` failed tests, each with its line and panic message (an
    assertion's left and right values included), without the harness's noise; says how
    many more failed."""
    blocks = re.split(r"^---- (\S+) stdout ----$", output, flags=re.M)
    if len(blocks) < 3:  # no per-test blocks (a timeout, a crash): the raw lines
        keep = [line for line in output.splitlines() if line.strip() and not line.startswith(("running ", "test result"))]
        return "\n".join(keep[:limit])
    out = []
    failed = sorted(zip(blocks[1::2], blocks[2::2]))  # libtest's order varies
    for name, body in failed[:tests]:
        lines = body.splitlines()
        where = next((m for m in (re.search(r"panicked at (.+?):(\d+):\d+:$", l) for l in lines) if m), None)
        message = []
        for line in lines[next((i + 1 for i, l in enumerate(lines) if "panicked at" in l), 0):]:
            if not line.strip() or line.startswith(("note: run with", "failures:", "stack backtrace")):
                break
            message.append("      " + line)
        at = f" (line {where.group(2)})" if where else ""
        out.append(f"  x {name.removeprefix('tests::')}{at}")
        out += message[:6]
    if len(failed) > tests:
        out.append(f"  ... and {len(failed) - tests} more failing test(s)")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------
# The learner's view


MARKS = {"pass": "ok  ", "fail": "todo", "timeout": "loop", "does not compile": "!!  "}


def show_one(ex: Exercise, run: Run, built: Build, hint: bool) -> None:
    print(f"{ex.first_line()}\n  file: {ex.short}")
    if run.status == "pass":
        print(f"  solved: all {run.passed} tests pass. A reference solution, to compare: "
              f"./workbook exercises {ex.id} --solution")
    elif run.status == "does not compile":
        print("  it does not compile yet:\n")
        print("\n".join(built.errors.get(ex.name, [])[:3]).rstrip() or built.other or "(see cargo's output)")
    else:
        print(f"  {run.failed} of {run.passed + run.failed} tests fail:" if run.status == "fail" else "  it timed out:")
        print("\n" + failure_excerpt(run.output))
    if run.status != "pass":
        print(f"\n  hint: {ex.hint()}" if hint else f"\n  a hint: ./workbook exercises {ex.id} --hint")


def report(chosen: list[Exercise], results: dict[str, Run], built: Build, focus: Exercise | None = None) -> Exercise | None:
    """Prints the tallies and the next exercise: the one just saved if it fails, else the
    first one after it (in order) that does not pass."""
    chapter = None
    for ex in chosen:
        if ex.chapter != chapter:
            chapter = ex.chapter
            mine = [e for e in chosen if e.chapter == chapter]
            done = sum(results[e.name].status == "pass" for e in mine)
            print(f"\n{ex.path.parent.name}  ({done} of {len(mine)})")
        status = results[ex.name].status
        print(f"  [{MARKS[status]}] {ex.label:<44} {'' if status == 'pass' else status}")
    done = sum(1 for ex in chosen if results[ex.name].status == "pass")
    print(f"\n{done} of {len(chosen)} solved.")
    start = chosen.index(focus) if focus in chosen else 0
    order = chosen[start:] + chosen[:start]
    nxt = next((ex for ex in order if results[ex.name].status != "pass"), None)
    if nxt is None:
        print("All done here. Compare your answers with crates/unbreakable-exercises/solutions/.")
        return None
    print("\nNext: ", end="")
    show_one(nxt, results[nxt.name], built, hint=False)
    print(f"\nThis one alone: ./workbook exercises {nxt.id}")
    return nxt


def watch(chosen: list[Exercise], single: bool) -> int:
    """Re-checks on every save: skips dotfiles and editor droppings, survives files that
    vanish, waits for saves to settle, reruns only the exercises whose files changed."""

    def stamp() -> dict[Path, float]:
        out = {}
        for p in (CRATE / "exercises").rglob("*.rs"):
            if any(part.startswith((".", "#")) for part in p.relative_to(CRATE).parts):
                continue
            try:
                out[p] = p.stat().st_mtime
            except OSError:  # gone between the listing and the stat (an editor's lock file)
                continue
        return out

    last: dict[Path, float] = {}
    results: dict[str, Run] = {}
    try:
        while True:
            now = stamp()
            if now != last:
                time.sleep(0.3)  # debounce: an editor writes a file in several steps
                now = stamp()
                changed = {p for p in now if now.get(p) != last.get(p)}
                last = now
                built = build(solutions=False)
                todo = [ex for ex in chosen if ex.path in changed or ex.name not in results]
                results.update(check(todo, built))
                saved = [ex for ex in chosen if ex.path in changed]
                focus = saved[-1] if len(saved) == 1 else None
                print("\033[2J\033[H", end="")  # clear the terminal
                if single:
                    show_one(chosen[0], results[chosen[0].name], built, hint=False)
                else:
                    report(chosen, results, built, focus)
                print("\nWatching for saves (Ctrl-C to stop).")
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0


def reset(ex: Exercise) -> int:
    """Restores the shipped version from git; the learner's file is kept first."""
    rel = ex.path.relative_to(ROOT)
    proc = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        print(f"cannot find the shipped {rel} in git: {proc.stderr.strip()}")
        return 1
    backup = ROOT / "target" / "exercises-backup" / f"{ex.path.stem}.{int(time.time())}.rs"
    backup.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ex.path, backup)
    ex.path.write_text(proc.stdout)
    print(f"{ex.label}: reset to the shipped version; yours is in {backup.relative_to(ROOT)}")
    return 0


# ---------------------------------------------------------------------------------------
# The proof


def test_module(path: Path) -> str | None:
    text = path.read_text()
    return text[text.index(TEST_MODULE):] if TEST_MODULE in text else None


def static_problems(all_ex: list[Exercise]) -> list[str]:
    problems = manifest_problems(all_ex)
    for ex in all_ex:
        where = ex.short
        if not ex.solution.exists():
            problems.append(f"{where}: no solution at {ex.solution.relative_to(ROOT)}")
            continue
        if not ex.hint():
            problems.append(f"{where}: no `// Hint:` in the framing comment")
        if "TODO" not in ex.path.read_text():
            problems.append(f"{where}: no TODO marker")
        if not ex.first_line().startswith(f"Exercise {ex.id}:"):
            problems.append(f"{where}: the first line should start `// Exercise {ex.id}:` (its one name)")
        mine, theirs = test_module(ex.path), test_module(ex.solution)
        if mine is None:
            problems.append(f"{where}: no `{TEST_MODULE}` test module")
        elif mine != theirs:
            a, b = mine.splitlines(), (theirs or "").splitlines()
            i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            problems.append(
                f"{where}: its test module differs from the solution's, first at line {i + 1} of the module:\n"
                f"      exercise: {a[i] if i < len(a) else '(ends)'}\n      solution: {b[i] if i < len(b) else '(ends)'}"
            )
    stray = sorted(set((CRATE / "solutions").rglob("*.rs")) - {ex.solution for ex in all_ex})
    problems += [f"{p.relative_to(ROOT)}: a solution without an exercise" for p in stray]
    return problems


def style_problems(all_ex: list[Exercise]) -> list[str]:
    """Solutions pass rustfmt and clippy -D warnings (the exercises' stubs are exempt)."""
    problems = []
    files = [str(ex.solution) for ex in all_ex if ex.solution.exists()]
    proc = subprocess.run(["rustfmt", "--check", "--edition", "2024", *files], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        bad = sorted({m.group(1) for m in re.finditer(r"^Diff in (\S+?)(?: at line \d+)?:", proc.stdout, re.M)})
        problems.append("rustfmt: not formatted: " + (", ".join(str(Path(b).relative_to(ROOT)) for b in bad) or proc.stdout[-2000:]))
    cmd = ["cargo", "clippy", "-p", PACKAGE, "--features", "solutions", "--message-format=short"]
    for ex in all_ex:
        cmd += ["--test", ex.solution_target]
    proc = subprocess.run([*cmd, "--", "-D", "warnings"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        lines = [l for l in proc.stdout.splitlines() if re.match(r"^\S+\.rs:\d+:\d+: (error|warning)", l)]
        problems.append("clippy -D warnings on the solutions:\n      " + "\n      ".join(lines[:20] or proc.stdout.splitlines()[-20:]))
    return problems


# A notebook's list of its crate exercises: one markdown bullet per exercise, written by
# `--write-manifest` from the exercise files' first lines.
LIST_ITEM = re.compile(r"\* (\*\*\d\d\.\d+\*\* )?`\w+` \(`crates/unbreakable-exercises/exercises/")


def list_item(ex: Exercise) -> str:
    """`* **03.6** `one_breaker_for_every_task` (`path`): what to do.`"""
    what = ex.first_line().split(":", 1)[-1].strip().rstrip(".")
    return f"* **{ex.id}** `{ex.title}` (`{ex.path.relative_to(ROOT)}`): {what}.\n"


def write_notebook_lists(all_ex: list[Exercise]) -> list[str]:
    """Rewrites the bullets of each chapter's exercise list from the tree; the notebooks
    it changed."""
    changed = []
    for book in sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")):
        items = [list_item(ex) for ex in all_ex if ex.chapter == book.name[:2]]
        nb = json.loads(book.read_text())
        for cell in nb["cells"]:
            lines = cell["source"]
            at = [i for i, line in enumerate(lines) if cell["cell_type"] == "markdown" and LIST_ITEM.match(line)]
            if not items or not at:
                continue
            if at[-1] == len(lines) - 1 and not lines[-1].endswith("\n"):
                items[-1] = items[-1].rstrip("\n")  # the list ends the cell
            if lines[at[0]:at[-1] + 1] != items:
                cell["source"] = lines[:at[0]] + items + lines[at[-1] + 1:]
                book.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
                changed.append(book.name)
            break
    return changed


def notebook_warnings(all_ex: list[Exercise]) -> list[str]:
    """Each chapter's notebook names each of its chapter's exercises (by test target or
    file): a learner finds every exercise from the chapter it belongs to."""
    warnings = []
    for chapter in sorted({ex.chapter for ex in all_ex}):
        books = sorted(NOTEBOOKS.glob(f"{chapter}-*.ipynb"))
        if not books:
            warnings.append(f"chapter {chapter}: no notebook")
            continue
        text = books[0].read_text()
        missing = [ex for ex in all_ex if ex.chapter == chapter and ex.name not in text and str(ex.path.relative_to(CRATE / "exercises")) not in text]
        if missing:
            warnings.append(f"{books[0].name} does not list " + ", ".join(f"{ex.label} ({ex.name})" for ex in missing)
                            + " (run `python3 tools/exercises.py --write-manifest` to regenerate the lists)")
    return warnings


def prove() -> int:
    """Every exercise compiles and fails as shipped; every solution passes, with the same
    tests; the manifest matches the tree; solutions are formatted and clippy-clean."""
    start = time.monotonic()
    all_ex = exercises()
    problems = static_problems(all_ex)
    built = build(solutions=True, quiet=True)
    if built.other:
        problems.append("cargo: " + built.other[-3000:])
    for ex in all_ex:
        ran = {}
        for target, where, want in ((ex.name, ex.short, "fail"), (ex.solution_target, str(ex.solution.relative_to(ROOT)), "pass")):
            if target not in built.executables:
                errs = "\n".join(built.errors.get(target, [])[:2])
                listed = target in {t.get("name") for t in tomllib.loads((CRATE / "Cargo.toml").read_text()).get("test", [])}
                problems.append(f"{where}: does not compile\n{errs}" if listed else f"{where}: not built (no target {target} in Cargo.toml)")
                continue
            run = run_binary(built.executables[target], PROVE_TIMEOUT)
            ran[target] = (run, list_tests(built.executables[target]))
            if run.status == "timeout":
                problems.append(f"{where}: timed out after {PROVE_TIMEOUT:.0f} s")
            elif run.status != want:
                problems.append(f"{where}: {'passes as shipped' if want == 'fail' else 'fails'}\n{failure_excerpt(run.output, 20)}")
            if run.ignored:
                problems.append(f"{where}: {run.ignored} test(s) ignored")
            if run.status != "timeout" and run.passed + run.failed + run.ignored == 0:
                problems.append(f"{where}: no tests ran")
        if len(ran) == 2:
            (r_ex, l_ex), (r_sol, l_sol) = ran[ex.name], ran[ex.solution_target]
            if l_ex != l_sol:
                problems.append(f"{ex.short}: tests {l_ex} but its solution runs {l_sol}")
            if r_sol.status == "pass" and r_ex.status == "fail" and r_ex.passed + r_ex.failed != r_sol.passed:
                problems.append(f"{ex.short}: {r_ex.passed + r_ex.failed} tests ran, its solution ran {r_sol.passed}")
    problems += style_problems(all_ex)
    problems += notebook_warnings(all_ex)
    per_chapter: dict[str, int] = {}
    for ex in all_ex:
        per_chapter[ex.chapter] = per_chapter.get(ex.chapter, 0) + 1
    counts = ", ".join(f"{c}: {n}" for c, n in sorted(per_chapter.items()))
    elapsed = time.monotonic() - start
    if problems:
        print("exercises --prove FAILED:\n" + "\n".join(f"  {p}" for p in problems))
        return 1
    print(
        f"exercises --prove: {len(all_ex)} exercises fail as shipped and their solutions pass, with the same tests "
        f"({counts}); Cargo.toml matches the tree; solutions formatted and clippy-clean; in {elapsed:.0f} s"
    )
    return 0


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    flags = {a for a in argv if a.startswith("--")}
    unknown = flags - {"--watch", "--prove", "--help", "--hint", "--reset", "--solution", "--yes", "--write-manifest"}
    if "--help" in flags or unknown:
        print(__doc__)
        return 0 if "--help" in flags else 2
    if "--prove" in flags:
        return prove()
    all_ex = exercises()
    if "--write-manifest" in flags:
        (CRATE / "Cargo.toml").write_text(expected_manifest(all_ex))
        print(f"wrote the targets of {len(all_ex)} exercises and their solutions into {CRATE.relative_to(ROOT)}/Cargo.toml")
        books = write_notebook_lists(all_ex)
        print(f"rewrote the exercise lists of {', '.join(books) if books else 'no notebook (all were current)'}")
        return 0
    chapters = [a for a in args if re.fullmatch(r"\d\d", a)]
    named = [a for a in args if a not in chapters]
    chosen = [ex for ex in all_ex if ex.chapter in chapters] if chapters else []
    for q in named:
        found = [ex for ex in all_ex if ex.matches(q)]
        if len(found) != 1:
            print(f"no exercise named {q!r}" if not found else f"{q!r} names several: {', '.join(e.label for e in found)}")
            print("name one by its number (03.2), its title (amplification) or its file")
            return 2
        chosen += found
    if not args:
        chosen = all_ex
    if not chosen:
        print(f"no exercises for chapter {' '.join(chapters)}")
        return 2
    single = len(named) == 1 and not chapters
    if single and "--hint" in flags:
        print(f"{chosen[0].label}: {chosen[0].hint()}")
        return 0
    if single and "--reset" in flags:
        return reset(chosen[0])
    if (flags & {"--hint", "--reset", "--solution"}) and not single:
        print("--hint, --reset and --solution take one exercise: ./workbook exercises 03.2 --hint")
        return 2
    if "--watch" in flags:
        return watch(chosen, single)
    built = build(solutions=False)
    results = check(chosen, built)
    if single:
        ex = chosen[0]
        if "--solution" in flags:
            if results[ex.name].status != "pass" and "--yes" not in flags:
                print(f"{ex.label} does not pass yet. To see its solution anyway: ./workbook exercises {ex.id} --solution --yes")
                return 1
            print(ex.solution.read_text())
            return 0
        show_one(ex, results[ex.name], built, hint=False)
        return 0 if results[ex.name].status == "pass" else 1
    report(chosen, results, built)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
