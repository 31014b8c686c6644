# qparity inspect: writes inspection.json for the untrained fixture model and its INT8 model; refuses an
# INT8 model quantized from another FP32 file, an FP32 model given as --int8, and an existing --out.
set(QPI_ARGS --int8 ${TD}/int8.onnx --data ${TD}/small/test --threads 2)
qp_cli_test(inspect_ok 0 "^wrote .*inspection.json" ${QP} inspect --fp32 ${TD}/untrained-rps-cnn.onnx
  ${QPI_ARGS} --out ${TD}/inspection.json --force)
set_tests_properties(cli.inspect_ok PROPERTIES FIXTURES_SETUP cli_inspection)
# The JSON exists and holds the keys the report reads (joined into one line for expect.sh's grep).
qp_cli_test(inspect_json 0 "\"layers\".*\"sqnr_db\".*\"sensitivity\".*\"int8_agreement\".*\"margins\"" bash -c
  "test -s \"$0\" && tr -d '\\n' < \"$0\"" ${TD}/inspection.json)
set_tests_properties(cli.inspect_json PROPERTIES FIXTURES_REQUIRED "cli_data;cli_inspection")

qp_cli_test(inspect_other_fp32_setup 0 "wrote untrained" ${QP} init --arch rps-cnn --seed 11 --out ${TD}/inspect-other-fp32.onnx
  --force)
set_tests_properties(cli.inspect_other_fp32_setup PROPERTIES FIXTURES_SETUP cli_inspect_other)
qp_cli_test(inspect_not_from_this_fp32 1 "int8.onnx' was not quantized from '.*inspect-other-fp32.onnx'" ${QP} inspect
  --fp32 ${TD}/inspect-other-fp32.onnx ${QPI_ARGS} --out ${TD}/inspect-x.json --force)
set_tests_properties(cli.inspect_not_from_this_fp32 PROPERTIES FIXTURES_REQUIRED "cli_data;cli_int8;cli_inspect_other")
qp_cli_test(inspect_fp32_as_int8 1 "is an FP32 model; this needs the INT8 model" ${QP} inspect --fp32 ${TD}/untrained-rps-cnn.onnx
  --int8 ${TD}/untrained-rps-cnn.onnx --data ${TD}/small/test --out ${TD}/inspect-x.json --force)
qp_cli_test(inspect_int8_as_fp32 1 "--fp32 '.*int8.onnx' is an INT8 model" ${QP} inspect --fp32 ${TD}/int8.onnx ${QPI_ARGS}
  --out ${TD}/inspect-x.json --force)
qp_cli_test(inspect_no_overwrite 1 "already exists" ${QP} inspect --fp32 ${TD}/untrained-rps-cnn.onnx ${QPI_ARGS}
  --out ${TD}/keep.json)
set_tests_properties(cli.inspect_ok cli.inspect_fp32_as_int8 cli.inspect_int8_as_fp32 cli.inspect_no_overwrite
  PROPERTIES FIXTURES_REQUIRED "cli_data;cli_int8")

# A graph with residual Adds (rps-resnet, untrained): quantized, then inspected; the table has a row per Add
# (with its fused ReLU) and the JSON lists each Add's two inputs.
qp_cli_test(inspect_resnet_quantize 0 "INT8 [0-9]+ bytes" ${QP} quantize --model ${TD}/resnet.onnx --calib ${TD}/small/train
  --out ${TD}/resnet-int8.onnx --calib-count 20 --force)
set_tests_properties(cli.inspect_resnet_quantize PROPERTIES FIXTURES_REQUIRED "cli_data;cli_resnet"
  FIXTURES_SETUP cli_resnet_int8)
qp_cli_test(inspect_resnet 0 "[0-9]+ Add[+]relu <- [0-9]+,[0-9]+ +[0-9]" ${QP} inspect --fp32 ${TD}/resnet.onnx --int8 ${TD}/resnet-int8.onnx
  --data ${TD}/small/test --threads 2 --out ${TD}/inspection-resnet.json --force)
set_tests_properties(cli.inspect_resnet PROPERTIES FIXTURES_REQUIRED "cli_data;cli_resnet;cli_resnet_int8")
