/*
 * cpuid.c - CPUID as one virtual CPU model, the same on every host: "GenuineIntel",
 * family 6, model 6, stepping 3 (what QEMU's default qemu32 model says, a CPU every
 * 32-bit kernel knows), the brand string "trapeze virtual CPU", and only the features
 * trapeze really provides to a 32-bit guest. The host's vendor never shows: a kernel
 * takes its vendor's path (Linux reads Intel's MSRs on GenuineIntel, AMD's on
 * AuthenticAMD), and that path must not depend on the machine trapeze runs on. The
 * MSRs an Intel kernel reads of such a CPU are answered (sysinsn.c).
 *
 * Advertised from leaf 1 (SDM Vol. 2, CPUID, Table 3-11): FPU, DE (I/O breakpoints
 * and CR4.DE: debug.c), PSE, PAE and PGE (the
 * shadow MMU), TSC, MSR, CX8, SEP (SYSENTER/SYSEXIT, emulated), CMOV, CLFSH, MMX, FXSR,
 * SSE, SSE2 and the SSE3..SSE4.2/POPCNT/AES/PCLMUL group, which run natively; NX
 * (EFER.NXE, the walker's XD bit) in leaf 0x80000001; 36 physical and 32 linear
 * address bits in leaf 0x80000008 (MAXPHYADDR, which fixes the reserved bits of PAE
 * entries: walk.h); TSC_ADJUST in leaf 7 and the host's invariant-TSC bit in leaf
 * 0x80000007 (the guest's TSC is the host's), the TSC's and the APIC timer's rates in
 * leaves 0x15 and 0x16; the APIC (while IA32_APIC_BASE enables it) and the TSC-deadline
 * timer (devices/lapic.c); IA32_ARCH_CAPABILITIES and SERIALIZE in leaf 7 EDX. Leaves 2
 * to 6 and 8 to 0x14 read as zero. Held back until the monitor implements them: VME,
 * PSE-36, x2APIC, MTRR, PAT, XSAVE/AVX (XCR0 is the host's), and long mode and SYSCALL
 * in the extended leaves. ECX bit 31 says a hypervisor is present.
 */
#include "cpuid.h"

#include <cpuid.h>
#include <x86intrin.h>
#include <string.h>

#include "vm.h"
#include "../devices/lapic.h"
#include "../shadowmmu/walk.h"

#define L1_EDX_OK 0x0788a97du   /* FPU DE PSE TSC MSR PAE CX8 SEP PGE CMOV CLFSH MMX FXSR SSE SSE2 */
#define L1_ECX_OK 0x02980203u   /* SSE3 PCLMUL SSSE3 SSE4.1 SSE4.2 POPCNT AES */
#define L1_EDX_APIC (1u << 9)   /* devices/lapic.c; clear while IA32_APIC_BASE disables it */
#define L1_ECX_TSC_DEADLINE (1u << 24)
#define HYPERVISOR (1u << 31)
#define EXT_MAX   0x80000008u
#define EXT1_NX   (1u << 20)
#define EXT1_RDTSCP (1u << 27)
#define L7_EBX_TSC_ADJUST (1u << 1)
#define L7_EDX_SERIALIZE (1u << 14)
#define L7_EDX_ARCH_CAPABILITIES (1u << 29)
#define EXT7_INVARIANT_TSC (1u << 8)

#define VCPU_SIGNATURE  0x00000663u     /* family 6, model 6, stepping 3 */

/* "GenuineIntel" in EBX, EDX, ECX, and the brand string in leaves 0x80000002-4. */
static const uint32_t vendor[3] = { 0x756e6547, 0x49656e69, 0x6c65746e };
static const char brand[48] = "trapeze virtual CPU";

static const uint32_t host_leaves[CPUID_HOST_LEAVES] = {
	0, 1, 0x80000001, 0x80000002, 0x80000003, 0x80000004, 0x80000007
};

/* One (TSC, CLOCK_MONOTONIC) sample: the clock read between two TSC reads, the
 * narrowest of a few pairs, the TSC at their middle. */
static void tsc_sample(struct vm *vm, uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;
	for (int k = 0; k < 8; k++) {
		uint64_t a = __rdtsc(), n = vclock_now(&vm->clock), b = __rdtsc();
		if (b - a < best) {
			best = b - a;
			*tsc = a + (b - a) / 2;
			*ns = n;
		}
	}
}

uint64_t cpuid_tsc_hz(struct vm *vm)
{
	if (vm->tsc_hz)
		return vm->tsc_hz;
	uint64_t t0 = 0, n0 = 0, t1 = 0, n1 = 0;
	tsc_sample(vm, &t0, &n0);
	do
		tsc_sample(vm, &t1, &n1);
	while (n1 - n0 < 10000000);
	vm->tsc_hz = (uint64_t)((unsigned __int128)(t1 - t0) * 1000000000u / (n1 - n0));
	if (!vm->tsc_hz)
		vm->tsc_hz = 1;
	return vm->tsc_hz;
}

/* Leaf 0x15 (SDM Vol. 2, CPUID, Table 3-8): TSC = crystal * EBX / EAX, the crystal
 * being the APIC timer's 1 GHz bus clock. Linux multiplies the crystal in kHz by EBX
 * in 32 bits, so EBX stays at most 4294: the closest fraction with that numerator. It
 * then neither calibrates the TSC nor the APIC timer against the PIT, which a loaded
 * host made fail ("Fast TSC calibration failed", the APIC timer disabled). */
