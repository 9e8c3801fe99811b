#!/usr/bin/python3
"""Golden fixtures for nn's bottleneck block (He et al. 2015, Fig. 5), written by
Debian's PyTorch (/usr/bin/python3, python3-torch 1.13) in eval mode.

One projection block (in 8 → width 4 → out 16, stride 2, batch 2, 8x8 input) per
layout, with random weights and non-trivial batch-norm statistics:
  keras-v1         stride on conv1 (1x1) and the shortcut, bias on every conv, eps 1e-3
  torchvision-v1.5 stride on conv2 (3x3) and the shortcut, no conv bias,      eps 1e-5
Writes bottleneck_<layout>.json: {"layout", "eps", "stride", "params": {state_dict
name: {"shape", "data"}}, "input": {...}, "output": {...}}; nn/bottleneck_test.go
reads them (tolerance 1e-5 absolute + 1e-5 relative).

Usage: /usr/bin/python3 testdata/nn/make_bottleneck.py testdata/nn
"""
import json
import os
import sys

import torch
from torch import nn


class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride, keras):
        super().__init__()
        cout, bias, eps = 4 * width, keras, (1e-3 if keras else 1e-5)
        s1, s2 = (stride, 1) if keras else (1, stride)
        self.conv1 = nn.Conv2d(cin, width, 1, s1, 0, bias=bias)
        self.bn1 = nn.BatchNorm2d(width, eps=eps)
        self.conv2 = nn.Conv2d(width, width, 3, s2, 1, bias=bias)
        self.bn2 = nn.BatchNorm2d(width, eps=eps)
        self.conv3 = nn.Conv2d(width, cout, 1, 1, 0, bias=bias)
        self.bn3 = nn.BatchNorm2d(cout, eps=eps)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=bias),
                                        nn.BatchNorm2d(cout, eps=eps))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return torch.relu(y + self.downsample(x))


def tensor_json(t):
    return {"shape": list(t.shape), "data": [float("%.9g" % v) for v in t.detach().reshape(-1).tolist()]}


def main(out_dir):
    for layout, keras in (("keras-v1", True), ("torchvision-v1.5", False)):
        torch.manual_seed(7 if keras else 8)
        blk = Bottleneck(8, 4, 2, keras)
        for m in blk.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.normal_(0, 0.2)
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
        blk.eval()
        x = torch.randn(2, 8, 8, 8)
        with torch.no_grad():
            y = blk(x)
        params = {k: tensor_json(v) for k, v in blk.state_dict().items() if not k.endswith("num_batches_tracked")}
        doc = {"layout": layout, "eps": blk.bn1.eps, "stride": 2, "torch": torch.__version__,
               "params": params, "input": tensor_json(x), "output": tensor_json(y)}
        with open(os.path.join(out_dir, "bottleneck_%s.json" % layout), "w") as f:
            json.dump(doc, f, separators=(",", ":"), sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
