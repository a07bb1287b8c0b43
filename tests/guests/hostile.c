/*
 * hostile.c - a guest using selectors and instructions that mean something to the
 * host (x86-64 Linux uses 0x23, 0x2b and 0x33): far JMP/CALL/RET/IRET and segment
 * loads with those selectors fault or act on the guest's own GDT only; INT 0x80
 * goes through the guest IDT; SYSCALL is #UD; SYSENTER/SYSEXIT follow the guest's
 * SYSENTER MSRs (#GP(0) when SYSENTER_CS is 0).
 */
#include "guest.h"

#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define RSEG(s) ({ uint16_t v_; __asm__ volatile("movw %%" #s ", %0" : "=rm"(v_)); v_; })
#define LOAD(seg, sel) __asm__ volatile("movw %w0, %%" #seg :: "r"(sel) : "memory")
#define EXPECT_GP(name, sel, ...) EXPECT_EXC(name, 13, (sel) & 0xfffc, __VA_ARGS__)
#define EXPECT_LOAD_GP(seg, sel) EXPECT_GP("load-" #seg "-" #sel, sel, LOAD(seg, sel))
#define EXPECT_LOADS_GP(seg) \
	EXPECT_LOAD_GP(seg, 0x23); EXPECT_LOAD_GP(seg, 0x2b); EXPECT_LOAD_GP(seg, 0x33)

extern char ljmp33[], int80_after[], sysenter_target[], sysenter_target2[];
static uint32_t sysenter_stack[64];
static volatile uint32_t probe = 0x7e57da7a;
uint32_t saved_esp;

static void test_beyond_limit(void)
{
	/* Only null, code and data: 0x23, 0x2b and 0x33 lie beyond the GDT limit. */
	gdt_load(3);
	EXPECT_GP("ljmp-0x33", 0x33, __asm__ volatile(ASM_LABEL(ljmp33) "ljmp $0x33, $1f\n1:"));
	check_eq("ljmp-0x33-eip", exc_last.eip, (uint32_t)ljmp33);
	check_eq("ljmp-0x33-cs-intact", read_cs(), SEL_CODE);
	EXPECT_GP("ljmp-0x23", 0x23, __asm__ volatile("ljmp $0x23, $1f\n1:"));
	struct { uint32_t off; uint16_t sel; } __attribute__((packed)) far = { 0, 0x2b };
	EXPECT_GP("ljmp-indirect-0x2b", 0x2b, __asm__ volatile("movl $1f, (%0); ljmp *(%0)\n1:" :: "r"(&far) : "memory"));
	EXPECT_GP("lcall-0x33", 0x33, __asm__ volatile("lcall $0x33, $1f\n1:"));
	EXPECT_GP("lret-to-0x33", 0x33, __asm__ volatile("pushl $0x33; pushl $1f; lret\n1:"));
	EXPECT_GP("iret-to-0x23", 0x23,
		  __asm__ volatile("pushl $0x2b; pushl %%esp; pushfl; pushl $0x23; pushl $1f; iret\n1:" ::: "memory"));
	EXPECT_GP("iret-to-0x33", 0x33,
		  __asm__ volatile("pushl $0x2b; pushl %%esp; pushfl; pushl $0x33; pushl $1f; iret\n1:" ::: "memory"));

	EXPECT_LOADS_GP(ds);
	EXPECT_LOADS_GP(es);
	EXPECT_LOADS_GP(fs);
	EXPECT_LOADS_GP(gs);
	EXPECT_LOADS_GP(ss);
	check(RSEG(ds) == SEL_DATA && RSEG(es) == SEL_DATA && RSEG(fs) == SEL_DATA &&
	      RSEG(gs) == SEL_DATA && RSEG(ss) == SEL_DATA, "segments-intact");
	EXPECT_GP("ltr-0x33", 0x33, __asm__ volatile("ltr %w0" :: "r"(0x33)));
	EXPECT_GP("lldt-0x2b", 0x2b, __asm__ volatile("lldt %w0" :: "r"(0x2b)));

	/* An IDT gate whose code selector is 0x33: #GP(0x30) on INT n. */
	idt_set(0x81, isr_stubs[0x81], 0x33, 0x8e);
	EXPECT_GP("int-through-gate-with-cs-0x33", 0x33, __asm__ volatile("int $0x81"));
	idt_set(0x81, isr_stubs[0x81], SEL_CODE, 0x8e);
	gdt_load(GDT_ENTRIES);
}

