/*
 * int_loop.c - many INT n / IRET round trips between ring 3 and ring 0 in a row, as
 * an OS's system calls and returns from interrupts make them (SDM Vol. 3A, 6.12.1;
 * Vol. 2A, INT n and IRET): trapeze runs these in translated code once the monitor
 * has prepared them (monitor/kentry.c), so this checks what the in-line transitions
 * must keep exact, under changes the monitor must notice.
 *
 * Ring 3 runs a loop of INT 0x80 (an interrupt gate), then INT 0x82 (a trap gate), with
 * known registers and flags; ring 0 checks the frame (EIP, CS, EFLAGS with the
 * arithmetic flags and IF ring 3 had, ESP, SS), its own CS, SS, ESP and IF, returns a
 * value and changes the frame's arithmetic flags, which ring 3 checks after the IRET.
 * Along the loop ring 0 moves the gate to another handler, TSS.ESP0 to another stack,
 * TSS.SS0 to another segment, and returns once to another ring-3 code segment. Then the loop runs again with
 * paging on and the ring-0 stack's pages neither mapped nor dirty yet (the frame's
 * first write faults on the host: the slow way, then in line). Last, ring 3 makes
 * the gate DPL 0 after warm calls: INT is #GP(vector * 8 + 2).
 */
#include "guest.h"
#include "ring.h"
#include "paging.h"

enum { S_UCODE2 = RING_FREE };
#define SEL_UCODE2 (S_UCODE2 << 3 | 3)
#define FL_U       (0x2u | EFL_IF)
#define ROUNDS     300
#define MOVE_GATE_AT 100       /* ring 0 points gate 0x80 at the second handler */
#define MOVE_ESP0_AT 150       /* ... TSS.ESP0 at the second stack */
#define NEW_CS_AT    200       /* ... returns to ring 3's second code segment once */
#define MOVE_SS0_AT  250       /* ... TSS.SS0 to the kernel's data segment */

static uint8_t kstack_b[4096] __attribute__((aligned(4096)));
#define KTOP_B ((uint32_t)kstack_b + sizeof(kstack_b))

struct kseen {
	uint32_t calls, entry2, bad_frame_cs, bad_frame_ss, bad_frame_esp, bad_frame_eip;
	uint32_t bad_frame_flags, bad_cs, bad_ss, bad_esp, bad_if;
} kseen;

/* What ring 3 put in the frame's way: its ESP before the INT and its flags. */
uint32_t u_esp, u_flags;
uint32_t ring3_cs = SEL_UCODE;

/* The entries: EAX is the call's number; the frame above the registers pushed. */
extern char k_int80[], k_int80b[], k_int82[];
__asm__(".text\n"
	"k_int80b:\n\t"
	"incl kseen+4\n"
	"k_int80:\n\t"
	"pushl $0\n\t"                  /* interrupt gate */
	"jmp k_common\n"
	"k_int82:\n\t"
	"pushl $1\n"                    /* trap gate */
	"k_common:\n\t"
	"pushl %ecx\n\tpushl %edx\n\t"
	"pushfl\n\t"
	"pushl %esp\n\t"
	"pushl %eax\n\t"
	"call k_body\n\t"
	"addl $12, %esp\n\t"
	"popl %edx\n\tpopl %ecx\n\t"
	"addl $4, %esp\n"
	"k_iret:\n\t"
	"iret\n");
extern char k_iret[];

#define RO_SS 0x5555            /* a call that makes ring 3's stack segment read-only */

/* frame: the EFLAGS ring 0 runs with, then EDX, ECX, the gate kind, then the
 * interrupt frame (EIP, CS, EFLAGS, ESP, SS). */
