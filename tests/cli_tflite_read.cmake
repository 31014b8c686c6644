# TensorFlow Lite models through the one model loader (tests/fixtures/resnet8: the MLPerf Tiny ResNet-8, 10 outputs).
set(RESNET8 ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/resnet8/pretrainedResnet_quant.tflite)
add_test(NAME cli.tflite_setup COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_tflite_setup.sh ${TD} ${RESNET8})
set_tests_properties(cli.tflite_setup PROPERTIES FIXTURES_SETUP cli_tflite FIXTURES_REQUIRED cli_data)
qp_cli_test(info_tflite 0 "MACs +12[0-9]{6} per inference" ${QP} info ${RESNET8})
qp_cli_test(eval_tflite 0 "INT8 accuracy" ${QP} eval --model ${RESNET8} --data ${TD}/cifar10/test --input-range 0,255
  --out ${TD}/resnet8-results.json --force)
# It states no input convention and its input holds 0..255: the default 0,1 is refused, naming the range.
qp_cli_test(eval_tflite_no_range 1 "states no input convention .* holds reals 0[.][.]255" ${QP} eval --model ${RESNET8}
  --data ${TD}/cifar10/test)
qp_cli_test(eval_tflite_class_count 1 "names no classes and outputs 10 scores" ${QP} eval --model ${RESNET8} --data ${TD}/small/test)
qp_cli_test(info_tflite_truncated 1 "FlatBuffers verifier" ${QP} info ${TD}/truncated.tflite)
qp_cli_test(quantize_from_tflite 1 "is an int8 TensorFlow Lite file, not an FP32 model" ${QP} quantize --model ${RESNET8}
  --calib ${TD}/small/train --out ${TD}/x.onnx --force)
# An FP32 .tflite (written from the FP32 ONNX by convert) through the one model loader: info, eval, quantize.
qp_cli_test(convert_fp32_tflite 0 "converted .*untrained-rps-cnn.onnx -> .*fp32.tflite \\(FP32, [0-9]+ layers, identical weights"
  ${QP} convert ${TD}/untrained-rps-cnn.onnx ${TD}/fp32.tflite --force)
set_tests_properties(cli.convert_fp32_tflite PROPERTIES FIXTURES_SETUP cli_fp32_tflite)
qp_cli_test(info_fp32_tflite 0 "producer  TensorFlow Lite" ${QP} info ${TD}/fp32.tflite)
qp_cli_test(eval_fp32_tflite 0 "FP32 accuracy" ${QP} eval --model ${TD}/fp32.tflite --data ${TD}/small/test
  --out ${TD}/fp32-tflite-results.json --force)
qp_cli_test(quantize_fp32_tflite 0 "quantized .*fp32.tflite -> " ${QP} quantize --model ${TD}/fp32.tflite
  --calib ${TD}/small/train --calib-count 10 --out ${TD}/from-fp32-tflite.onnx --force)
set_tests_properties(cli.info_fp32_tflite cli.eval_fp32_tflite cli.quantize_fp32_tflite
  PROPERTIES FIXTURES_REQUIRED "cli_data;cli_fp32_tflite")
set_tests_properties(cli.eval_tflite cli.eval_tflite_no_range cli.info_tflite_truncated
  PROPERTIES FIXTURES_REQUIRED "cli_data;cli_tflite")
# Found by fuzzing: a bias near INT32_MIN made the reference conv's int32 sum overflow (undefined behaviour); the
# reader refuses such a file as the QDQ reader does (fuzz/corpus/tflite/found_bias_accumulator_overflow.tflite).
qp_cli_test(info_tflite_accumulator_overflow 1 "layer 0 \\(Conv2D\\) output channel 0: the int32 accumulator could overflow"
  ${QP} info ${CMAKE_CURRENT_SOURCE_DIR}/../fuzz/corpus/tflite/found_bias_accumulator_overflow.tflite)
# Its tensors' names label the layers (the short form, up to TFLite's ';') and are in inspection.json whole.
qp_cli_test(inspect_tflite_names 0 "wrote .*resnet8-inspection.json" ${QP} inspect --int8 ${RESNET8} --data ${TD}/cifar10/test
  --input-range 0,255 --out ${TD}/resnet8-inspection.json --force)
set_tests_properties(cli.inspect_tflite_names PROPERTIES FIXTURES_SETUP cli_tflite_inspection)
qp_cli_test(inspect_tflite_names_json 0
  "\"label\": *\"3 Add[+]relu <- 0,2 'model/activation_2/Relu'\".*\"tensor\": *\"model/activation_2/Relu;model/add/add\""
  bash -c "tr -d '\\n' < \"$0\"" ${TD}/resnet8-inspection.json)
set_tests_properties(cli.inspect_tflite_names_json PROPERTIES FIXTURES_REQUIRED cli_tflite_inspection)
set_tests_properties(cli.inspect_tflite_names PROPERTIES FIXTURES_REQUIRED "cli_data;cli_tflite")
qp_cli_test(info_tflite_names 0 "ADD +Add +relu .*<- 0, 2  'model/activation_2/Relu'" ${QP} info ${RESNET8})
