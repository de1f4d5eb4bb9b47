"""Self-checking exercises, in the manner of rustlings: `./workbook exercises`.

Standard library only. The exercises are test targets of the crate
`crates/unbreakable-exercises` (one per file under `exercises/NN-chapter/`), listed in its
Cargo.toml; their tests fail until the exercise is solved. Solutions mirror them under
`solutions/`, built as targets of their own (`solNN_...`) with the crate's feature
`solutions`.

    ./workbook exercises            every exercise, per chapter, passing or not, and the
                                    next one to do with its path and hint
    ./workbook exercises 02         only chapter 02
    ./workbook exercises --watch    the same, again on every save (polls the files)
    ./workbook exercises --prove    every exercise compiles and fails as shipped, and every
                                    solution passes (the test suite runs this)

One `cargo build --tests --keep-going` per tree builds every target that compiles (one
that does not never stops the others), then each test binary runs directly: a pass or a
failure per exercise, without one cargo call per exercise.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATE = ROOT / "crates" / "unbreakable-exercises"
PACKAGE = "unbreakable-exercises"


@dataclass
class Exercise:
    name: str  # the test target, e.g. ex02_01_decorrelated_jitter
    path: Path  # exercises/02-retries-and-backoff/01_decorrelated_jitter.rs
    chapter: str  # "02"

    @property
    def solution(self) -> Path:
        return CRATE / "solutions" / self.path.relative_to(CRATE / "exercises")

    @property
    def solution_target(self) -> str:
        return "sol" + self.name[2:]

    @property
    def short(self) -> str:
        return str(self.path.relative_to(ROOT))

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
    """The exercise targets, in the order of Cargo.toml (sorted by chapter and number)."""
    manifest = tomllib.loads((CRATE / "Cargo.toml").read_text())
    return [
        Exercise(t["name"], CRATE / t["path"], t["name"][2:4])
        for t in manifest.get("test", [])
        if t["name"].startswith("ex")
    ]


def build(solutions: bool) -> tuple[dict[str, str], str]:
    """Builds every test target that compiles; returns {target: executable} and cargo's
    rendered diagnostics."""
    cmd = ["cargo", "build", "-p", PACKAGE, "--tests", "--keep-going", "--message-format=json-render-diagnostics"]
    if solutions:
        cmd += ["--features", "solutions"]
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    built = {}
    for line in proc.stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and "test" in msg["target"]["kind"]:
            built[msg["target"]["name"]] = msg["executable"]
    return built, proc.stderr


def run_binary(exe: str) -> tuple[bool, str]:
    """Runs one test binary; (passed, output)."""
    try:
        env = {**os.environ, "RUST_BACKTRACE": "0"}
        proc = subprocess.run([exe, "-q"], cwd=CRATE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return False, "timed out after 120 s"
    return proc.returncode == 0, proc.stdout


def check(chosen: list[Exercise]) -> dict[str, tuple[str, str]]:
    """{target: (status, output)} with status "pass", "fail" or "does not compile"."""
    built, _ = build(solutions=False)
    results = {}
    for ex in chosen:
        if ex.name not in built:
            results[ex.name] = ("does not compile", "")
        else:
            ok, out = run_binary(built[ex.name])
            results[ex.name] = ("pass" if ok else "fail", out)
    return results


def failure_excerpt(output: str, limit: int = 12) -> str:
    """The panic messages of a failed run, without the harness's noise."""
    keep = [line for line in output.splitlines() if line.strip() and not line.startswith(("running ", "test result", "failures:", "error: test failed"))]
    keep = [line for line in keep if "note: run with `RUST_BACKTRACE" not in line and not line.startswith("    tests::")]
    keep = [line for line in keep if not re.fullmatch(r"[.Fi]+( \d+/\d+)?", line.strip())]
    return "\n".join(keep[:limit])


