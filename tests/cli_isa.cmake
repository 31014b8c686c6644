# The optimized engine's kernel set chosen by name (issue 13): `eval --isa NAME` and QPARITY_ISA. The small INT8
# model (cli_int8) on the small test split: portable, auto and the reference backend write byte-identical results
# files (every int8 vector equal); eval says which set ran; QPARITY_ISA is honoured, --isa wins over it; a set this
# CPU lacks, or an unknown name, fails naming the value and the sets available here.
set(ISA_EVAL ${QP} eval --model ${TD}/int8.onnx --data ${TD}/small/test --force)
qp_cli_test(isa_portable 0 "INT8 kernels: optimized, kernel set portable" ${ISA_EVAL} --isa portable
  --out ${TD}/isa-portable.json)
qp_cli_test(isa_auto 0 "INT8 kernels: optimized, kernel set " ${ISA_EVAL} --isa auto --out ${TD}/isa-auto.json)
qp_cli_test(isa_reference 0 "INT8 kernels: reference" ${ISA_EVAL} --backend reference --out ${TD}/isa-reference.json)
set_tests_properties(cli.isa_portable cli.isa_auto cli.isa_reference PROPERTIES FIXTURES_REQUIRED "cli_data;cli_int8"
  FIXTURES_SETUP cli_isa_results)
foreach(other auto reference)
  add_test(NAME cli.isa_same_${other} COMMAND ${CMAKE_COMMAND} -E compare_files ${TD}/isa-portable.json ${TD}/isa-${other}.json)
  set_tests_properties(cli.isa_same_${other} PROPERTIES FIXTURES_REQUIRED "cli_data;cli_int8;cli_isa_results")
endforeach()
qp_cli_test(isa_env 0 "INT8 kernels: optimized, kernel set portable$" ${CMAKE_COMMAND} -E env QPARITY_ISA=portable ${ISA_EVAL})
qp_cli_test(isa_env_bogus 1 "QPARITY_ISA names an unknown kernel set 'bogus' \\(available here: auto, portable"
  ${CMAKE_COMMAND} -E env QPARITY_ISA=bogus ${ISA_EVAL})
qp_cli_test(isa_option_wins 0 "kernel set portable$" ${CMAKE_COMMAND} -E env QPARITY_ISA=bogus ${ISA_EVAL} --isa portable)
qp_cli_test(isa_bogus 1 "--isa names an unknown kernel set 'avx9' \\(available here: auto, portable" ${ISA_EVAL} --isa avx9)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  qp_cli_test(isa_lacking 1 "--isa names the kernel set 'neon', which this CPU or build lacks \\(available here: auto, portable"
    ${ISA_EVAL} --isa neon)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  qp_cli_test(isa_lacking 1 "--isa names the kernel set 'avx2', which this CPU or build lacks \\(available here: auto, portable"
    ${ISA_EVAL} --isa avx2)
endif()
set_tests_properties(cli.isa_env cli.isa_env_bogus cli.isa_option_wins cli.isa_bogus PROPERTIES
  FIXTURES_REQUIRED "cli_data;cli_int8")
if(TEST cli.isa_lacking)
  set_tests_properties(cli.isa_lacking PROPERTIES FIXTURES_REQUIRED "cli_data;cli_int8")
endif()
