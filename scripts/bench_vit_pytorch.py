#!/usr/bin/python3
"""PyTorch-from-Python peer for the Vision Transformer of configs/fashion_vit.yaml: the same
model trained on the same Fashion-MNIST images in batches of the same size, timed the same
way, so that its images/s compares with the `img/s` attnlab logs (docs/benchmark.md).
`scripts/bench_peers.sh --vit` runs it against `attnlab train` on the same config.

Model (read from --config, default configs/fashion_vit.yaml: model.*, train.batch_size, the
AdamW settings, data.train and data.image.holdout): uint8 pixels / 255, normalised with the
training split's mean and std -> PxP patches (unfold) -> Linear(P*P, d_model) -> <cls> in
front -> learned positions -> pre-LN layers (nn.TransformerEncoderLayer, norm_first=True) ->
final LayerNorm -> Linear(d_model, classes) on <cls>. Loss: cross-entropy; AdamW (decay on
matrices but the positions); clipping at the global norm train.grad_clip. Config values this
peer cannot build (post-LN, sinusoidal positions, mean pooling...) are an error. For the
shipped config: patch 4, d_model 64, 4 heads, 4 layers, d_ff 128, GELU, dropout 0, batch 128,
lr 2e-3, betas (0.9, 0.98), eps 1e-8, weight decay 0.05, clip 1.0, 55,000 training images.
bf16: torch.autocast("cpu", torch.bfloat16) around forward and loss, as attnlab's autocast.

Usage: /usr/bin/python3 scripts/bench_vit_pytorch.py --threads 2 --steps 600 --precision bf16
Prints one JSON object: images_per_s over the timed steps (after --warmup-steps).
"""
import argparse
import gzip
import json
import os
import sys
import time

import torch
import torch.nn as nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
# attnlab's defaults (src/config/config.h) for the keys this peer reads that a config may omit.
DEFAULTS = {"data.task": "", "data.format": "idx", "data.image.holdout": "0",
            "model.patch_size": "4", "model.d_model": "128", "model.num_heads": "4",
            "model.num_layers": "3", "model.d_ff": "512", "model.dropout": "0.1",
            "model.attention_dropout": "0.0", "model.norm": "pre", "model.activation": "gelu",
            "model.positions": "sinusoidal", "model.pooling": "cls", "train.batch_size": "64",
            "train.grad_accum_steps": "1", "train.lr": "1e-3", "train.beta1": "0.9",
            "train.beta2": "0.98", "train.eps": "1e-8", "train.weight_decay": "0.01",
            "train.grad_clip": "1.0"}


def read_config(path):
    """The config's block mappings flattened to {"model.d_model": "64", ...}: just enough YAML
    for configs/*.yaml (nested `key: value` by indentation, # comments; lists kept as text)."""
    values, parents = {}, []  # parents: (indent, key) of the open mappings
    for raw in open(path):
        line = raw.split(" #")[0].rstrip()
        if not line.strip() or line.lstrip().startswith(("#", "- ")):
            continue
        indent = len(line) - len(line.lstrip())
        key, colon, value = line.strip().partition(":")
        if not colon:
            continue
        while parents and parents[-1][0] >= indent:
            parents.pop()
        if value.strip():
            values[".".join([k for _, k in parents] + [key])] = value.strip().strip("\"'")
        else:
            parents.append((indent, key))
    return values


def read_idx(path):
    raw = gzip.open(path).read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


class ViT(nn.Module):
    def __init__(self, mean, std, size=28, patch=4, d_model=64, heads=4, layers=4, d_ff=128,
                 classes=10, activation="gelu"):
        super().__init__()
        self.patch = patch
        n = (size // patch) ** 2
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))
        self.proj = nn.Linear(patch * patch, d_model)
        self.cls = nn.Parameter(torch.randn(1, 1, d_model) * 0.02)
        self.position = nn.Parameter(torch.randn(n + 1, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=d_ff, dropout=0.0,
                                           activation=activation, batch_first=True, norm_first=True)
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
    p.add_argument("--config", default=os.path.join(ROOT, "configs", "fashion_vit.yaml"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--warmup-steps", type=int, default=50)
    p.add_argument("--batch", type=int, default=None, help="default: the config's train.batch_size")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    a = p.parse_args()
    cfg = read_config(a.config)

    def get(key, cast=str):
        return cast(cfg.get(key, DEFAULTS.get(key, "")))

    # What this peer builds; anything else would time a different model than attnlab's.
    wanted = {"data.task": "image_classification", "data.format": "idx", "model.norm": "pre",
              "model.positions": "learned", "model.pooling": "cls", "train.grad_accum_steps": "1"}
    for key, value in wanted.items():
        if get(key) != value:
            sys.exit(f"{a.config}: {key}={get(key)}: this peer only builds {key}={value}")
    for key in ("model.dropout", "model.attention_dropout"):
        if get(key, float) != 0:
            sys.exit(f"{a.config}: {key}={get(key)}: this peer only builds dropout 0")
    activation = get("model.activation")
    if activation not in ("gelu", "relu"):
        sys.exit(f"{a.config}: model.activation={activation}: this peer builds gelu or relu")
    batch = a.batch or get("train.batch_size", int)

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    train = os.path.join(os.path.dirname(a.config), get("data.train"))
    train_labels = get("data.image.train_labels")
    train_labels = (os.path.join(os.path.dirname(a.config), train_labels) if train_labels
                    else train.replace("images-idx3", "labels-idx1"))
    images = read_idx(train).unsqueeze(1)                         # (N, 1, H, W)
    labels = read_idx(train_labels).long()                        # (N)
    kept = len(images) - get("data.image.holdout", int)           # the last ones validate
    images, labels = images[:kept], labels[:kept]
    scaled = images.float() / 255.0
    model = ViT(scaled.mean().item(), scaled.std(unbiased=False).item(), size=images.shape[-1],
                patch=get("model.patch_size", int), d_model=get("model.d_model", int),
                heads=get("model.num_heads", int), layers=get("model.num_layers", int),
                d_ff=get("model.d_ff", int), classes=int(labels.max()) + 1,
                activation=activation)
    del scaled
    decay = [q for name, q in model.named_parameters() if q.dim() >= 2 and name != "position"]
    rest = [q for name, q in model.named_parameters() if q.dim() < 2 or name == "position"]
    weight_decay = get("train.weight_decay", float)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": rest, "weight_decay": 0.0}],
                                  lr=get("train.lr", float), eps=get("train.eps", float),
                                  betas=(get("train.beta1", float), get("train.beta2", float)))
    clip = get("train.grad_clip", float)
    order = torch.randperm(len(images))
    loss_fn = nn.CrossEntropyLoss()

    def step(i):
        rows = order[(i * batch) % (len(images) - batch):][:batch]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = loss_fn(model(images[rows]).float(), labels[rows])
        loss.backward()
        if clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
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
                      "batch": batch, "steps": a.steps, "warmup_steps": a.warmup_steps,
                      "images_per_s": batch * a.steps / seconds, "final_loss": last}))


if __name__ == "__main__":
    main()
