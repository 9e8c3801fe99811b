#!/usr/bin/env node
// Reference timing of ResNet50 in ONNX Runtime (npm onnxruntime-node, installed with
// ONNXRUNTIME_NODE_INSTALL=skip), to compare with `autotag bench` in the same session
// (issue 3). Prints one JSON document shaped like `autotag bench --json`'s:
//   {"engine":"onnxruntime-node","model":..,"results":[{"threads":2,"batch":8,"ms_per_image":..,"images_per_s":..,"runs":..}]}
//
// Usage: node testdata/bench/ort_bench.js MODEL.onnx [--batch 1,8] [--threads 1,2]
//        [--seconds 3]   (NODE_PATH must reach onnxruntime-node, e.g. /work/cache/node_modules)
'use strict';
const ort = require('onnxruntime-node');

function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : def;
}

async function main() {
  const model = process.argv[2];
  if (!model || model.startsWith('--')) {
    console.error('usage: ort_bench.js MODEL.onnx [--batch 1,8] [--threads 1,2] [--seconds 3]');
    process.exit(2);
  }
  const batches = arg('batch', '1,8').split(',').map(Number);
  const threads = arg('threads', '2').split(',').map(Number);
  const seconds = Number(arg('seconds', '3'));
  const results = [];
  for (const t of threads) {
    const sess = await ort.InferenceSession.create(model, {
      intraOpNumThreads: t, interOpNumThreads: 1, executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    const input = sess.inputNames[0];
    for (const b of batches) {
      const x = new Float32Array(b * 3 * 224 * 224);
      for (let i = 0; i < x.length; i++) x[i] = Math.random() * 2 - 1;
      const feeds = { [input]: new ort.Tensor('float32', x, [b, 3, 224, 224]) };
      await sess.run(feeds); // warm up
      let n = 0;
      const t0 = process.hrtime.bigint();
      let el = 0;
      while (n < 3 || el < seconds) {
        await sess.run(feeds);
        n++;
        el = Number(process.hrtime.bigint() - t0) / 1e9;
      }
      const ms = el * 1e3 / (n * b);
      results.push({ threads: t, batch: b, ms_per_image: +ms.toFixed(3),
        images_per_s: +(1e3 / ms).toFixed(2), runs: n });
      console.error(`ort threads ${t} batch ${b}: ${ms.toFixed(1)} ms/image`);
    }
    await sess.release();
  }
  console.log(JSON.stringify({ engine: 'onnxruntime-node', version: ort.env.versions.common, model, results }, null, 2));
}

main().catch((e) => { console.error(e); process.exit(1); });
