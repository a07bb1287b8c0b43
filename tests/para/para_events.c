/*
 * para_events - events, the timer and idle (docs/para-x86.md sections 4-7):
 * set_timer raises event 0, delivered as vector 32 while event_mask is 0 and the
 * event enabled; event_ack clears it; idle sleeps until its deadline or an event;
 * a masked event stays pending and is delivered by event_poll after unmasking, or at
 * once by an IRET that unmasks; CLI/STI/PUSHF/POPF touch only EFLAGS.IF.
 */
#include "pguest.h"

#define MS 1000000ull

/* What the timer handler saw, per delivery. */
static volatile struct {
	int count;
	uint32_t vector, cs, eflags, mask, pending_in, acked, pending_after;
	uint64_t time_ns;
} ev;

static void timer_hook(struct pframe *f)
{
	ev.count++;
	ev.vector = f->vector;
	ev.cs = f->cs;
	ev.eflags = f->eflags;
	ev.mask = shared->event_mask;
	ev.pending_in = shared->event_pending;
	ev.time_ns = shared->time_ns;
	ev.acked = hc_event_ack(1u << PARA_EVENT_TIMER);
	ev.pending_after = shared->event_pending;
}

static void print_ns(const char *what, uint64_t v)
{
	printf("%s %08x%08x", what, (uint32_t)(v >> 32), (uint32_t)v);
}

/* Call event_poll until the handler ran `want` times or `ms` passed; the count. */
static int poll_until(int want, uint64_t ms)
{
	uint64_t end = now_ns() + ms * MS;
	while (ev.count < want && now_ns() < end)
		hc_event_poll();
	return ev.count;
}

/* Unmask as section 5 says: a plain store, then event_poll if something waits. */
static void unmask(void)
{
	shared->event_mask = 0;
	if (shared->event_pending & shared->event_enable)
		hc_event_poll();
}

static void test_boot_state(void)
{
	check_eq("boot-event-mask", shared->event_mask, 1);
	check_eq("boot-event-enable", shared->event_enable, 0);
	check_eq("boot-timer-not-pending", shared->event_pending & 1, 0);
}

static void test_timer(void)
{
	shared->event_enable = 1u << PARA_EVENT_TIMER;
	unmask();
	uint64_t deadline = now_ns() + 2 * MS;
	check_eq("set-timer-returns-0", hc_set_timer(deadline), 0);
	int n = poll_until(1, 1000);
	if (n != 1) {
		fail("timer-delivered", "handler ran %d times in 1 s, want 1", n);
		return;
	}
	pass("timer-delivered");
	check_eq("timer-vector", ev.vector, PARA_EVENT_VECTOR + PARA_EVENT_TIMER);
	check_eq("timer-frame-cs", ev.cs, PARA_KERNEL_CS);
	check_eq("timer-frame-if", ev.eflags & EFL_IF, EFL_IF);     /* IF = !event_mask */
	check_eq("timer-handler-masked", ev.mask, 1);
	check_eq("timer-pending-in-handler", ev.pending_in & 1, 1);
	check_eq("event-ack-returns-pending", ev.acked & 1, 1);
	check_eq("event-ack-clears", ev.pending_after & 1, 0);
	if (ev.time_ns >= deadline)
		pass("timer-not-early");
	else {
		fail("timer-not-early", "");
		print_ns("time_ns", ev.time_ns), print_ns(" deadline", deadline), printf("\n");
	}
	check_eq("iret-unmasks", shared->event_mask, 0);
	/* One-shot: nothing more in the next 10 ms. */
	check_eq("timer-one-shot", poll_until(2, 10), 1);
}

static void test_cancel(void)
{
	ev.count = 0;
	check_eq("set-timer-again", hc_set_timer(now_ns() + 2 * MS), 0);
	check_eq("set-timer-0-cancels-returns-0", hc_set_timer(0), 0);
	check_eq("set-timer-0-cancels", poll_until(1, 10), 0);
	check_eq("set-timer-0-not-pending", shared->event_pending & 1, 0);
}

