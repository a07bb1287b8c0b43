/*
 * para_console.c - console input (docs/para-x86.md, sections 4 and 6): what the host
 * typed raises event 1 while some waits, idle wakes for it, console_read takes it and
 * refuses a bad buffer without losing any. run-para.sh feeds "hello\n" (PARA_INPUT).
 */
#include "pguest.h"

static volatile int console_events;

static void console_hook(struct pframe *f)
{
	(void)f;
	console_events++;
	shared->event_enable &= ~(1u << PARA_EVENT_CONSOLE);    /* once is enough */
}

static int32_t console_read(void *buf, uint32_t len)
{
	return hcall(PARA_CONSOLE_READ, (uint32_t)buf, len, 0, 0);
}

void test_main(void)
{
	char buf[8] = { 0 };
	/* The input is there from the start; idle (1 s at most) must not sleep past it. */
	shared->event_enable = 1u << PARA_EVENT_CONSOLE;
	check_eq("idle", hc_idle(now_ns() + 1000000000ull), 0);
	check_eq("console-event-pending", shared->event_pending >> PARA_EVENT_CONSOLE & 1, 1);
	trap_set_hook(PARA_EVENT_VECTOR + PARA_EVENT_CONSOLE, console_hook);
	shared->event_mask = 0;
	hc_event_poll();
	shared->event_mask = 1;
	check_eq("console-event-delivered", console_events, 1);

	check_err("read-outside-ram", console_read((void *)start->mem_size, 4), PARA_EFAULT);
	check_err("read-too-long", console_read(buf, PARA_CONSOLE_MAX + 1), PARA_EINVAL);
	check_eq("read-nothing-asked", console_read(buf, 0), 0);
	check_eq("read-3", console_read(buf, 3), 3);
	check(memcmp(buf, "hel", 3) == 0, "read-3-bytes");
	check_eq("still-pending", shared->event_pending >> PARA_EVENT_CONSOLE & 1, 1);
	check_eq("read-rest", console_read(buf, sizeof(buf)), 3);
	check(memcmp(buf, "lo\n", 3) == 0, "read-rest-bytes");
	check_eq("read-empty", console_read(buf, sizeof(buf)), 0);
	check_eq("no-longer-pending", shared->event_pending >> PARA_EVENT_CONSOLE & 1, 0);
}
