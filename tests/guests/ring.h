/*
 * ring.h - ring 3 for guest tests: DPL-3 code and data segments, a 32-bit TSS whose
 * SS0:ESP0 is a ring-0 stack of its own (with an optional I/O permission bitmap), a
 * way into ring 3 (IRET) and a way back out (INT 0x81 through a DPL-3 gate whose
 * handler restores the kernel context instead of returning).
 *
 * Header-only: CMake builds every .c in this directory as a guest of its own, so the
 * helpers live here; include this from the one .c file of a guest, after guest.h.
 *
 * Interface: guest_init(), then ring_init(). user_run(eip, arg, eflags) runs the code
 * at eip at CPL 3 (CS SEL_UCODE, SS:ESP SEL_UDATA:user stack, DS..GS SEL_UDATA) with
 * arg as its one stack argument and eflags as its EFLAGS; when that code returns
 * (RET), the INT 0x81 it returns to ends the run and user_run returns the EAX it
 * left. A fault at CPL 3 with no hook recovers at the exc_try() of an EXC() or
 * EXPECT_EXC() around user_run, as one at CPL 0 does.
 *
 * GDT: the library's 0-2, then 3 user code (0x1b), 4 user data (0x23), 5 TSS (0x28),
 * 6 ring-0 stack segment SS0 (0x30, flat like SEL_DATA but another selector, so a
 * test can tell SS0 from the kernel's SS); RING_FREE (7) and up are the test's own.
 */
#ifndef RING_H
#define RING_H

#include "guest.h"

#define RING_UCODE  3
#define RING_UDATA  4
#define RING_TSS    5
#define RING_KSTACK 6
#define RING_FREE   7
#define SEL_UCODE   0x1b
#define SEL_UDATA   0x23
#define SEL_TSS     0x28
#define SEL_KSTACK  0x30
#define VEC_RING_EXIT 0x81

#define RING0_STACK_SIZE 8192
#define USER_STACK_SIZE  8192
#define RING0_TOP ((uint32_t)ring0_stack + RING0_STACK_SIZE)
#define USER_TOP  ((uint32_t)user_stack + USER_STACK_SIZE)

#define RSEG(s) ({ uint16_t v_; __asm__ volatile("movw %%" #s ", %0" : "=rm"(v_)); v_; })

/* The I/O permission bitmap for ports 0-0x3ff right after the TSS, and the byte of
 * 1s the SDM asks for after the last byte of a map (Vol. 1, 19.5.2 "I/O Permission
 * Bit Map": the processor reads two bytes for every check). */
#define RING_IOMAP_BYTES 0x80
struct ring_tss {
	struct tss32 t;
	uint8_t iomap[RING_IOMAP_BYTES];
	uint8_t iomap_end;
} __attribute__((packed));

/* The frame an interrupt or exception from CPL 3 leaves on the ring-0 stack: the
 * library's (segments, pusha, vector, error, EIP, CS, EFLAGS), then SS:ESP of ring 3. */
struct uframe {
	struct frame f;
	uint32_t esp, ss;
};

/* What the INT 0x81 that ended the last user_run() found: its frame (EIP, CS,
 * EFLAGS, ESP, SS of ring 3), where that frame was, and SS in the handler. */
struct ring_exit {
	uint32_t eip, cs, eflags, esp, ss, frame, ss0;
};

struct ring_tss ring_tss __attribute__((aligned(128)));
uint8_t ring0_stack[RING0_STACK_SIZE] __attribute__((aligned(16)));
uint8_t user_stack[USER_STACK_SIZE] __attribute__((aligned(16)));
struct ring_exit ring_exit;
extern char ring_exit_ret[];    /* return EIP of the INT 0x81 that ends a run */
uint32_t user_run(uint32_t eip, uint32_t arg, uint32_t eflags);
void ring_exit_stub(void);

/* user_run saves the callee-saved registers and EFLAGS on the kernel stack and builds
 * the IRET frame (SS, ESP, EFLAGS, CS, EIP) for ring 3; the ring-3 stack holds the
 * return address ring_user_ret and arg. ring_exit_stub is the INT 0x81 handler. */
