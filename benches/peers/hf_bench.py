#!/usr/bin/env python3
"""The PyTorch peer of `sesame bench`: Hugging Face `*ForSequenceClassification` (BERT, ModernBERT, DeBERTa-v2)
with torch's AdamW, timed with exactly the shapes and the step of `sesame bench` (forward, cross-entropy loss,
backward, global-norm clipping 1.0, AdamW with decoupled weight decay 0.01 except biases and normalisation
weights, eps 1e-6).

Prints one JSON line per configuration, with the field names of `sesame bench` (tool = "pytorch").

    python benches/peers/hf_bench.py --model minilm --batch 32 --seq-len 128 --modes fp32,tf32,bf16-sdpa,compile

Modes: fp32 (eager attention, tf32 off), tf32 (fp32 with tensor-float matmuls), bf16 / bf16-sdpa (autocast to
bfloat16, eager or SDPA attention), sdpa (fp32 with SDPA), compile (torch.compile of the fp32 model). On a CPU-only
host only fp32, sdpa and compile are meaningful. Requires torch and transformers (tested: torch 2.11,
transformers 5.17).
"""
import argparse
import json
import resource
import statistics
import sys
import time

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification

# model_type and the architecture fields of each shape `sesame bench --model` names (the released configs of
# ModernBERT-base and DeBERTa-v3-base).
SHAPES = {
    "minilm": ("bert", dict(num_hidden_layers=6, hidden_size=384, num_attention_heads=12, intermediate_size=1536,
                            vocab_size=30522, max_position_embeddings=512, type_vocab_size=2)),
    "bert-base": ("bert", dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12,
                               intermediate_size=3072, vocab_size=30522, max_position_embeddings=512,
                               type_vocab_size=2)),
    "modernbert-base": ("modernbert", dict(
        num_hidden_layers=22, hidden_size=768, num_attention_heads=12, intermediate_size=1152, vocab_size=50368,
        max_position_embeddings=8192, hidden_activation="gelu", norm_eps=1e-5, norm_bias=False,
        attention_bias=False, mlp_bias=False, global_attn_every_n_layers=3, local_attention=128,
        global_rope_theta=160000.0, local_rope_theta=10000.0, classifier_pooling="mean",
        classifier_activation="gelu", pad_token_id=50283)),
    "deberta-v3-base": ("deberta-v2", dict(
        num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072, vocab_size=128100,
        max_position_embeddings=512, type_vocab_size=0, relative_attention=True, max_relative_positions=-1,
        position_buckets=256, norm_rel_ebd="layer_norm", share_att_key=True, pos_att_type=["p2c", "c2p"],
        position_biased_input=False, layer_norm_eps=1e-7, pooler_hidden_size=768, pooler_hidden_act="gelu")),
}


def build(shape, attn, device):
    kind, fields = SHAPES[shape]
    dropout = dict(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1) if kind != "modernbert" else {}
    cfg = AutoConfig.for_model(kind, num_labels=2, **dropout, **fields)
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(cfg, attn_implementation=attn).to(device).train()


def optimizer(model):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.dim() < 2 else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                              {"params": no_decay, "weight_decay": 0.0}], lr=1e-5, eps=1e-6)


def inputs(shape, b, n, device):
    vocab = SHAPES[shape][1]["vocab_size"]
    i = torch.arange(b * n, device=device)
    ids = (1000 + (i * 7919) % (vocab - 1000)).view(b, n)
    types = ((i % n) >= n // 2).long().view(b, n)
    mask = torch.ones(b, n, dtype=torch.long, device=device)
    labels = torch.arange(b, device=device) % 2
    return ids, types, mask, labels


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def forward_flops(shape, b, n):
    """As `sesame bench` counts them (crates/sesame-cli/src/bench/mod.rs, `forward_flops`)."""
    kind, s = SHAPES[shape]
    t, h, f, layers = b * n, s["hidden_size"], s["intermediate_size"], s["num_hidden_layers"]
    ffn = 3 * h * f if kind == "modernbert" else 2 * h * f
    relative = 0
    if kind == "deberta-v2":
        rows = 2 * s["position_buckets"]
        relative = 2 * 2 * b * n * rows * h + 2 * 2 * rows * h * h
    return layers * (2 * t * (4 * h * h + ffn) + 4 * b * n * n * h + relative)


def run(args, mode, device):
    attn = "sdpa" if "sdpa" in mode else "eager"
    torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
    torch.backends.cudnn.allow_tf32 = mode == "tf32"
    model = build(args.model, attn, device)
    opt = optimizer(model)
    ids, types, mask, labels = inputs(args.model, args.batch, args.seq_len, device)
    # ModernBERT reads no token types.
    extra = {} if SHAPES[args.model][0] == "modernbert" else dict(token_type_ids=types)
    autocast = mode.startswith("bf16")
    train = args.mode == "train"
    if not train:
        model.eval()

    def step():
        if train:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                out = model(input_ids=ids, attention_mask=mask, labels=labels, **extra)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
        else:
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                model(input_ids=ids, attention_mask=mask, **extra)

    if mode == "compile":
        step = torch.compile(step)
    for _ in range(args.warmup):
        step()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        sync(device)
        times.append((time.perf_counter() - t0) / args.steps)
    sec = statistics.median(times)
    flops = forward_flops(args.model, args.batch, args.seq_len) * (3 if train else 1)
    s = SHAPES[args.model][1]
    return {
        "tool": "pytorch", "backend": device.type, "precision": mode, "model": args.model,
        "layers": s["num_hidden_layers"], "hidden": s["hidden_size"], "heads": s["num_attention_heads"],
        "intermediate": s["intermediate_size"], "variant": "baseline", "mode": args.mode,
        "batch": args.batch, "seq_len": args.seq_len, "warmup": args.warmup, "steps": args.steps,
        "repeats": args.repeats, "ms_per_step": 1e3 * sec, "ms_per_step_min": 1e3 * min(times),
        "ms_per_step_max": 1e3 * max(times), "examples_per_second": args.batch / sec,
        "gflop_per_step": flops / 1e9, "achieved_gflops": flops / sec / 1e9,
        "peak_device_memory_bytes": torch.cuda.max_memory_allocated() if device.type == "cuda" else None,
        # ru_maxrss is in KiB on Linux: the peak resident memory of this process so far (all modes before too).
        "peak_host_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(SHAPES), default="minilm")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--mode", choices=["train", "inference"], default="train")
    p.add_argument("--modes", default="fp32", help="comma-separated: fp32,tf32,sdpa,bf16,bf16-sdpa,compile")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    for mode in args.modes.split(","):
        try:
            print(json.dumps(run(args, mode, device)), flush=True)
        except Exception as e:  # one failing mode (e.g. compile without a compiler) must not hide the others
            print(json.dumps({"tool": "pytorch", "precision": mode, "model": args.model, "error": repr(e)}),
                  flush=True)
            print(f"{mode}: {e!r}", file=sys.stderr)


if __name__ == "__main__":
    main()
