/* Start-up for the emulated Xtensa lx106 board (QEMU -M sim, call0 ABI): set the stack pointer,
 * leave exception mode, zero .bss, run main, then end QEMU with main's return code (semihosting
 * exit). The ELF is loaded segment by segment by QEMU's loader device, so .data needs no copy. */
  .section .entry.text, "ax"
  .literal_position
  .global _start
  .type _start, @function
  .align 4
_start:
  movi a1, __stack_top
  rsr.ps a2
  movi a3, ~0x10          /* PS.EXCM = 0 */
  and a2, a2, a3
  wsr.ps a2
  rsync
  movi a2, __bss_start
  movi a3, __bss_end
  movi a4, 0
1:
  bgeu a2, a3, 2f
  s32i a4, a2, 0
  addi a2, a2, 4
  j 1b
2:
  call0 main
  mov a3, a2              /* exit code */
  movi a2, 1              /* SYS_exit */
  simcall
3:
  j 3b
  .size _start, . - _start