__asm__(".text\n"
	".globl user_run\n"
	"user_run:\n\t"
	"pushl %ebp\n\t"
	"pushl %ebx\n\t"
	"pushl %esi\n\t"
	"pushl %edi\n\t"
	"pushfl\n\t"
	"movl %esp, ring_kernel_esp\n\t"
	"movl 24(%esp), %eax\n\t"
	"movl 28(%esp), %ecx\n\t"
	"movl 32(%esp), %edx\n\t"
	"movl $user_stack + 8192, %ebx\n\t"
	"movl %ecx, -4(%ebx)\n\t"
	"movl $ring_user_ret, -8(%ebx)\n\t"
	"subl $8, %ebx\n\t"
	"pushl $0x23\n\t"
	"pushl %ebx\n\t"
	"pushl %edx\n\t"
	"pushl $0x1b\n\t"
	"pushl %eax\n\t"
	"movl $0x23, %ecx\n\t"
	"movl %ecx, %ds\n\t"
	"movl %ecx, %es\n\t"
	"movl %ecx, %fs\n\t"
	"movl %ecx, %gs\n\t"
	"iret\n"
	"ring_user_ret:\n\t"
	"int $0x81\n"
	".globl ring_exit_ret\n"
	"ring_exit_ret:\n\t"
	"ud2\n"
	".globl ring_exit_stub\n"
	"ring_exit_stub:\n\t"
	"movl %esp, %ecx\n\t"
	"movl $0x10, %edx\n\t"
	"movl %edx, %ds\n\t"
	"movl %edx, %es\n\t"
	"movl %edx, %fs\n\t"
	"movl %edx, %gs\n\t"
	"movl %ecx, ring_exit+20\n\t"
	"movl %ss, %edx\n\t"
	"movl %edx, ring_exit+24\n\t"
	"movl 0(%ecx), %edx\n\t"
	"movl %edx, ring_exit+0\n\t"
	"movl 4(%ecx), %edx\n\t"
	"movl %edx, ring_exit+4\n\t"
	"movl 8(%ecx), %edx\n\t"
	"movl %edx, ring_exit+8\n\t"
	"movl 12(%ecx), %edx\n\t"
	"movl %edx, ring_exit+12\n\t"
	"movl 16(%ecx), %edx\n\t"
	"movl %edx, ring_exit+16\n\t"
	"movl $0x10, %edx\n\t"
	"movl %edx, %ss\n\t"
	"movl ring_kernel_esp, %esp\n\t"
	"popfl\n\t"
	"popl %edi\n\t"
	"popl %esi\n\t"
	"popl %ebx\n\t"
	"popl %ebp\n\t"
	"ret\n"
	".data\n"
	".align 4\n"
	"ring_kernel_esp: .long 0\n"
	".text\n");

/* A ring-3 routine u_<name>: `setup`, then `insn` at the label u_<name>_at, then RET. */
#define USER_INSN(name, setup, insn)                                            \
	extern char u_##name[], u_##name##_at[];                                 \
	__asm__(".text\n.globl u_" #name "\nu_" #name ":\n\t" setup "\n"          \
		".globl u_" #name "_at\nu_" #name "_at:\n\t" insn "\n\tret\n")

/* Point TR at the TSS again (the descriptor made available first: LTR of a busy
 * TSS is #GP), its limit covering the I/O bitmap or ending before it (then every
 * port is beyond the map: SDM Vol. 1, 19.5.2). */
static inline void ring_set_tss(int with_iomap)
{
	uint32_t limit = with_iomap ? sizeof(struct ring_tss) - 1 : sizeof(struct tss32) - 1;
	gdt_set(RING_TSS, (uint32_t)&ring_tss, limit, 0x89, 0);
	__asm__ volatile("ltr %w0" :: "r"(SEL_TSS) : "memory");
}

static inline void ring_init(void)
{
	gdt_set(RING_UCODE, 0, 0xfffff, 0xfb, GRAN_4K32);
	gdt_set(RING_UDATA, 0, 0xfffff, 0xf3, GRAN_4K32);
	gdt_set(RING_KSTACK, 0, 0xfffff, ACC_DATA, GRAN_4K32);
	memset(&ring_tss, 0, sizeof(ring_tss));
	ring_tss.t.ss0 = SEL_KSTACK;
	ring_tss.t.esp0 = RING0_TOP;
	ring_tss.t.iomap = sizeof(struct tss32);
	memset(ring_tss.iomap, 0xff, sizeof(ring_tss.iomap));
	ring_tss.iomap_end = 0xff;
	gdt_load(GDT_ENTRIES);
	ring_set_tss(0);
	idt_set(VEC_RING_EXIT, (uint32_t)ring_exit_stub, SEL_CODE, 0xee);
}

/* PASS when the ring-3 code at eip, run with eflags, raises vec with error code err
 * (err < 0: any) at the instruction `at`, with CS = cs in the frame and the frame
 * (with the SS:ESP of ring 3) at the top of the TSS's ring-0 stack. */
static inline void user_expect_cs(const char *name, const void *eip, uint32_t eflags, int vec,
				  int err, const void *at, uint32_t cs)
{
	int v = EXC(user_run((uint32_t)eip, 0, eflags));
	if (v != vec)
		fail(name, "exception %d want %d", v, vec);
	else if (err >= 0 && exc_last.error != (uint32_t)err)
		fail(name, "error code %x want %x", exc_last.error, err);
	else if (exc_last.eip != (uint32_t)at)
		fail(name, "eip %08x want %08x", exc_last.eip, (uint32_t)at);
	else if (exc_last.cs != cs)
		fail(name, "frame cs %x want %x", exc_last.cs, cs);
	else if (exc_last.esp != ring_tss.t.esp0 - 8)
		fail(name, "outer esp slot at %08x want esp0-8 %08x", exc_last.esp,
		     ring_tss.t.esp0 - 8);
	else
		pass(name);
}

static inline void user_expect(const char *name, const void *eip, uint32_t eflags, int vec,
			       int err, const void *at)
{
	user_expect_cs(name, eip, eflags, vec, err, at, SEL_UCODE);
}

/* user_expect for a routine that should run to its RET: PASS when nothing was raised
 * and it returned want in EAX. */
static inline void user_expect_ret(const char *name, const void *eip, uint32_t arg,
				   uint32_t eflags, uint32_t want)
{
	volatile uint32_t got = 0;
	int v = EXC(got = user_run((uint32_t)eip, arg, eflags));
	if (v != -1)
		fail(name, "exception %d error %x at %08x", v, exc_last.error, exc_last.eip);
	else if (got != want)
		fail(name, "got %08x want %08x", got, want);
	else
		pass(name);
}

#endif
