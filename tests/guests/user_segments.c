/*
 * user_segments.c - segment-override accesses at CPL 3: fs:, gs: (also below its
 * base, as i386 thread-local storage does), cs:, and two prefixes (the last counts),
 * reads and writes. trapeze runs a CPL-3 guest with its GS, not its FS, in the host's
 * FS: this is the test that both keep their meaning.
 */
#include "guest.h"
#include "ring.h"

#define S_UFS   7       /* 0x3b: DPL-3 data based at fs_buf */
#define S_UGS   8       /* 0x43: DPL-3 data based at gs_buf + 64 */
#define UFS     ((S_UFS << 3) | 3)
#define UGS     ((S_UGS << 3) | 3)

uint32_t fs_buf[16] __attribute__((aligned(64)));
uint32_t gs_buf[32] __attribute__((aligned(64)));

#define LOAD_FS_GS "movw $0x3b, %ax; movw %ax, %fs; movw $0x43, %ax; movw %ax, %gs\n\t"

USER_INSN(fs_read, LOAD_FS_GS, "movl %fs:4, %eax");
USER_INSN(gs_read, LOAD_FS_GS, "movl %gs:4, %eax");
USER_INSN(gs_below, LOAD_FS_GS, "movl %gs:-8, %eax");
USER_INSN(gs_reg_below, LOAD_FS_GS "movl $-12, %ecx\n\t", "movl %gs:(%ecx), %eax");
USER_INSN(gs_reg_above, LOAD_FS_GS "movl $8, %ecx\n\t", "movl %gs:(%ecx), %eax");
USER_INSN(cs_read, "", "movl %cs:cs_word, %eax");
USER_INSN(gs_then_fs, LOAD_FS_GS "xorl %ebx, %ebx\n\t", ".byte 0x65, 0x64, 0x8b, 0x03");
USER_INSN(fs_then_gs, LOAD_FS_GS "xorl %ebx, %ebx\n\t", ".byte 0x64, 0x65, 0x8b, 0x03");
USER_INSN(fs_write, LOAD_FS_GS, "movl $0x600df00d, %fs:8; movl %fs:8, %eax");
USER_INSN(gs_write, LOAD_FS_GS, "movl $0x0badcafe, %gs:-16; movl %gs:-16, %eax");
USER_INSN(fs_then_gs_access, LOAD_FS_GS, "movl %fs:4, %ecx; movl %gs:4, %eax; addl %ecx, %eax");
USER_INSN(ds_after, LOAD_FS_GS "movl $fs_buf, %ebx\n\t", "movl 12(%ebx), %eax");
__asm__(".section .rodata\n.align 4\ncs_word: .long 0xc0dec0de\n.text\n");

void test_main(void)
{
	guest_init();
	ring_init();
	gdt_set(S_UFS, (uint32_t)fs_buf, 0xfffff, 0xf3, GRAN_4K32);
	gdt_set(S_UGS, (uint32_t)&gs_buf[16], 0xfffff, 0xf3, GRAN_4K32);
	gdt_load(GDT_ENTRIES);
	for (int k = 0; k < 16; k++)
		fs_buf[k] = 0xf5000000u + (uint32_t)k;
	for (int k = 0; k < 32; k++)
		gs_buf[k] = 0x65000000u + (uint32_t)k;
	check_eq("cpl3-fs-read", user_run((uint32_t)u_fs_read, 0, 0x202), 0xf5000001);
	check_eq("cpl3-gs-read", user_run((uint32_t)u_gs_read, 0, 0x202), 0x65000011);
	check_eq("cpl3-gs-below-base", user_run((uint32_t)u_gs_below, 0, 0x202), 0x6500000e);
	/* twice: the second run is the one translated after the first taught trapeze */
	check_eq("cpl3-gs-reg-below-base", user_run((uint32_t)u_gs_reg_below, 0, 0x202), 0x6500000d);
	check_eq("cpl3-gs-reg-below-base-again", user_run((uint32_t)u_gs_reg_below, 0, 0x202), 0x6500000d);
	check_eq("cpl3-gs-reg-above-base", user_run((uint32_t)u_gs_reg_above, 0, 0x202), 0x65000012);
	check_eq("cpl3-cs-read", user_run((uint32_t)u_cs_read, 0, 0x202), 0xc0dec0de);
	check_eq("cpl3-gs-then-fs-prefix", user_run((uint32_t)u_gs_then_fs, 0, 0x202), 0xf5000000);
	check_eq("cpl3-fs-then-gs-prefix", user_run((uint32_t)u_fs_then_gs, 0, 0x202), 0x65000010);
	check_eq("cpl3-fs-write", user_run((uint32_t)u_fs_write, 0, 0x202), 0x600df00d);
	check_eq("cpl3-fs-write-memory", fs_buf[2], 0x600df00d);
	check_eq("cpl3-gs-write-below-base", user_run((uint32_t)u_gs_write, 0, 0x202), 0x0badcafe);
	check_eq("cpl3-gs-write-memory", gs_buf[12], 0x0badcafe);
	check_eq("cpl3-fs-access-then-gs-access", user_run((uint32_t)u_fs_then_gs_access, 0, 0x202),
		 0xf5000001u + 0x65000011u);
	check_eq("cpl3-ds-unchanged", user_run((uint32_t)u_ds_after, 0, 0x202), 0xf5000003);
	/* and back at CPL 0, FS and GS as the kernel left them */
	check_eq("cpl0-fs-after", RSEG(fs), 0x10);
}
