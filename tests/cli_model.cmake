# Model files that ONNX's checker accepts but that qparity must refuse (issue 14, item 2): exit 1 and
# a message naming the file and the node or layer, in every command that loads a model. The files
# are crafted from the CLI fixtures by cli_model_setup.sh.
set(QPM ${TD}/crafted)
add_test(NAME cli.model_setup COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_model_setup.sh ${TD})
set_tests_properties(cli.model_setup PROPERTIES FIXTURES_SETUP cli_model FIXTURES_REQUIRED "cli_data;cli_int8" TIMEOUT 120)

qp_cli_test(model_gemm_no_dims 1 "gemm-no-dims.onnx' node 'l10_Dense' \\(Gemm\\): weight 'l10_Dense.weight' \\[\\] is not a 2-D matrix"
  ${QP} info ${QPM}/gemm-no-dims.onnx)
qp_cli_test(model_gemm_weight_computed 1 "node 'l10_Dense' \\(Gemm\\): input 1 \\('l9_Flatten_out', weight\\) must be a constant"
  ${QP} eval --model ${QPM}/gemm-weight-computed.onnx --data ${TD}/small/test)
qp_cli_test(model_conv_kernel_mismatch 1 "node 'l0_Conv2D' \\(Conv\\): kernel_shape \\[5,5\\] does not match"
  ${QP} quantize --model ${QPM}/conv-kernel5.onnx --calib ${TD}/small/train --out ${TD}/x.onnx --force)
# A 1-channel input is a grayscale model now; this one's weights still take 3 channels: refused by name.
qp_cli_test(model_one_channel 1 "weight 'l0_Conv2D.weight' \\[16,3,3,3\\] takes 3 input channels but its input has 1"
  ${QP} eval --model ${QPM}/one-channel.onnx --data ${TD}/small/test)
qp_cli_test(model_int8_unchained 1 "int8-unchained.onnx' layer 1 \\(MaxPool\\): declared input .* is not the previous layer's output"
  ${QP} eval --model ${QPM}/int8-unchained.onnx --data ${TD}/small/test)
qp_cli_test(model_int8_zero_scale 1 "activation scale 'in.y_scale' = 0.000000 is not a finite number > 0"
  ${QP} info ${QPM}/int8-zero-scale.onnx)
set_tests_properties(cli.model_gemm_no_dims cli.model_gemm_weight_computed cli.model_conv_kernel_mismatch
  cli.model_one_channel cli.model_int8_unchained cli.model_int8_zero_scale PROPERTIES FIXTURES_REQUIRED "cli_data;cli_model")
# An imported ONNX model's value names: each layer row ends with its output's name in the file.
qp_cli_test(info_onnx_tensor_names 0 "Add .*<- 4, 1  '/blocks/blocks.0/Add_output_0'" ${QP} info
  ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/pytorch/resnet_small.onnx)
# Quantized, the names go into the QDQ file and its info rows end with them.
qp_cli_test(info_qdq_tensor_names_setup 0 "quantized" ${QP} quantize --model ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/pytorch/resnet_small.onnx
  --calib ${TD}/small/train --calib-count 10 --out ${TD}/resnet-small-int8.onnx --force)
set_tests_properties(cli.info_qdq_tensor_names_setup PROPERTIES FIXTURES_REQUIRED cli_data FIXTURES_SETUP cli_qdq_names)
qp_cli_test(info_qdq_tensor_names 0 "Add +relu .*<- 2, 0  '/blocks/blocks.0/Relu_1_output_0'" ${QP} info ${TD}/resnet-small-int8.onnx)
set_tests_properties(cli.info_qdq_tensor_names PROPERTIES FIXTURES_REQUIRED cli_qdq_names)