def report(chosen: list[Exercise], results: dict[str, tuple[str, str]]) -> str | None:
    marks = {"pass": "ok  ", "fail": "todo", "does not compile": "!!  "}
    chapter = None
    for ex in chosen:
        if ex.chapter != chapter:
            chapter = ex.chapter
            print(f"\n{ex.path.parent.name}")
        status = results[ex.name][0]
        print(f"  [{marks[status]}] {ex.path.stem:<36} {'' if status == 'pass' else status}")
    done = sum(1 for ex in chosen if results[ex.name][0] == "pass")
    print(f"\n{done} of {len(chosen)} solved.")
    nxt = next((ex for ex in chosen if results[ex.name][0] != "pass"), None)
    if nxt is None:
        print("All done here. Compare your answers with crates/unbreakable-exercises/solutions/.")
        return None
    status, out = results[nxt.name]
    print(f"\nNext: {nxt.first_line()}\n  file: {nxt.short}\n  hint: {nxt.hint()}")
    if status == "does not compile":
        print(f"  it does not compile; see: cargo test -p {PACKAGE} --test {nxt.name}")
    else:
        print("\n" + failure_excerpt(out))
    print(f"\nRun one exercise alone: cargo test -p {PACKAGE} --test {nxt.name}")
    return nxt.name


def watch(chosen: list[Exercise]) -> int:
    def stamp() -> dict[Path, float]:
        return {p: p.stat().st_mtime for p in (CRATE / "exercises").rglob("*.rs")}

    last = None
    try:
        while True:
            now = stamp()
            if now != last:
                last = now
                print("\033[2J\033[H", end="")  # clear the terminal
                report(chosen, check(chosen))
                print("\nWatching for saves (Ctrl-C to stop).")
            time.sleep(1.0)
    except KeyboardInterrupt:
        return 0


def prove() -> int:
    """Every exercise compiles and fails as shipped; every solution passes."""
    start = time.monotonic()
    all_ex = exercises()
    problems = []
    for ex in all_ex:
        if not ex.solution.exists():
            problems.append(f"{ex.short}: no solution at {ex.solution.relative_to(ROOT)}")
        if not ex.hint():
            problems.append(f"{ex.short}: no `// Hint:` in the framing comment")
        if "TODO" not in ex.path.read_text():
            problems.append(f"{ex.short}: no TODO marker")
    for solutions, wanted in ((False, False), (True, True)):
        built, diagnostics = build(solutions)
        for ex in all_ex:
            target = ex.solution_target if solutions else ex.name
            where = ex.solution.relative_to(ROOT) if solutions else ex.short
            if target not in built:
                problems.append(f"{where}: does not compile")
                continue
            ok, out = run_binary(built[target])
            if ok != wanted:
                problems.append(f"{where}: {'fails' if wanted else 'passes as shipped'}\n{failure_excerpt(out, 20)}")
        if any("does not compile" in p for p in problems):
            print(diagnostics[-4000:], file=sys.stderr)
    per_chapter: dict[str, int] = {}
    for ex in all_ex:
        per_chapter[ex.chapter] = per_chapter.get(ex.chapter, 0) + 1
    counts = ", ".join(f"{c}: {n}" for c, n in sorted(per_chapter.items()))
    elapsed = time.monotonic() - start
    if problems:
        print("exercises --prove FAILED:\n" + "\n".join(f"  {p}" for p in problems))
        return 1
    print(f"exercises --prove: {len(all_ex)} exercises fail as shipped and their solutions pass ({counts}) in {elapsed:.0f} s")
    return 0


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    flags = {a for a in argv if a.startswith("--")}
    unknown = flags - {"--watch", "--prove", "--help"}
    if "--help" in flags or unknown or any(not re.fullmatch(r"\d\d", a) for a in args):
        print(__doc__)
        return 0 if "--help" in flags else 2
    if "--prove" in flags:
        return prove()
    chosen = [ex for ex in exercises() if not args or ex.chapter in args]
    if not chosen:
        print(f"no exercises for chapter {' '.join(args)}")
        return 2
    if "--watch" in flags:
        return watch(chosen)
    report(chosen, check(chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
