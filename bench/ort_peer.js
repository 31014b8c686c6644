// ONNX Runtime peer for the host INT8 (and FP32) inference benchmarks: times inference only (session
// creation, input preparation and process start excluded) on the same ONNX file qparity runs.
//   NODE_PATH=tools/onnxruntime/node_modules node bench/ort_peer.js MODEL.onnx THREADS [IMAGES] [REPEATS]
// IMAGES inputs (default 427, the built-in test set's size) of the model's input shape, filled with a
// seeded pattern of pixel values p/255, run as one batch when the batch dimension is symbolic, else one
// image per run; prints the best of REPEATS (default 10) as images per second.
'use strict';
const ort = require('onnxruntime-node');

const [model, threadsArg, imagesArg, repeatsArg] = process.argv.slice(2);
if (!model || !threadsArg) {
  console.error('usage: node bench/ort_peer.js MODEL.onnx THREADS [IMAGES] [REPEATS]');
  process.exit(2);
}
const threads = Number(threadsArg), images = Number(imagesArg || 427), repeats = Number(repeatsArg || 10);

(async () => {
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1,
    graphOptimizationLevel: 'all'});
  const inName = session.inputNames[0];
  const meta = session.inputMetadata ? session.inputMetadata[0] : null;
  let dims = meta && meta.shape ? meta.shape.slice() : null;
  if (!dims) { console.error('ort_peer: the model input shape is unknown'); process.exit(2); }
  const symbolicBatch = typeof dims[0] !== 'number';
  const per = dims.slice(1).reduce((a, b) => a * b, 1);
  const batch = symbolicBatch ? images : 1;
  const x = new Float32Array(batch * per);
  let s = 12345;
  for (let i = 0; i < x.length; ++i) { s = (s * 1103515245 + 12345) >>> 0; x[i] = ((s >>> 16) & 255) / 255; }
  const t = new ort.Tensor('float32', x, [batch, ...dims.slice(1)]);
  const runs = symbolicBatch ? 1 : images;
  await session.run({[inName]: t});  // warm-up
  let best = Infinity;
  for (let r = 0; r < repeats; ++r) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < runs; ++k) await session.run({[inName]: t});
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    if (sec < best) best = sec;
  }
  console.log(`onnxruntime ${ort.env.versions ? ort.env.versions.common : ''} ${model} threads ${threads}: ` +
              `${Math.round(images / best)} images/s (best of ${repeats}, ${symbolicBatch ? 'one batch of ' + images : images + ' single-image runs'})`);
})().catch(e => { console.error('ort_peer: ' + e.message); process.exit(1); });
