#!/usr/bin/env node
// Run an ONNX model with ONNX Runtime (npm onnxruntime-node) on a raw float32 input.
//
// usage: node ort_run.js MODEL.onnx INPUT.f32 N C H W OUTPUT_NAME OUT.f32
// INPUT.f32 is little-endian float32 NCHW; OUT.f32 receives the named output.
// Used by weights/onnx_test.go; install with
//   ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node
// and point NODE_PATH at the node_modules that holds it.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, input, n, c, h, w, outName, out] = process.argv.slice(2);
  const dims = [n, c, h, w].map(Number);
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 2,
    graphOptimizationLevel: 'all',
  });
  const result = await session.run({ input: new ort.Tensor('float32', data, dims) }, [outName]);
  const t = result[outName];
  fs.writeFileSync(out, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  console.log(JSON.stringify({ output: outName, dims: t.dims }));
}

main().catch((e) => {
  console.error(e && e.message ? e.message : e);
  process.exit(1);
});
