#!/bin/sh
# Go vs PyTorch, same recipe, same cached features, five seeds each (issue 5).
#
# First extract and export the features once (the backbone runs here; minutes):
#   autotag train --train $TR1 --train $TR2 --val $VAL --out /tmp/m.safetensors --views 3 --export-features feats-eval
#   autotag train --preset original --train $TR1 --train $TR2 --val $VAL --out /tmp/o.safetensors --export-features feats-squash
# then run this script from the directory holding feats-eval/ and feats-squash/.
set -e
D=${SHARED_DATA:-../shared/data}
TR1=coco:$D/coco128/annotations/instances_train2017.json:$D/coco128/images/train2017
TR2=csv:$D/coco-extra/labels_train.csv:$D/coco-extra
VAL=csv:$D/coco128/multilabel_val2017.csv:$D/coco128
REF=$(dirname "$0")/reference.py
B=${AUTOTAG_BIN:-autotag}
variant() { # name feats goflags... -- pyflags...
  name=$1; feats=$2; shift 2
  gof=""; while [ "$1" != "--" ]; do gof="$gof $1"; shift; done; shift
  mkdir -p seeds
  for s in 1 2 3 4 5; do
    $B train --quiet --train $TR1 --train $TR2 --val $VAL --from-features $feats \
      --out seeds/$name-s$s.safetensors --checkpoints seeds/$name-s$s.ckpt --seed $s $gof | grep validation
  done > go-$name.txt
  /usr/bin/python3 $REF --features $feats --seeds 5 "$@" --json py-$name.json > py-$name.txt
}
variant wbce-linear feats-eval --views 3 -- --loss wbce
variant asl-linear feats-eval --views 3 --loss asl -- --loss asl
variant wbce-mlp feats-eval --views 3 --head mlp:1024,512 -- --loss wbce --head mlp:1024,512
variant original feats-squash --preset original -- --loss focal --head mlp:1024,512 --epochs 3 --patience 0 --batch 32 --wd 0 --warmup 0 --min-lr 1e-3
/usr/bin/python3 - <<'PY'
import re, json, statistics as st
for v in ["wbce-linear", "asl-linear", "wbce-mlp", "original"]:
    g = [float(re.search(r"mAP ([0-9.]+)", l).group(1)) for l in open(f"go-{v}.txt") if "mAP" in l]
    p = [100 * r["map"] for r in json.load(open(f"py-{v}.json"))["runs"]]
    print(f"{v:12s} Go {st.mean(g):.2f} ± {st.stdev(g):.2f}   PyTorch {st.mean(p):.2f} ± {st.stdev(p):.2f}   diff {st.mean(g) - st.mean(p):+.2f}")
PY