uint32_t k_body(uint32_t n, uint32_t *frame)
{
	uint32_t kfl = frame[0], trap = frame[3], *f = frame + 4;
	if (n == RO_SS) {
		gdt_set(RING_UDATA, 0, 0xfffff, 0xf1, GRAN_4K32);
		return 0;
	}
	uint32_t top = n > MOVE_ESP0_AT ? KTOP_B : RING0_TOP;
	kseen.calls++;
	kseen.bad_cs += RSEG(cs) != SEL_CODE;
	kseen.bad_ss += RSEG(ss) != (n > MOVE_SS0_AT ? SEL_DATA : SEL_KSTACK);
	kseen.bad_esp += (uint32_t)(f + 5) != top;
	kseen.bad_if += (kfl & EFL_IF) != (trap ? EFL_IF : 0);
	kseen.bad_frame_eip += f[0] < (uint32_t)0x100000 || f[0] > (uint32_t)0x200000;
	kseen.bad_frame_cs += f[1] != ring3_cs;
	kseen.bad_frame_ss += f[4] != SEL_UDATA;
	kseen.bad_frame_esp += f[3] != u_esp;
	kseen.bad_frame_flags += (f[2] & 0x8d5) != (u_flags & 0x8d5) || !(f[2] & EFL_IF);
	f[2] ^= 0x41;                   /* ring 3 sees ZF and CF flipped */
	if (n == MOVE_GATE_AT)
		idt_set(0x80, (uint32_t)k_int80b, SEL_CODE, 0xee);
	if (n == MOVE_ESP0_AT)
		ring_tss.t.esp0 = KTOP_B;
	if (n == MOVE_SS0_AT)
		ring_tss.t.ss0 = SEL_DATA;
	if (n == NEW_CS_AT) {
		f[1] = SEL_UCODE2;
		ring3_cs = SEL_UCODE2;
	}
	return n * 7 + 1;
}

struct useen {
	uint32_t bad_ret, bad_flags, bad_esp, bad_regs, rounds;
} useen;

/* One call: EAX = n, flags = fl (0x8d5 arithmetic bits), through vector 0x80 or
 * 0x82; returns EAX and the flags after, with ESP checked. */
#define CALL(vec, n, fl, r, after) \
	__asm__ volatile("pushl %3\n\tpopfl\n\t" \
			 "movl %%esp, u_esp\n\t" \
			 "int $" #vec "\n\t" \
			 "pushfl\n\tpopl %1" \
			 : "=a"(r), "=r"(after) : "a"(n), "r"(fl) : "memory", "cc")

static uint32_t u_loop(uint32_t rounds)
{
	for (uint32_t n = 1; n <= rounds; n++) {
		uint32_t fl = ((n & 1) ? 0x0c5u : 0x810u) | EFL_IF, r, after, esp0, esp1;
		uint32_t keep = 0x5e5e0000 + n;
		__asm__ volatile("movl %%esp, %0" : "=r"(esp0));
		u_flags = fl;
		if (n <= rounds / 2)
			CALL(0x80, n, fl, r, after);
		else
			CALL(0x82, n, fl, r, after);
		__asm__ volatile("movl %%esp, %0" : "=r"(esp1));
		useen.bad_ret += r != n * 7 + 1;
		useen.bad_flags += (after & 0x8d5) != ((fl ^ 0x41) & 0x8d5) || !(after & EFL_IF);
		useen.bad_esp += esp0 != esp1;
		useen.bad_regs += keep != 0x5e5e0000 + n;
		useen.rounds++;
	}
	return 0x600d;
}

/* Warm calls, then one whose ring 0 makes the SS the IRET returns to read-only. */
extern char u_ro_ss[];
__asm__(".text\n"
	"u_ro_ss:\n\t"
	"movl $1, %eax\n\t"
	"int $0x80\n\t"
	"movl $2, %eax\n\t"
	"int $0x80\n\t"
	"movl $0x5555, %eax\n\t"
	"int $0x80\n\t"
	"ret\n");

/* Warm calls, then the gate made DPL 0 (ring 3 can write the IDT: no paging): #GP. */
extern char u_gate_dpl0[], u_gate_dpl0_at[];
__asm__(".text\n"
	"u_gate_dpl0:\n\t"
	"xorl %eax, %eax\n\t"
	"int $0x80\n\t"
	"int $0x80\n\t"
	"movl idt_gate_80_hi, %ecx\n\t"
	"andl $0xffff9fff, (%ecx)\n"    /* DPL 3 -> 0 in the gate's access byte */
	"u_gate_dpl0_at:\n\t"
	"int $0x80\n\t"
	"ret\n");
uint32_t idt_gate_80_hi;

/* "tag-what" into name */
static const char *named(char *name, const char *tag, const char *what)
{
	char *p = name;
	while (*tag)
		*p++ = *tag++;
	*p++ = '-';
	while (*what)
		*p++ = *what++;
	*p = 0;
	return name;
}

static uint32_t idt_entry_addr(int vec)
{
	struct { uint16_t limit; uint32_t base; } __attribute__((packed)) d;
	__asm__ volatile("sidt %0" : "=m"(d));
	return d.base + (uint32_t)vec * 8;
}

