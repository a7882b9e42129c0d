#!/usr/bin/env python3
"""Turns benches/gpu/device_check.sh's JSON into the Markdown of a GPU section of docs/performance.md.

    python3 benches/gpu/to_markdown.py OUT/device_check.json [--title "On an NVIDIA H100"] > section.md

Standard library only. Every figure comes from the JSON; a step that failed, timed out or was skipped is said to
have done so, with its error line.
"""
import argparse
import json


def fmt(value, spec=".1f", missing="—"):
    return missing if value is None else format(value, spec)


def peak(mib):
    return "—" if mib is None else f"{mib} MiB"


def step_state(step):
    if not step:
        return "not run"
    if step.get("skipped"):
        return "skipped (time budget spent)"
    if step.get("timed_out"):
        return f"stopped after {step['seconds']:.0f} s (time limit)"
    if step.get("rc"):
        return f"failed (exit {step['rc']}) after {step['seconds']:.0f} s"
    return f"{step['seconds']:.1f} s"


def main_job_table(doc):
    rows = ["| process | variant | wall time | before the first update | warm-up | kernels compiled | "
            "loaded from cache | autotune runs | train_runtime | final dev accuracy | peak device memory |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in doc["main_job"]:
        startup = run.get("startup") or {}
        kernels = startup.get("kernels_in_all") or {}
        step = run.get("step") or {}
        acc = run.get("dev_accuracy_final")
        rows.append(
            f"| {run['process']} | {run['variant']} | {step_state(run.get('step'))} | "
            f"{fmt(startup.get('seconds_to_first_update'))} s | {fmt(startup.get('warmup_seconds'))} s | "
            f"{kernels.get('compiled', '—')} | {kernels.get('cache_hits', '—')} | "
            f"{kernels.get('autotune_runs', '—')} | {fmt(run.get('train_runtime'))} s | "
            f"{fmt(None if acc is None else 100 * acc, '.2f')} % | "
            f"{peak(step.get('peak_device_mib'))} |")
    return "\n".join(rows)


def ratio_line(doc):
    peer = doc.get("transformers_rte") or []
    peer_step = doc.get("transformers_rte_step") or {}
    second = next((r for r in doc["main_job"] if r["process"] == "second" and r["variant"] == "baseline"), None)
    ours = ((second or {}).get("step") or {}).get("seconds")
    theirs = peer_step.get("seconds") if not peer_step.get("rc") else None
    if not peer or ours is None or theirs is None:
        return f"`transformers` on the same job (baseline, one seed): {step_state(peer_step)}; no ratio."
    final = peer[0].get("final", {})
    return (f"`transformers` (tests/peers/glue_peer.py, baseline, seed 1) took {theirs:.1f} s as a process "
            f"({peer[0].get('seconds', float('nan')):.1f} s of training and evaluation; final dev accuracy "
            f"{100 * final.get('accuracy', float('nan')):.2f} %); sesame's baseline in a second process took "
            f"{ours:.1f} s: **{ours / theirs:.2f} ×** the `transformers` process (bar: ≤ 2 ×).")


def encode_table(doc):
    rows = ["| precision | token ids | hidden states, max diff at real tokens | pooler, max diff |",
            "|---|---|---|---|"]
    for precision in ("f32", "tf32", "bf16", "f16"):
        got = doc["encode"].get(precision)
        if isinstance(got, list) and got:
            r = got[0]
            rows.append(f"| {precision} | {'equal' if r.get('ids_equal') else 'DIFFER'} | "
                        f"{r['hidden_states_max_diff']:.2e} | {r.get('pooler_max_diff', float('nan')):.2e} |")
        else:
            error = (got or {}).get("error") or "not run"
            rows.append(f"| {precision} | — | {error} | — |")
    return "\n".join(rows)


def bench_table(rows, mode):
    timed = [r for r in rows if "ms_per_step" in r]
    if not timed:
        return f"No {mode} measurement."
    out = [f"| model | tool | precision | ms/step | examples/s | vs PyTorch eager, same precision | "
           f"peak device memory |", "|---|---|---|---|---|---|---|"]
    same = {"f32": "fp32", "tf32": "tf32", "bf16": "bf16-sdpa", "f16": "bf16-sdpa"}
    for model in dict.fromkeys(r["model"] for r in timed):
        group = [r for r in timed if r["model"] == model]
        peer = {r["precision"]: r["ms_per_step"] for r in group if r["tool"] == "pytorch"}
        for r in group:
            tool = "PyTorch" if r["tool"] == "pytorch" else "sesame"
            ratio = "—"
            if tool == "sesame" and same.get(r["precision"]) in peer:
                ratio = f"{peer[same[r['precision']]] / r['ms_per_step']:.2f} ×"
            mem = r.get("peak_device_memory_mib_nvidia_smi")
            out.append(f"| {model} | {tool} | {r['precision']} | {r['ms_per_step']:.1f} | "
                       f"{r['examples_per_second']:.1f} | {ratio} | {peak(mem)} |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("json")
    p.add_argument("--title", default=None)
    args = p.parse_args()
    doc = json.load(open(args.json))
    card = doc.get("card") or "no NVIDIA GPU (nvidia-smi absent)"
    title = args.title or f"On a GPU: {card.split(',')[0]}"
    machine = "; ".join(doc.get("machine") or [])
    print(f"## {title}\n")
    print(f"Measured {doc['date']} by `benches/gpu/device_check.sh` (one call) with a `--features "
          f"{doc['stage']['features']}` build of commit {doc['stage']['commit'][:10]}; machine: {machine}. "
          "Kernel cache fresh at the start of the call.\n")
    print("**The README's main job** (RTE, BERT's recipe; the second process finds the first one's kernels and "
          "autotune results in the cache):\n")
    print(main_job_table(doc) + "\n")
    print(ratio_line(doc) + "\n")
    print("**`sesame encode` against `transformers` in float64** (tests/peers/family_encode.py, RTE dev pairs "
          "no test sees):\n")
    print(encode_table(doc) + "\n")
    for mode in ("train", "inference"):
        print(f"**{mode.capitalize()} step, side by side** (benches/peers/side_by_side.py, one round):\n")
        print(bench_table(doc["bench"][mode], mode) + "\n")
    failed = [s for s in doc["steps"] if s.get("skipped") or s.get("rc") or s.get("timed_out")]
    if failed:
        print("Steps that did not complete: " + ", ".join(f"{s['step']} ({step_state(s)})" for s in failed)
              + ".\n")


if __name__ == "__main__":
    main()
