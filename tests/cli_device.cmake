# CLI tests of the firmware, device and pipeline stages (emulated boards; the install script installs
# QEMU and the cross toolchains).
set(QP_DEV_FIX "cli_data;cli_int8")
qp_cli_test(firmware_esp_idf 0 "idf.py set-target esp32s3" ${QP} firmware --model ${TD}/int8.onnx --target esp32s3 --out ${TD}/fw-esp32s3
  --subset-from ${TD}/small/test --subset 6 --force)
qp_cli_test(firmware_unknown_target 1 "use one of: esp32, esp32s3, esp32c3, qemu-rv32, qemu-xtensa" ${QP} firmware --model ${TD}/int8.onnx --target esp8266 --out ${TD}/fw-x)
qp_cli_test(firmware_fp32_model 1 "is an FP32 model; this needs the INT8 model" ${QP} firmware --model ${TD}/untrained-rps-cnn.onnx --out ${TD}/fw-y)
qp_cli_test(firmware_user_folder 1 "not empty and was not written by qparity" ${QP} firmware --model ${TD}/int8.onnx --out ${TD}/userfolder --force)
qp_cli_test(firmware_qemu_rv32 0 "no floating-point support linked, no heap" ${QP} firmware --model ${TD}/int8.onnx --target qemu-rv32 --out ${TD}/fw-rv32 --force)
qp_cli_test(device_rv32 0 "qemu-rv32 accuracy on the device.*" ${QP} device run --model ${TD}/int8.onnx --data ${TD}/small/test --port qemu-rv32
  --subset 20 --out ${TD}/device-rv32.json --firmware-dir ${TD}/fw-rv32-run --force)
qp_cli_test(device_xtensa_all_parallel 0 "30 images \\(all of 30" ${QP} device run --model ${TD}/int8.onnx --data ${TD}/small/test --port qemu-xtensa
  --subset all --jobs 2 --out ${TD}/device-xtensa.json --firmware-dir ${TD}/fw-xtensa-run --force)
qp_cli_test(device_rv32_semihost_all 0 "qemu-rv32 \\(semihost link\\): 30 images" ${QP} device run --model ${TD}/int8.onnx --data ${TD}/small/test
  --port qemu-rv32 --subset all --link semihost --jobs 2 --out ${TD}/device-rv32-sh.json --firmware-dir ${TD}/fw-rv32-sh --force)
qp_cli_test(device_missing_port 1 "serial port /dev/ttyQP404 does not exist" ${QP} device run --model ${TD}/int8.onnx --data ${TD}/small/test
  --port /dev/ttyQP404 --out ${TD}/device-none.json)
qp_cli_test(device_bad_subset 1 "--subset must be a positive count or 'all'" ${QP} device run --model ${TD}/int8.onnx --data ${TD}/small/test
  --port qemu-rv32 --subset zero --out ${TD}/device-none.json)
qp_cli_test(device_no_overwrite 1 "already exists" ${QP} device run --model ${TD}/int8.onnx --data ${TD}/small/test --port qemu-rv32
  --out ${TD}/keep.json)
set_tests_properties(cli.firmware_esp_idf cli.firmware_unknown_target cli.firmware_user_folder cli.firmware_qemu_rv32 cli.device_rv32
  cli.device_xtensa_all_parallel cli.device_rv32_semihost_all cli.device_missing_port cli.device_bad_subset cli.device_no_overwrite
  PROPERTIES FIXTURES_REQUIRED "${QP_DEV_FIX}")
set_tests_properties(cli.device_rv32 cli.device_xtensa_all_parallel cli.device_rv32_semihost_all PROPERTIES FIXTURES_SETUP cli_device_results)
# The device's outputs are the host's, bit for bit: verify says so (exit 0) for both boards.
qp_cli_test(verify_rv32_vs_host 0 "EQUIVALENT \\(bit-exact\\)" ${QP} verify --host ${TD}/int8-results.json --device ${TD}/device-rv32.json)
qp_cli_test(verify_xtensa_vs_host 0 "EQUIVALENT \\(bit-exact\\)" ${QP} verify --host ${TD}/int8-results.json --device ${TD}/device-xtensa.json)
qp_cli_test(verify_rv32_semihost_vs_host 0 "EQUIVALENT \\(bit-exact\\)" ${QP} verify --host ${TD}/int8-results.json --device ${TD}/device-rv32-sh.json)
set_tests_properties(cli.verify_rv32_vs_host cli.verify_xtensa_vs_host cli.verify_rv32_semihost_vs_host PROPERTIES
  FIXTURES_REQUIRED "cli_data;cli_int8;cli_int8_results;cli_device_results")

# The pipeline end to end on the small set (an untrained model, so it runs without libtorch), then a
# rerun that skips every finished stage, then the same from a TOML and a JSON config file.
qp_cli_test(pipeline_small 0 "verdict: EQUIVALENT" ${QP} pipeline --data ${TD}/small --fp32 ${TD}/untrained-rps-cnn.onnx --device qemu-xtensa
  --subset 12 --out ${TD}/run --threads 2)
qp_cli_test(pipeline_rerun_skips 0 "7/8 inspect: quantization inspection \\(up to date, skipped\\)" ${QP} pipeline --data ${TD}/small
  --fp32 ${TD}/untrained-rps-cnn.onnx --device qemu-xtensa --subset 12 --out ${TD}/run --threads 2)
