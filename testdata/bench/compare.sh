#!/bin/sh
# Compare `autotag bench` with ONNX Runtime (testdata/bench/ort_bench.js) in one session:
# ORT, autotag, ORT again (load drifts; ORT's best of the two runs is the reference), then
# the ratios the targets of issue 3 are stated in (latency: autotag/ORT ms per image,
# lower is better; throughput: autotag/ORT images per second, higher is better).
#
# Usage: testdata/bench/compare.sh AUTOTAG_BIN MODEL.onnx [BATCHES] [THREADS] [SECONDS]
#   e.g. testdata/bench/compare.sh ./autotag resnet50.onnx 1,8 1,2 5
# Needs node with onnxruntime-node on NODE_PATH (ONNXRUNTIME_NODE_INSTALL=skip npm install
# onnxruntime-node) and python3.
set -eu
bin=$1 model=$2 batches=${3:-1,8} threads=${4:-2} secs=${5:-3}
dir=$(dirname "$0") tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
node "$dir/ort_bench.js" "$model" --batch "$batches" --threads "$threads" --seconds "$secs" >"$tmp/ort1.json"
"$bin" bench --json --batch "$batches" --threads "$threads" --seconds "$secs" >"$tmp/autotag.json"
node "$dir/ort_bench.js" "$model" --batch "$batches" --threads "$threads" --seconds "$secs" >"$tmp/ort2.json"
python3 - "$tmp" <<'PY'
import json, sys, os
d = sys.argv[1]
load = lambda f: json.load(open(os.path.join(d, f)))
ours = load("autotag.json")
ort = {}
for f in ("ort1.json", "ort2.json"):
    for r in load(f)["results"]:
        k = (r["threads"], r["batch"])
        ort[k] = min(ort.get(k, 1e9), r["ms_per_image"])
print("%-8s %-6s %12s %12s %10s %10s %8s" % ("threads", "batch", "autotag ms", "ORT ms", "latency x", "thrpt x", "RSS MB"))
for r in ours["results"]:
    k = (r["threads"], r["batch"])
    o = ort[k]
    print("%-8d %-6d %12.1f %12.1f %10.2f %10.2f %8.0f" % (k[0], k[1], r["ms_per_image"], o, r["ms_per_image"] / o, o / r["ms_per_image"], r["peak_rss_mb"]))
print(json.dumps({"autotag": ours, "ort_best_ms_per_image": {"%d,%d" % k: v for k, v in ort.items()}}))
PY
