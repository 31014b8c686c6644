# A foreign .tflite's input convention and classes on firmware, device run and verify (quant::apply_input_override):
# the MLPerf Tiny ResNet-8 states neither; its input (scale 1, zero point -128) holds 0..255.
set(FWI_R8 ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/resnet8/pretrainedResnet_quant.tflite)
set(FWI_CLASSES airplane,automobile,bird,cat,deer,dog,frog,horse,ship,truck)
set(FWI ${TD}/fw-input)
# No convention given: the default 0,1 does not fit the input tensor, refused with the range it holds.
qp_cli_test(fwin_no_range 1 "states no input convention .* holds reals 0[.][.]255, which the default" ${QP} firmware
  --model ${FWI_R8} --target qemu-rv32 --classes ${FWI_CLASSES} --out ${FWI}/fw-none --force)
qp_cli_test(fwin_class_count 1 "are 2 .* outputs 10 scores" ${QP} firmware --model ${FWI_R8} --target qemu-rv32
  --input-range 0,255 --classes a,b --out ${FWI}/fw-none --force)
qp_cli_test(fwin_mean_channels 1 "mean" ${QP} firmware --model ${FWI_R8} --target qemu-rv32 --input-range 0,255
  --mean 1,2 --std 1,2 --classes ${FWI_CLASSES} --out ${FWI}/fw-none --force)
qp_cli_test(fwin_rv32 0 "no floating-point support linked" ${QP} firmware --model ${FWI_R8} --target qemu-rv32 --input-range 0,255
  --classes ${FWI_CLASSES} --out ${FWI}/fw --force)
set_tests_properties(cli.fwin_rv32 PROPERTIES FIXTURES_SETUP cli_fwin_fw)
# The convention is in the firmware's pixel table: int8 = pixel - 128 (0,1 would give about pixel/255 - 128).
qp_cli_test(fwin_table 0 "^  [{]-128, -127, -126, -125," grep -A1 "qp_model_input_table.QP" ${FWI}/fw/qp_model.c)
set_tests_properties(cli.fwin_table PROPERTIES FIXTURES_REQUIRED cli_fwin_fw)
# The device's outputs are the host's for the same convention ...
qp_cli_test(fwin_host 0 "INT8 accuracy" ${QP} eval --model ${FWI_R8} --data ${TD}/cifar10/test --input-range 0,255
  --out ${FWI}/host.json --force)
qp_cli_test(fwin_device 0 "accuracy on the device" ${QP} device run --model ${FWI_R8} --data ${TD}/cifar10/test --port qemu-rv32
  --input-range 0,255 --classes ${FWI_CLASSES} --firmware ${FWI}/fw/firmware.elf --subset 6
  --out ${FWI}/device.json --force)
set_tests_properties(cli.fwin_host PROPERTIES FIXTURES_REQUIRED "cli_data;cli_tflite" FIXTURES_SETUP cli_fwin_host)
set_tests_properties(cli.fwin_device PROPERTIES FIXTURES_REQUIRED "cli_data;cli_tflite;cli_fwin_fw" FIXTURES_SETUP cli_fwin_dev)
qp_cli_test(fwin_verify 0 "EQUIVALENT \\(bit-exact\\)" ${QP} verify --host ${FWI}/host.json --device ${FWI}/device.json)
set_tests_properties(cli.fwin_verify PROPERTIES FIXTURES_REQUIRED "cli_fwin_host;cli_fwin_dev")
# ... and another convention is another model: the firmware of 0,255 is refused for the model read as 0,1.
qp_cli_test(fwin_other_convention 1 "runs a different model" ${QP} device run --model ${FWI_R8} --data ${TD}/cifar10/test
  --port qemu-rv32 --input-range 0,1 --classes ${FWI_CLASSES} --firmware ${FWI}/fw/firmware.elf --subset 2
  --out ${FWI}/device-x.json --force)
set_tests_properties(cli.fwin_other_convention PROPERTIES FIXTURES_REQUIRED "cli_data;cli_tflite;cli_fwin_fw")
# inspect of the INT8 model alone takes the same options: refused without a convention, the table with 0,255.
qp_cli_test(fwin_inspect_no_range 1 "states no input convention" ${QP} inspect --int8 ${FWI_R8} --data ${TD}/cifar10/test
  --classes ${FWI_CLASSES} --out ${TD}/r8-inspect-x.json --force)
qp_cli_test(fwin_inspect 0 "alone on .* \\(20 images\\)" ${QP} inspect --int8 ${FWI_R8} --data ${TD}/cifar10/test
  --input-range 0,255 --classes ${FWI_CLASSES} --out ${TD}/r8-inspect.json --force)
set_tests_properties(cli.fwin_inspect_no_range cli.fwin_inspect PROPERTIES FIXTURES_REQUIRED "cli_data;cli_tflite")
