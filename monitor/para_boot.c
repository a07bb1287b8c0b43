/*
 * para_boot.c - a para-x86 guest's start (docs/para-x86.md, sections 1-3 and 5): the
 * ELF note that asks for the para machine, the start-info block and the shared page at
 * the top of RAM, the boot registers, the guest's clock and its one-shot timer.
 *
 * The image itself is loaded as any multiboot kernel is (multiboot.c); para_boot()
 * runs after that. The timer is a device on the board (devices/board.h): the board's
 * earliest deadline arms the host timer for it as for the PIT.
 */
#include "para.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include "engine.h"
#include "loader.h"
#include "vm.h"
#include "../devices/board.h"
#include "../devices/clock.h"
#include "../shadowmmu/mem.h"

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* Walk the notes of one PT_NOTE segment [p, p + len) for ours. */
static bool find_note(const uint8_t *p, size_t len, uint32_t *version)
{
	static const char name[] = PARA_NOTE_NAME;     /* with its NUL: namesz 8 */
	size_t at = 0;
	while (len - at >= 12) {
		uint32_t namesz = rd32(p + at), descsz = rd32(p + at + 4), type = rd32(p + at + 8);
		size_t nlen = ((size_t)namesz + 3) & ~(size_t)3, dlen = ((size_t)descsz + 3) & ~(size_t)3;
		if (namesz > len || descsz > len || nlen + dlen > len - at - 12)
			return false;
		const uint8_t *n = p + at + 12, *d = n + nlen;
		if (type == PARA_NOTE_TYPE && namesz == sizeof(name) && !memcmp(n, name, sizeof(name)) &&
		    descsz >= 8) {
			*version = rd32(d);
			return true;
		}
		at += 12 + nlen + dlen;
	}
	return false;
}

/* The program headers of an ELF32 image, each checked to lie inside it; NULL if none. */
static const uint8_t *elf_phdrs(const uint8_t *img, size_t size, unsigned *n)
{
	if (size < 52 || memcmp(img, "\177ELF", 4) || img[4] != 1)
		return NULL;
	uint32_t phoff = rd32(img + 28);
	unsigned phentsize = rd16(img + 42), phnum = rd16(img + 44);
	if (phentsize < 32 || phoff > size || (uint64_t)phnum * phentsize > size - phoff)
		return NULL;
	*n = phnum;
	return img + phoff;
}

bool para_image(const uint8_t *img, size_t size, uint32_t *version)
{
	unsigned n;
	const uint8_t *ph = elf_phdrs(img, size, &n);
	unsigned entsize = ph ? rd16(img + 42) : 0;
	for (unsigned k = 0; ph && k < n; k++) {
		const uint8_t *e = ph + (size_t)k * entsize;
		uint32_t off = rd32(e + 4), filesz = rd32(e + 16);
		if (rd32(e) == 4 /* PT_NOTE */ && off <= size && filesz <= size - off &&
		    find_note(img + off, filesz, version))
			return true;
	}
	return false;
}

uint32_t para_shared_get(struct vm *vm, size_t off)
{
	const uint8_t *p = mem_phys(&vm->mem, vm->para->shared_pa + off, 4);
	return rd32(p);
}

void para_shared_set(struct vm *vm, size_t off, uint32_t v)
{
	mem_write_phys(&vm->mem, vm->para->shared_pa + off, &v, 4);
}

uint64_t para_time(struct vm *vm)
{
	uint64_t now = vclock_now(&vm->clock) - vm->para->boot_ns;
	mem_write_phys(&vm->mem, vm->para->shared_pa + offsetof(struct para_shared, time_ns),
		       &now, 8);
	return now;
}

/* The one-shot timer, as a device on the board: event 0 when its deadline passes. */
static void timer_update(void *opaque, uint64_t now)
{
	struct vm *vm = opaque;
	struct para *p = vm->para;
	if (p->timer == VCLOCK_NEVER || now < p->timer)
		return;
	p->timer = VCLOCK_NEVER;
	size_t off = offsetof(struct para_shared, event_pending);
	para_shared_set(vm, off, para_shared_get(vm, off) | 1u << PARA_EVENT_TIMER);
}

static uint64_t timer_deadline(void *opaque)
{
	struct vm *vm = opaque;
	return vm->para->timer;
}

