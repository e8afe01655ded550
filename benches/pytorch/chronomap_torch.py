#!/usr/bin/env python3
"""PyTorch twin of chronomap's spatio-temporal network, for side-by-side timings.

The network is the one described in tests/fixtures/parity/README.md (U-Net with batch norm after
every conv, ConvLSTM over per-date softmax maps); `--check-parity` verifies this file against the
parity fixture (written by an independent PyTorch build), so the timed network is provably the
same architecture as chronomap's.

Workloads (the same as `chronomap bench`):
  eval    network forward in eval mode (BN running stats), no autograd
  train   one training step: forward in train mode, loss = CE(fused) + 0.5 * CE(date),
          backward, Adam update
  scene   sliding-window inference of a SCENE x SCENE x T scene, windows of SIZE px overlapping
          by OVERLAP px, linear-ramp blending of fused probabilities; throughput reported in
          megapixels of imagery per second = SCENE * SCENE * T / seconds

Usage:
  python3 benches/pytorch/chronomap_torch.py --threads 2 --json out.json
  python3 benches/pytorch/chronomap_torch.py --check-parity tests/fixtures/parity

Requires torch (tested with 2.15.0) and, for --check-parity, safetensors. PyTorch is not a
dependency of chronomap or of its CI.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x)))


class UNet(nn.Module):
    def __init__(self, cin, classes, base=32, depth=4):
        super().__init__()
        widths = [base * 2**l for l in range(depth)]
        self.enc = nn.ModuleList()
        c = cin
        for w in widths:
            self.enc.append(Block(c, w))
            c = w
        self.bottleneck = Block(c, 2 * c)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for w in reversed(widths):  # i = 0 is the deepest level
            self.up.append(nn.ConvTranspose2d(2 * w, w, 2, stride=2))
            self.dec.append(Block(2 * w, w))
        self.head = nn.Conv2d(base, classes, 1)

    def forward(self, x):
        skips = []
        for blk in self.enc:
            x = blk(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            x = dec(torch.cat([up(x), skip], 1))
        return self.head(x)


class SpatioTemporalNet(nn.Module):
    def __init__(self, cin=4, classes=5, base=32, depth=4, hidden=16):
        super().__init__()
        self.fcn = UNet(cin, classes, base, depth)
        self.hidden = hidden
        self.gates = nn.Conv2d(classes + hidden, 4 * hidden, 3, padding=1)
        self.out = nn.Conv2d(hidden, classes, 1)

    def forward(self, x):  # x: [B, T, C, H, W]
        b, t, c, h, w = x.shape
        date_logits = self.fcn(x.reshape(b * t, c, h, w))
        k = date_logits.shape[1]
        date_logits = date_logits.reshape(b, t, k, h, w)
        pmaps = torch.softmax(date_logits, 2)
        hs = x.new_zeros(b, self.hidden, h, w)
        cs = x.new_zeros(b, self.hidden, h, w)
        fused = []
        for step in range(t):
            g = self.gates(torch.cat([pmaps[:, step], hs], 1))
            i, f, o, gg = torch.chunk(g, 4, 1)
            cs = torch.sigmoid(f) * cs + torch.sigmoid(i) * torch.tanh(gg)
            hs = torch.sigmoid(o) * torch.tanh(cs)
            fused.append(self.out(hs))
        return date_logits, torch.stack(fused, 1)


def loss_fn(date_logits, fused_logits, labels):
    k = date_logits.shape[2]
    fl = fused_logits.permute(0, 1, 3, 4, 2).reshape(-1, k)
    dl = date_logits.permute(0, 1, 3, 4, 2).reshape(-1, k)
    y = labels.reshape(-1)
    return F.cross_entropy(fl, y, ignore_index=255) + 0.5 * F.cross_entropy(dl, y, ignore_index=255)


def timeit(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "n": iters}


def unet_gflop(cin, classes, base, depth, h, w):
    """Analytic multiply-add count x 2 of one U-Net forward on one h x w image."""
    fl = 0
    c = cin
    hh, ww = h, w
    widths = [base * 2**l for l in range(depth)]
    for wd in widths:
        fl += 2 * hh * ww * 9 * (c * wd + wd * wd)
        c = wd
        hh //= 2
        ww //= 2
    fl += 2 * hh * ww * 9 * (c * 2 * c + 4 * c * c)
    for wd in reversed(widths):
        hh *= 2
        ww *= 2
        fl += 2 * hh * ww * (2 * wd) * wd  # convT 2x2 s2: each output px is hit by one tap: 2*wd MACs per out ch
        fl += 2 * hh * ww * 9 * (2 * wd * wd + wd * wd)
    fl += 2 * h * w * base * classes
    return fl / 1e9


def net_gflop(a, h, w):
    per_img = unet_gflop(a.in_ch, a.classes, a.base, a.depth, h, w)
    lstm = 2 * h * w * (9 * (a.classes + a.hidden) * 4 * a.hidden + a.hidden * a.classes) / 1e9
    return a.batch * a.time * (per_img + lstm)


def scene_inference(net, scene, size, overlap, batch):
    """Sliding windows over scene [T, C, S, S]; returns blended fused class map."""
    t, c, s, _ = scene.shape
    stride = size - overlap
    starts = list(range(0, max(s - size, 0) + 1, stride))
    if starts[-1] + size < s:
        starts.append(s - size)
    ramp = torch.ones(size)
    if overlap > 0:
        r = torch.arange(overlap, dtype=torch.float32)
        ramp[:overlap] = (r + 0.5) / overlap
        ramp[-overlap:] = torch.flip((r + 0.5) / overlap, [0])
    wmap = ramp[:, None] * ramp[None, :]
    acc = torch.zeros(t, net.out.out_channels, s, s)
    wsum = torch.zeros(s, s)
    wins = [(y, x) for y in starts for x in starts]
    for i in range(0, len(wins), batch):
        chunk = wins[i:i + batch]
        xb = torch.stack([scene[:, :, y:y + size, x:x + size] for y, x in chunk])
        _, fused = net(xb)
        p = torch.softmax(fused, 2)
        for j, (y, x) in enumerate(chunk):
            acc[:, :, y:y + size, x:x + size] += p[j] * wmap
            wsum[y:y + size, x:x + size] += wmap
    return (acc / wsum).argmax(1)


def check_parity(folder):
    from safetensors.torch import load_file
    weights = load_file(os.path.join(folder, "weights.safetensors"))
    io = load_file(os.path.join(folder, "io.safetensors"))
    net = SpatioTemporalNet(4, 3, 8, 2, 4)
    missing, unexpected = net.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    assert not missing and not unexpected, (missing, unexpected)
    net.eval()
    with torch.no_grad():
        d, f = net(io["input"])
    err = max((d - io["eval.date_logits"]).abs().max().item(), (f - io["eval.fused_logits"]).abs().max().item())
    print(f"eval logits max abs error vs fixture: {err:.2e}")
    net.train()
    d, f = net(io["input"])
    loss = loss_fn(d, f, io["labels"])
    lerr = abs(loss.item() - io["train.loss"].item())
    print(f"train loss {loss.item():.6f} vs fixture {io['train.loss'].item():.6f} (abs error {lerr:.2e})")
    ok = err < 1e-4 and lerr < 1e-4
    print("parity OK" if ok else "parity FAILED")
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--time", type=int, default=3)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--in-ch", type=int, default=4)
    p.add_argument("--classes", type=int, default=5)
    p.add_argument("--base", type=int, default=32)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--scene", type=int, default=1024, help="scene side for the sliding-window workload (0 = skip)")
    p.add_argument("--overlap", type=int, default=32)
    p.add_argument("--layout", choices=["nchw", "channels-last", "both"], default="both")
    p.add_argument("--json", help="write the results as JSON to this file")
    p.add_argument("--check-parity", metavar="DIR", help="compare with the parity fixture and exit")
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    if a.check_parity:
        sys.exit(check_parity(a.check_parity))

    layouts = ["nchw", "channels-last"] if a.layout == "both" else [a.layout]
    gflop = net_gflop(a, a.size, a.size)
    res = {"framework": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
           "batch": a.batch, "time": a.time, "size": a.size, "gflop_forward": gflop, "results": {}}
    for layout in layouts:
        fmt = torch.channels_last if layout == "channels-last" else torch.contiguous_format
        net = SpatioTemporalNet(a.in_ch, a.classes, a.base, a.depth, a.hidden).to(memory_format=fmt)
        x = torch.randn(a.batch, a.time, a.in_ch, a.size, a.size)
        y = torch.randint(0, a.classes, (a.batch, a.time, a.size, a.size))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)

        def fwd():
            net.eval()
            with torch.inference_mode():
                net(x)

        def step():
            net.train()
            opt.zero_grad(set_to_none=True)
            d, f = net(x)
            loss_fn(d, f, y).backward()
            opt.step()

        r = {"eval_forward": timeit(fwd, a.warmup, a.iters), "train_step": timeit(step, a.warmup, a.iters)}
        r["eval_forward"]["gflops"] = gflop / r["eval_forward"]["median_s"]
        r["train_step"]["gflops"] = 3 * gflop / r["train_step"]["median_s"]
        if a.scene:
            scene = torch.randn(a.time, a.in_ch, a.scene, a.scene)
            net.eval()

            def sc():
                with torch.inference_mode():
                    scene_inference(net, scene, a.size, a.overlap, a.batch)

            s = timeit(sc, 1, max(1, a.iters // 2))
            s["mpx_per_s"] = a.scene * a.scene * a.time / 1e6 / s["median_s"]
            r["scene"] = s
        res["results"][layout] = r
        for k, v in r.items():
            extra = f"{v['mpx_per_s']:.2f} Mpx/s" if "mpx_per_s" in v else f"{v['gflops']:.1f} GFLOP/s"
            print(f"pytorch {layout:13s} {k:13s} median {v['median_s']*1e3:9.1f} ms "
                  f"(min {v['min_s']*1e3:.1f}, max {v['max_s']*1e3:.1f})  {extra}", flush=True)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
