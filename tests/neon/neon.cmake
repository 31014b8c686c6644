# ARM64 NEON kernels of the optimized host engine (issue 13), with no ARM machine: tests/neon/neon_bit_exact.cpp and
# only what the kernels need (engine_opt.cpp, qp::fail, the C99 runtime) cross-compiled by aarch64-linux-gnu-g++
# (tests/neon/cross_build.sh, static) and run under qemu-aarch64 on a CPU without the dot-product extension
# (cortex-a53: portable and neon run) and one with it (max: neon-dot too). Skipped (77, with the reason) when the
# cross compiler or qemu-aarch64 is missing; scripts/install-deps.sh test installs both.
find_program(QP_AARCH64_CXX aarch64-linux-gnu-g++)
find_program(QP_AARCH64_CC aarch64-linux-gnu-gcc)
find_path(QP_NLOHMANN_INCLUDE nlohmann/json.hpp)
set(QP_NEON_DIR ${CMAKE_BINARY_DIR}/neon-aarch64)
set(QP_NEON_BIN ${QP_NEON_DIR}/neon_bit_exact)
if(QP_AARCH64_CXX AND QP_AARCH64_CC AND QP_NLOHMANN_INCLUDE)
  file(GLOB QP_NEON_DEPS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/runtime/*.[ch] ${PROJECT_SOURCE_DIR}/src/quant/*.h
       ${PROJECT_SOURCE_DIR}/src/model/*.h ${PROJECT_SOURCE_DIR}/src/data/*.h ${PROJECT_SOURCE_DIR}/src/common/*.h)
  add_custom_command(OUTPUT ${QP_NEON_BIN}
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/neon/cross_build.sh ${PROJECT_SOURCE_DIR} ${QP_NEON_DIR} ${QP_AARCH64_CXX}
            ${QP_AARCH64_CC} ${QP_NLOHMANN_INCLUDE}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/neon/cross_build.sh ${CMAKE_CURRENT_SOURCE_DIR}/neon/neon_bit_exact.cpp
            ${PROJECT_SOURCE_DIR}/src/quant/engine_opt.cpp ${PROJECT_SOURCE_DIR}/src/quant/engine_opt_ops.cpp
            ${PROJECT_SOURCE_DIR}/src/quant/engine_add.cpp
            ${PROJECT_SOURCE_DIR}/src/quant/multiplier.cpp ${PROJECT_SOURCE_DIR}/src/common/error.cpp ${QP_NEON_DEPS}
    COMMENT "Cross-compiling neon_bit_exact for aarch64 (run under qemu-aarch64 by the neon.* tests)")
  add_custom_target(neon_bit_exact_aarch64 ALL DEPENDS ${QP_NEON_BIN})
endif()
add_test(NAME neon.bit_exact_cortex_a53 COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/neon/run_qemu.sh ${QP_NEON_BIN} cortex-a53 no)
add_test(NAME neon.bit_exact_max COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/neon/run_qemu.sh ${QP_NEON_BIN} max yes)
set_tests_properties(neon.bit_exact_cortex_a53 neon.bit_exact_max PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
