# A PyTorch export that ends in logits (resnet_small_logits.onnx: no Softmax), quantized as it is. The whole
# pipeline on the small set and the emulated rv32 board: every int8 logit vector bit-exact, the verdict and the
# report state what the numbers are (logits, margins in int8 steps of so many logit units). Then the same model as
# .tflite (FULLY_CONNECTED last, no SOFTMAX) converted to QDQ ONNX and back, exactly.
set(QP_LOGITS_ONNX ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/pytorch/resnet_small_logits.onnx)
qp_cli_test(pipeline_logits_rv32 0 "verdict: EQUIVALENT .* 30/30 int8 outputs bit-exact" ${QP} pipeline --fp32 ${QP_LOGITS_ONNX}
  --data ${TD}/small --device qemu-rv32 --subset all --out ${TD}/run-logits --threads 2)
set_tests_properties(cli.pipeline_logits_rv32 PROPERTIES FIXTURES_SETUP cli_pipeline_logits)
qp_cli_test(pipeline_logits_verdict_kind 0 "\"kind\": \"logits\"" grep -o "\"kind\": \"logits\"" ${TD}/run-logits/verdict.json)
qp_cli_test(pipeline_logits_report_unit 0 "margins are int8 steps \\([0-9.e-]+ logit units each\\)" grep -o -E
  "margins are int8 steps \\([0-9.e-]+ logit units each\\)" ${TD}/run-logits/report.html)
set_tests_properties(cli.pipeline_logits_verdict_kind cli.pipeline_logits_report_unit PROPERTIES
  FIXTURES_REQUIRED "cli_data;cli_pipeline_logits")

qp_cli_test(quantize_logits_tflite 0 "quantized .* -> .*logits.tflite" ${QP} quantize --model ${QP_LOGITS_ONNX}
  --calib ${TD}/small/train --calib-count 12 --out ${TD}/logits.tflite --force)
set_tests_properties(cli.quantize_logits_tflite PROPERTIES FIXTURES_SETUP cli_logits_tflite)
qp_cli_test(convert_logits_tflite_to_onnx 0 "identical integers" ${QP} convert ${TD}/logits.tflite ${TD}/logits-from-tflite.onnx --force)
set_tests_properties(cli.convert_logits_tflite_to_onnx PROPERTIES FIXTURES_REQUIRED "cli_data;cli_logits_tflite"
  FIXTURES_SETUP cli_logits_onnx)
qp_cli_test(convert_logits_onnx_to_tflite 0 "identical integers" ${QP} convert ${TD}/logits-from-tflite.onnx
  ${TD}/logits-back.tflite --force)
set_tests_properties(cli.convert_logits_onnx_to_tflite PROPERTIES FIXTURES_REQUIRED "cli_data;cli_logits_onnx")
