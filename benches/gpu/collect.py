#!/usr/bin/env python3
"""Gathers what benches/gpu/device_check.sh left in OUT into one JSON document on stdout.

    python3 benches/gpu/collect.py STAGE OUT > OUT/device_check.json

Standard library only (the GPU machine's Python may lack anything else). Every part that a step did not produce
is `null`, with the step's record saying why (failed, timed out, skipped).
"""
import datetime
import glob
import json
import os
import sys


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_lines(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip().startswith("{")]
    except (OSError, ValueError):
        return []


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def main():
    stage, out = sys.argv[1], sys.argv[2]
    steps = {s["step"]: s for s in read_lines(os.path.join(out, "steps.jsonl"))}
    machine = read_text(os.path.join(out, "logs", "machine.out")).splitlines()
    card = machine[0] if machine and "," in machine[0] else None
    main_job = []
    for process in ("first", "second"):
        for variant in ("baseline", "sesamebert"):
            name = f"main-{process}-{variant}"
            report = read_json(os.path.join(out, "runs", process, variant, "report.json"))
            main_job.append({
                "process": process,
                "variant": variant,
                "step": steps.get(name),
                "dev_accuracy_final": (report or {}).get("final_metrics", {}).get("accuracy"),
                "train_runtime": (read_json(os.path.join(out, "runs", process, variant, "train_results.json"))
                                  or {}).get("train_runtime"),
                "startup": (report or {}).get("startup"),
            })
    encode = {}
    for path in sorted(glob.glob(os.path.join(out, "encode_*.json"))):
        precision = os.path.basename(path)[len("encode_"):-len(".json")]
        encode[precision] = read_json(path)
    for precision in ("f32", "tf32", "bf16", "f16"):
        if precision not in encode:
            err = read_text(os.path.join(out, "logs", f"encode-{precision}.err")).splitlines()
            # sesame's own message ("error: ...") when family_encode.py passed it on, else the last line.
            encode[precision] = {"error": next((l for l in err if l.startswith("error:")), err[-1] if err else None)}
    document = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "card": card,
        "machine": machine,
        "stage": {"commit": read_text(os.path.join(stage, "COMMIT")),
                  "features": read_text(os.path.join(stage, "FEATURES"))},
        "steps": list(steps.values()),
        "main_job": main_job,
        "transformers_rte": read_lines(os.path.join(out, "peer_rte.jsonl")),
        "transformers_rte_step": steps.get("peer-rte"),
        "encode": encode,
        "bench": {mode: read_lines(os.path.join(out, f"bench_{mode}.jsonl")) for mode in ("train", "inference")},
    }
    json.dump(document, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
