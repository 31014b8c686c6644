# The qparity firmware component: the generated model package, the integer runtime, the protocol
# codec, the device application and the ESP-IDF board support.
file(GLOB QP_SRCS "*.c")
idf_component_register(SRCS ${QP_SRCS} INCLUDE_DIRS "." REQUIRES driver esp_timer)
target_compile_options(${COMPONENT_LIB} PRIVATE -Wall -Wextra -Werror -Wno-unused-parameter)
