/*
 * main.c - minik's start: the HAL, physical memory, the kernel's mappings, the
 * first process (init: the user programs' umain, with 1 as its argument when the
 * command line says "small"), the timer, then the scheduler.
 */
#include "defs.h"

extern char __end[];
extern char ustart[], umain[];          /* user.c */

static int has_word(const char *s, const char *w)
{
	for (; *s; s++) {
		int i = 0;
		while (w[i] && s[i] == w[i])
			i++;
		if (!w[i] && (s[i] == 0 || s[i] == ' '))
			return 1;
	}
	return 0;
}

void kmain(void)
{
	hal_init();
	uint32_t mem = hal_mem_size();
	/* RAM up to a 4 MiB boundary below the top (where para's monitor pages are),
	 * at most 60 MiB: the same for every machine with 64 MiB. */
	uint32_t top = (mem - 1) & ~0x3fffffu;
	if (top > 60u << 20)
		top = 60u << 20;
	if (top < 8u << 20)
		panic("%u bytes of RAM: minik needs 12 MiB", mem);
	kinit((uint32_t)__end, (uint32_t)P2V(top));
	kvm_init(top);
	proc_init();
	int mode = has_word(hal_cmdline(), "small") | has_word(hal_cmdline(), "idle") << 1 |
		   has_word(hal_cmdline(), "idle0") << 2;
	kprintf("\nminik: %u MiB, %u pages free, command line \"%s\"\n", mem >> 20,
		kfree_count(), hal_cmdline());
	if (proc_spawn((uint32_t)ustart, (uint32_t)umain, mode) != 1)
		panic("no init");
	hal_timer_start(HZ, proc_tick);
	scheduler();
}
