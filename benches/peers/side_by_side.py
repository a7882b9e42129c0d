#!/usr/bin/env python3
"""Runs `sesame bench` and the PyTorch peer (hf_bench.py) one after the other on the same machine, in one call,
and prints every JSON line plus a Markdown table of ms/step, examples/s and the ratio to the best PyTorch eager
mode. On a CUDA host it also samples `nvidia-smi` while each sesame run is going and records the peak device
memory (burn 0.21 does not report its own peak).

    python benches/peers/side_by_side.py --sesame target/release/sesame --models minilm,bert-base \
        --variants baseline,sesame --peer-modes fp32,tf32,bf16-sdpa,compile --out bench.jsonl
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class GpuMemorySampler:
    """Peak of nvidia-smi's memory.used (MiB) while active; None without nvidia-smi."""

    def __init__(self):
        self.peak, self._stop = None, threading.Event()

    def _run(self):
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=5).stdout
                used = int(out.split()[0])
                self.peak = max(self.peak or 0, used)
            except Exception:
                return
            time.sleep(0.05)

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def lines(cmd):
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
    rows = []
    for line in out.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            rows.append(json.loads(line))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sesame", required=True, help="the sesame binary")
    p.add_argument("--python", default=sys.executable, help="python with torch + transformers")
    p.add_argument("--models", default="minilm,bert-base")
    p.add_argument("--variants", default="baseline,sesame")
    p.add_argument("--peer-modes", default="fp32,tf32,bf16-sdpa,compile")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--mode", default="train", choices=["train", "inference"])
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--sesame-precisions", default="f32")
    p.add_argument("--out", default=None, help="also append every JSON line to this file")
    args = p.parse_args()
    common = ["--batch", str(args.batch), "--seq-len", str(args.seq_len), "--warmup", str(args.warmup),
              "--steps", str(args.steps), "--repeats", str(args.repeats)]
    rows = []
    for model in args.models.split(","):
        for variant in args.variants.split(","):
            for precision in args.sesame_precisions.split(","):
                with GpuMemorySampler() as mem:
                    got = lines([args.sesame, "bench", "--model", model, "--variant", variant, "--mode", args.mode,
                                 "--precision", precision] + common)
                for r in got:
                    r["peak_device_memory_mib_nvidia_smi"] = mem.peak
                rows += got
        with GpuMemorySampler() as mem:
            got = lines([args.python, os.path.join(HERE, "hf_bench.py"), "--model", model, "--mode", args.mode,
                         "--modes", args.peer_modes] + common)
        for r in got:
            r["peak_device_memory_mib_nvidia_smi"] = mem.peak
        rows += got
    for r in rows:
        print(json.dumps(r))
    if args.out:
        with open(args.out, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    print()
    print("| model | tool | variant | precision | ms/step | examples/s | vs best PyTorch eager |")
    print("|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        eager = [r for r in rows if r.get("tool") == "pytorch" and r.get("model") == model
                 and r.get("precision") != "compile" and "ms_per_step" in r]
        best = min((r["ms_per_step"] for r in eager), default=None)
        for r in rows:
            if r.get("model") != model or "ms_per_step" not in r:
                continue
            ratio = f"{best / r['ms_per_step']:.2f}×" if best else "—"
            print(f"| {model} | {r['tool']} | {r['variant']} | {r['precision']} | {r['ms_per_step']:.1f} | "
                  f"{r['examples_per_second']:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
