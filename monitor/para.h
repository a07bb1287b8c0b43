/*
 * para.h - the para-x86 machine (docs/para-x86.md): the image note that selects it, its
 * boot, and its state.
 *
 * Interface: the loader asks para_image() of a multiboot image; for one that carries the
 * note, para_boot() after loading it sets up the start-info block and the shared page,
 * the boot registers and the para timer, and makes machine_para (engine.h) the VM's
 * machine. para_destroy() at VM teardown. machine_para.c does the rest.
 */
#ifndef TRAPEZE_PARA_MACHINE_H
#define TRAPEZE_PARA_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../arch/para.h"

struct vm;

/* A device's ring as the monitor keeps it: what it took is its own count, not the
 * guest's req_cons (para_ring.c). */
struct para_ring {
	uint32_t pa;                    /* the ring page; live once ring_setup gave it */
	uint32_t cons;                  /* requests taken (and answered) */
	uint32_t rx_pa, rx_cons;        /* the network's receive ring, the same way */
	bool live, broken;
};

/* One para guest's monitor-side state (vm->para). */
struct para {
	uint32_t start_pa, shared_pa;   /* the start-info block and the shared page */
	uint32_t esp0;                  /* stack_switch */
	uint32_t handler[256];          /* set_trap_table; valid where has[v] */
	uint8_t dpl[256];
	bool has[256];
	uint64_t boot_ns;               /* vclock time 0 of the guest's time_ns */
	uint64_t timer;                 /* set_timer's deadline (vclock ns), or VCLOCK_NEVER */
	uint64_t idle_until;            /* idle's deadline while halted in it */
	uint32_t ndev;                  /* the devices the start-info block lists */
	struct para_dev dev[PARA_DEV_MAX];
	struct para_ring ring[PARA_DEV_MAX];
};

/* Does the ELF image carry the para-x86 note? *version gets its version. A malformed
 * note (bounds, sizes) is no note. */
bool para_image(const uint8_t *img, size_t size, uint32_t *version);

/* Make the image just loaded a para-x86 guest (boot state of section 2). 0, or -1 with
 * a reason in err. */
int para_boot(struct vm *vm, uint32_t version, const char *cmdline, char *err, size_t n);

void para_destroy(struct vm *vm);

/* para_ring.c: list the VM's devices in the start-info block si (and in vm->para); the
 * ring_setup and ring_notify hypercalls (section 8). */
void para_devices_init(struct vm *vm, struct para_start_info *si);
int32_t para_ring_setup(struct vm *vm, uint32_t dev, uint32_t ring, uint32_t rx);
int32_t para_ring_notify(struct vm *vm, uint32_t dev);

/* The guest's time_ns now, and the shared page's copy of it brought up to date. */
uint64_t para_time(struct vm *vm);

/* The shared page's word at off (a struct para_shared offset). */
uint32_t para_shared_get(struct vm *vm, size_t off);
void para_shared_set(struct vm *vm, size_t off, uint32_t v);

#endif
