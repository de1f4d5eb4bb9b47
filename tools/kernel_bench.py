"""How long the Rust kernel takes, and where the time goes: a benchmark, not a test.

    ./workbook bench-kernel            (or: .venv/bin/python tools/kernel_bench.py)

It drives the project's own kernel (the `rust` kernelspec of .venv, with the persistent
build directories of tools/evcxr-kernel) through the cells every chapter starts with, then
a dozen small later cells, and prints:

* the figures issues 9 and 25 set goals for: the kernel ready, the first three cells after
  it (`:dep`, the `use` cell, a first `let`), and the median later cell; with the kernel's
  warm-up at start (tools/kernel_warm.py) and, in the same run, without it;
* the same later cells in a kernel session with no dependency at all, as the baseline
  measured in the same run (what evcxr itself costs per cell);
* where a later cell's time goes: cargo's freshness check of the crate graph, rustc on the
  cell, and inside rustc the linker (read from rustc's `-Z time-passes`, run by hand on the
  cell's last compile with RUSTC_BOOTSTRAP=1; a measurement only, nothing is built with it);
* the size of what every cell links against (the rlibs on its link line).

The first run on a machine includes the kernel's cold build of every dependency (tens of
minutes on 2 cores); run it again for the warm figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workbook import CACHE, ROOT, host_target, kernel_rustflags  # tools/workbook.py: one definition each

LATER = [
    "v.iter().sum::<u64>()",
    "let w0 = v.len() + 1;",
    "println!(\"{}\", w0);",
    "v.iter().max().copied()",
    "let w1 = w0 * 2;",
    "println!(\"{}\", w1);",
    "v.len()",
    "let w2 = format!(\"{w1}\");",
    "println!(\"{}\", w2);",
    "v.first().copied()",
    "let w3 = w2.len();",
    "println!(\"{}\", w3);",
]


class Kernel:
    """One session of the project's Rust kernel, its cells timed by wall clock."""

    def __init__(self, cache: str | None, warm_up: bool = True):
        from jupyter_client.manager import KernelManager

        t = time.monotonic()
        self.km = KernelManager(kernel_name="rust")
        if cache is not None:
            self.km.kernel_spec.env["UNBREAKABLE_CACHE"] = cache
        if not warm_up:
            self.km.kernel_spec.env["UNBREAKABLE_WARM_UP"] = "0"
        # Where tools/evcxr-kernel keeps this kernel's build directories (./workbook setup
        # writes it into the kernelspec; the launcher's own default otherwise).
        self.cache = Path(self.km.kernel_spec.env.get("UNBREAKABLE_CACHE") or CACHE)
        self.km.start_kernel()
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=300)
        self.started = time.monotonic() - t
        self.pid = self.km.provisioner.process.pid  # the launcher execs evcxr_jupyter
        self.own_cpu: list[float] = []

    def cpu(self) -> float:
        """CPU seconds of the kernel process itself (evcxr and its rust-analyzer, not cargo
        or rustc, which run as child processes)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cell(self, code: str, timeout: float = 3600) -> float:
        """Runs one cell and returns its wall time (and notes the kernel's own CPU time in
        `own_cpu`); a cell that errs stops the benchmark."""
        errors: list[str] = []

        def hook(msg):
            if msg["msg_type"] == "error":
                errors.append(msg["content"].get("evalue", ""))

        t, c = time.monotonic(), self.cpu()
        reply = self.kc.execute_interactive(code, timeout=timeout, output_hook=hook)
        dt = time.monotonic() - t
        self.own_cpu.append(self.cpu() - c)
        if errors or reply["content"].get("status") != "ok":
            raise SystemExit(f"kernel bench: the cell {code!r} failed: {' '.join(errors)[:500]}")
        return dt

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def session(dep: str | None, cache: str | None, warm_up: bool = True) -> dict:
    k = Kernel(cache, warm_up)
    try:
        r = {"start": k.started, "cache": str(k.cache)}
        if dep is not None:
            r["dep"] = k.cell(dep)
            r["use"] = k.cell("use unbreakable_lab::prelude::*;\nuse unbreakable_lab::polars::prelude::*;\n"
                              "const SEED: u64 = 42;")
        r["first"] = k.cell("let v: Vec<u64> = (0..1000).collect();")
        r["later"] = [k.cell(c) for c in LATER]
        if dep is not None:
            r["table"] = [k.cell('df!("a" => [1i64, 2, 3])?.table()') for _ in range(3)]
        r["own_cpu"] = k.own_cpu
        return r
    finally:
        k.close()


def build_dir(cache: Path) -> Path | None:
    """The kernel build directory used last (its cell source is the newest)."""
    dirs = [d for d in (cache / "evcxr").glob("slot-*") if (d / "src" / "lib.rs").exists()]
    return max(dirs, key=lambda d: (d / "src" / "lib.rs").stat().st_mtime, default=None)


def evcxr_env(rustc: str) -> dict[str, str]:
    """The environment evcxr 0.22 runs cargo with (eval_context.rs, `cargo_command`);
    anything else would change the fingerprints and rebuild every dependency."""
    return dict(os.environ, CARGO_TARGET_DIR="target", CARGO_BUILD_BUILD_DIR="target",
                RUSTC=rustc, RUSTFLAGS=kernel_rustflags())


def breakdown(slot: Path) -> dict:
    """Where a later cell's compile goes, measured in the kernel's own build directory."""
    rustc = subprocess.run(["rustup", "which", "rustc"], capture_output=True, text=True).stdout.strip() \
        or "rustc"
    env = evcxr_env(rustc)
    cargo = ["cargo", "build", "--target", host_target(), "--message-format=json"]

    def timed(cmd, **kw) -> tuple[float, subprocess.CompletedProcess]:
        t = time.monotonic()
        p = subprocess.run(cmd, cwd=slot, env=env, capture_output=True, text=True, **kw)
        return time.monotonic() - t, p

    fresh = statistics.median(timed(cargo)[0] for _ in range(3))
    lib = slot / "src" / "lib.rs"
    source = lib.read_text()
    try:
        lib.write_text(source + "\npub fn kernel_bench_probe() -> u64 { 7 }\n")
        t_full, p = timed([*cargo[:2], "-v", *cargo[2:]])
        line = next((ln for ln in p.stderr.splitlines() if "--crate-name ctx" in ln and "Running" in ln), None)
        r = {"cargo_fresh_s": fresh, "cell_compile_s": t_full}
        if line:
            cmd = shlex.split(line.strip().removeprefix("Running `").removesuffix("`"))
            lib.write_text(source + "\npub fn kernel_bench_probe() -> u64 { 8 }\n")
            passes = subprocess.run([*cmd, "-Z", "time-passes"], cwd=slot, capture_output=True, text=True,
                                    env=dict(env, RUSTC_BOOTSTRAP="1")).stderr
            times = {m.group(2): float(m.group(1))
                     for m in re.finditer(r"time:\s+([\d.]+);.*?\t(\S+)$", passes, re.M)}
            r["rustc_total_s"] = times.get("total")
            r["rustc_link_s"] = times.get("link")
            args = subprocess.run([*cmd, "--print", "link-args"], cwd=slot, capture_output=True, text=True,
                                  env=env).stdout
            rlibs = set(re.findall(r'"([^"]+\.rlib)"', args))
            r["rlibs"] = len(rlibs)
            r["rlib_mb"] = sum(Path(x).stat().st_size for x in rlibs if Path(x).exists()) / 1e6
        return r
    finally:
        lib.write_text(source)
        subprocess.run(cargo, cwd=slot, env=env, capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    dep = f':dep unbreakable-lab = {{ path = "{ROOT / "crates" / "unbreakable-lab"}" }}'
    print("kernel bench: a session with the laboratory crate (the chapters' first cells), the kernel "
          "warmed up at start (tools/kernel_warm.py) ...", flush=True)
    lab = session(dep, None)
    print("kernel bench: the same without the warm-up (UNBREAKABLE_WARM_UP=0) ...", flush=True)
    cold = session(dep, None, warm_up=False)
    print("kernel bench: the baseline, a session with no dependency ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="kernel-bench-") as tmp:
        base = session(None, tmp)
    slot = build_dir(Path(lab["cache"]))
    split = breakdown(slot) if slot else {}

    med, base_med = statistics.median(lab["later"]), statistics.median(base["later"])
    first = lab["dep"] + lab["use"] + lab["first"]
    cold_first = cold["dep"] + cold["use"] + cold["first"]
    rows = [
        ("kernel ready", f"{lab['start']:.1f} s", f"{cold['start']:.1f} s", f"{base['start']:.1f} s"),
        (":dep unbreakable-lab", f"{lab['dep']:.1f} s", f"{cold['dep']:.1f} s", "-"),
        ("the chapters' use cell", f"{lab['use']:.1f} s", f"{cold['use']:.1f} s", "-"),
        ("first cell defining a variable", f"{lab['first']:.1f} s", f"{cold['first']:.1f} s", f"{base['first']:.1f} s"),
        ("first three after ready (goal 3 s)", f"{first:.1f} s", f"{cold_first:.1f} s", f"{base['first']:.1f} s"),
        ("ready + first three", f"{lab['start'] + first:.1f} s", f"{cold['start'] + cold_first:.1f} s",
         f"{base['start'] + base['first']:.1f} s"),
        (f"median later cell, {len(LATER)} cells (goal 0.7 s)", f"{med:.2f} s",
         f"{statistics.median(cold['later']):.2f} s", f"{base_med:.2f} s ({med / base_med:.1f}x)"),
        ("  of the first three, evcxr's own CPU (rust-analyzer)", f"{sum(lab['own_cpu'][:3]):.1f} s",
         f"{sum(cold['own_cpu'][:3]):.1f} s", f"{base['own_cpu'][0]:.1f} s"),
        ("  of a later cell, evcxr's own CPU, median", f"{statistics.median(lab['own_cpu'][3:3 + len(LATER)]):.2f} s",
         f"{statistics.median(cold['own_cpu'][3:3 + len(LATER)]):.2f} s",
         f"{statistics.median(base['own_cpu'][1:]):.2f} s"),
        ("a polars table cell, median of 3", f"{statistics.median(lab['table']):.2f} s",
         f"{statistics.median(cold['table']):.2f} s", "-"),
    ]
    print(f"\n{'kernel figure':<52} {'warmed up':>10} {'no warm-up':>11} {'no dependency':>22}")
    for name, a, c, b in rows:
        print(f"{name:<52} {a:>10} {c:>11} {b:>22}")
    if split:
        print(f"\nwhere a later cell's compile goes (build directory {slot}):")
        print(f"  cargo, nothing to do (fingerprints of the crate graph): {split['cargo_fresh_s']:.2f} s")
        print(f"  cargo building the changed cell:                        {split['cell_compile_s']:.2f} s")
        if split.get("rustc_total_s") is not None:
            print(f"  rustc alone on a changed cell, by hand: {split['rustc_total_s']:.2f} s, of which the linker "
                  f"{split['rustc_link_s']:.2f} s ({split['rlibs']} rlibs, {split['rlib_mb']:.0f} MB on the "
                  "link line)")
    if args.json:
        args.json.write_text(json.dumps({"laboratory": lab, "no_warm_up": cold, "baseline": base,
                                         "breakdown": split}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
