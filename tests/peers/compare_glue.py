#!/usr/bin/env python3
"""Side-by-side dev scores of sesame runs and `glue_peer.py` runs: per seed, then mean ± sample std.

    python tests/peers/compare_glue.py --sesame runs/rte-seed1 runs/rte-seed2 --peer rte_peer.jsonl

Reads each sesame run directory's `final_metrics.json` (dev metrics after every epoch) and `config.json`, and
each peer JSON line. The score is the task's selection metric (accuracy; F1 for MRPC) after the last epoch, as
`run_glue.py` reports it; the best epoch is shown beside it. Standard library only.
"""
import argparse
import json
import os
import statistics


def metric_of(task):
    return "f1" if task in ("MRPC", "QQP") else "accuracy"


def mean_std(xs):
    if not xs:
        return float("nan"), float("nan")
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def sesame_rows(dirs):
    rows = []
    for d in dirs:
        final = json.load(open(os.path.join(d, "final_metrics.json")))
        config = json.load(open(os.path.join(d, "config.json")))
        task = final["task"]
        history = final["history"]
        rows.append({"who": "sesame", "task": task, "seed": config["recipe"]["seed"],
                     "history": history, "backend": config.get("backend", "?"), "source": d})
    return rows


def peer_rows(paths):
    rows = []
    for p in paths:
        for line in open(p):
            r = json.loads(line)
            rows.append({"who": f"torch/{r['recipe']}", "task": r["task"], "seed": r["seed"],
                         "history": r["history"], "backend": r.get("device", "?"), "source": p})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sesame", nargs="*", default=[], help="sesame run directories")
    ap.add_argument("--peer", nargs="*", default=[], help="glue_peer.py JSON-lines files")
    args = ap.parse_args()
    rows = sesame_rows(args.sesame) + peer_rows(args.peer)
    groups = {}
    for r in rows:
        groups.setdefault((r["task"], r["who"]), []).append(r)
    print("| task | implementation | seed | dev per epoch | final | best |")
    print("|---|---|---|---|---|---|")
    for (task, who), rs in sorted(groups.items()):
        m = metric_of(task)
        for r in sorted(rs, key=lambda r: r["seed"]):
            per = [100 * h[m] for h in r["history"]]
            print(f"| {task} | {who} ({r['backend']}) | {r['seed']} | {' / '.join(f'{x:.2f}' for x in per)} "
                  f"| {per[-1]:.2f} | {max(per):.2f} |")
    print()
    print("| task | implementation | metric | final: mean ± std (n) | best epoch: mean ± std |")
    print("|---|---|---|---|---|")
    for (task, who), rs in sorted(groups.items()):
        m = metric_of(task)
        finals = [100 * r["history"][-1][m] for r in rs]
        bests = [100 * max(h[m] for h in r["history"]) for r in rs]
        fm, fs = mean_std(finals)
        bm, bs = mean_std(bests)
        print(f"| {task} | {who} | {m} | {fm:.2f} ± {fs:.2f} ({len(rs)}) | {bm:.2f} ± {bs:.2f} |")


if __name__ == "__main__":
    main()
