# A model's input convention and classes on the command line (--input-range, --mean/--std, --classes): bad values are
# refused by name, a class count that differs from the model's outputs names both counts, and a convention given to
# quantize is written into the INT8 file and printed by info.
qp_cli_test(input_range_reversed 1 "--input-range '1,0': LO must be less than HI"
  ${QP} eval --model ${TD}/untrained-rps-cnn.onnx --data ${TD}/small/test --input-range 1,0)
qp_cli_test(input_range_not_numbers 1 "--input-range: 'a' is not a number"
  ${QP} eval --model ${TD}/untrained-rps-cnn.onnx --data ${TD}/small/test --input-range a,1)
qp_cli_test(input_mean_without_std 1 "--mean given without --std"
  ${QP} quantize --model ${TD}/untrained-rps-cnn.onnx --calib ${TD}/small/train --out ${TD}/x-mean.onnx --force --mean 0.5)
qp_cli_test(input_mean_channels 1 "--mean has 2 values but the model input has 3 channel"
  ${QP} quantize --model ${TD}/untrained-rps-cnn.onnx --calib ${TD}/small/train --out ${TD}/x-mean.onnx --force
  --mean 0.5,0.5 --std 0.2,0.2)
qp_cli_test(input_classes_count 1 "--classes names 2 classes but '.*untrained-rps-cnn.onnx' outputs 3 scores"
  ${QP} eval --model ${TD}/untrained-rps-cnn.onnx --data ${TD}/small/test --classes rock,paper)
qp_cli_test(input_quantize_range 0 "quantized"
  ${QP} quantize --model ${TD}/untrained-rps-cnn.onnx --calib ${TD}/small/train --out ${TD}/int8-range255.onnx --force
  --calib-count 12 --input-range 0,255)
set_tests_properties(cli.input_quantize_range PROPERTIES FIXTURES_SETUP cli_int8_range255)
qp_cli_test(input_info_range 0 "int8 = pixel - 128" ${QP} info ${TD}/int8-range255.onnx)
qp_cli_test(input_eval_contradicting 1 "states its input convention \\(range=0,255\\) but the options say range=-1,1"
  ${QP} eval --model ${TD}/int8-range255.onnx --data ${TD}/small/test --input-range=-1,1)
set_tests_properties(cli.input_info_range cli.input_eval_contradicting PROPERTIES FIXTURES_REQUIRED "cli_data;cli_int8_range255")
