# Builds the qparity firmware for the emulated Xtensa lx106 board (qemu-system-xtensa -M sim -cpu lx106).
# `make` -> firmware.elf, firmware.map and a footprint line. Budgets (link fails when exceeded):
# FLASH_SIZE (code) and RAM_SIZE (data + bss + stack), the ESP32's by default.
CROSS      := xtensa-lx106-elf-
CC         := $(CROSS)gcc
SIZE       := $(CROSS)size
FLASH_SIZE ?= @FLASH_BUDGET@
RAM_SIZE   ?= @RAM_BUDGET@
PICOLIBC_SPECS ?= /usr/lib/xtensa-lx106-elf/picolibc.specs
CFLAGS     := -O2 -std=c99 -Wall -Wextra -Werror -pedantic -mlongcalls -mtext-section-literals -ffunction-sections \
              -fdata-sections --specs=$(PICOLIBC_SPECS) -I.
LDFLAGS    := --specs=$(PICOLIBC_SPECS) -nostartfiles -mlongcalls -Wl,--gc-sections -Wl,--defsym=FLASH_SIZE=$(FLASH_SIZE) \
              -Wl,--defsym=RAM_SIZE=$(RAM_SIZE) -T qp_xtensa.ld -Wl,-Map=firmware.map
CFLAGS     += $(EXTRA_CFLAGS)
SRCS       := $(sort $(wildcard *.c)) $(EXTRA_SRCS)
OBJS       := build/crt0.o $(SRCS:%.c=build/%.o)

firmware.elf: $(OBJS) qp_xtensa.ld qp_checks.ld
	$(CC) $(LDFLAGS) $(EXTRA_LDFLAGS) -o $@ $(OBJS) qp_checks.ld
	@$(SIZE) $@

build/crt0.o: crt0.S
	@mkdir -p build
	$(CC) -mtext-section-literals -c -o $@ $<

build/%.o: %.c $(wildcard *.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

clean:
	rm -rf build firmware.elf firmware.map

.PHONY: clean
