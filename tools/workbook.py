"""The workbook's commands: set-up, the main job, the tests, JupyterLab and the charts.

Standard library only: this runs before the virtual environment exists.

    ./workbook run      execute every notebook headless and write every chart
    ./workbook test     the whole test suite: cargo tests and every notebook
    ./workbook lab      open the notebooks in JupyterLab on the Rust kernel
    ./workbook charts   only the charts (pass --list, --only ID, --seed N, --out DIR)
    ./workbook book     the executed chapters as a static HTML site in data/book
    ./workbook play     the book with its widgets live, on an axum server on 127.0.0.1
                        (--port P, default 8426; Ctrl-C stops it)
    ./workbook bench-play  p50/p99 of every widget's run, through HTTP on 127.0.0.1 and
                        called directly (--count N, --concurrency C)
    ./workbook setup    only the set-up (each command above does it first), and the
                        crates the notebooks load, compiled for the kernel
    ./workbook bench-kernel  how long the Rust kernel takes per cell, and where the time
                        goes (a benchmark; run it twice on a new machine for warm figures)
    ./workbook simulate  the checkout and the leader election under simulated faults,
                        seed after seed (--seeds N, --seed S, --scenario S, --mutant M;
                        no set-up needed; a failing seed prints the line that replays it)
    ./workbook exercises  the self-checking exercises (no set-up needed): which pass,
                        and the next one (NN: one chapter; NN.M: one exercise, with
                        --hint, --reset or --solution; --watch: re-check on save)

Every command sets itself up on a fresh machine: a Python virtual environment in .venv
with the Jupyter packages of requirements.txt, the evcxr_jupyter kernel at a pinned
version built into that environment, and its kernelspec, also inside it.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
EVCXR_VERSION = "0.22.0"
KERNEL_NAME = "rust"
CACHE = Path(
    os.environ.get("UNBREAKABLE_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "unbreakable"
)
START = time.monotonic()
# Servers the tests, notebooks and charts start (PostgreSQL, Redis) come from this
# environment; the crates look here for them.
os.environ.setdefault("UNBREAKABLE_VENV", str(VENV))


def say(msg: str) -> None:
    """Prints a progress line with the time since the command started."""
    t = int(time.monotonic() - START)
    print(f"[{t // 60:02d}:{t % 60:02d}] {msg}", flush=True)


PHASES: list[tuple[str, float]] = []


def phase(name: str) -> None:
    """Starts a named phase of the command; the phases and their durations are printed when
    the command ends (also when it fails), so that a drift in the suite's time shows."""
    if not PHASES:
        atexit.register(print_phases)
    PHASES.append((name, time.monotonic()))


def print_phases() -> None:
    end = time.monotonic()
    print("\nphase timings:", flush=True)
    for k, (name, t) in enumerate(PHASES):
        until = PHASES[k + 1][1] if k + 1 < len(PHASES) else end
        d = int(until - t)
        print(f"  {name:<44} {d // 60:3d} min {d % 60:02d} s", flush=True)
    d = int(end - START)
    print(f"  {'total':<44} {d // 60:3d} min {d % 60:02d} s", flush=True)


def call(cmd: list, env: dict[str, str] | None = None) -> int:
    """Prints a command, runs it from the repository root streaming its output, and
    returns its exit code."""
    cmd = [str(c) for c in cmd]
    say("$ " + " ".join(cmd))
    return subprocess.call(cmd, cwd=ROOT, env=env)


def run(cmd: list, env: dict[str, str] | None = None) -> None:
    """Like `call`, but exits with the command's code if it fails."""
    code = call(cmd, env)
    if code != 0:
        say(f"failed with exit code {code}: {' '.join(str(c) for c in cmd)}")
        sys.exit(code)


def need(tool: str, hint: str) -> None:
    if shutil.which(tool) is None:
        sys.exit(f"error: `{tool}` was not found on PATH. {hint}")


def jupyter_env() -> dict[str, str]:
    """The environment for Jupyter processes: our kernelspec first, whatever else the
    user has installed."""
    env = dict(os.environ)
    env["JUPYTER_PATH"] = str(VENV / "share" / "jupyter")
    env["UNBREAKABLE_CACHE"] = str(CACHE)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["UNBREAKABLE_VENV"] = str(VENV)
    return env


