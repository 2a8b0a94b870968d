#!/usr/bin/python3
"""PyTorch-from-Python peer for `attnlab bench`: trains the same Transformer encoder on
synthetic token batches and reports throughput.

Model (identical work on every side of the comparison, see docs/benchmark.md):
  token embedding * sqrt(d) + fixed sinusoidal positions, dropout 0.1
  -> L pre-LN layers (nn.TransformerEncoderLayer, norm_first=True, GELU, dropout 0.1 on
     residual/ff, attention dropout 0) -> final LayerNorm -> per-token Linear(d, vocab)
  loss: cross-entropy over all B*T tokens; AdamW(lr 1e-3, betas (0.9, 0.98), eps 1e-8,
  weight decay 0.01); gradient clipping at global norm 1.0.

Usage: /usr/bin/python3 scripts/bench_pytorch.py --size small --threads 2 --json
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn

# Sizes and step counts shared with `attnlab bench` and bench/libtorch_peer.cpp (a test checks
# that the three agree: BenchPeers.SameStepsAndRuleOnEverySide).
SIZES = {
    "small": dict(vocab=64, seq=32, batch=64, d_model=128, heads=4, layers=4, d_ff=512,
                  warmup_steps=5, steps=30),
    "medium": dict(vocab=1000, seq=128, batch=32, d_model=512, heads=8, layers=6, d_ff=2048,
                   warmup_steps=2, steps=8),
}


def sinusoidal_positions(max_len, d_model):
    position = torch.arange(max_len, dtype=torch.float).unsqueeze(1)           # (T, 1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float) *
                    (-math.log(10000.0) / d_model))                            # (C/2)
    table = torch.zeros(max_len, d_model)                                      # (T, C)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div[: d_model // 2])
    return table


class EncoderLM(nn.Module):
    def __init__(self, vocab, seq, d_model, heads, layers, d_ff, dropout=0.1):
        super().__init__()
        self.scale = math.sqrt(d_model)
        self.token = nn.Embedding(vocab, d_model)
        nn.init.normal_(self.token.weight, 0.0, 1.0 / math.sqrt(d_model))
        self.register_buffer("position_table", sinusoidal_positions(seq, d_model))
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=d_ff, dropout=dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model),
                                             enable_nested_tensor=False)
        for lyr in self.encoder.layers:
            lyr.self_attn.dropout = 0.0   # attention dropout 0, as in attnlab
        self.head = nn.Linear(d_model, vocab)

    def forward(self, tokens, fast_path=True):                   # (B, T) int64
        T = tokens.size(1)
        x = self.token(tokens) * self.scale + self.position_table[:T].unsqueeze(0)  # (B, T, C)
        x = self.dropout(x)
        if fast_path:
            x = self.encoder(x)                                  # (B, T, C)
        else:
            # The pre-LN branch of TransformerEncoderLayer.forward, spelled out: in 1.13 the
            # eval fast paths (torch._transformer_encoder_layer_fwd and, inside attention,
            # torch._native_multi_head_attention) ignore CPU autocast and fail on its bf16
            # activations, so bf16 eval takes the ordinary path (see slow_attention()).
            for lyr in self.encoder.layers:
                x = x + lyr._sa_block(lyr.norm1(x), None, None)  # (B, T, C)
                x = x + lyr._ff_block(lyr.norm2(x))              # (B, T, C)
            x = self.encoder.norm(x)
        return self.head(x)                                      # (B, T, V)


class slow_attention:
    """Keeps nn.MultiheadAttention off its eval fast path: that path is skipped when the
    module's dropout attribute is non-zero, and in eval mode the dropout itself is a no-op."""

    def __init__(self, model, enabled):
        self.attns = [lyr.self_attn for lyr in model.encoder.layers] if enabled else []

    def __enter__(self):
        for attn in self.attns:
            attn.dropout = 1e-6

    def __exit__(self, *exc):
        for attn in self.attns:
            attn.dropout = 0.0


