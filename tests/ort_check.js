// ONNX Runtime (npm onnxruntime-node, CPU) runs the FP32 and the QDQ ONNX files qparity wrote, on the
// tensors `qparity data tensors` exported, and compares with qparity's own results files:
//   node ort_check.js FP32.onnx INT8.onnx X.f32 FP32-RESULTS.json INT8-RESULTS.json
// FP32: every decision (first maximum) must equal qparity's. INT8: ONNX Runtime requantizes in float where
// qparity (and TFLite) use integer multipliers, so an int8 output may differ by a step; the script prints how
// many int8 output vectors differ, the largest difference and how many decisions differ, and fails only when
// the decisions of more than --max-int8-decision-diff (default 5%) of the images differ.
// Needs NODE_PATH (or a node_modules above this file) holding onnxruntime-node.
'use strict';
const fs = require('fs');

function fail(msg) {
  console.error('ort_check: ' + msg);
  process.exit(1);
}

let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  fail('cannot load onnxruntime-node (' + e.message.split('\n')[0] + ')\n  fix: scripts/install-deps.sh test ' +
       '(installs it into tools/onnxruntime/node_modules) and set NODE_PATH to that folder');
}

const args = process.argv.slice(2);
let maxInt8DecisionDiff = 0.05;
const pos = [];
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--max-int8-decision-diff') maxInt8DecisionDiff = Number(args[++i]);
  else pos.push(args[i]);
}
if (pos.length !== 5) fail('usage: node ort_check.js FP32.onnx INT8.onnx X.f32 FP32-RESULTS.json INT8-RESULTS.json');
const [fp32Path, int8Path, xPath, fp32ResPath, int8ResPath] = pos;

const index = JSON.parse(fs.readFileSync(xPath + '.json', 'utf8'));
const [n, c, h, w] = index.shape;
const raw = fs.readFileSync(xPath);
if (raw.length !== n * c * h * w * 4) fail(xPath + ': ' + raw.length + ' bytes, expected ' + n * c * h * w * 4);
const x = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);

function byFile(path) {
  const r = JSON.parse(fs.readFileSync(path, 'utf8'));
  const m = new Map();
  for (const im of r.images) m.set(im.file, im);
  return m;
}
const fp32Res = byFile(fp32ResPath), int8Res = byFile(int8ResPath);
// What the INT8 output means (the results file's "output"; absent: a softmax's probabilities, scale 1/256, zp -128).
const int8Out = JSON.parse(fs.readFileSync(int8ResPath, 'utf8')).output || {scale: 1 / 256, zero_point: -128};

function firstMax(v) {
  let best = 0;
  for (let k = 1; k < v.length; ++k)
    if (v[k] > v[best]) best = k;
  return best;
}

async function run(path) {
  const session = await ort.InferenceSession.create(path, {executionProviders: ['cpu'], intraOpNumThreads: 1});
  const inName = session.inputNames[0], outName = session.outputNames[0];
  const outs = [];
  const per = c * h * w;
  for (let i = 0; i < n; ++i) {
    const t = new ort.Tensor('float32', x.slice(i * per, (i + 1) * per), [1, c, h, w]);
    const r = await session.run({[inName]: t});
    outs.push(Array.from(r[outName].data));
  }
  return outs;
}

(async () => {
  const fp = await run(fp32Path);
  let fpDecisionDiff = 0, worstScore = 0;
  for (let i = 0; i < n; ++i) {
    const file = index.images[i].file, ref = fp32Res.get(file);
    if (!ref) fail(fp32ResPath + ' has no image ' + file);
    if (firstMax(fp[i]) !== ref.pred) {
      ++fpDecisionDiff;
      console.log('FP32 decision differs: ' + file + ' ort ' + firstMax(fp[i]) + ' qparity ' + ref.pred);
    }
    for (let k = 0; k < fp[i].length; ++k) worstScore = Math.max(worstScore, Math.abs(fp[i][k] - ref.scores[k]));
  }
  console.log('FP32: ' + (n - fpDecisionDiff) + '/' + n + ' decisions equal; largest score difference ' +
              worstScore.toExponential(2));

  // The QDQ graph's output is the last layer's dequantized int8: scale * (q - zp) (a softmax's: (q + 128) / 256).
  const q = await run(int8Path);
  let vecDiff = 0, worstStep = 0, decDiff = 0;
  for (let i = 0; i < n; ++i) {
    const file = index.images[i].file, ref = int8Res.get(file);
    if (!ref) fail(int8ResPath + ' has no image ' + file);
    const qi = q[i].map((v) => Math.max(-128, Math.min(127, Math.round(v / int8Out.scale) + int8Out.zero_point)));
    let differs = false;
    for (let k = 0; k < qi.length; ++k) {
      const d = Math.abs(qi[k] - ref.scores[k]);
      worstStep = Math.max(worstStep, d);
      differs = differs || d !== 0;
    }
    vecDiff += differs;
    decDiff += firstMax(qi) !== ref.pred;
  }
  console.log('INT8: ' + vecDiff + '/' + n + ' int8 output vectors differ from qparity\'s (largest difference ' + worstStep +
              ' steps); ' + (n - decDiff) + '/' + n + ' decisions equal');
  if (fpDecisionDiff > 0) fail(fpDecisionDiff + ' FP32 decision(s) differ between ONNX Runtime and qparity');
  if (decDiff > maxInt8DecisionDiff * n)
    fail(decDiff + ' INT8 decisions differ (more than ' + maxInt8DecisionDiff * 100 + '% of ' + n + ')');
  console.log('ort_check: OK (onnxruntime-node ' + require('onnxruntime-node/package.json').version + ')');
})().catch((e) => fail(e.message));