/* The TSC's rate against CLOCK_MONOTONIC, over 2 ms, as section 5's mult and shift:
 * ns = ((d << shift) * mult) >> 32, mult below 2^32. */
static void tsc_scale(uint32_t *mult, int32_t *shift)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	uint64_t t0 = __rdtsc(), ns;
	do {
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000u + (uint64_t)b.tv_nsec -
		     (uint64_t)a.tv_nsec;
	} while (ns < 2000000);
	uint64_t hz = (__rdtsc() - t0) * 1000000000u / ns;
	int s = 0;
	while (hz && (hz << s) <= 1000000000u)
		s++;
	*shift = s;
	*mult = hz ? (uint32_t)(((unsigned __int128)1000000000u << 32) / ((unsigned __int128)hz << s))
		   : 0;
}

static int put_start_info(struct vm *vm, const char *cmdline, char *err, size_t n)
{
	struct para *p = vm->para;
	uint8_t page[4096] = { 0 };
	struct para_start_info si = {
		.magic = PARA_BOOT_MAGIC, .version = PARA_VERSION, .mem_size = (uint32_t)vm->mem.size,
		.shared_page = p->shared_pa, .start_info = p->start_pa,
		.cmdline = p->start_pa + 2048,
	};
	para_devices_init(vm, &si);
	memcpy(page, &si, sizeof(si));
	size_t len = strlen(cmdline ? cmdline : "");
	if (len > 2047)
		return load_fail(err, n, "command line longer than para-x86's 2047 bytes");
	memcpy(page + 2048, cmdline ? cmdline : "", len);

	/* Time 0: the TSC, the vclock and the wall clock read together, after the
	 * calibration (which takes its 2 ms). */
	struct para_shared sh = { .event_mask = 1 };
	tsc_scale(&sh.tsc_mult, &sh.tsc_shift);
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	sh.wall_ns = (uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec;
	p->boot_ns = vclock_now(&vm->clock);
	sh.tsc_at_zero = __rdtsc() - vm->cpu.tsc_base;
	uint8_t shared[4096] = { 0 };
	memcpy(shared, &sh, sizeof(sh));
	if (!mem_write_phys(&vm->mem, p->start_pa, page, sizeof(page)) ||
	    !mem_write_phys(&vm->mem, p->shared_pa, shared, sizeof(shared)))
		return load_fail(err, n, "no room for the para-x86 start-info block");
	return 0;
}

int para_boot(struct vm *vm, uint32_t version, const char *cmdline, char *err, size_t n)
{
	if (version != PARA_VERSION)
		return load_fail(err, n, "the kernel asks for para-x86 version %u; trapeze offers %u",
				 version, PARA_VERSION);
	struct para *p = calloc(1, sizeof(*p));
	if (!p)
		return load_fail(err, n, "out of memory");
	vm->para = p;
	p->start_pa = (uint32_t)vm->mem.size - 2 * 4096;
	p->shared_pa = (uint32_t)vm->mem.size - 4096;
	p->timer = p->idle_until = VCLOCK_NEVER;
	if (vm->image_end > p->start_pa)
		return load_fail(err, n, "the kernel reaches the top two pages of RAM, where the "
				 "para-x86 start-info block and shared page go: give it more --mem");
	if (put_start_info(vm, cmdline, err, n) < 0)
		return -1;
	int r = board_add(vm->board, &(struct board_dev){ .name = "para timer", .opaque = vm,
				.update = timer_update, .next_deadline = timer_deadline });
	if (r < 0)
		return load_fail(err, n, "cannot add the para-x86 timer: %s", strerror(-r));

	/* Section 2: multiboot's state, with the para selectors, our registers and paging
	 * extensions ready for the first set_pt. */
	struct cpu *c = &vm->cpu;
	load_flat_segments(vm, PARA_KERNEL_CS, PARA_KERNEL_DS);
	c->sh->regs[R_EAX] = PARA_BOOT_MAGIC;
	c->sh->regs[R_EBX] = p->start_pa;
	c->sh->regs[R_ESP] = 0;
	c->cr4 |= CR4_PSE | CR4_PGE;
	c->gdtr = (struct dtr){ 0, 0 };         /* no descriptor tables (section 7) */
	c->idtr = (struct dtr){ 0, 0 };
	vm->machine = &machine_para;
	return 0;
}

void para_destroy(struct vm *vm)
{
	free(vm->para);
	vm->para = NULL;
}
