#!/usr/bin/env python3
"""Checks that a run directory holds the result files `transformers`' Trainer writes, with the fields and JSON
types a `Trainer` run (transformers 5.17) gives them, so that scripts reading `run_glue.py` output read it.
Standard library only:

    python3 tests/peers/trainer_files.py RUN_DIR [RUN_DIR ...]

Exit code 0 when every directory passes; each problem is printed as `RUN_DIR/FILE: what`. With `--dump`, prints
the schema (field → type) of each file instead, to compare with a `transformers` output directory.
"""
import json
import os
import sys

NUMBER = (int, float)

TRAIN_RESULTS = {
    "epoch": NUMBER,
    "total_flos": NUMBER,
    "train_loss": NUMBER,
    "train_runtime": NUMBER,
    "train_samples_per_second": NUMBER,
    "train_steps_per_second": NUMBER,
}
EVAL_RESULTS = {
    "epoch": NUMBER,
    "eval_loss": NUMBER,
    "eval_runtime": NUMBER,
    "eval_samples": int,
    "eval_samples_per_second": NUMBER,
    "eval_steps_per_second": NUMBER,
}
TRAINER_STATE = {
    "best_global_step": (int, type(None)),
    "best_metric": (float, int, type(None)),
    "best_model_checkpoint": (str, type(None)),
    "epoch": NUMBER,
    "eval_steps": int,
    "global_step": int,
    "is_hyper_param_search": bool,
    "is_local_process_zero": bool,
    "is_world_process_zero": bool,
    "log_history": list,
    "logging_steps": int,
    "max_steps": int,
    "num_input_tokens_seen": int,
    "num_train_epochs": int,
    "save_steps": int,
    "stateful_callbacks": dict,
    "total_flos": NUMBER,
    "train_batch_size": int,
    "trial_name": (str, type(None)),
    "trial_params": (dict, type(None)),
}
LOG_TRAIN = {"epoch": NUMBER, "grad_norm": NUMBER, "learning_rate": NUMBER, "loss": NUMBER, "step": int}
LOG_EVAL = {"epoch": NUMBER, "eval_loss": NUMBER, "eval_runtime": NUMBER,
            "eval_samples_per_second": NUMBER, "eval_steps_per_second": NUMBER, "step": int}
LOG_END = {"epoch": NUMBER, "step": int, "total_flos": NUMBER, "train_loss": NUMBER, "train_runtime": NUMBER,
           "train_samples_per_second": NUMBER, "train_steps_per_second": NUMBER}


def check_fields(where, obj, schema, problems):
    if not isinstance(obj, dict):
        problems.append(f"{where}: not a JSON object")
        return
    for key, kind in schema.items():
        if key not in obj:
            problems.append(f"{where}: no field `{key}`")
        elif isinstance(obj[key], bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            problems.append(f"{where}: `{key}` is a bool")
        elif not isinstance(obj[key], kind):
            problems.append(f"{where}: `{key}` is {type(obj[key]).__name__}")


def check_run(run):
    problems = []

    def load(name):
        path = os.path.join(run, name)
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            problems.append(f"{path}: {e}")
            return None

    train = load("train_results.json")
    evals = load("eval_results.json")
    every = load("all_results.json")
    state = load("trainer_state.json")
    if train is not None:
        check_fields(f"{run}/train_results.json", train, TRAIN_RESULTS, problems)
    if evals is not None:
        check_fields(f"{run}/eval_results.json", evals, EVAL_RESULTS, problems)
        if not any(k.startswith("eval_") and k not in EVAL_RESULTS for k in evals):
            problems.append(f"{run}/eval_results.json: no task metric (eval_accuracy, eval_f1, …)")
    if every is not None and train is not None and evals is not None:
        for key in list(TRAIN_RESULTS) + list(EVAL_RESULTS):
            if key not in every:
                problems.append(f"{run}/all_results.json: no field `{key}`")
    if state is not None:
        check_fields(f"{run}/trainer_state.json", state, TRAINER_STATE, problems)
        history = state.get("log_history") or []
        kinds = {"train": 0, "eval": 0, "end": 0}
        for i, entry in enumerate(history):
            where = f"{run}/trainer_state.json: log_history[{i}]"
            if "train_runtime" in entry:
                kinds["end"] += 1
                check_fields(where, entry, LOG_END, problems)
            elif "eval_loss" in entry or any(k.startswith("eval_") for k in entry):
                kinds["eval"] += 1
                check_fields(where, entry, LOG_EVAL, problems)
            else:
                kinds["train"] += 1
                check_fields(where, entry, LOG_TRAIN, problems)
        for kind, count in kinds.items():
            if count == 0:
                problems.append(f"{run}/trainer_state.json: log_history has no {kind} entry")
        if history and "train_runtime" not in history[-1]:
            problems.append(f"{run}/trainer_state.json: log_history does not end with the training summary")
        steps = [e.get("step") for e in history]
        if steps != sorted(steps):
            problems.append(f"{run}/trainer_state.json: log_history steps are not in order")
        if state.get("global_step") != (steps[-1] if steps else None):
            problems.append(f"{run}/trainer_state.json: global_step is not the last logged step")
    return problems


def dump(run):
    for name in ["train_results.json", "eval_results.json", "all_results.json", "trainer_state.json"]:
        with open(os.path.join(run, name)) as f:
            obj = json.load(f)
        print(name, {k: type(v).__name__ for k, v in obj.items()})


def main(argv):
    if len(argv) > 1 and argv[1] == "--dump":
        for run in argv[2:]:
            dump(run)
        return 0
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    problems = [p for run in argv[1:] for p in check_run(run)]
    for p in problems:
        print(p)
    if not problems:
        print(f"{len(argv) - 1} run(s): the Trainer files have transformers' fields and types")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