static void test_idle(void)
{
	/* No event can come (timer cancelled): idle returns at its deadline. */
	uint64_t t0 = now_ns(), deadline = t0 + 5 * MS;
	int32_t r = hc_idle(deadline);
	uint64_t t1 = now_ns();
	check(r >= 0, "idle-deadline-returns-ok");
	if (t1 >= deadline && t1 < deadline + 1000 * MS)
		pass("idle-deadline-slept");
	else {
		fail("idle-deadline-slept", "");
		print_ns("t0", t0), print_ns(" deadline", deadline), print_ns(" after", t1), printf("\n");
	}
	hc_event_ack(0);                /* time_ns is updated at every hypercall */
	check(shared->time_ns >= deadline, "idle-time-ns-past-deadline");

	/* A deadline already past: back at once. */
	t0 = now_ns();
	hc_idle(1);
	check(now_ns() - t0 < 100 * MS, "idle-past-deadline-returns");

	/* The timer's event ends the sleep long before the deadline, and is delivered. */
	ev.count = 0;
	t0 = now_ns();
	hc_set_timer(t0 + 3 * MS);
	hc_idle(t0 + 2000 * MS);
	t1 = now_ns();
	check(t1 - t0 < 1000 * MS, "idle-woken-by-event");
	check_eq("idle-event-delivered", ev.count, 1);
}

static void test_masked(void)
{
	ev.count = 0;
	shared->event_mask = 1;
	hc_set_timer(now_ns() + 2 * MS);
	/* Exits (event_ack(0) clears nothing) until the timer's bit shows. */
	uint64_t end = now_ns() + 1000 * MS;
	uint32_t p = 0;
	while (!(p & 1) && now_ns() < end)
		p = hc_event_ack(0);
	check_eq("masked-timer-pending", p & 1, 1);
	check_eq("masked-not-delivered", ev.count, 0);
	check_eq("masked-still-pending", shared->event_pending & 1, 1);
	unmask();
	check_eq("unmask-poll-delivers", ev.count, 1);
	check_eq("unmask-poll-acked", shared->event_pending & 1, 0);

	/* Masked again; an IRET whose EFLAGS has IF set unmasks and delivers at once. */
	ev.count = 0;
	shared->event_mask = 1;
	hc_set_timer(now_ns() + 2 * MS);
	end = now_ns() + 1000 * MS;
	p = 0;
	while (!(p & 1) && now_ns() < end)
		p = hc_event_ack(0);
	check_eq("masked-timer-pending-2", p & 1, 1);
	int before;
	__asm__ volatile("pushfl\n\torl $0x200, (%%esp)\n\tpushl $0x08\n\tpushl $1f\n\tiret\n1:\n\t"
			 "movl %1, %0" : "=r"(before) : "m"(ev.count) : "memory");
	check_eq("iret-unmask-delivers-at-once", before, 1);
	check_eq("iret-unmask-mask-0", shared->event_mask, 0);
}

static void test_if_bit(void)
{
	shared->event_mask = 0;
	__asm__ volatile("cli");
	check_eq("cli-clears-if", read_eflags() & EFL_IF, 0);
	check_eq("cli-leaves-mask", shared->event_mask, 0);
	__asm__ volatile("sti");
	check_eq("sti-sets-if", read_eflags() & EFL_IF, EFL_IF);
	check_eq("sti-leaves-mask", shared->event_mask, 0);
	write_eflags(read_eflags() & ~EFL_IF);
	check_eq("popf-clears-if", read_eflags() & EFL_IF, 0);
	write_eflags(read_eflags() | EFL_IF);
	check_eq("popf-sets-if", read_eflags() & EFL_IF, EFL_IF);
	check_eq("popf-leaves-mask", shared->event_mask, 0);
	shared->event_mask = 1;
	__asm__ volatile("sti");
	check_eq("sti-does-not-unmask", shared->event_mask, 1);
	write_eflags(read_eflags() | EFL_IF);
	check_eq("popf-does-not-unmask", shared->event_mask, 1);

	/* IF = 0 masks nothing: the event comes, its frame saying IF = !event_mask = 1. */
	ev.count = 0;
	shared->event_mask = 0;
	__asm__ volatile("cli");
	hc_set_timer(now_ns() + 2 * MS);
	int n = poll_until(1, 1000);
	check_eq("cli-masks-nothing", n, 1);
	check_eq("cli-event-frame-if", ev.eflags & EFL_IF, EFL_IF);
}

void test_main(void)
{
	trap_set_hook(PARA_EVENT_VECTOR + PARA_EVENT_TIMER, timer_hook);
	test_boot_state();
	test_timer();
	test_cancel();
	test_idle();
	test_masked();
	test_if_bit();
	shared->event_mask = 1;
	hc_set_timer(0);
}