def setup() -> None:
    need("cargo", "Install the Rust toolchain with rustup: https://rustup.rs")
    if not (BIN / "python").exists():
        say(f"creating the virtual environment {VENV.relative_to(ROOT)}")
        run([sys.executable, "-m", "venv", VENV])
    req = ROOT / "requirements.txt"
    digest = hashlib.sha256(req.read_bytes()).hexdigest()
    stamp = VENV / ".requirements.sha256"
    if not stamp.exists() or stamp.read_text().strip() != digest:
        say("installing the Jupyter packages of requirements.txt")
        run([BIN / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", req])
        stamp.write_text(digest)
    kernel = BIN / "evcxr_jupyter"
    # cargo records what it installed under --root in .crates.toml.
    manifest = VENV / ".crates.toml"
    installed = manifest.read_text() if manifest.exists() else ""
    if not kernel.exists() or f'"evcxr_jupyter {EVCXR_VERSION} ' not in installed:
        say(f"building evcxr_jupyter {EVCXR_VERSION} into {VENV.relative_to(ROOT)} "
            f"(about 6-13 minutes the first time on a machine; later clones reuse {CACHE}/evcxr-target)")
        # Not --quiet: cargo's "Compiling ..." lines are the progress of a 6-13 minute step.
        run(["cargo", "install", "evcxr_jupyter", "--version", EVCXR_VERSION, "--locked",
             "--root", VENV, "--target-dir", CACHE / "evcxr-target"])
    share = VENV / "share" / "jupyter"
    spec = share / "kernels" / KERNEL_NAME
    if not (spec / "version.txt").exists():
        # evcxr writes its kernelspec (logos, version.txt) under $JUPYTER_PATH; with
        # version.txt in place it will not rewrite the spec on start-up.
        env = dict(os.environ, JUPYTER_PATH=str(share))
        subprocess.run([kernel, "--install"], env=env, check=True, stdout=subprocess.DEVNULL)
    want = {
        "argv": [str(ROOT / "tools" / "evcxr-kernel"), "--control_file", "{connection_file}"],
        "display_name": "Rust",
        "language": "rust",
        "interrupt_mode": "message",
        "env": {
            "EVCXR_JUPYTER": str(kernel),
            "UNBREAKABLE_CACHE": str(CACHE),
            # Show every column (and up to 25 rows) of the workbook's tables.
            "POLARS_FMT_MAX_COLS": "16",
            "POLARS_FMT_MAX_ROWS": "25",
            "POLARS_TABLE_WIDTH": "180",
        },
    }
    path = spec / "kernel.json"
    if not path.exists() or json.loads(path.read_text()) != want:
        path.write_text(json.dumps(want, indent=2) + "\n")
        say(f"kernelspec `{KERNEL_NAME}` written to {spec.relative_to(ROOT)}")
    jupyter_settings()
    say("set-up is complete")


def jupyter_settings() -> None:
    """The project's own Jupyter settings, inside .venv (nothing on the learner's machine):
    JupyterLab asks no question about news or updates over the first notebook, and the
    server waits up to 5 minutes for a kernel's first answer (a warmed-up kernel answers
    after loading the laboratory, and a second one first copies slot 0's build)."""
    files = {
        VENV / "share" / "jupyter" / "lab" / "settings" / "overrides.json": {
            "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
        },
        VENV / "etc" / "jupyter" / "jupyter_server_config.json": {
            "MappingKernelManager": {"kernel_info_timeout": 300},
        },
    }
    for path, want in files.items():
        if not path.exists() or json.loads(path.read_text()) != want:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(want, indent=2) + "\n")


def warm_kernel() -> None:
    """Warms the kernel after a build for it: one headless session compiles and loads the
    laboratory in a build slot and marks that slot current (tools/kernel_warm.py), so later
    kernels load it at start-up, before the first cell. A second when nothing changed."""
    env = jupyter_env()
    # Any current slot will do: the warm-up runs in whichever slot is free, and a kernel
    # in another slot is seeded from it.
    if subprocess.run([sys.executable, ROOT / "tools" / "kernel_warm.py", "status", CACHE / "evcxr"],
                      env=env).returncode == 0:
        return
    say("warming the kernel: one session compiles and loads the laboratory crate, so that a "
        "notebook's kernel loads it at start-up, while the learner reads (about a minute)")
    if call([BIN / "python", ROOT / "tools" / "kernel_warm.py", "warm"], env) != 0:
        say("the kernel's warm-up failed (above); notebooks start without it and still work")


def notebooks(out: Path, extra: list[str]) -> int:
    """Runs the notebooks headless, two at a time where there are two cores (each in its
    own kernel and build slot; tools/run_notebooks.py)."""
    jobs = [] if any(a.startswith("--jobs") for a in extra) else ["--jobs", str(min(2, os.cpu_count() or 1))]
    return call([BIN / "python", ROOT / "tools" / "run_notebooks.py", "--out", out, *jobs, *extra], jupyter_env())


# The kernel compiles cells with cargo in its own build directory (a slot of
# tools/evcxr-kernel), with evcxr 0.22's profile and environment (eval_context.rs,
# `cargo_command`; module.rs, the generated Cargo.toml). The chart command is built the
# same way, in the first slot's target directory, and with the workspace's Cargo.lock (the
# kernel's start-up file, tools/evcxr-config/init.evcxr, copies it in), so that cargo compiles
# polars, plotters, tokio and the rest once for both: a kernel that starts after the chart
# command was built finds them fresh. Only the two path crates differ (cargo hashes their
# place relative to the workspace) and compile again in the kernel, in about a minute.
KERNEL_TARGET = CACHE / "evcxr" / "slot-0" / "target"
KERNEL_PROFILE = {
    "opt-level": "2", "debug": "false", "strip": '"debuginfo"', "rpath": "true", "lto": "false",
    "debug-assertions": "true", "codegen-units": "16", "panic": '"unwind"', "incremental": "true",
    "overflow-checks": "true",
}


def host_target() -> str:
    """The host's target triple, which evcxr passes to cargo as `--target`."""
    return next(line.split()[1] for line in subprocess.run(
        ["rustc", "-vV"], capture_output=True, text=True, check=True).stdout.splitlines()
        if line.startswith("host:"))


def kernel_rustflags() -> str:
    """The RUSTFLAGS evcxr compiles with: shared libstd, and lld where evcxr picks it as the
    linker (lld on PATH and no mold)."""
    flags = "-Cprefer-dynamic"
    if shutil.which("mold") is None and shutil.which("lld") is not None:
        flags += " -Clink-arg=-fuse-ld=lld"
    return flags


def kernel_cargo(subcommand: str, *args: str) -> tuple[list[str], dict[str, str]]:
    """A cargo command line and environment that build with the kernel's settings, into
    its first slot's target directory."""
    env = dict(os.environ, CARGO_TARGET_DIR=str(KERNEL_TARGET), CARGO_BUILD_BUILD_DIR=str(KERNEL_TARGET),
               RUSTFLAGS=kernel_rustflags())
    config = [f"--config=profile.dev.{k}={v}" for k, v in KERNEL_PROFILE.items()]
    return ["cargo", subcommand, *config, "--target", host_target(), *args], env


def build_for_kernel() -> None:
    """Builds the chart command with the kernel's settings, which compiles every dependency
    the notebooks' kernel needs, here with cargo's progress in the terminal (9 minutes on a
    new 2-core machine, a second when nothing changed), not later inside a notebook's first
    cell."""
    say("building the laboratory crate and the chart command, with the kernel's settings and "
        "in its target directory, so the notebooks' kernel reuses the compiled dependencies")
    run(*kernel_cargo("build", "-p", "unbreakable-lab", "--bin", "unbreakable-charts"))


def charts(args: list[str]) -> int:
    cmd, env = kernel_cargo("run", "--quiet", "-p", "unbreakable-lab", "--bin", "unbreakable-charts", "--", *args)
    return call(cmd, env)


def browser(install: bool) -> bool:
    """Whether Debian's Chromium and chromedriver are there for the book's browser check;
    with `install`, installs them first where this machine lets us (root and apt-get).
    Says in one line why not, where not."""
    need = ["/usr/bin/chromium", "/usr/bin/chromedriver"]
    if all(Path(p).exists() for p in need):
        return True
    if install and shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        say("installing Debian's chromium and chromium-driver for the book's browser check")
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium", "chromium-driver"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if call(cmd, env) != 0:
            call(["apt-get", "update", "-q"], env)
            call(cmd, env)
        if all(Path(p).exists() for p in need):
            return True
    why = "not root, or no apt-get" if install else "run ./workbook test once as root on Debian to install it"
    say(f"browser check skipped: Chromium and chromedriver are not installed ({why}); "
        "the book is built but not checked in a browser")
    return False


def book(executed: Path, chart_dir: Path, out: Path, install_browser: bool) -> int:
    """Builds the static site and, where Chromium is there, checks it in the browser (the
    check also takes the screenshots in <out>/screenshots)."""
    code = call([BIN / "python", ROOT / "tools" / "book.py", "--executed", executed,
                 "--charts", chart_dir, "--out", out])
    if code == 0 and browser(install_browser):
        code = call([BIN / "python", ROOT / "tools" / "check_book.py", "--book", out, "--executed", executed])
    return code


def cmd_run(args: list[str]) -> int:
    phase("set-up (.venv, evcxr_jupyter)")
    setup()
    phase("the crates, built for the kernel")
    build_for_kernel()
    phase("the kernel's warm-up")
    warm_kernel()
    phase("notebooks")
    nb = notebooks(ROOT / "data" / "executed", args)
    phase("charts and book")
    ch = charts(["--out", str(ROOT / "data" / "charts")])
    bk = book(ROOT / "data" / "executed", ROOT / "data" / "charts", ROOT / "data" / "book", False) if nb == 0 and ch == 0 else 1
    say(f"executed notebooks are in data/executed, charts in data/charts, the book in "
        f"data/book (open data/book/index.html) "
        f"({'ok' if nb == 0 and ch == 0 and bk == 0 else 'with failures, see above'})")
    return nb or ch or bk


def cmd_book(args: list[str]) -> int:
    setup()
    executed, chart_dir = ROOT / "data" / "executed", ROOT / "data" / "charts"
    if not any(executed.glob("[0-9][0-9]-*.ipynb")):
        sys.exit("error: data/executed has no executed notebooks: run ./workbook run first "
                 "(it executes them, writes the charts and builds the book)")
    if not (chart_dir / "index.json").exists():
        code = charts(["--out", str(chart_dir)])
        if code != 0:
            return code
    return book(executed, chart_dir, ROOT / "data" / "book", False)


def cmd_test(args: list[str]) -> int:
    phase("notebooks as committed, cargo fmt")
    say("notebooks as committed: no outputs, navigation, summary and exercises")
    run([sys.executable, ROOT / "tools" / "check_notebooks.py"])
    say("one style: cargo fmt --check (rustfmt.toml)")
    run(["cargo", "fmt", "--all", "--check"])
    phase("set-up (.venv, evcxr_jupyter)")
    setup()
    phase("cargo tests")
    say("cargo tests (unit, property, integration and doc tests; every feature, so the tower "
        "layers' loopback HTTP test and the SQLite key store run too; the exercises, which "
        "fail until solved, are proved apart below)")
    run(["cargo", "test", "--workspace", "--all-features", "--exclude", "unbreakable-exercises"])
    phase("clippy")
    say("clippy on every crate, target and feature, warnings as errors (not the exercises: "
        "shipped unsolved, their unused arguments and todo!()s are the learner's to fill)")
    run(["cargo", "clippy", "--workspace", "--all-targets", "--all-features", "--exclude",
         "unbreakable-exercises", "--", "-D", "warnings"])
    phase("exercises")
    say("exercises: every one compiles and fails as shipped, every solution passes")
    run([sys.executable, ROOT / "tools" / "exercises.py", "--prove"])
    phase("lean builds")
    say("the patterns crate as lean as a service can take it (no default features) builds "
        "without a warning, and the laboratory without polars and plotters still builds")
    run(["cargo", "clippy", "-p", "unbreakable", "--no-default-features", "--lib", "--", "-D", "warnings"])
    run(["cargo", "check", "-p", "unbreakable-lab", "--no-default-features", "--lib", "--examples"])
    phase("the crates, built for the kernel, and its warm-up")
    build_for_kernel()
    warm_kernel()
    phase("notebooks")
    say("notebooks, headless on the Rust kernel")
    executed = ROOT / "target" / "executed-notebooks"
    started = time.time()
    code = notebooks(executed, ["--test", *args])
    if code != 0 or args:
        return code  # a partial run (names given) builds no book
    phase("kernel check, charts, book")
    say("the kernel's build directory: the workspace's dependency versions, the chart command's profile")
    run([sys.executable, ROOT / "tools" / "check_kernel.py", "--since", f"{started:.0f}"])
    say("the chart command, and the book from the executed notebooks, checked in Chromium")
    chart_dir = ROOT / "target" / "test-charts"
    # The chart command as the cargo tests built it (every feature of the workspace);
    # `cargo run` with the laboratory's own features would compile polars once more.
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    code = call([target / "debug" / "unbreakable-charts", "--out", chart_dir])
    if code == 0:
        say("the charts again, from the chart command built with the kernel's settings "
            "(opt-level 2, -Cprefer-dynamic, what ./workbook run uses): they must be the same bytes")
        kernel_dir = ROOT / "target" / "test-charts-kernel-settings"
        code = charts(["--out", str(kernel_dir)]) or same_files(chart_dir, kernel_dir)
    code = code or book(executed, chart_dir, ROOT / "target" / "test-book", True)
    return code or play_check(target / "debug" / "unbreakable-play", ROOT / "target" / "test-book")


def same_files(a: Path, b: Path) -> int:
    """0 if the two directories hold the same files with the same bytes; else says which
    differ and returns 1."""
    names = sorted({f.name for f in a.iterdir()} | {f.name for f in b.iterdir()})
    differ = [n for n in names if not ((a / n).is_file() and (b / n).is_file()
                                       and (a / n).read_bytes() == (b / n).read_bytes())]
    if differ:
        say(f"{len(differ)} of {len(names)} files differ between {a} and {b}: {', '.join(differ[:10])}")
        return 1
    say(f"{len(names)} files, the same bytes in both")
    return 0


# The widgets' server (issue 26): built with every feature of the laboratory, as the cargo
# tests build it (the same compiled dependencies); the notebooks' kernel builds the
# laboratory without its `play` feature and compiles no web server.
PLAY_BUILD = ["cargo", "build", "-p", "unbreakable-lab", "--all-features"]


def play_check(server: Path, book_dir: Path) -> int:
    """The live widgets in Chromium (where it is installed) and the API fuzzed by
    schemathesis from its OpenAPI description (tools/check_play.py); loopback only."""
    phase("play server: widgets in Chromium, API fuzzed")
    say("the play server: every widget moved in Chromium against its API, and the API "
        "fuzzed from its OpenAPI description (schemathesis, bounded)")
    args = [BIN / "python", ROOT / "tools" / "check_play.py", "--server", server, "--book", book_dir]
    if not browser(False):
        args.append("--no-browser")
    return call(args)


def cmd_play(args: list[str]) -> int:
    book_dir = ROOT / "data" / "book"
    if not (book_dir / "index.html").exists():
        if any((ROOT / "data" / "executed").glob("[0-9][0-9]-*.ipynb")):
            say("data/book is missing: building it from data/executed")
            if cmd_book([]) != 0:
                return 1
        else:
            say("no book yet (run ./workbook run to execute the chapters and build it): "
                "serving the widgets' API only")
    run([*PLAY_BUILD, "--bin", "unbreakable-play"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    cmd = [str(target / "debug" / "unbreakable-play"), "--book", str(book_dir), *args]
    say("$ " + " ".join(cmd))
    os.execv(cmd[0], cmd)
    return 0


def cmd_bench_play(args: list[str]) -> int:
    # The profile ./workbook play runs (dev, opt-level 1), with the tests' dependencies.
    return call([*PLAY_BUILD[:1], "run", *PLAY_BUILD[2:], "--example", "play_bench", "--", *args])


def cmd_lab(args: list[str]) -> int:
    setup()
    build_for_kernel()
    warm_kernel()
    env = jupyter_env()
    cmd = [str(BIN / "jupyter"), "lab", "--notebook-dir", str(ROOT / "notebooks"), *args]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in args:
        cmd.append("--allow-root")  # containers often run as root; Jupyter refuses without it
    say("$ " + " ".join(cmd))
    os.execve(cmd[0], cmd, env)
    return 0


def cmd_bench_kernel(args: list[str]) -> int:
    setup()
    return subprocess.call([str(BIN / "python"), str(ROOT / "tools" / "kernel_bench.py"), *args],
                           cwd=ROOT, env=jupyter_env())


def cmd_simulate(args: list[str]) -> int:
    """The simulation's own binary, built optimised (its figures in seeds per second are for
    that build; the tests run the same code unoptimised)."""
    # Debug assertions on: the crate's test-only `mutants` feature, which the simulation
    # needs, refuses to compile without them (so that no service ships it by accident).
    return call(["cargo", "run", "--release", "--config", "profile.release.debug-assertions=true",
                 "--quiet", "-p", "unbreakable-sim", "--bin",
                 "unbreakable-simulate", "--", *args], dict(os.environ))


def main() -> int:
    commands = {
        "run": cmd_run,
        "test": cmd_test,
        "lab": cmd_lab,
        "charts": lambda a: charts(a),
        "book": cmd_book,
        "exercises": lambda a: subprocess.call([sys.executable, ROOT / "tools" / "exercises.py", *a]),
        "setup": lambda a: (setup(), build_for_kernel(), warm_kernel(), 0)[3],
        "bench-kernel": cmd_bench_kernel,
        "simulate": cmd_simulate,
        "play": cmd_play,
        "bench-play": cmd_bench_play,
    }
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__.strip())
        return 0 if len(sys.argv) >= 2 and sys.argv[1] in ("help", "-h", "--help") else 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
