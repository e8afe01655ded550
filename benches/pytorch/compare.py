#!/usr/bin/env python3
"""chronomap vs PyTorch on the same machine, same threads, same workloads, in one go.

Runs `chronomap bench --json` (built with `cargo run --release`) and the PyTorch twin
benches/pytorch/chronomap_torch.py with the same thread count, batch B, dates T, image size S,
scene and overlap, then prints one table:

  backend | workload | median | min | max | GFLOP/s | Mpx/s | ratio

ratio = median time / the fastest PyTorch layout's median time for that workload
(< 1: faster than PyTorch). Workloads: eval_forward (network forward, eval mode),
train_step (forward + CE(fused) + 0.5 CE(date) + backward + Adam), scene (sliding-window
inference of a SCENE x SCENE x T scene; Mpx/s = SCENE * SCENE * T / 1e6 / seconds).

Before timing, the PyTorch twin is checked against tests/fixtures/parity (the same network as
chronomap's), and the machine's load is printed: take numbers on a quiet machine (load < 0.5,
nothing compiling); the script warns otherwise.

Usage (from the repository root):
  python3 benches/pytorch/compare.py --threads 2                 # reference: B=2 T=3 S=256, scene 1024
  python3 benches/pytorch/compare.py --threads 2 --device cpu,vulkan --json compare.json
  python3 benches/pytorch/compare.py --base 8 --depth 2 --hidden 4 --size 32 --scene 64 \
      --iters 2 --warmup 1                                       # quick plumbing check

Needs torch (tested with 2.15.0) and safetensors (for the parity check). PyTorch is not a
dependency of chronomap or of its CI.
"""
import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TWIN = os.path.join(HERE, "chronomap_torch.py")
PARITY = os.path.join(ROOT, "tests", "fixtures", "parity")
WORKLOADS = ["eval_forward", "train_step", "scene"]


