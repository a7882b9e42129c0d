#!/usr/bin/env python3
"""Runs `sesame bench` (one or more builds) and the PyTorch peer (hf_bench.py) alternately on the same machine, in
one call: every round runs each sesame configuration and then each PyTorch mode, each in a process of its own (so
each peak RSS is that configuration's own), and the rounds repeat A B A B … so that a drift of the machine's speed
falls on both tools. Prints every JSON line and a Markdown table per model: the median ms/step over rounds,
examples/s, peak memory, and the median over rounds of the per-round ratio to the best PyTorch eager mode of the
same round. On a CUDA host it also samples `nvidia-smi` while each run is going and records the peak device memory
(burn 0.21 does not report its own peak).

    python benches/peers/side_by_side.py --sesame target/release/sesame --models minilm,bert-base \
        --variants baseline,sesame --peer-modes fp32,sdpa --rounds 3 --out bench.jsonl
    # two builds side by side: label=path
    python benches/peers/side_by_side.py --sesame ndarray=/tmp/sesame-ndarray --sesame flex=/tmp/sesame-flex …
"""
import argparse
import json
import os
import statistics
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
    p.add_argument("--sesame", required=True, action="append",
                   help="a sesame binary, or label=binary; repeat to compare builds")
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
    p.add_argument("--rounds", type=int, default=1, help="alternations of all configurations (A B A B …)")
    p.add_argument("--sesame-precisions", default="f32")
    p.add_argument("--out", default=None, help="also append every JSON line to this file")
    args = p.parse_args()
    builds = [tuple(b.split("=", 1)) if "=" in b else (os.path.basename(b), b) for b in args.sesame]
    common = ["--batch", str(args.batch), "--seq-len", str(args.seq_len), "--warmup", str(args.warmup),
              "--steps", str(args.steps), "--repeats", str(args.repeats)]
    rows = []

    def record(got, label, model, rnd, peak):
        for r in got:
            r.update(label=label, model=model, round=rnd, peak_device_memory_mib_nvidia_smi=peak)
            print(json.dumps(r), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(r) + "\n")
        rows.extend(got)

    for model in args.models.split(","):
        for rnd in range(args.rounds):
            for label, binary in builds:
                for variant in args.variants.split(","):
                    for precision in args.sesame_precisions.split(","):
                        with GpuMemorySampler() as mem:
                            got = lines([binary, "bench", "--model", model, "--variant", variant, "--mode",
                                         args.mode, "--precision", precision] + common)
                        record(got, label, model, rnd, mem.peak)
            for mode in args.peer_modes.split(","):
                with GpuMemorySampler() as mem:
                    got = lines([args.python, os.path.join(HERE, "hf_bench.py"), "--model", model, "--mode",
                                 args.mode, "--modes", mode] + common)
                record(got, "pytorch", model, rnd, mem.peak)
    print()
    print("| model | tool | variant | precision | ms/step (median of rounds) | examples/s | peak RSS (GB) "
          "| vs best PyTorch eager (median of per-round ratios) |")
    print("|---|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        timed = [r for r in rows if r.get("model") == model and "ms_per_step" in r]
        best = {}
        for r in timed:
            if r["tool"] == "pytorch" and r.get("precision") != "compile":
                best[r["round"]] = min(best.get(r["round"], float("inf")), r["ms_per_step"])
        keys = []
        for r in timed:
            key = (r["label"], r["variant"], r["precision"])
            if key not in keys:
                keys.append(key)
        for key in keys:
            group = [r for r in timed if (r["label"], r["variant"], r["precision"]) == key]
            ms = statistics.median(r["ms_per_step"] for r in group)
            ratios = [best[r["round"]] / r["ms_per_step"] for r in group if r["round"] in best]
            ratio = f"{statistics.median(ratios):.2f}× ({', '.join(f'{x:.2f}' for x in ratios)})" if ratios else "—"
            rss = [r.get("peak_host_memory_bytes") for r in group if r.get("peak_host_memory_bytes")]
            rss = f"{max(rss) / 1e9:.2f}" if rss else "—"
            print(f"| {model} | {key[0]} | {key[1]} | {key[2]} | {ms:.1f} | {args.batch / ms * 1e3:.1f} | {rss} "
                  f"| {ratio} |")


if __name__ == "__main__":
    main()
