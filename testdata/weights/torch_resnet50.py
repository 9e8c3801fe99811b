#!/usr/bin/python3
"""Reference ResNet50 forward in PyTorch (torch.nn.functional) for autotag model files.

Reads a native autotag .safetensors file (torchvision names; layout keras-v1 or
torchvision-v1.5 from its metadata), runs it on a raw little-endian float32 NCHW input and
writes the probabilities (after the file's activation) as raw float32. Needs only Debian's
python3-torch (no torchvision, no safetensors package). Used by weights/onnx_test.go.

usage: torch_resnet50.py MODEL.safetensors INPUT.f32 N C H W OUT.f32
"""
import json
import struct
import sys

import torch
import torch.nn.functional as F


def load(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    meta = hdr.pop("__metadata__", {})
    base = 8 + n
    ts = {}
    for k, e in hdr.items():
        assert e["dtype"] == "F32", (k, e["dtype"])
        s, t = e["data_offsets"]
        ts[k] = torch.frombuffer(bytearray(b[base + s:base + t]), dtype=torch.float32).reshape(e["shape"])
    return meta, ts


def forward(meta, ts, x):
    keras = meta["layout"] == "keras-v1"
    eps = float(meta["bn_eps"])

    def conv_bn(x, conv, bn, stride, pad):
        x = F.conv2d(x, ts[conv + ".weight"], ts.get(conv + ".bias"), stride=stride, padding=pad)
        return F.batch_norm(x, ts[bn + ".running_mean"], ts[bn + ".running_var"], ts[bn + ".weight"],
                            ts[bn + ".bias"], training=False, eps=eps)

    x = F.relu(conv_bn(x, "conv1", "bn1", 2, 3))
    x = F.max_pool2d(x, 3, 2, 1)
    for l, blocks in enumerate([3, 4, 6, 3]):
        for b in range(blocks):
            p = f"layer{l + 1}.{b}"
            stride = 2 if l > 0 and b == 0 else 1
            s1, s2 = (stride, 1) if keras else (1, stride)
            y = F.relu(conv_bn(x, p + ".conv1", p + ".bn1", s1, 0))
            y = F.relu(conv_bn(y, p + ".conv2", p + ".bn2", s2, 1))
            y = conv_bn(y, p + ".conv3", p + ".bn3", 1, 0)
            short = conv_bn(x, p + ".downsample.0", p + ".downsample.1", stride, 0) if b == 0 else x
            x = F.relu(y + short)
    x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
    logits = F.linear(x, ts["fc.weight"], ts["fc.bias"])
    if meta.get("activation") == "sigmoid":
        return torch.sigmoid(logits)
    return torch.softmax(logits, dim=1)


def main():
    model, inp, n, c, h, w, out = sys.argv[1:8]
    meta, ts = load(model)
    with open(inp, "rb") as f:
        x = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(int(n), int(c), int(h), int(w))
    torch.set_num_threads(2)
    with torch.no_grad():
        p = forward(meta, ts, x)
    with open(out, "wb") as f:
        f.write(struct.pack("<%df" % p.numel(), *p.reshape(-1).tolist()))


if __name__ == "__main__":
    main()
