# qparity pipeline checks all its options before the first stage: a bad value fails at once (exit 2 for
# a usage error, 1 for a missing file), before any data, training or quantization, and writes nothing.
# --skip-bad is passed on to every stage that reads images and is part of each stage's key.
set(QPP ${TD}/pipeline-options)
# A bad --subset fails before the first stage and leaves no run folder (it used to fail only after
# training and quantizing): no stage line ("== 1/8 ...") is printed. (Checked by what ran, not by a clock:
# process start with libtorch loaded takes over a second on a busy CI machine.)
qp_cli_test(pipeline_bad_subset_at_once 0 "^rc=2 stages=0 created=no$" bash -c
  "out=$(\"$0\" pipeline --synth --subset 0 --out \"$1/run-badsubset\" 2>&1)
   rc=$?
   stages=$(grep -cE '^== [0-9]+/[0-9]+ ' <<<\"$out\")
   created=no
   if [ -e \"$1/run-badsubset\" ]
   then created=yes
   fi
   echo \"rc=$rc stages=$stages created=$created\"" ${QP} ${QPP})
set(QPP_DATA --data ${TD}/small --out ${QPP}/run)
qp_cli_test(pipeline_subset_negative 2 "--subset must be a positive count or 'all' \\(got '-3'\\)" ${QP} pipeline ${QPP_DATA} --subset -3)
qp_cli_test(pipeline_subset_text 2 "--subset must be a positive count or 'all' \\(got 'ten'\\)" ${QP} pipeline ${QPP_DATA} --subset ten)
qp_cli_test(pipeline_subset_fraction 2 "--subset must be a positive count or 'all' \\(got '1.5'\\)" ${QP} pipeline ${QPP_DATA} --subset 1.5)
qp_cli_test(pipeline_bad_device 2 "--device must be none, qemu-rv32, qemu-xtensa or a serial port" ${QP} pipeline ${QPP_DATA} --device esp32)
qp_cli_test(pipeline_missing_port 1 "serial port /dev/ttyQP404 does not exist" ${QP} pipeline ${QPP_DATA} --device /dev/ttyQP404)
qp_cli_test(pipeline_bad_target 2 "--target must be an ESP-IDF board: esp32, esp32s3, esp32c3 \\(got 'esp8266'\\)" ${QP} pipeline ${QPP_DATA}
  --device none --target esp8266)
qp_cli_test(pipeline_unknown_arch 2 "--arch: unknown architecture or layer token 'resnet50'" ${QP} pipeline ${QPP_DATA} --arch resnet50)
qp_cli_test(pipeline_arch_too_deep 2 "--arch: layer [0-9]+ \\(MaxPool\\): input side 1 is smaller than the window" ${QP} pipeline ${QPP_DATA}
  --arch "conv3x3(8) relu maxpool2 maxpool2 maxpool2 maxpool2 maxpool2 maxpool2 flatten dense(K) softmax")
qp_cli_test(pipeline_negative_epochs 2 "--epochs must not be negative" ${QP} pipeline ${QPP_DATA} --epochs -2)
qp_cli_test(pipeline_fp32_and_epochs 2 "--epochs sets up training, but --fp32 skips training" ${QP} pipeline ${QPP_DATA}
  --fp32 ${TD}/untrained-rps-cnn.onnx --epochs 3)
qp_cli_test(pipeline_fp32_and_arch 2 "--arch sets up training, but --fp32 skips training" ${QP} pipeline ${QPP_DATA}
  --fp32 ${TD}/untrained-rps-cnn.onnx --arch rps-cnn-bn)
qp_cli_test(pipeline_synth_counts_with_data 2 "--synth-train and --synth-test size the built-in set" ${QP} pipeline ${QPP_DATA}
  --synth-test 10)
qp_cli_test(pipeline_fp32_missing 1 "--fp32 model '.*nope.onnx' does not exist" ${QP} pipeline ${QPP_DATA} --fp32 ${TD}/nope.onnx)
qp_cli_test(pipeline_fp32_is_int8 2 "--fp32 '.*int8.onnx' is an INT8 model" ${QP} pipeline ${QPP_DATA} --fp32 ${TD}/int8.onnx)
qp_cli_test(pipeline_no_train_test 1 "must hold train/ and test/ class folders" ${QP} pipeline --data ${TD}/small/test --out ${QPP}/run)
qp_cli_test(pipeline_config_is_folder 1 "config file '.*' is not a file" ${QP} pipeline --config ${TD} --out ${QPP}/run)
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/pipeline-bad-subset.toml "data = \"${TD}/small\"\nsubset = \"0\"\nout = \"${QPP}/run\"\n")
qp_cli_test(pipeline_config_bad_subset 2 "--subset must be a positive count or 'all' \\(got '0'\\)" ${QP} pipeline
  --config ${CMAKE_CURRENT_BINARY_DIR}/pipeline-bad-subset.toml)
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/pipeline-bad-flag.toml "synth = yes\nout = \"${QPP}/run\"\n")
qp_cli_test(pipeline_config_bad_flag 2 "'synth' must be true or false \\(got 'yes'\\)" ${QP} pipeline
  --config ${CMAKE_CURRENT_BINARY_DIR}/pipeline-bad-flag.toml)
