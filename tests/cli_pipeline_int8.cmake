# qparity pipeline --int8: a given INT8 model (the MLPerf Tiny ResNet-8 .tflite, trained and quantized
# elsewhere) validated as it is on a 10-class folder: imported with its input convention, run on the host
# and the emulated board, equivalence verdict, inspection of the INT8 model alone, report.
set(RESNET8_TFLITE ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/resnet8/pretrainedResnet_quant.tflite)
qp_cli_test(pipeline_int8_tflite 0 "verdict: EQUIVALENT .* 20/20 int8 outputs bit-exact" ${QP} pipeline --int8 ${RESNET8_TFLITE}
  --data ${TD}/cifar10 --input-range 0,255 --device qemu-rv32 --subset all --out ${TD}/run-int8 --threads 2)
set_tests_properties(cli.pipeline_int8_tflite PROPERTIES FIXTURES_REQUIRED "cli_data;cli_tflite" FIXTURES_SETUP cli_pipeline_int8)
# The run says what it did not do: no training or quantizing stage, FP32 sections not run in the report.
qp_cli_test(pipeline_int8_no_training 1 "^0$" grep -c -E "\"name\": \"(train|quantize|eval-fp32)\""
  ${TD}/run-int8/pipeline.json)
qp_cli_test(pipeline_int8_report_says_given 0 "the given INT8 model" grep -o "the given INT8 model" ${TD}/run-int8/report.html)
qp_cli_test(pipeline_int8_inspect_alone 0 "\"has_fp32\": false" grep -o "\"has_fp32\": false" ${TD}/run-int8/inspection.json)
set_tests_properties(cli.pipeline_int8_no_training cli.pipeline_int8_report_says_given cli.pipeline_int8_inspect_alone PROPERTIES
  FIXTURES_REQUIRED cli_pipeline_int8)
# Usage errors, before anything runs.
qp_cli_test(pipeline_int8_and_fp32 2 "pick one" ${QP} pipeline --int8 ${RESNET8_TFLITE} --fp32 ${RESNET8_TFLITE} --data ${TD}/cifar10
  --out ${TD}/run-int8-x)
qp_cli_test(pipeline_int8_arch 2 "--arch sets up training, but --int8 validates" ${QP} pipeline --int8 ${RESNET8_TFLITE} --arch rps-cnn
  --data ${TD}/cifar10 --out ${TD}/run-int8-x)
qp_cli_test(pipeline_classes_without_int8 2 "describe a given INT8 model" ${QP} pipeline --synth --classes a,b,c --out ${TD}/run-int8-y)