def matmul_params(a):
    """Weights of the linear maps (no biases, norms, embeddings): N in the FLOP formula."""
    per_layer = 4 * a.d_model * a.d_model + 2 * a.d_model * a.d_ff
    return a.layers * per_layer + a.d_model * a.vocab


def flops_per_token(a, train):
    """Training: 6N + 12*L*T*d (forward 2N + 4LTd, backward twice the forward)."""
    n = matmul_params(a)
    attn = 4 * a.layers * a.seq * a.d_model
    return 3 * (2 * n + attn) if train else 2 * n + attn


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    for name in ("vocab", "seq", "batch", "d-model", "heads", "layers", "d-ff",
                 "warmup-steps", "steps", "eval-steps"):
        p.add_argument("--" + name, type=int, default=None)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    for key, value in SIZES[a.size].items():
        if getattr(a, key) is None:
            setattr(a, key, value)
    if a.eval_steps is None:
        a.eval_steps = a.steps
    if a.d_model % a.heads:
        p.error(f"--heads {a.heads} does not divide --d-model {a.d_model}")
    if a.steps < 1 or a.warmup_steps < 0 or a.threads < 1:
        p.error("need --steps >= 1, --warmup-steps >= 0, --threads >= 1")
    return a


def main(argv):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = EncoderLM(a.vocab, a.seq, a.d_model, a.heads, a.layers, a.d_ff)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), eps=1e-8,
                            weight_decay=0.01)
    loss_fn = nn.CrossEntropyLoss()
    bf16 = a.precision == "bf16"
    # A few fixed random batches, cycled: data generation stays out of the timing.
    batches = [(torch.randint(a.vocab, (a.batch, a.seq)), torch.randint(a.vocab, (a.batch, a.seq)))
               for _ in range(4)]

    def train_step(i):
        tokens, targets = batches[i % len(batches)]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(tokens)                                       # (B, T, V)
            loss = loss_fn(logits.reshape(-1, a.vocab).float(), targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    model.train()
    for i in range(a.warmup_steps):
        train_step(i)
    start = time.perf_counter()
    for i in range(a.steps):
        loss = train_step(i)
    final_loss = loss.item()
    train_s = time.perf_counter() - start

    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16), \
            slow_attention(model, enabled=bf16):
        for i in range(max(1, a.warmup_steps)):                          # warm-up, as attnlab's
            model(batches[i % len(batches)][0], fast_path=not bf16)
        start = time.perf_counter()
        for i in range(a.eval_steps):
            model(batches[i % len(batches)][0], fast_path=not bf16)
        eval_s = time.perf_counter() - start

    tokens_per_step = a.batch * a.seq
    train_tps = tokens_per_step * a.steps / train_s
    result = {
        "peer": "pytorch",
        "size": a.size,
        "precision": a.precision,
        "threads": torch.get_num_threads(),
        "train_tokens_per_s": round(train_tps, 1),
        "step_ms": round(1000.0 * train_s / a.steps, 3),
        "eval_tokens_per_s": round(tokens_per_step * a.eval_steps / eval_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "train_gflops_per_s": round(train_tps * flops_per_token(a, True) / 1e9, 2),
        "flops_per_token_train": flops_per_token(a, True),
        "params": sum(p.numel() for p in model.parameters()),
        "steps": a.steps,
        "warmup_steps": a.warmup_steps,
        "eval_steps": a.eval_steps,
        "train_seconds": round(train_s, 6),
        "final_loss": round(final_loss, 4),
        "norm": "pre-LN",
        # fp32 eval uses PyTorch's fused inference kernel; bf16 eval cannot (see forward).
        "eval_path": "slow (autocast)" if bf16 else "fast path",
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
        "torch_version": torch.__version__,
        "config": dict(vocab=a.vocab, seq=a.seq, batch=a.batch, d_model=a.d_model,
                       heads=a.heads, layers=a.layers, d_ff=a.d_ff),
    }
    if a.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main(sys.argv[1:])