set_tests_properties(cli.pipeline_small PROPERTIES FIXTURES_REQUIRED cli_data FIXTURES_SETUP cli_pipeline_run)
set_tests_properties(cli.pipeline_rerun_skips PROPERTIES FIXTURES_REQUIRED "cli_data;cli_pipeline_run")
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/pipeline-test.toml
  "# qparity pipeline options\n[pipeline]\ndata = \"${TD}/small\"\nfp32 = \"${TD}/untrained-rps-cnn.onnx\"\ndevice = \"none\"\nout = \"${TD}/run-toml\"\n")
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/pipeline-test.json
  "{\"data\": \"${TD}/small\", \"fp32\": \"${TD}/untrained-rps-cnn.onnx\", \"device\": \"none\", \"out\": \"${TD}/run-json\", \"seed\": 2}\n")
qp_cli_test(pipeline_config_toml 0 "verdict: not run \\(no device stage" ${QP} pipeline --config ${CMAKE_CURRENT_BINARY_DIR}/pipeline-test.toml)
qp_cli_test(pipeline_config_json 0 "--seed 2" ${QP} pipeline --config ${CMAKE_CURRENT_BINARY_DIR}/pipeline-test.json)
qp_cli_test(pipeline_refuses_user_folder 1 "not empty and was not made by 'qparity pipeline'" ${QP} pipeline --data ${TD}/small
  --fp32 ${TD}/untrained-rps-cnn.onnx --out ${TD}/userfolder)
qp_cli_test(pipeline_needs_one_source 2 "give exactly one of --synth" ${QP} pipeline --out ${TD}/run-none)
set_tests_properties(cli.pipeline_config_toml cli.pipeline_config_json cli.pipeline_refuses_user_folder PROPERTIES FIXTURES_REQUIRED cli_data)
if(QPARITY_WITH_TORCH)
  # The real thing, small: synthetic data, a short training, the emulated rv32 board.
  qp_cli_test(pipeline_synth_train 0 "verdict: EQUIVALENT" ${QP} pipeline --synth --synth-train 150 --synth-test 30 --epochs 2 --subset 10
    --out ${TD}/run-synth --threads 2)
endif()

# A residual network (rps-resnet, untrained: Adds with identity and projection shortcuts) on the emulated
# board: its firmware builds, every image's int8 outputs equal the host's, verify says so.
qp_cli_test(device_resnet_rv32 0 "qemu-rv32 accuracy on the device.*" ${QP} device run --model ${TD}/resnet-int8.onnx --data ${TD}/small/test
  --port qemu-rv32 --subset all --out ${TD}/device-resnet-rv32.json --firmware-dir ${TD}/fw-resnet-rv32 --force)
qp_cli_test(device_resnet_host 0 "wrote" ${QP} eval --model ${TD}/resnet-int8.onnx --data ${TD}/small/test --out ${TD}/resnet-int8-results.json
  --force)
set_tests_properties(cli.device_resnet_rv32 cli.device_resnet_host PROPERTIES FIXTURES_REQUIRED "cli_data;cli_resnet;cli_resnet_int8"
  FIXTURES_SETUP cli_resnet_device)
qp_cli_test(verify_resnet_rv32_vs_host 0 "EQUIVALENT \\(bit-exact\\)" ${QP} verify --host ${TD}/resnet-int8-results.json
  --device ${TD}/device-resnet-rv32.json)
set_tests_properties(cli.verify_resnet_rv32_vs_host PROPERTIES FIXTURES_REQUIRED "cli_data;cli_resnet;cli_resnet_int8;cli_resnet_device")
# A 96x96x3 model's self-test images (27,648 bytes each) are capped at a quarter of the target's flash: 30 requested
# images would be 829 KB of the emulated Xtensa board's 1 MB; 9 fit (262,144 / 27,648), and the firmware links.
qp_cli_test(init_96x96x3 0 "" ${QP} init --arch "conv3x3s2(8) relu gap dense(K) softmax" --input 96x96x3 --seed 3
  --out ${TD}/m96.onnx --force)
qp_cli_test(quantize_96x96x3 0 "INT8 [0-9]+ bytes" ${QP} quantize --model ${TD}/m96.onnx --calib ${TD}/small/train
  --out ${TD}/m96-int8.onnx --calib-count 20 --force)
qp_cli_test(firmware_selftest_capped 0 "9 of the 30 requested images fit a quarter of the target's flash" ${QP} firmware
  --model ${TD}/m96-int8.onnx --target qemu-xtensa --out ${TD}/fw96 --subset-from ${TD}/small/test --subset 30 --force)
set_tests_properties(cli.init_96x96x3 PROPERTIES FIXTURES_REQUIRED "cli_data" FIXTURES_SETUP cli_m96)
set_tests_properties(cli.quantize_96x96x3 PROPERTIES FIXTURES_REQUIRED "cli_data;cli_m96" FIXTURES_SETUP cli_m96_int8)
set_tests_properties(cli.firmware_selftest_capped PROPERTIES FIXTURES_REQUIRED "cli_data;cli_m96_int8")
