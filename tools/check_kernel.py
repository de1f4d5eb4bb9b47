"""Checks that the notebooks' kernel builds with what the workbook assumes of it.

    python3 tools/check_kernel.py [--since EPOCH] [SLOT ...]
                                  (./workbook test runs it after the notebooks)

For each kernel build directory (by default the slots of tools/evcxr-kernel that loaded the
laboratory crate, since EPOCH seconds if given), these must hold, or `./workbook run` would
compile every dependency twice and the notebooks could run other versions of them than the
tests:

* the dependency versions in the directory's Cargo.lock are the workspace's (the kernel's
  start-up file, tools/evcxr-config/init.evcxr, copies the workspace's lock in at start-up);
* the profile evcxr wrote into its Cargo.toml is KERNEL_PROFILE of tools/workbook.py, the
  one the chart command is built with so that both share one compiled copy;
* and with --since, in every slot a kernel used after that time: it compiled no dependency
  of its own (only the workbook's own crates and its cells), which is the sharing itself,
  seen in the compiled files. Slot 0 shares the chart command's build; a second slot, used
  when two notebooks run at once, starts from a copy of slot 0's (tools/kernel_warm.py).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from workbook import CACHE, KERNEL_PROFILE, KERNEL_TARGET, ROOT

# What a kernel compiles itself even when it shares the chart command's build: the
# workbook's own crates (cargo hashes a local crate's place relative to the project that
# uses it, so the kernel's copy is its own) and the crate evcxr makes of the cells.
OWN = {"unbreakable", "unbreakable_lab", "ctx"}


def versions(lock: Path) -> dict[str, set[str]]:
    """Registry packages of a Cargo.lock: name -> versions."""
    out: dict[str, set[str]] = {}
    for pkg in tomllib.loads(lock.read_text()).get("package", []):
        if "source" in pkg:
            out.setdefault(pkg["name"], set()).add(pkg["version"])
    return out


def problems(slot: Path) -> list[str]:
    found = []
    ours = versions(ROOT / "Cargo.lock")
    theirs = versions(slot / "Cargo.lock")
    for name in sorted(theirs):
        if name not in ours:
            found.append(f"{name} {', '.join(sorted(theirs[name]))} is not in the workspace's Cargo.lock")
        elif theirs[name] != ours[name]:
            found.append(f"{name} {', '.join(sorted(theirs[name]))} where the workspace has "
                         f"{', '.join(sorted(ours[name]))}")
    profile = tomllib.loads((slot / "Cargo.toml").read_text()).get("profile", {}).get("dev", {})
    want = {k: tomllib.loads(f"v = {v}")["v"] for k, v in KERNEL_PROFILE.items()}
    if profile != want:
        found.append(f"evcxr's profile is {profile}, but tools/workbook.py builds the chart command "
                     f"with {want}: update KERNEL_PROFILE")
    return found


def compiled_since(slot: Path, since: float) -> list[str]:
    """Libraries of dependencies compiled in the slot's target directory after `since`."""
    found = set()
    for f in (slot / "target").glob("*/debug/deps/lib*"):
        if f.suffix in (".rlib", ".rmeta") and f.stat().st_mtime > since:
            name = f.name.removeprefix("lib").rsplit("-", 1)[0]
            if name not in OWN:
                found.add(name)
    return sorted(found)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--since", type=float, default=0.0,
                    help="only the slots that compiled a cell at or after this time (seconds since the epoch)")
    ap.add_argument("slots", nargs="*", type=Path)
    args = ap.parse_args()
    slots = args.slots or [
        d for d in sorted((CACHE / "evcxr").glob("slot-*"))
        if (d / "Cargo.lock").exists() and (d / "src" / "lib.rs").exists()
        and (d / "src" / "lib.rs").stat().st_mtime >= args.since
        and "unbreakable-lab" in (d / "Cargo.toml").read_text(errors="replace")]
    if not slots:
        print(f"check_kernel: no kernel build directory under {CACHE / 'evcxr'} has loaded the "
              "laboratory crate (since the given time); run the notebooks first")
        return 1
    bad = 0
    for slot in slots:
        found = problems(slot)
        sharing = bool(args.since)
        if sharing:
            again = compiled_since(slot, args.since)
            source = ("the chart command's build" if slot == KERNEL_TARGET.parent
                      else "slot 0's build (tools/kernel_warm.py seeds a second slot with a copy of it)")
            if again:
                found.append(f"the kernel compiled {len(again)} dependencies again instead of reusing "
                             f"{source}: {', '.join(again[:12])}{' ...' if len(again) > 12 else ''}")
        for p in found:
            print(f"check_kernel: {slot}: {p}")
        bad += bool(found)
        if not found:
            shared = "; it compiled no dependency of its own" if sharing else ""
            print(f"check_kernel: {slot}: the workspace's dependency versions and the chart command's profile{shared}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
