#!/usr/bin/python3
"""PyTorch-from-Python peer for the Vision Transformer of configs/fashion_vit.yaml: the same
model trained on the same Fashion-MNIST images in batches of the same size, timed the same
way, so that its images/s compares with the `img/s` attnlab logs (docs/benchmark.md).

Model (the shipped config's): uint8 pixels / 255, normalised with the training split's mean
and std -> 4x4 patches (unfold) -> Linear(16, 64) -> <cls> in front -> learned positions
(50, 64) -> 4 pre-LN layers (nn.TransformerEncoderLayer, norm_first=True, GELU, 4 heads,
d_ff 128, dropout 0) -> final LayerNorm -> Linear(64, 10) on <cls>. Loss: cross-entropy;
AdamW(lr 2e-3, betas (0.9, 0.98), eps 1e-8, weight decay 0.05); clipping at global norm 1.0.
bf16: torch.autocast("cpu", torch.bfloat16) around forward and loss, as attnlab's autocast.

Usage: /usr/bin/python3 scripts/bench_vit_pytorch.py --threads 2 --steps 600 --precision bf16
Prints one JSON object: images_per_s over the timed steps (after --warmup-steps).
"""
import argparse
import gzip
import json
import time

import torch
import torch.nn as nn

DATA = "/usr/share/datasets/fashion-mnist/"


def read_idx(path):
    raw = gzip.open(path).read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


class ViT(nn.Module):
    def __init__(self, mean, std, size=28, patch=4, d_model=64, heads=4, layers=4, d_ff=128,
                 classes=10):
        super().__init__()
        self.patch = patch
        n = (size // patch) ** 2
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))
        self.proj = nn.Linear(patch * patch, d_model)
        self.cls = nn.Parameter(torch.randn(1, 1, d_model) * 0.02)
        self.position = nn.Parameter(torch.randn(n + 1, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=d_ff, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model),
                                             enable_nested_tensor=False)
        self.head = nn.Linear(d_model, classes)

    def forward(self, images):                                    # (B, 1, H, W) uint8
        x = (images.float() / 255.0 - self.mean) / self.std
        patches = nn.functional.unfold(x, self.patch, stride=self.patch).transpose(1, 2)  # (B, N, P*P)
        tokens = self.proj(patches)                               # (B, N, C)
        tokens = torch.cat([self.cls.expand(len(images), -1, -1), tokens], 1) + self.position
        return self.head(self.encoder(tokens)[:, 0])             # (B, K)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--warmup-steps", type=int, default=50)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    images = read_idx(DATA + "train-images-idx3-ubyte.gz")[:55000].unsqueeze(1)  # (N, 1, 28, 28)
    labels = read_idx(DATA + "train-labels-idx1-ubyte.gz")[:55000].long()
    scaled = images.float() / 255.0
    model = ViT(scaled.mean().item(), scaled.std(unbiased=False).item())
    del scaled
    decay = [q for name, q in model.named_parameters() if q.dim() >= 2 and name != "position"]
    rest = [q for name, q in model.named_parameters() if q.dim() < 2 or name == "position"]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                                   {"params": rest, "weight_decay": 0.0}],
                                  lr=2e-3, betas=(0.9, 0.98), eps=1e-8)
    order = torch.randperm(len(images))
    loss_fn = nn.CrossEntropyLoss()

    def step(i):
        rows = order[(i * a.batch) % (len(images) - a.batch):][: a.batch]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = loss_fn(model(images[rows]).float(), labels[rows])
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    for i in range(a.warmup_steps):
        step(i)
    start = time.perf_counter()
    for i in range(a.warmup_steps, a.warmup_steps + a.steps):
        last = step(i)
    seconds = time.perf_counter() - start
    print(json.dumps({"peer": "pytorch", "precision": a.precision, "threads": torch.get_num_threads(),
                      "batch": a.batch, "steps": a.steps,
                      "images_per_s": a.batch * a.steps / seconds, "final_loss": last}))


if __name__ == "__main__":
    main()
