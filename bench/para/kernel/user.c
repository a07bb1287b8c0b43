/*
 * user.c - the user programs: the workloads that compare the two builds. Linked
 * into the image's .user section (the linker scripts), mapped user-accessible and
 * read-only into every process: so this file has no data or bss of its own, calls
 * nothing of the kernel's (it is compiled with -fno-builtin) and keeps its state on
 * its stack and heap.
 *
 * Every workload prints `MINIK <name> <value> <unit>` (timing: RDTSC cycles per
 * operation, or ns from the time call) and `CHECK <name> <hex>` (the same on every
 * machine and build for a given size); init prints MINIK-DONE and exits with 0.
 * A process starts at ustart with EAX = the function, EBX = its argument; the
 * function's return value is its exit status.
 */
#include <stdint.h>
#include "syscall.h"

#define PG 4096u

/* ---- system calls ---- */
static inline int sys3(int nr, uint32_t a, uint32_t b, uint32_t c)
{
	int r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return r;
}
#define sys(nr, ...) sys3_(nr, ##__VA_ARGS__, 0, 0, 0)
#define sys3_(nr, a, b, c, ...) sys3(nr, (uint32_t)(a), (uint32_t)(b), (uint32_t)(c))

static inline uint64_t time_ns(void)
{
	uint32_t lo, hi;
	__asm__ volatile("int $0x80" : "=a"(lo), "=d"(hi) : "a"(SYS_time) : "memory");
	return (uint64_t)hi << 32 | lo;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static int spawn(int (*fn)(uint32_t), uint32_t arg);

__asm__(".text\n"
	".globl ustart\n"
	"ustart:\n\t"
	"push %ebx\n\t"
	"call *%eax\n\t"
	"mov %eax, %ebx\n\t"
	"mov $1, %eax\n\t"             /* SYS_exit */
	"int $0x80\n"
	"1:\tjmp 1b\n");
extern char ustart[];

static int spawn(int (*fn)(uint32_t), uint32_t arg)
{
	return sys(SYS_spawn, ustart, fn, arg);
}

/* ---- output ---- */
static uint64_t udiv(uint64_t n, uint64_t d)
{
	uint64_t q = 0, r = 0;
	for (int i = 63; i >= 0; i--) {
		r = r << 1 | (n >> i & 1);
		if (r >= d) {
			r -= d;
			q |= 1ull << i;
		}
	}
	return q;
}

struct out { char b[128]; int n; };

static void put_s(struct out *o, const char *s)
{
	while (*s && o->n < (int)sizeof(o->b))
		o->b[o->n++] = *s++;
}

static void put_u(struct out *o, uint64_t v, int base)
{
	char t[24];
	int i = 0;
	do {
		uint64_t q = udiv(v, base);
		t[i++] = "0123456789abcdef"[v - q * base];
		v = q;
	} while (v);
	while (i && o->n < (int)sizeof(o->b))
		o->b[o->n++] = t[--i];
}

static void flush(struct out *o)
{
	sys(SYS_write, 1, o->b, o->n);
	o->n = 0;
}

/* MINIK name total/n (one decimal) unit, then CHECK name sum. */
static void report(const char *name, uint64_t total, uint64_t n, const char *unit, uint32_t sum)
{
	struct out o;
	o.n = 0;
	uint64_t tenths = udiv(total * 10 + n / 2, n);
	put_s(&o, "MINIK "); put_s(&o, name); put_s(&o, " ");
	put_u(&o, udiv(tenths, 10), 10); put_s(&o, ".");
	put_u(&o, tenths - udiv(tenths, 10) * 10, 10);
	put_s(&o, " "); put_s(&o, unit); put_s(&o, "\n");
	put_s(&o, "CHECK "); put_s(&o, name); put_s(&o, " ");
	put_u(&o, sum, 16); put_s(&o, "\n");
	flush(&o);
}

static uint32_t mix(uint32_t h, uint32_t v)
{
	h ^= v;
	h *= 0x01000193u;       /* FNV-1a's prime */
	return h ^ h >> 15;
}

/* ---- the workloads; n is the size ---- */
static void w_syscall(uint32_t n)
{
	uint32_t sum = 0;
	uint64_t t = rdtsc();
	for (uint32_t i = 0; i < n; i++)
		sum += sys(SYS_getpid);
	report("syscall", rdtsc() - t, n, "cycles/op", mix(mix(0, sum), n));
}

/* Touches n fresh heap pages (a #PF each), then maps n more with one populate call;
 * in a child, so that wait gives the pages back. */
static int pgfault_child(uint32_t n)
{
	volatile uint32_t *heap = (uint32_t *)sys(SYS_sbrk, n * PG);
	uint64_t t = rdtsc();
	for (uint32_t i = 0; i < n; i++)
		heap[i * (PG / 4)] = i * 2654435761u;
	t = rdtsc() - t;
	uint32_t sum = 0;
	for (uint32_t i = 0; i < n; i++)
		sum = mix(sum, heap[i * (PG / 4)] + heap[i * (PG / 4) + 1]);
	report("pgfault", t, n, "cycles/page", sum);

	/* The same number of pages again, mapped by one call (the HAL's batches) and then
	 * written, as a program would: the cost of mapping a page is paid either at the
	 * call or at the first touch, depending on the machine. */
	heap = (uint32_t *)sys(SYS_sbrk, n * PG);
	t = rdtsc();
	int r = sys(SYS_populate, heap, n);
	for (uint32_t i = 0; i < n; i++)
		heap[i * (PG / 4)] = i * 2654435761u;
	t = rdtsc() - t;
	sum = r;
	for (uint32_t i = 0; i < n; i++)
		sum = mix(sum, heap[i * (PG / 4)] + heap[i * (PG / 4) + 1]);
	report("populate", t, n, "cycles/page", sum);
	return 0;
}

static int ptemod_child(uint32_t n)
{
	volatile uint32_t *page = (uint32_t *)sys(SYS_sbrk, PG);
	uint32_t sum = 0;
	page[0] = 1;
	uint64_t t = rdtsc();
	for (uint32_t i = 0; i < n; i++) {
		sum += sys(SYS_mprotect, page, 0);
		sum += sys(SYS_mprotect, page, 1);
		page[i & 1023] += i;
	}
	t = rdtsc() - t;
	for (uint32_t i = 0; i < 1024; i++)
		sum = mix(sum, page[i]);
	report("ptemod", t, 2 * n, "cycles/op", sum);
	return 0;
}

/* Echoes bytes from fd arg & 0xff to fd arg >> 8, plus one, until a 0 byte. */
static int echo_child(uint32_t arg)
{
	int in = arg & 0xff, out = arg >> 8 & 0xff, len = arg >> 16;
	uint8_t buf[64];
	for (;;) {
		int got = 0;
		while (got < len) {
			int r = sys(SYS_read, in, buf + got, len - got);
			if (r <= 0)
				return 1;
			got += r;
		}
		if (buf[0] == 0)
			return 0;
		for (int i = 0; i < len; i++)
			buf[i]++;
		sys(SYS_write, out, buf, len);
	}
}

/* Round trips of len bytes through two pipes and an echoing child: the cycles and
 * ns it took, the checksum of what came back. */
static uint32_t pingpong(uint32_t n, int len, uint64_t *cycles, uint64_t *ns)
{
	int to[2], from[2], status;
	uint8_t buf[64];
	uint32_t sum = 0;
	sys(SYS_pipe, to);
	sys(SYS_pipe, from);
	int pid = spawn(echo_child, to[0] | from[1] << 8 | len << 16);
	uint64_t t0 = time_ns(), c0 = rdtsc();
	for (uint32_t i = 0; i < n; i++) {
		for (int j = 0; j < len; j++)
			buf[j] = 1 + (i + j) % 200;
		sys(SYS_write, to[1], buf, len);
		int got = 0;
		while (got < len)
			got += sys(SYS_read, from[0], buf + got, len - got);
		for (int j = 0; j < len; j++)
			sum = mix(sum, buf[j]);
	}
	*cycles = rdtsc() - c0;
	*ns = time_ns() - t0;
	buf[0] = 0;
	sys(SYS_write, to[1], buf, len);
	int w = sys(SYS_wait, &status);
	for (int fd = 0; fd < 2; fd++) {
		sys(SYS_close, to[fd]);
		sys(SYS_close, from[fd]);
	}
	return mix(sum, (w == pid) + status);
}

static void w_ctxsw(uint32_t n)
{
	uint64_t c, ns;
	uint32_t sum = pingpong(n, 1, &c, &ns);
	report("ctxsw", c, 2 * n, "cycles/switch", sum);
}

static void w_pipe(uint32_t n)
{
	uint64_t c, ns;
	uint32_t sum = pingpong(n, 64, &c, &ns);
	report("pipe", ns, 1, "ns", sum);
}

/* Timer interrupts per second, counted by the kernel while this spins for ms. */
/* What a timer interrupt costs the guest: a loop reads the TSC for ms milliseconds, and
 * a gap of more than 5000 cycles between two reads is time taken from it (the tick: its
 * delivery, the handler, the scheduler's look, the return; and whatever the host took).
 * The loop checks the clock every 4096 reads, by a system call whose own time is not
 * counted. Cycles per tick; CHECK: that ticks came. */
static void w_timer(uint32_t ms)
{
	uint64_t t0 = time_ns(), stolen = 0, prev = rdtsc();
	uint32_t k0 = sys(SYS_ticks);
	for (uint32_t n = 1;; n++) {
		uint64_t now = rdtsc();
		if (now - prev > 5000)
			stolen += now - prev;
		prev = now;
		if (n % 4096 == 0) {
			if (time_ns() - t0 >= ms * 1000000ull)
				break;
			prev = rdtsc();
		}
	}
	uint32_t k = sys(SYS_ticks) - k0;
	report("timer", stolen, k ? k : 1, "cycles/tick", k > 0);
}

static void w_console(uint32_t n)
{
	char line[64];
	uint32_t sum = 0;
	for (int i = 0; i < 64; i++)
		line[i] = "console-line-of-minik-"[i % 22];
	line[62] = '\r';
	line[63] = '\n';
	uint64_t t = rdtsc();
	for (uint32_t i = 0; i < n; i++) {
		line[0] = '0' + i % 10;
		sum += sys(SYS_write, 1, line, 63);     /* up to '\r': overwrites itself */
	}
	t = rdtsc() - t;
	sys(SYS_write, 1, line + 63, 1);
	report("console", t, n, "cycles/write", mix(mix(0, sum), n));
}

static int exit_child(uint32_t arg)
{
	return arg * 7 & 0xff;
}

static void w_spawn(uint32_t n)
{
	uint32_t sum = 0;
	int status;
	uint64_t t = time_ns();
	for (uint32_t i = 0; i < n; i++) {
		int pid = spawn(exit_child, i);
		int w = sys(SYS_wait, &status);
		sum = mix(sum, (uint32_t)status + (w == pid));
	}
	report("spawn", time_ns() - t, n, "ns/process", sum);
}

/* xorshift32 for n rounds from seed: the exit status is the checksum. */
static int compute_child(uint32_t n)
{
	uint32_t x = 2463534242u ^ (n & 1), acc = 0;
	for (uint32_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		acc += x >> (i & 7);
	}
	return mix(acc, x);
}

/* Two CPU-bound processes at once, sharing the CPU by the timer's preemption:
 * the total ns until both are reaped. */
static void w_compute(uint32_t n)
{
	uint32_t sum = 0;
	int status;
	uint64_t t = time_ns();
	spawn(compute_child, n / 2);
	spawn(compute_child, n / 2 + 1);
	for (int k = 0; k < 2; k++) {
		sys(SYS_wait, &status);
		sum += status;          /* in either order */
	}
	report("compute", time_ns() - t, 1, "ns", sum);
}

/* Reads blocks [0, nb) of the disk, nb = its size up to 64 blocks in fours, 4 at a
 * time, passes times over: cycles per 4 KiB block (the system call, the device and
 * the copy to the user's buffer, whose pages are present first); the checksum of
 * every word read. Without a disk: "-" and CHECK 0, on every machine. */
static int blkread_child(uint32_t passes)
{
	uint32_t nb = sys(SYS_diskblocks);
	nb = (nb > 64 ? 64 : nb) & ~3u;
	if (!nb) {
		struct out o;
		o.n = 0;
		put_s(&o, "MINIK blkread - cycles/block\nCHECK blkread 0\n");
		flush(&o);
		return 0;
	}
	volatile uint32_t *buf = (uint32_t *)sys(SYS_sbrk, 4 * PG);
	for (uint32_t i = 0; i < 4; i++)
		buf[i * (PG / 4)] = 0;
	uint32_t sum = 0, errors = 0;
	uint64_t t = 0;
	for (uint32_t p = 0; p < passes; p++) {
		for (uint32_t b = 0; b < nb; b += 4) {
			uint64_t t0 = rdtsc();
			errors += sys(SYS_diskread, b, 4, buf) != 0;
			t += rdtsc() - t0;
			for (uint32_t i = 0; i < 4 * PG / 4; i++)
				sum = mix(sum, buf[i]);
		}
	}
	report("blkread", t, passes * nb, "cycles/block", mix(sum, errors));
	return 0;
}

/* n round trips of a 64-byte frame to the echo peer at 02:00:00:00:00:01, which sends
 * it back with the addresses swapped (bench/para.sh, run-minik.sh): send, then wait
 * (1 s at most) for the echo, two system calls, made here so that every machine pays
 * the same ones. Frame i carries type 0x88b5 and bytes that vary with i; an echo must
 * come to our address from the peer's with the same 50 bytes after the addresses
 * (another frame is skipped, up to 3 of them). Cycles per round trip; the checksum of every payload received and of the misses.
 * Without a network card: "-" and CHECK 0, on every machine. */
#define NET_LEN 64
static int netrtt_child(uint32_t n)
{
	static const uint8_t peer[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	uint8_t mac[6], f[NET_LEN], e[NET_LEN + 64];
	if (sys(SYS_netmac, mac) < 0) {
		struct out o;
		o.n = 0;
		put_s(&o, "MINIK netrtt - cycles/rtt\nCHECK netrtt 0\n");
		flush(&o);
		return 0;
	}
	uint32_t sum = 0, bad = 0;
	uint64_t t = rdtsc();
	for (uint32_t i = 0; i < n; i++) {
		for (int j = 0; j < 6; j++) {
			f[j] = peer[j];
			f[6 + j] = mac[j];
		}
		f[12] = 0x88;
		f[13] = 0xb5;
		for (int j = 14; j < NET_LEN; j++)
			f[j] = (uint8_t)(i * 7 + j * 13 + (i >> 8));
		int ok = 0, sent = sys(SYS_netsend, f, NET_LEN) == 0;
		for (int k = 0; sent && k < 4 && !ok; k++) {   /* a late echo of a missed one: skipped */
			int len = sys(SYS_netrecv, e, sizeof(e), 1000);
			if (len <= 0)
				break;
			ok = len == NET_LEN;
			for (int j = 0; j < 6 && ok; j++)
				ok = e[j] == mac[j] && e[6 + j] == peer[j];
			for (int j = 12; j < NET_LEN && ok; j++)
				ok = e[j] == f[j];
		}
		if (!ok) {
			bad++;
			continue;
		}
		for (int j = 12; j < NET_LEN; j++)
			sum = mix(sum, e[j]);
	}
	t = rdtsc() - t;
	report("netrtt", t, n, "cycles/rtt", mix(sum, bad));
	return 0;
}

static void run_child(int (*fn)(uint32_t), uint32_t arg)
{
	int status;
	spawn(fn, arg);
	sys(SYS_wait, &status);
}

/* Nothing to do for 2 s (ticks at 1 kHz; none with "idle0", the baseline): what an idle
 * guest costs the host is measured outside (bench/para.sh, the idle row). */
static void w_idle(uint32_t ticks)
{
	uint64_t t = time_ns();
	sys(SYS_sleep, ticks);
	t = time_ns() - t;
	struct out o;
	o.n = 0;
	put_s(&o, "MINIK idle ");
	put_u(&o, udiv(t, 1000000), 10);
	put_s(&o, " ms\nCHECK idle 0\nMINIK-DONE\n");
	flush(&o);
}

int umain(uint32_t mode)
{
	uint32_t small = mode & 1;
	if (mode & 6) {
		w_idle(mode & 2 ? 2000 : 0);
		return 0;
	}
	w_syscall(small ? 10000 : 1000000);
	run_child(pgfault_child, small ? 256 : 4096);
	run_child(ptemod_child, small ? 2000 : 100000);
	w_ctxsw(small ? 500 : 20000);
	w_timer(small ? 50 : 500);
	w_console(small ? 20 : 200);
	w_pipe(small ? 300 : 10000);
	w_spawn(small ? 30 : 1000);
	w_compute(small ? 500000 : 50000000);
	run_child(blkread_child, small ? 2 : 16);
	run_child(netrtt_child, small ? 50 : 2000);
	struct out o;
	o.n = 0;
	put_s(&o, "MINIK-DONE\n");
	flush(&o);
	return 0;
}
