# qparity verify: exit codes 0 (equivalent), 1 (not), 2 (unusable input) and the messages behind them,
# on device-like results made from the host's INT8 results by cli_verify_setup.sh.
set(QPV ${TD}/verify)
add_test(NAME cli.verify_setup COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_verify_setup.sh ${QP} ${TD})
set_tests_properties(cli.verify_setup PROPERTIES FIXTURES_SETUP cli_verify FIXTURES_REQUIRED "cli_data;cli_int8_results" TIMEOUT 120)

set(QP_VERIFY_HOST ${TD}/int8-results.json)
qp_cli_test(verify_all 0 "^EQUIVALENT \\(bit-exact\\)" ${QP} verify --host ${QP_VERIFY_HOST} --device ${QPV}/all.json)
qp_cli_test(verify_subset 0 "decisions +10/10 match" ${QP} verify --host ${QP_VERIFY_HOST} --device ${QPV}/subset.json)
qp_cli_test(verify_flip 1 "DECISION .*/[0-9]+\\.png: true [a-z]+, host [a-z]+ \\[" ${QP} verify --host ${QP_VERIFY_HOST} --device ${QPV}/flip.json)
qp_cli_test(verify_flip_verdict 1 "^NOT EQUIVALENT: 1 of 10 decisions differs" ${QP} verify --host ${QP_VERIFY_HOST} --device ${QPV}/flip.json)
qp_cli_test(verify_nudge 0 "^EQUIVALENT, 1 output vector differs" ${QP} verify --host ${QP_VERIFY_HOST} --device ${QPV}/nudge.json)
qp_cli_test(verify_other_model 2 "different models" ${QP} verify --host ${QP_VERIFY_HOST} --device ${QPV}/other-model.json)
qp_cli_test(verify_other_classes 2 "different classes" ${QP} verify --host ${QP_VERIFY_HOST} --device ${QPV}/other-classes.json)
qp_cli_test(verify_stranger 2 "device image '.*' \\(sha256 000000000000...\\) is not among the host's 30 images" ${QP} verify
  --host ${QP_VERIFY_HOST} --device ${QPV}/stranger.json)
qp_cli_test(verify_not_results 2 "is not a qparity results file" ${QP} verify --host ${QP_VERIFY_HOST} --device ${TD}/keep.json)
qp_cli_test(verify_missing 2 "--device file '.*nope.json' does not exist" ${QP} verify --host ${QP_VERIFY_HOST} --device ${TD}/nope.json)
qp_cli_test(verify_host_is_device 2 "came from a device" ${QP} verify --host ${QPV}/all.json --device ${QPV}/all.json)
qp_cli_test(verify_device_is_host 2 "did not come from a device" ${QP} verify --host ${QP_VERIFY_HOST} --device ${QP_VERIFY_HOST})
qp_cli_test(verify_no_overwrite 2 "already exists" ${QP} verify --host ${QP_VERIFY_HOST} --device ${QPV}/all.json --json ${QPV}/existing.json)
qp_cli_test(verify_usage 2 "--device is required" ${QP} verify --host ${QP_VERIFY_HOST})
# Integers that do not fit are refused, not truncated (2^32 + s used to read as s: EQUIVALENT).
qp_cli_test(verify_wrapped_score 2 "device results '.*wrapped-score.json': images\\[0\\]\\.scores\\[0\\] is 42949[0-9]+, outside \\[-128, 127\\]"
  ${QP} verify --host ${QP_VERIFY_HOST} --device ${QPV}/wrapped-score.json)
qp_cli_test(verify_wrapped_label 2 "images\\[0\\]\\.label is 42949[0-9]+, outside \\[0, 2\\]" ${QP} verify --host ${QP_VERIFY_HOST}
  --device ${QPV}/wrapped-label.json)
# verdict.json and JUnit XML next to the exit code (xmllint checks the XML where it is installed).
# (The bash -c scripts use newlines, not semicolons: a ';' would split the CMake argument list.)
qp_cli_test(verify_outputs_flip 1 "\"verdict\": \"NOT EQUIVALENT\".*<failure type=\"decision\" message=\"decision differs" bash -c
  "\"$0\" verify --host \"$1\" --device \"$2\" --json \"$3/flip-verdict.json\" --junit \"$3/flip.xml\" --force
   rc=$?
   if command -v xmllint >/dev/null && ! xmllint --noout \"$3/flip.xml\"
   then exit 9
   fi
   tr -d '\\n' < \"$3/flip-verdict.json\" && tr -d '\\n' < \"$3/flip.xml\" && echo
   exit $rc"
  ${QP} ${QP_VERIFY_HOST} ${QPV}/flip.json ${QPV})
qp_cli_test(verify_outputs_ok 0 "\"mismatch_upper_bound_95\": 0\\.2[0-9]*.*testsuite name=\"qparity.verify\" tests=\"10\" failures=\"0\"" bash -c
  "\"$0\" verify --host \"$1\" --device \"$2\" --json \"$3/ok-verdict.json\" --junit \"$3/ok.xml\" --force || exit $?
   tr -d '\\n' < \"$3/ok-verdict.json\" && tr -d '\\n' < \"$3/ok.xml\" && echo"
  ${QP} ${QP_VERIFY_HOST} ${QPV}/subset.json ${QPV})
qp_cli_test(verify_fp32 0 "FP32 vs INT8 \\(host, full set\\): agreement [0-9.]+% \\([0-9]+/30\\)" ${QP} verify --host ${QP_VERIFY_HOST}
  --device ${QPV}/subset.json --fp32 ${TD}/results.json)
qp_cli_test(verify_fp32_is_int8 2 "--fp32 results are from an INT8 model" ${QP} verify --host ${QP_VERIFY_HOST}
  --device ${QPV}/subset.json --fp32 ${QP_VERIFY_HOST})

set_tests_properties(cli.verify_all cli.verify_subset cli.verify_flip cli.verify_flip_verdict cli.verify_nudge cli.verify_other_model
  cli.verify_other_classes cli.verify_stranger cli.verify_host_is_device cli.verify_device_is_host cli.verify_no_overwrite
  cli.verify_outputs_flip cli.verify_outputs_ok cli.verify_fp32_is_int8 cli.verify_wrapped_score cli.verify_wrapped_label
  PROPERTIES FIXTURES_REQUIRED "cli_data;cli_int8_results;cli_verify")
set_tests_properties(cli.verify_not_results cli.verify_missing cli.verify_usage PROPERTIES FIXTURES_REQUIRED "cli_data;cli_int8_results")
set_tests_properties(cli.verify_fp32 PROPERTIES FIXTURES_REQUIRED "cli_data;cli_int8_results;cli_fp32_results;cli_verify")