static void test_guest_descriptors(void)
{
	/* Linux-like user descriptors: 0x23 code DPL 3, 0x2b data DPL 3, 0x33 64-bit code. */
	gdt_set(4, 0, 0xfffff, 0xfb, GRAN_4K32);
	gdt_set(5, 0, 0xfffff, 0xf3, GRAN_4K32);
	gdt_set(6, 0, 0xfffff, 0xf9, 0xa);          /* execute-only, L=1 */
	gdt_load(7);
	uint32_t v, got;
	__asm__ volatile("push %%ds; movw %w2, %%ds; movw %%ds, %w0; movl (%3), %1; pop %%ds"
			 : "=&r"(v), "=&r"(got) : "r"(0x2b), "r"(&probe) : "memory");
	check_eq("load-ds-0x2b-dpl3", v & 0xffff, 0x2b);
	check_eq("read-through-ds-0x2b", got, probe);
	LOAD(es, 0x2b);
	LOAD(fs, 0x23);
	LOAD(gs, 0x2b);
	check_eq("load-es-0x2b-dpl3", RSEG(es), 0x2b);
	check_eq("load-fs-0x23-readable-code", RSEG(fs), 0x23);
	check_eq("load-gs-0x2b-dpl3", RSEG(gs), 0x2b);
	LOAD(es, SEL_DATA);
	LOAD(fs, SEL_DATA);
	LOAD(gs, SEL_DATA);
	EXPECT_GP("load-ss-0x2b-dpl3", 0x2b, LOAD(ss, 0x2b));
	EXPECT_GP("load-ds-0x33-execute-only", 0x33, LOAD(ds, 0x33));
	EXPECT_GP("ljmp-0x23-dpl3-code", 0x23, __asm__ volatile("ljmp $0x23, $1f\n1:"));
	EXPECT_GP("lcall-0x33-dpl3-code", 0x33, __asm__ volatile("lcall $0x33, $1f\n1:"));
	EXPECT_GP("load-ds-beyond-limit-0x3b", 0x3b, LOAD(ds, 0x3b));
	gdt_load(GDT_ENTRIES);
}

static void syscall_hook(struct frame *f) { f->eax = ~f->eax; }

static void test_system_calls(void)
{
	exc_set_hook(0x80, syscall_hook);
	exc_clear();
	uint32_t eax = 0x1234;
	__asm__ volatile("int $0x80\n" ASM_LABEL(int80_after) : "+a"(eax) :: "memory");
	exc_set_hook(0x80, 0);
	check_eq("int80-guest-vector", exc_last.vector, 0x80);
	check_eq("int80-guest-handler", eax, ~0x1234u);
	check_eq("int80-return-eip", exc_last.eip, (uint32_t)int80_after);

	EXPECT_EXC("syscall-ud", 6, 0, __asm__ volatile("syscall" ::: "ecx", "memory"));

	uint64_t cs = rdmsr(MSR_SYSENTER_CS);
	wrmsr(MSR_SYSENTER_CS, 0);
	EXPECT_EXC("sysenter-cs0-gp", 13, 0, __asm__ volatile("sysenter" ::: "memory"));
	EXPECT_EXC("sysexit-cs0-gp", 13, 0, __asm__ volatile("sysexit" ::: "memory"));

	/* SYSENTER loads flat CS/SS from the MSR without reading the GDT. */
	uint32_t esp, ss, cs_seen, top = (uint32_t)&sysenter_stack[64];
	wrmsr(MSR_SYSENTER_ESP, top);
	wrmsr(MSR_SYSENTER_EIP, (uint32_t)sysenter_target);
	wrmsr(MSR_SYSENTER_CS, SEL_CODE);
	__asm__ volatile("movl %%esp, saved_esp; sysenter\n"
			 ASM_LABEL(sysenter_target)
			 "movl %%esp, %0; movl %%ss, %1; movl %%cs, %2; movl saved_esp, %%esp"
			 : "=r"(esp), "=r"(ss), "=r"(cs_seen) :: "memory");
	check_eq("sysenter-cs8-esp", esp, top);
	check_eq("sysenter-cs8-ss", ss & 0xffff, SEL_DATA);
	check_eq("sysenter-cs8-cs", cs_seen & 0xffff, SEL_CODE);

	gdt_load(3);
	wrmsr(MSR_SYSENTER_EIP, (uint32_t)sysenter_target2);
	wrmsr(MSR_SYSENTER_CS, 0x33);
	__asm__ volatile("movl %%esp, saved_esp; sysenter\n"
			 ASM_LABEL(sysenter_target2)
			 "movl %%ss, %0; movl %%cs, %1; ljmp $0x08, $1f\n"
			 "1:\tmovl %2, %%ss; movl saved_esp, %%esp"
			 : "=&r"(ss), "=&r"(cs_seen) : "r"(SEL_DATA) : "memory");
	gdt_load(GDT_ENTRIES);
	check_eq("sysenter-cs33-ss", ss & 0xffff, 0x38);
	check_eq("sysenter-cs33-cs", cs_seen & 0xffff, 0x30);
	check_eq("back-to-guest-cs", read_cs(), SEL_CODE);
	wrmsr(MSR_SYSENTER_CS, cs);
}

void test_main(void)
{
	guest_init();
	test_beyond_limit();
	test_guest_descriptors();
	test_system_calls();
}