# None of the refused runs left a run folder behind.
qp_cli_test(pipeline_refused_wrote_nothing 0 "^nothing written$" bash -c
  "if [ -e \"$0/run\" ]
   then echo \"$0/run exists\"
   else echo 'nothing written'
   fi" ${QPP})
set_tests_properties(cli.pipeline_refused_wrote_nothing PROPERTIES DEPENDS
  "cli.pipeline_subset_negative;cli.pipeline_subset_text;cli.pipeline_subset_fraction;cli.pipeline_bad_device;cli.pipeline_missing_port;cli.pipeline_bad_target;cli.pipeline_unknown_arch;cli.pipeline_arch_too_deep;cli.pipeline_negative_epochs;cli.pipeline_fp32_and_epochs;cli.pipeline_fp32_and_arch;cli.pipeline_synth_counts_with_data;cli.pipeline_fp32_missing;cli.pipeline_fp32_is_int8;cli.pipeline_no_train_test;cli.pipeline_config_is_folder;cli.pipeline_config_bad_subset;cli.pipeline_config_bad_flag")
set_tests_properties(cli.pipeline_fp32_is_int8 PROPERTIES FIXTURES_REQUIRED "cli_data;cli_int8")

# --skip-bad: the pipeline runs on a dataset with an unreadable image in train and in test, passing the
# flag to every stage that reads images (all but the report); without it, the data stage stops (the
# flag is part of the stage's key, so the earlier run's stage is not reused).
qp_cli_test(pipeline_skip_bad 0 "^stages without --skip-bad: report$" bash -c
  "\"$0\" pipeline --data \"$1\" --fp32 \"$2\" --device none --threads 2 --skip-bad --out \"$3\" || exit $?
   printf 'stages without --skip-bad: '
   grep '\"command\": \"qparity ' \"$3/pipeline.json\" | grep -v -- '--skip-bad' | sed 's/.*\"qparity \\([a-z]*\\).*/\\1/' | tr '\\n' ' ' | sed 's/ $//'
   echo" ${QP} ${TD}/check/bad ${TD}/untrained-rps-cnn.onnx ${QPP}/run-skip-bad)
qp_cli_test(pipeline_skip_bad_recorded 0 "\"skip_bad\": true" cat ${QPP}/run-skip-bad/pipeline.json)
qp_cli_test(pipeline_without_skip_bad 1 "pipeline stage 'data' failed" ${QP} pipeline --data ${TD}/check/bad --fp32 ${TD}/untrained-rps-cnn.onnx
  --device none --threads 2 --out ${QPP}/run-skip-bad)
set_tests_properties(cli.pipeline_skip_bad PROPERTIES FIXTURES_REQUIRED "cli_data;cli_check" FIXTURES_SETUP cli_pipeline_skip_bad)
set_tests_properties(cli.pipeline_skip_bad_recorded cli.pipeline_without_skip_bad PROPERTIES
  FIXTURES_REQUIRED "cli_data;cli_check;cli_pipeline_skip_bad")
set_tests_properties(cli.pipeline_without_skip_bad PROPERTIES DEPENDS cli.pipeline_skip_bad_recorded)
# --input HxWxC: checked with the other options (exit 2), the architecture must build at that size, and a
# given FP32 model fixes its own input.
qp_cli_test(pipeline_bad_input 2 "--input '64x64' is not HxWxC" ${QP} pipeline ${QPP_DATA} --input 64x64)
qp_cli_test(pipeline_input_channels 2 "--input '64x64x4': 4 channels; a model input has 1 \\(luma\\) or 3 \\(RGB\\)" ${QP} pipeline
  ${QPP_DATA} --input 64x64x4)
qp_cli_test(pipeline_input_too_small 2 "--arch: layer [0-9]+ \\(MaxPool\\)" ${QP} pipeline ${QPP_DATA} --input 4x4x3)
qp_cli_test(pipeline_fp32_and_input 2 "--input sets up training, but --fp32 skips training" ${QP} pipeline ${QPP_DATA}
  --fp32 ${TD}/untrained-rps-cnn.onnx --input 64x64x3)
