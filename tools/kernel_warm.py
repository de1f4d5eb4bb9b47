"""The kernel's start-up configuration per build slot, and its warm-up.

tools/evcxr-kernel calls `config SLOT` before it starts evcxr in a slot (a persistent build
directory). It writes the slot's evcxr configuration directory, `SLOT.config/`:

* `init.evcxr` (tools/evcxr-config/init.evcxr), always: it copies the workspace's
  Cargo.lock into the slot before the first `:dep`, and lets later cells use `?`;
* `prelude.rs`, only when the slot's build is known to be current: a `:dep` on this
  checkout's laboratory crate and one `let` that uses its prelude. evcxr runs both before it
  answers Jupyter, so the 20 s of analysis and loading that a chapter's first cells would
  wait for happen while the learner reads the notebook's first cells; the chapter's own
  `:dep` line then finds the crate loaded (evcxr canonicalises the path) and takes 0.2 s.

"Known to be current" means the slot holds the marker `unbreakable-warm` with this
checkout's fingerprint: a hash of Cargo.lock, the workspace manifest, the two crates the
notebooks load (manifests, build scripts, sources), the checkout's path (it is in the
`:dep` line), the compiler's version and the kernel binary. `warm` writes the marker after
a kernel session in the slot compiled and loaded exactly that (`./workbook setup`, `run`,
`lab` and `test` call it). A slot without a current marker starts as before, without the
prelude, and says so in one line: a warm-up that had to compile would keep the kernel from
answering until Jupyter gives up on it.

A second kernel open at the same time runs in another slot. When that slot is not current
but another is (slot 0 first), `config` first seeds it with a copy of that slot's target
directory, so the second notebook does not compile the dependencies again (a copy of about 3 GB, tens of
seconds, once per slot and change).

`UNBREAKABLE_WARM_UP=0` in the kernel's environment turns the warm-up off (the kernel
benchmark compares both).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = "unbreakable-warm"
LAB = ROOT / "crates" / "unbreakable-lab"
INIT = ROOT / "tools" / "evcxr-config" / "init.evcxr"


def say(msg: str) -> None:
    """One line on stderr (the Jupyter server's log when the launcher calls us)."""
    print(f"unbreakable kernel: {msg}", file=sys.stderr, flush=True)


def fingerprint() -> str:
    """What the warm slot's build depends on, hashed."""
    h = hashlib.sha256()
    files = [ROOT / "Cargo.lock", ROOT / "Cargo.toml"]
    for crate in ("unbreakable", "unbreakable-lab"):
        d = ROOT / "crates" / crate
        files += [d / "Cargo.toml", d / "build.rs"]
        files += sorted(p for p in (d / "src").rglob("*") if p.is_file())
    for f in files:
        if f.exists():
            h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes() + b"\0")
    h.update(str(ROOT).encode() + b"\0")
    rustc = subprocess.run(["rustc", "-vV"], capture_output=True, text=True).stdout
    h.update(rustc.encode() + b"\0")
    # The kernelspec's binary (./workbook setup builds it into .venv).
    kernel = os.environ.get("EVCXR_JUPYTER") or str(ROOT / ".venv" / "bin" / "evcxr_jupyter")
    if Path(kernel).exists():
        st = Path(kernel).stat()
        h.update(f"{kernel}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def current(slot: Path, fp: str) -> bool:
    marker = slot / MARKER
    return marker.exists() and marker.read_text().strip() == fp and (slot / "target").is_dir()


def warm_prelude() -> str:
    return (
        "// Written by tools/kernel_warm.py: this slot was built for this checkout's current\n"
        "// sources, so the kernel loads the laboratory crate before the first cell.\n"
        f':dep unbreakable-lab = {{ path = "{LAB}" }}\n'
        "let unbreakable_warm_up = { use unbreakable_lab::prelude::*; millis(1) };\n"
    )


def current_slots(evcxr: Path, fp: str) -> list[Path]:
    """The slots under `evcxr` whose build is current, slot 0 first."""
    return [s for s in sorted(evcxr.glob("slot-[0-9]")) if current(s, fp)]


def seed_from_current(slot: Path, fp: str) -> bool:
    """Copies the target directory of a current slot (slot 0 where it is current; the warm-up
    runs in whichever slot is free) into `slot`; whether `slot` is current afterwards."""
    source = next((s for s in current_slots(slot.parent, fp) if s != slot), None)
    if source is None:
        return False
    t = time.monotonic()
    tmp = slot / "target.seeding"
    shutil.rmtree(tmp, ignore_errors=True)
    # A reflink where the file system has them (instant), else a plain copy.
    if subprocess.run(["cp", "-a", "--reflink=auto", str(source / "target"), str(tmp)]).returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        say(f"could not copy {source}/target into {slot}; this kernel compiles its own copy")
        return False
    shutil.rmtree(slot / "target", ignore_errors=True)
    tmp.rename(slot / "target")
    # The marker only if the source was still current after the copy (nothing rebuilt meanwhile).
    if current(source, fp):
        (slot / MARKER).write_text(fp + "\n")
    say(f"{slot.name} seeded from {source.name}'s compiled dependencies in {time.monotonic() - t:.0f} s")
    return current(slot, fp)


def cmd_config(slot: Path) -> int:
    """Writes SLOT.config/ and prints its path (for EVCXR_CONFIG_DIR)."""
    config = slot.with_name(slot.name + ".config")
    config.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(INIT, config / "init.evcxr")
    prelude = config / "prelude.rs"
    fp = fingerprint()
    if os.environ.get("UNBREAKABLE_WARM_UP") == "0":
        prelude.unlink(missing_ok=True)
        say("UNBREAKABLE_WARM_UP=0: starting without the warm-up")
    elif current(slot, fp) or seed_from_current(slot, fp):
        prelude.write_text(warm_prelude())
    else:
        prelude.unlink(missing_ok=True)
        say(f"{slot.name} was not built for this checkout's current sources: starting without the "
            "warm-up (the notebook's first cell compiles; `./workbook setup` warms the kernel)")
    print(config)
    return 0


def cmd_warm(timeout: float) -> int:
    """Runs one kernel session that compiles and loads the laboratory crate, and marks the
    slot it ran in as current. Needs the virtual environment's Python (jupyter_client)."""
    from jupyter_client.manager import KernelManager

    fp = fingerprint()
    km = KernelManager(kernel_name="rust")
    km.start_kernel()
    kc = km.client()
    try:
        kc.start_channels()
        kc.wait_for_ready(timeout=timeout)
        out: list[str] = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("error: " + msg["content"].get("evalue", ""))

        for code in (f':dep unbreakable-lab = {{ path = "{LAB}" }}',
                     "let warm_up = { use unbreakable_lab::prelude::*; millis(1) };",
                     'println!("slot={}", std::env::var("EVCXR_TMPDIR").unwrap_or_default());'):
            reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
            if reply["content"].get("status") != "ok":
                say(f"the warm-up cell {code!r} failed: {''.join(out)[-2000:]}")
                return 1
        slot = next((Path(line.split("=", 1)[1].strip()) for line in "".join(out).splitlines()
                     if line.startswith("slot=")), None)
        if slot is None or not (slot / "target").is_dir():
            say(f"the warm-up could not tell which slot it ran in: {''.join(out)[-500:]}")
            return 1
        (slot / MARKER).write_text(fp + "\n")
        return 0
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("config", help="write a slot's evcxr configuration directory and print its path")
    c.add_argument("slot", type=Path)
    w = sub.add_parser("warm", help="compile and load the laboratory in a kernel session, mark its slot current")
    w.add_argument("--timeout", type=float, default=3600)
    s = sub.add_parser("status", help="exit 0 if any slot under EVCXR_DIR (the slots' parent) is current")
    s.add_argument("evcxr_dir", type=Path)
    args = ap.parse_args()
    if args.cmd == "config":
        return cmd_config(args.slot)
    if args.cmd == "status":
        return 0 if current_slots(args.evcxr_dir, fingerprint()) else 1
    return cmd_warm(args.timeout)


if __name__ == "__main__":
    sys.exit(main())
