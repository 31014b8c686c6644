# Writing TensorFlow Lite files from the CLI: `quantize --out x.tflite` (format by extension, labels.txt beside
# the model, no overwrite without --force) and `convert` between QDQ ONNX and .tflite (exact, or refused).
set(QPT ${TD}/tflite-write)
qp_cli_test(tflw_quantize_tflite 0 "class names -> .*tflite-write/labels.txt"
  bash -c "rm -rf ${QPT} && mkdir -p ${QPT} && exec ${QP} quantize --model ${TD}/untrained-rps-cnn.onnx \
    --calib ${TD}/small/train --out ${QPT}/int8.tflite --calib-count 20")
set_tests_properties(cli.tflw_quantize_tflite PROPERTIES FIXTURES_SETUP cli_tflite_write)
qp_cli_test(tflw_tflite_labels 0 "^scissors$" cat ${QPT}/labels.txt)
qp_cli_test(tflw_quantize_tflite_exists 1 "int8.tflite' already exists"
  ${QP} quantize --model ${TD}/untrained-rps-cnn.onnx --calib ${TD}/small/train --out ${QPT}/int8.tflite --calib-count 20)
qp_cli_test(tflw_quantize_bad_extension 1 "--out '.*int8.bin': unknown model format '.bin'"
  ${QP} quantize --model ${TD}/untrained-rps-cnn.onnx --calib ${TD}/small/train --out ${TD}/int8.bin --force)
qp_cli_test(tflw_convert_tflite_to_qdq 0 "converted .*int8.tflite -> .*back.onnx \\(10 layers, identical integers\\)"
  ${QP} convert ${QPT}/int8.tflite ${QPT}/back.onnx --force)
set_tests_properties(cli.tflw_convert_tflite_to_qdq PROPERTIES FIXTURES_SETUP cli_tflite_back)
qp_cli_test(tflw_convert_qdq_to_tflite 0 "converted .*back.onnx -> .*again.tflite \\(10 layers, identical integers\\)"
  ${QP} convert ${QPT}/back.onnx ${QPT}/again.tflite --force)
qp_cli_test(tflw_convert_exists 1 "back.onnx' already exists" ${QP} convert ${QPT}/int8.tflite ${QPT}/back.onnx)
qp_cli_test(tflw_convert_bad_extension 1 "OUT '.*x.pb': unknown model format '.pb'" ${QP} convert ${QPT}/int8.tflite ${QPT}/x.pb)
qp_cli_test(tflw_convert_fp32 1 "untrained-rps-cnn.onnx' is an FP32 ONNX model; convert writes an FP32 model as a float32 .tflite"
  ${QP} convert ${TD}/untrained-rps-cnn.onnx ${QPT}/fp32.onnx --force)
# `quantize --out x.onnx` keeps per-channel Dense weights, which TFLite Micro's FULLY_CONNECTED does not take.
qp_cli_test(tflw_convert_per_channel_dense 1 "layer 7 Dense\\+relu: per-channel weight scales on a fully connected layer"
  ${QP} convert ${TD}/int8.onnx ${QPT}/pc.tflite --force)
set_tests_properties(cli.tflw_tflite_labels cli.tflw_quantize_tflite_exists cli.tflw_convert_tflite_to_qdq cli.tflw_convert_exists
  cli.tflw_convert_bad_extension cli.tflw_convert_fp32 PROPERTIES FIXTURES_REQUIRED "cli_data;cli_tflite_write")
set_tests_properties(cli.tflw_convert_qdq_to_tflite cli.tflw_convert_exists
  PROPERTIES FIXTURES_REQUIRED "cli_data;cli_tflite_write;cli_tflite_back")
set_tests_properties(cli.tflw_convert_per_channel_dense PROPERTIES FIXTURES_REQUIRED "cli_data;cli_int8")
# A model nobody here trained (the MLPerf Tiny ResNet-8, tests/fixtures/resnet8) to QDQ ONNX and back, exactly; it
# names no classes, which QDQ ONNX needs.
set(QPT_R8 ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/resnet8/pretrainedResnet_quant.tflite)
qp_cli_test(tflw_convert_resnet8_no_classes 1 "names no classes; a QDQ ONNX model needs its 10 class names"
  ${QP} convert ${QPT_R8} ${QPT}/r8-none.onnx --input-range 0,255 --force)
qp_cli_test(tflw_convert_resnet8 0 "r8.tflite \\(16 layers, identical integers\\)"
  bash -c "mkdir -p ${QPT}/r8 && ${QP} convert ${QPT_R8} ${QPT}/r8/r8.onnx --force --input-range 0,255 \
    --classes airplane,automobile,bird,cat,deer,dog,frog,horse,ship,truck \
    && exec ${QP} convert ${QPT}/r8/r8.onnx ${QPT}/r8/r8.tflite --force")
set_tests_properties(cli.tflw_convert_resnet8_no_classes cli.tflw_convert_resnet8
  PROPERTIES FIXTURES_REQUIRED "cli_data;cli_tflite_write")
