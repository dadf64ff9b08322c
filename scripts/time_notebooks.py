"""Execute every notebook (or those given) at the current scale; record wall time and peak memory.

    python scripts/time_notebooks.py [NOTEBOOK ...] [--out docs/timings.md]

Each notebook runs in its own process with a fresh kernel; the kernel's peak resident memory is read
with getrusage(RUSAGE_CHILDREN), which is what Binder's 2 GB limit applies to.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUN_ONE = r"""
import json, resource, sys, time
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
t = time.perf_counter()
NotebookClient(nb, timeout=1800, kernel_name="python3").execute(cwd=str(__import__("pathlib").Path(sys.argv[1]).parent))
secs = time.perf_counter() - t
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": secs, "peak_mb": peak_kb / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("notebooks", nargs="*")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    nbs = [Path(p).resolve() for p in args.notebooks] or sorted((ROOT / "chapters").rglob("*.ipynb"))
    rows = []
    for nb in nbs:
        env = {**os.environ, "EMERGENT_HEADLESS": "1", "EMERGENT_CACHE": os.environ.get("EMERGENT_CACHE", "/tmp/emergent-timing-cache")}
        proc = subprocess.run([sys.executable, "-c", RUN_ONE, str(nb)], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            rows.append((nb, None, None))
            print(f"FAILED {nb}\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append((nb, r["seconds"], r["peak_mb"]))
        print(f"{r['seconds']:7.1f} s  {r['peak_mb']:7.0f} MB  {nb.relative_to(ROOT)}", flush=True)
    if args.out:
        lines = [f"| `{nb.relative_to(ROOT)}` | " + ("failed | – |" if s is None else f"{s:.0f} | {m:.0f} |") for nb, s, m in rows]
        text = (f"Measured {dt.date.today()} on {platform.machine()} with {os.cpu_count()} cores, scale "
                f"`{os.environ.get('EMERGENT_SCALE', 'fast')}`, cold cache, one notebook at a time.\n\n"
                "| notebook | seconds | peak kernel memory (MB) |\n|---|---|---|\n" + "\n".join(lines) + "\n")
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