def machine():
    """CPU model, cores and threads (lscpu), and the current load."""
    info = {"cpu": platform.processor() or "unknown", "cpus": os.cpu_count()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        kv = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        kv = {k.strip(): v.strip() for k, v in kv.items()}
        info["cpu"] = kv.get("Model name", info["cpu"])
        info["sockets"] = kv.get("Socket(s)")
        info["cores_per_socket"] = kv.get("Core(s) per socket")
        info["threads_per_core"] = kv.get("Thread(s) per core")
        info["cpus"] = kv.get("CPU(s)", info["cpus"])
    except (OSError, subprocess.CalledProcessError):
        pass
    return info


def load_and_compilers():
    load1 = os.getloadavg()[0]
    try:
        ps = subprocess.run(["ps", "-eo", "comm="], capture_output=True, text=True).stdout.split()
    except OSError:
        ps = []
    busy = sorted({p for p in ps if p in ("rustc", "cc1", "cc1plus", "ld", "cargo")})
    return load1, busy


def report_load(when):
    load1, busy = load_and_compilers()
    note = ""
    if load1 >= 0.5 or busy:
        note = "  WARNING: machine not quiet" + (f" ({', '.join(busy)} running)" if busy else "") + \
               ": timings may be inflated; re-run when load < 0.5"
    print(f"load {when}: {load1:.2f} (1-min average){note}", flush=True)
    return load1, busy


def run(cmd, env=None):
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    r = subprocess.run(cmd, cwd=ROOT, env=env)
    if r.returncode != 0:
        sys.exit(f"command failed with status {r.returncode}: {' '.join(cmd)}")


def fmt_time(s):
    return f"{s:.2f} s" if s >= 10 else f"{s * 1e3:.0f} ms"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="CPU threads for both (default 2)")
    p.add_argument("--device", default="cpu", help="chronomap backends, comma-separated (default cpu)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--time", type=int, default=3)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--scene", type=int, default=1024, help="scene side, 0 = skip (default 1024)")
    p.add_argument("--overlap", type=int, help="scene window overlap (default size / 8 = 32)")
    p.add_argument("--base", type=int, default=32, help="U-Net base filters (default 32)")
    p.add_argument("--depth", type=int, default=4, help="U-Net depth (default 4)")
    p.add_argument("--hidden", type=int, default=16, help="ConvLSTM hidden channels (default 16)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--layout", choices=["nchw", "channels-last", "both"], default="both",
                   help="PyTorch memory layouts to time (default both)")
    p.add_argument("--chronomap", metavar="BIN",
                   help="a built chronomap binary (default: `cargo run --release --quiet --`)")
    p.add_argument("--chronomap-args", default="",
                   help="extra arguments for `chronomap bench`, e.g. --chronomap-args=--stock-cpu")
    p.add_argument("--skip-parity", action="store_true", help="skip the PyTorch parity check")
    p.add_argument("--json", help="also write both reports and the table to this JSON file")
    a = p.parse_args()

    if a.overlap is None:
        a.overlap = a.size // 8
    import torch  # noqa: F401  (fail early with a clear message if torch is missing)

    m = machine()
    print(f"machine: {m['cpu']}, {m['cpus']} CPUs ({m.get('sockets')} socket(s) x "
          f"{m.get('cores_per_socket')} cores x {m.get('threads_per_core')} threads), "
          f"threads used: {a.threads}")
    print(f"PyTorch {torch.__version__} (oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'})")
    before = report_load("before")

    if not a.skip_parity:
        run([sys.executable, TWIN, "--check-parity", PARITY])

    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))
    common = ["--batch", str(a.batch), "--time", str(a.time), "--size", str(a.size),
              "--scene", str(a.scene), "--overlap", str(a.overlap),
              "--base", str(a.base), "--depth", str(a.depth), "--hidden", str(a.hidden),
              "--warmup", str(a.warmup), "--iters", str(a.iters)]
    with tempfile.TemporaryDirectory() as tmp:
        cm_json = os.path.join(tmp, "chronomap.json")
        pt_json = os.path.join(tmp, "pytorch.json")
        exe = [a.chronomap] if a.chronomap else ["cargo", "run", "--release", "--quiet", "-p", "chronomap", "--"]
        run(exe + ["bench", "--device", a.device, "--threads", str(a.threads)] + common
            + shlex.split(a.chronomap_args) + ["--json", cm_json], env=env)
        run([sys.executable, TWIN, "--threads", str(a.threads), "--layout", a.layout] + common
            + ["--json", pt_json], env=env)
        with open(cm_json) as fh:
            cm = json.load(fh)
        with open(pt_json) as fh:
            pt = json.load(fh)
    after = report_load("after")

    gf = {"eval_forward": cm["gflop_forward"], "train_step": cm["gflop_train_step"], "scene": cm["gflop_scene"]}
    if abs(cm["gflop_forward"] - pt["gflop_forward"]) > 1e-6 * pt["gflop_forward"]:
        sys.exit(f"the two sides count different work: {cm['gflop_forward']} vs {pt['gflop_forward']} GFLOP")
    rows = []
    for backend, res in cm["results"].items():
        for w in WORKLOADS:
            if w in res:
                rows.append((f"chronomap {backend}", w, res[w]))
    for layout, res in pt["results"].items():
        for w in WORKLOADS:
            if w in res:
                rows.append((f"PyTorch {layout}", w, res[w]))
    best = {}
    for name, w, r in rows:
        if name.startswith("PyTorch"):
            best[w] = min(best.get(w, float("inf")), r["median_s"])

    print()
    print(f"chronomap {cm['version']} (fast CPU path {'on' if cm.get('fast_cpu_path') else 'off'}) vs "
          f"PyTorch {pt['version']}, {a.threads} threads, B={a.batch} T={a.time} {a.size}x{a.size}, "
          f"scene {a.scene}x{a.scene}x{a.time} (overlap {a.overlap}), {a.iters} timed iterations "
          f"(scene: {max(1, a.iters // 2)})")
    print(f"load: {before[0]:.2f} before, {after[0]:.2f} after")
    print()
    print("| backend | workload | median | min | max | GFLOP/s | Mpx/s | ratio to PyTorch |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    table = []
    for w in WORKLOADS:
        for name, ww, r in rows:
            if ww != w:
                continue
            gflops = gf[w] / r["median_s"]
            mpx = r.get("mpx_per_s")
            ratio = r["median_s"] / best[w] if w in best else None
            table.append({"backend": name, "workload": w, "median_s": r["median_s"], "min_s": r["min_s"],
                          "max_s": r["max_s"], "gflops": gflops, "mpx_per_s": mpx, "ratio": ratio,
                          "peak_rss_mb": r.get("peak_rss_mb")})
            print(f"| {name} | {w} | {fmt_time(r['median_s'])} | {fmt_time(r['min_s'])} | "
                  f"{fmt_time(r['max_s'])} | {gflops:.1f} | {'-' if mpx is None else f'{mpx:.3f}'} | "
                  f"{'-' if ratio is None else f'{ratio:.2f}'} |")
    print()
    print("ratio = median / fastest PyTorch layout's median (< 1: faster than PyTorch); "
          "GFLOP/s from the analytic count (train step = 3 forwards)")
    mem = [(b, w, res[w]["peak_rss_mb"]) for b, res in cm["results"].items()
           for w in WORKLOADS if w in res and r_has(res[w], "peak_rss_mb")]
    if mem:
        print("chronomap peak RSS (process): " + ", ".join(f"{b} {w} {v:.0f} MB" for b, w, v in mem))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"machine": m, "load_before": before[0], "load_after": after[0], "threads": a.threads,
                       "chronomap": cm, "pytorch": pt, "table": table}, fh, indent=2)
        print(f"written {a.json}")


def r_has(r, key):
    return isinstance(r, dict) and r.get(key) is not None


if __name__ == "__main__":
    main()
