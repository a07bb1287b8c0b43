/*
 * int_gs.c - GS across in-line kernel entries: ring 0, entered by SYSENTER, loads GS
 * with one of two segments (as a context switch does) and returns by SYSEXIT; ring 3
 * then makes an INT 0x80, whose handler reads gs:0 and must see the GS it loaded.
 * Under trapeze all four run in translated code once warm (monitor/kentry.c,
 * monitor/gsload.c), and the in-line GS load must update what the in-line INT installs
 * (it once installed the GS the sets were made for). Also ring 3 reads gs:0 itself.
 */
#include "guest.h"
#include "ring.h"

#define MSR_SYSENTER_CS  0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176

enum { S_SE_CODE = 8, S_SE_DATA, S_SE_UCODE, S_SE_UDATA, S_GS_A, S_GS_B };
#define SE_CS     0x40
#define SEL_GS_A  (S_GS_A << 3 | 3)
#define SEL_GS_B  (S_GS_B << 3 | 3)
#define FL_U      0x2u
#define ROUNDS    200

static uint8_t se_stack[1024] __attribute__((aligned(16)));
uint32_t box_a = 0x6a6a0001, box_b = 0x6b6b0002;
uint32_t bad_int, bad_user, ints;

/* SYSENTER's entry: GS = A for an even EAX, B for an odd one; back by SYSEXIT. */
extern char k_sysenter[];
__asm__(".text\nk_sysenter:\n\t"
	"movl $0x63, %ecx\n\t"          /* SEL_GS_A */
	"testl $1, %eax\n\t"
	"jz 1f\n\t"
	"movl $0x6b, %ecx\n"            /* SEL_GS_B */
	"1:\n\t"
	"movl %ecx, %gs\n\t"
	"movl %ebp, %ecx\n\t"           /* ring 3's ESP */
	"movl %esi, %edx\n\t"           /* and return point */
	"sysexit\n");

/* INT 0x80: gs:0 must be the box of EAX's parity. */
extern char k_int80[];
__asm__(".text\nk_int80:\n\t"
	"pushl %ecx\n\t"
	"incl ints\n\t"
	"movl %gs:0, %ecx\n\t"
	"testl $1, %eax\n\t"
	"jnz 2f\n\t"
	"cmpl box_a, %ecx\n\t"
	"jmp 3f\n"
	"2:\n\t"
	"cmpl box_b, %ecx\n"
	"3:\n\t"
	"je 4f\n\t"
	"incl bad_int\n"
	"4:\n\t"
	"popl %ecx\n\t"
	"iret\n");

static uint32_t u_loop(uint32_t rounds)
{
	for (uint32_t n = 0; n < rounds; n++) {
		uint32_t g;
		__asm__ volatile("pushl %%ebp\n\t"
				 "movl %%esp, %%ebp\n\t"
				 "movl $1f, %%esi\n\t"
				 "sysenter\n"
				 "1:\n\t"
				 "popl %%ebp\n\t"
				 "int $0x80\n\t"
				 "movl %%gs:0, %0"
				 : "=r"(g) : "a"(n) : "ecx", "edx", "esi", "memory", "cc");
		bad_user += g != ((n & 1) ? box_b : box_a);
	}
	return 0x600d;
}

void test_main(void)
{
	guest_init();
	ring_init();
	gdt_set(S_SE_CODE, 0, 0xfffff, ACC_CODE, GRAN_4K32);
	gdt_set(S_SE_DATA, 0, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_set(S_SE_UCODE, 0, 0xfffff, 0xfb, GRAN_4K32);
	gdt_set(S_SE_UDATA, 0, 0xfffff, 0xf3, GRAN_4K32);
	gdt_set(S_GS_A, (uint32_t)&box_a, 3, 0xf3, 0x4);
	gdt_set(S_GS_B, (uint32_t)&box_b, 3, 0xf3, 0x4);
	wrmsr(MSR_SYSENTER_CS, SE_CS);
	wrmsr(MSR_SYSENTER_ESP, (uint32_t)se_stack + sizeof(se_stack));
	wrmsr(MSR_SYSENTER_EIP, (uint32_t)k_sysenter);
	idt_set(0x80, (uint32_t)k_int80, SEL_CODE, 0xee);
	volatile uint32_t r = 0;
	int v = EXC(r = user_run((uint32_t)u_loop, ROUNDS, FL_U));
	check_eq("loop-no-fault", v, -1);
	check_eq("loop-returns", r, 0x600d);
	check_eq("int-calls", ints, ROUNDS);
	check_eq("int-handler-sees-loaded-gs", bad_int, 0);
	check_eq("ring3-sees-loaded-gs", bad_user, 0);
}
