# Builds the qparity firmware for the emulated rv32imac board (qemu-system-riscv32 -M virt).
# `make` -> firmware.elf, firmware.map and a footprint line. Budgets (link fails when exceeded):
# FLASH_SIZE (code + read-only data) and RAM_SIZE (data + bss + stack), the ESP32-C3's by default.
CROSS      := riscv64-unknown-elf-
CC         := $(CROSS)gcc
SIZE       := $(CROSS)size
FLASH_SIZE ?= @FLASH_BUDGET@
RAM_SIZE   ?= @RAM_BUDGET@
ARCH       := -march=rv32imac -mabi=ilp32
CFLAGS     := $(ARCH) -O2 -std=c99 -Wall -Wextra -Werror -pedantic -ffunction-sections -fdata-sections --specs=picolibc.specs -I.
LDFLAGS    := $(ARCH) --specs=picolibc.specs --oslib=semihost --crt0=semihost -Wl,--gc-sections \
              -Wl,--defsym=__flash=0x80000000 -Wl,--defsym=__flash_size=$(FLASH_SIZE) \
              -Wl,--defsym=__ram=0x80400000 -Wl,--defsym=__ram_size=$(RAM_SIZE) -Wl,-Map=firmware.map
CFLAGS     += $(EXTRA_CFLAGS)
SRCS       := $(sort $(wildcard *.c)) $(EXTRA_SRCS)
OBJS       := $(SRCS:%.c=build/%.o)

firmware.elf: $(OBJS) qp_checks.ld
	$(CC) $(LDFLAGS) $(EXTRA_LDFLAGS) -o $@ $(OBJS) qp_checks.ld
	@$(SIZE) $@

build/%.o: %.c $(wildcard *.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

clean:
	rm -rf build firmware.elf firmware.map

.PHONY: clean
