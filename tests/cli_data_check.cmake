# qparity data check lists every problem in one pass (exit 1), and warns, without changing the exit
# code, about the same image in train and test, duplicates within a split and class imbalance;
# --skip-bad is taken by every command that reads images. Datasets: cli_data_check_setup.sh.
set(QPC ${TD}/check)
add_test(NAME cli.data_check_setup COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_data_check_setup.sh ${TD})
set_tests_properties(cli.data_check_setup PROPERTIES FIXTURES_SETUP cli_check FIXTURES_REQUIRED cli_data TIMEOUT 60)

# All six problems, in order, then the count (the output joined into one line for expect.sh's grep).
qp_cli_test(data_check_all_problems 1
  "notes.txt' is not an image file.*sub' is a folder inside a class folder.*corrupt.png' is not a readable image.*class 'lizard' is in '.*test' but not in '.*train'.*lizard' is not listed in.*bad.jpg' is not a readable image.*6 problem\\(s\\), [0-9]+ warning\\(s\\) qparity: error: .* has 6 problem\\(s\\), listed above"
  bash -c "out=$(\"$0\" data check \"$1\" 2>&1)
    rc=$?
    echo \"$out\" | tr '\\n' ' '
    exit $rc" ${QP} ${QPC}/multi)
qp_cli_test(data_check_skip_bad_leaves_folder_problems 1 "^3 problem\\(s\\)" ${QP} data check ${QPC}/multi --skip-bad)
qp_cli_test(data_check_leak 0 "^warning: the same image is in train and test .*train/paper/leak.png, .*test/paper/00001.png$"
  ${QP} data check ${QPC}/leak)
qp_cli_test(data_check_duplicate 0 "^warning: duplicate images in one split: .*train/rock/00003.png, .*train/rock/dup.png$"
  ${QP} data check ${QPC}/leak)
qp_cli_test(data_check_imbalanced 0 "^warning: '.*train' is imbalanced: class '(rock|paper)' has 20 images, 'scissors' only 4 \\(5.0x, above 3x\\)"
  ${QP} data check ${QPC}/imbalanced)
qp_cli_test(data_check_balance_line 0 "^  class balance: largest/smallest 1.00" ${QP} data check ${TD}/small)
qp_cli_test(data_check_clean 0 "^0 problem\\(s\\), 0 warning\\(s\\)$" ${QP} data check ${TD}/small)
qp_cli_test(data_check_skip_bad 0 "skipped .*bad/test/rock/corrupt.png" ${QP} data check ${QPC}/bad --skip-bad)
set_tests_properties(cli.data_check_all_problems cli.data_check_skip_bad_leaves_folder_problems cli.data_check_leak
  cli.data_check_duplicate cli.data_check_imbalanced cli.data_check_skip_bad PROPERTIES FIXTURES_REQUIRED "cli_data;cli_check")

# --skip-bad wherever images are read: quantize (calibration), inspect, firmware (self-test subset),
# device run; without it the same commands stop at the bad file and advise --skip-bad.
qp_cli_test(quantize_bad_image 1 "corrupt.png' is not a readable image" ${QP} quantize --model ${TD}/untrained-rps-cnn.onnx
  --calib ${QPC}/bad/train --out ${TD}/int8-skip.onnx --calib-count 20 --force)
qp_cli_test(quantize_skip_bad 0 "^1 calibration image\\(s\\) skipped as bad" ${QP} quantize --model ${TD}/untrained-rps-cnn.onnx
  --calib ${QPC}/bad/train --out ${TD}/int8-skip.onnx --calib-count 20 --force --skip-bad)
qp_cli_test(inspect_skip_bad 0 "^1 image\\(s\\) skipped as bad" ${QP} inspect --fp32 ${TD}/untrained-rps-cnn.onnx --int8 ${TD}/int8.onnx
  --data ${QPC}/bad/test --out ${TD}/inspect-skip.json --threads 2 --force --skip-bad)
qp_cli_test(firmware_skip_bad 0 "self-test: 30 images embedded" ${QP} firmware --model ${TD}/int8.onnx --target esp32 --out ${TD}/fw-skip
  --subset-from ${QPC}/bad/test --subset all --force --skip-bad)
qp_cli_test(device_bad_image 1 "corrupt.png' is not a readable image" ${QP} device run --model ${TD}/int8.onnx --data ${QPC}/bad/test
  --port qemu-rv32 --subset 4 --out ${TD}/device-noskip.json --firmware-dir ${TD}/fw-rv32-noskip --force)
qp_cli_test(device_skip_bad 0 "4 images \\(4 of 30, seed 1\\); 1 skipped as bad" ${QP} device run --model ${TD}/int8.onnx --data ${QPC}/bad/test
  --port qemu-rv32 --subset 4 --out ${TD}/device-skip.json --firmware-dir ${TD}/fw-rv32-skip --force --skip-bad)
set_tests_properties(cli.quantize_bad_image cli.quantize_skip_bad PROPERTIES FIXTURES_REQUIRED "cli_data;cli_check")
set_tests_properties(cli.inspect_skip_bad cli.firmware_skip_bad cli.device_bad_image cli.device_skip_bad
  PROPERTIES FIXTURES_REQUIRED "cli_data;cli_check;cli_int8")
