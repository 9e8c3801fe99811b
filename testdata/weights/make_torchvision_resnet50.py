#!/usr/bin/python3
"""Write a torchvision-layout ResNet50 state_dict with random values, as torch.save does.

Used by weights/pytorch_resnet_test.go (Debian's python3-torch 1.13.1; torchvision is not
needed: the names and shapes are those of torchvision/models/resnet.py, resnet50(), built by
hand). Also writes OUT.json with each tensor's shape, dtype and float64 sum, which the Go test
compares against after import.

usage: make_torchvision_resnet50.py OUT.pth [--legacy] [--half] [--checkpoint] [--dataparallel]
"""
import json
import sys

import torch


def resnet50_state_dict(num_classes=1000):
    """torchvision ResNet50 (v1.5) state_dict names and shapes, in registration order."""
    g = torch.Generator().manual_seed(1234)
    sd = {}

    def conv(name, o, i, k):
        sd[name + ".weight"] = torch.randn(o, i, k, k, generator=g) * (2.0 / (i * k * k)) ** 0.5

    def bn(name, c):
        sd[name + ".weight"] = 1 + 0.1 * torch.randn(c, generator=g)
        sd[name + ".bias"] = 0.1 * torch.randn(c, generator=g)
        sd[name + ".running_mean"] = 0.1 * torch.randn(c, generator=g)
        sd[name + ".running_var"] = 0.5 + torch.rand(c, generator=g)
        sd[name + ".num_batches_tracked"] = torch.tensor(100, dtype=torch.int64)

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    inp = 64
    for layer, blocks in enumerate([3, 4, 6, 3]):
        w = 64 << layer
        for b in range(blocks):
            p = f"layer{layer + 1}.{b}."
            conv(p + "conv1", w, inp, 1)
            bn(p + "bn1", w)
            conv(p + "conv2", w, w, 3)
            bn(p + "bn2", w)
            conv(p + "conv3", 4 * w, w, 1)
            bn(p + "bn3", 4 * w)
            if b == 0:
                conv(p + "downsample.0", 4 * w, inp, 1)
                bn(p + "downsample.1", 4 * w)
            inp = 4 * w
    sd["fc.weight"] = torch.randn(num_classes, 2048, generator=g) * 0.01
    sd["fc.bias"] = 0.01 * torch.randn(num_classes, generator=g)
    return sd


def main():
    out = sys.argv[1]
    flags = set(sys.argv[2:])
    sd = resnet50_state_dict()
    if "--half" in flags:
        sd = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
    # A transposed-then-transposed-back view: same values, non-contiguous strides.
    sd["fc.weight"] = sd["fc.weight"].t().contiguous().t()
    from collections import OrderedDict
    state = OrderedDict(sd)
    if "--dataparallel" in flags:
        state = OrderedDict(("module." + k, v) for k, v in sd.items())
    obj = {"epoch": 90, "state_dict": state, "arch": "resnet50"} if "--checkpoint" in flags else state
    torch.save(obj, out, _use_new_zipfile_serialization="--legacy" not in flags)
    summary = {k: {"shape": list(v.shape), "dtype": str(v.dtype), "sum": float(v.double().sum()),
                   "first": float(v.reshape(-1)[0])} for k, v in sd.items()}
    with open(out + ".json", "w") as f:
        json.dump(summary, f)


if __name__ == "__main__":
    main()