#define CRYSTAL_HZ 1000000000u
#define MAX_NUMERATOR 4294u

static void tsc_ratio(struct vm *vm, uint32_t *num, uint32_t *den)
{
	uint64_t hz = cpuid_tsc_hz(vm);
	uint64_t best_err = UINT64_MAX;
	*num = *den = 0;
	for (uint64_t d = 1; d * hz / CRYSTAL_HZ <= MAX_NUMERATOR; d++) {
		uint64_t n = (d * hz + CRYSTAL_HZ / 2) / CRYSTAL_HZ;
		if (!n || n > MAX_NUMERATOR)
			continue;
		/* |n/d - hz/C| scaled by d*C */
		uint64_t a = n * CRYSTAL_HZ, b = d * hz;
		uint64_t err = (a > b ? a - b : b - a) * (1u << 20) / d;
		if (err < best_err) {
			best_err = err;
			*num = (uint32_t)n;
			*den = (uint32_t)d;
		}
	}
}

void cpuid_init(struct vm *vm)
{
	for (int k = 0; k < CPUID_HOST_LEAVES; k++) {
		uint32_t *r = vm->host_cpuid[k];
		__cpuid(host_leaves[k], r[0], r[1], r[2], r[3]);
	}
}

/* The host's answer for leaf, from the copy taken at start-up: where the host is itself
 * a virtual machine, every CPUID exits to its hypervisor (about 10,000 cycles here). */
static void host_cpuid(struct vm *vm, uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c,
		       uint32_t *d)
{
	for (int k = 0; k < CPUID_HOST_LEAVES; k++)
		if (host_leaves[k] == leaf) {
			const uint32_t *r = vm->host_cpuid[k];
			*a = r[0];
			*b = r[1];
			*c = r[2];
			*d = r[3];
			return;
		}
	*a = *b = *c = *d = 0;
}

void cpuid_emulate(struct vm *vm, uint32_t regs[8])
{
	uint32_t leaf = regs[R_EAX], a = 0, b = 0, c = 0, d = 0;
	switch (leaf) {
	case 0:
		a = 0x16;
		b = vendor[0];
		d = vendor[1];
		c = vendor[2];
		break;
	case 1:
		host_cpuid(vm, 1, &a, &b, &c, &d);
		a = VCPU_SIGNATURE;
		b = 8u << 8;                    /* CLFLUSH line 64 bytes, APIC id 0 */
		c = (c & L1_ECX_OK) | HYPERVISOR | L1_ECX_TSC_DEADLINE;
		d &= L1_EDX_OK;
		/* SDM Vol. 3, 11.4.3: with the APIC globally disabled the CPU reports none. */
		if (vm->lapic && lapic_enabled(vm->lapic))
			d |= L1_EDX_APIC;
		break;
	case 7:
		/* Sub-leaf 0 alone: IA32_TSC_ADJUST and IA32_ARCH_CAPABILITIES, which
		 * sysinsn.c implements, and SERIALIZE (rewriter/mangle_state.c). */
		if (regs[R_ECX] == 0) {
			b = L7_EBX_TSC_ADJUST;
			d = L7_EDX_ARCH_CAPABILITIES | L7_EDX_SERIALIZE;
		}
		break;
	case 0x15:
		tsc_ratio(vm, &b, &a);
		c = b ? CRYSTAL_HZ : 0;
		break;
	case 0x16:
		/* Base and maximum frequency (the TSC's), bus (reference) frequency in MHz:
		 * Linux takes the CPU's rate from here instead of timing the PIT. */
		a = b = (uint32_t)(cpuid_tsc_hz(vm) / 1000000u);
		c = CRYSTAL_HZ / 1000000u;
		break;
	case 0x80000000:
		a = EXT_MAX;
		break;
	case 0x80000001:
		host_cpuid(vm, 0x80000001, &a, &b, &c, &d);
		a = b = 0;
		c &= 1;                         /* LAHF/SAHF */
		d = EXT1_NX | EXT1_RDTSCP;      /* the walker's, whatever the host has; RDTSCP
						   is a callout (sysinsn.c) */
		break;
	case 0x80000002 ... 0x80000004: {
		uint32_t w[4];
		memcpy(w, brand + (leaf - 0x80000002) * 16, 16);
		a = w[0];
		b = w[1];
		c = w[2];
		d = w[3];
		break;
	}
	case 0x80000007:
		/* The guest's TSC is the host's (or a fixed offset from it): invariant
		 * exactly when the host's is. With TSC_ADJUST this tells Linux that it
		 * needs no clocksource watchdog, which would otherwise compare the TSC
		 * against the PIT and, seeing a tick whose interrupt is not taken yet,
		 * call the TSC unstable and fall back to reading the PIT by port I/O. */
		host_cpuid(vm, 0x80000007, &a, &b, &c, &d);
		a = b = c = 0;
		d &= EXT7_INVARIANT_TSC;
		break;
	case 0x80000008:
		a = 32u << 8 | WALK_MAXPHYADDR;
		break;
	}
	regs[R_EAX] = a;
	regs[R_EBX] = b;
	regs[R_ECX] = c;
	regs[R_EDX] = d;
}