static void run_loop(const char *tag)
{
	char name[64];
	volatile uint32_t r = 0;
	memset(&kseen, 0, sizeof(kseen));
	memset(&useen, 0, sizeof(useen));
	ring3_cs = SEL_UCODE;
	idt_set(0x80, (uint32_t)k_int80, SEL_CODE, 0xee);       /* interrupt gate, DPL 3 */
	idt_set(0x82, (uint32_t)k_int82, SEL_CODE, 0xef);       /* trap gate, DPL 3 */
	ring_tss.t.esp0 = RING0_TOP;
	ring_tss.t.ss0 = SEL_KSTACK;
	int v = EXC(r = user_run((uint32_t)u_loop, ROUNDS, FL_U));
#define C(what, got, want) check_eq(named(name, tag, what), got, want)
	C("no-fault", v, -1);
	C("returns", r, 0x600d);
	C("rounds", useen.rounds, ROUNDS);
	C("ring0-calls", kseen.calls, ROUNDS);
	C("second-handler-after-idt-write", kseen.entry2, ROUNDS / 2 - MOVE_GATE_AT);
	C("ring0-cs", kseen.bad_cs, 0);
	C("ring0-ss-from-tss", kseen.bad_ss, 0);
	C("ring0-esp-from-tss", kseen.bad_esp, 0);
	C("ring0-if-by-gate", kseen.bad_if, 0);
	C("frame-eip", kseen.bad_frame_eip, 0);
	C("frame-cs", kseen.bad_frame_cs, 0);
	C("frame-ss", kseen.bad_frame_ss, 0);
	C("frame-esp", kseen.bad_frame_esp, 0);
	C("frame-eflags", kseen.bad_frame_flags, 0);
	C("ring3-result", useen.bad_ret, 0);
	C("ring3-flags-from-frame", useen.bad_flags, 0);
	C("ring3-esp", useen.bad_esp, 0);
	C("ring3-registers", useen.bad_regs, 0);
#undef C
}

void test_main(void)
{
	guest_init();
	ring_init();
	outb(0x21, 0xff);               /* no interrupt from the 8259s while IF is set */
	outb(0xa1, 0xff);
	gdt_set(S_UCODE2, 0, 0xfffff, 0xfb, GRAN_4K32);
	run_loop("flat");

	/* Paging: everything user and identity, the ring-0 stacks' pages not yet
	 * accessed or dirty, and no host mapping of anything after the CR3 load. */
	pg_init();
	pte_t *pd = pg_dir();
	pg_identity(pd, PG_P | PG_W | PG_U);
	for (uint32_t a = (uint32_t)ring0_stack; a < RING0_TOP; a += PAGE)
		*pg_pte(pd, a) &= ~(PG_A | PG_D);
	*pg_pte(pd, (uint32_t)kstack_b) &= ~(PG_A | PG_D);
	pg_on(pd);
	run_loop("paging");
	check(*pg_pte(pd, RING0_TOP - 4) & PG_D, "paging-ring0-stack-dirty");
	ring_tss.t.esp0 = RING0_TOP;
	ring_tss.t.ss0 = SEL_KSTACK;
	check(*pg_pte(pd, (uint32_t)kstack_b) & PG_D, "paging-second-stack-dirty");
	pg_off();

	/* The descriptor of the SS an IRET returns to changed behind the monitor's back:
	 * IRET to a read-only stack segment is #GP(selector), at the IRET. */
	idt_set(0x80, (uint32_t)k_int80, SEL_CODE, 0xee);
	int v = EXC(user_run((uint32_t)u_ro_ss, 0, FL_U));
	gdt_set(RING_UDATA, 0, 0xfffff, 0xf3, GRAN_4K32);
	check_eq("iret-to-read-only-ss-gp", v, 13);
	check_eq("iret-to-read-only-ss-error", exc_last.error, SEL_UDATA & ~3u);
	check_eq("iret-to-read-only-ss-at-iret", exc_last.eip, (uint32_t)k_iret);

	/* The gate's DPL changed behind the monitor's back, after warm calls. */
	idt_set(0x80, (uint32_t)k_int80, SEL_CODE, 0xee);
	idt_gate_80_hi = idt_entry_addr(0x80) + 4;
	user_expect("gate-made-dpl0-gp", u_gate_dpl0, FL_U, 13, 0x80 * 8 + 2, u_gate_dpl0_at);
}
