# qparity report: the page in headless Chromium (skipped when Chromium is not installed), and its errors.
add_test(NAME cli.report_chromium COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/report_chromium.sh ${QP} ${TD})
set_tests_properties(cli.report_chromium PROPERTIES FIXTURES_REQUIRED "cli_data;cli_int8;cli_int8_results;cli_fp32_results"
  SKIP_RETURN_CODE 77 TIMEOUT 120)
qp_cli_test(report_no_run 1 "run folder .* does not exist" ${QP} report --run ${TD}/no-such-run)
qp_cli_test(report_keep_existing 1 "keep.json. already exists" ${QP} report --run ${TD}/small --out ${TD}/keep.json)
