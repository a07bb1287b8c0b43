/*
 * main.c - the command line: trapeze run [options] KERNEL.
 *
 * Exit status: the guest's debug-exit status ((v << 1) | 1, odd); 0 when the guest
 * powers off or resets; 2 for bad input; 4 when the guest dies (triple fault, HLT
 * with nothing to wake it); 6 for a monitor error (unsupported or internal).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bzimage.h"
#include "console.h"
#include "cpu.h"
#include "gdbstub.h"
#include "loader.h"
#include "multiboot.h"
#include "para.h"
#include "aspaces.h"
#include "seccomp.h"
#include "../shadowmmu/mmu.h"
#include "sharedmem.h"
#include "vm.h"
#include "../devices/blockdev.h"
#include "../devices/netdev.h"
#include "../shadowmmu/mem.h"

#define EXIT_USAGE 2
#define EXIT_HELP -1     /* parse_args: --help was answered, exit 0 */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: trapeze run [--mem SIZE] [--append STR] [--initrd FILE] [--serial stdio|FILE]\n"
		"                   [--disk FILE[,ro][,if=virtio]]... [--net SPEC[,model=virtio]] [--rng]\n"
		"                   [--gdb PORT [--gdb-wait]] [--stats] [--trace] KERNEL\n"
		"  KERNEL        a multiboot (v1) kernel or a Linux bzImage\n"
		"  --initrd FILE initial ramdisk for a Linux kernel\n"
		"  --mem SIZE    guest RAM, e.g. 64M or 1G (default 128M, %lluM..%lluM)\n"
		"  --append STR  kernel command line\n"
		"  --serial DEST COM1 output: stdio (default) or a file\n"
		"  --disk FILE[,ro][,if=virtio]  a raw disk image: the primary ATA disk of a PC\n"
		"                guest, the block device of a para-x86 guest; ,ro refuses writes;\n"
		"                ,if=virtio makes it a virtio-blk PCI disk instead (repeatable:\n"
		"                up to 8, vda, vdb, ... in order)\n"
		"  --net SPEC[,model=virtio]  a network device: an NE2000 for a PC guest, or with\n"
		"                ,model=virtio a virtio-net PCI card; para-x86's network device.\n"
		"                SPEC is one of:\n"
		"  udp:LPORT:RPORT  frames are UDP datagrams from 127.0.0.1:LPORT to\n"
		"                127.0.0.1:RPORT (QEMU's -netdev socket,udp=)\n"
		"  user[,hostfwd=tcp:127.0.0.1:HOSTPORT-:GUESTPORT]...  user-mode networking\n"
		"                (libslirp, QEMU's -netdev user): the guest gets 10.0.2.15 by DHCP,\n"
		"                reaches the host's loopback at 10.0.2.2 and DNS at 10.0.2.3;\n"
		"                each hostfwd forwards a port of the host's loopback to the guest\n"
		"  --rng         a virtio entropy device (virtio-rng PCI) fed by the host\n"
		"  --gdb PORT    a GDB remote stub on 127.0.0.1:PORT (target remote :PORT); a\n"
		"                debugger that connects stops the guest\n"
		"  --gdb-wait    hold the guest before its first instruction until gdb continues\n"
		"  --stats       print monitor statistics at exit\n"
		"  --trace       log translations, callouts, exceptions and faults to stderr\n"
		"  --perf-map    write /tmp/perf-PID.map, so that perf names translated code by\n"
		"                the guest EIP it came from\n"
		"  --cache-size SIZE  limit the code cache (default and maximum 6M)\n"
		"  --aspaces N        host processes keeping guest address spaces' mappings\n"
		"                     (1..8, default 4; 1: one process)\n",
		(unsigned long long)(MEM_MIN >> 20), (unsigned long long)(MEM_MAX >> 20));
}

/* "128M", "1G", "65536K", or bytes. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	int shift = 20;         /* bare numbers are MiB, as in QEMU's -m */
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case '\0': break;
	default: return -1;
	}
	if (*end || v > (1ull << (64 - shift)) - 1)
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/* A Linux bzImage (by its setup header) or else a multiboot kernel. */
static int load_kernel(struct vm *vm, const char *path, const char *append, const char *initrd,
		       char *err, size_t n)
{
	size_t size;
	uint8_t *img = load_file("kernel", path, &size, err, n);
	if (!img)
		return -1;
	int r;
	if (bz_probe(img, size))
		r = bz_load(vm, img, size, append, initrd, err, n);
	else if (initrd)
		r = load_fail(err, n, "--initrd is for Linux kernels; %s is not one", path);
	else
		r = mb_load(vm, path, img, size, append, err, n);
	uint32_t version;
	if (r == 0 && !bz_probe(img, size) && para_image(img, size, &version))
		r = para_boot(vm, version, append, err, n);
	free(img);
	return r;
}

/* Strip the option ",opt" from the end of arg: was it there? */
static bool strip_suffix(char *arg, const char *opt)
{
	size_t n = strlen(arg), m = strlen(opt);
	if (n <= m + 1 || arg[n - m - 1] != ',' || strcmp(arg + n - m, opt))
		return false;
	arg[n - m - 1] = 0;
	return true;
}

/* --disk FILE[,ro][,if=ide|virtio]: the image opened into cfg->disk (the ATA disk or
 * para-x86's, one) or cfg->vdisk (virtio, up to VM_MAX_VDISKS); -1 with a message if
 * it cannot be. Options come after the name, in any order. */
static int open_disk(char *arg, struct config *cfg)
{
	bool ro = false, virtio = false;
	for (bool more = true; more;) {
		more = false;
		if (strip_suffix(arg, "ro"))
			ro = more = true;
		if (strip_suffix(arg, "if=virtio"))
			virtio = more = true;
		if (strip_suffix(arg, "if=ide"))
			more = true;
	}
	if (virtio ? cfg->nvdisks == VM_MAX_VDISKS : cfg->disk != NULL) {
		fprintf(stderr, virtio ? "trapeze: --disk %s: at most %d virtio disks\n"
			: "trapeze: --disk %s: one ATA disk only (add ,if=virtio for more)\n", arg,
			VM_MAX_VDISKS);
		return -1;
	}
	struct blockdev *d = blockdev_open(arg, ro);
	if (!d) {
		fprintf(stderr, "trapeze: --disk %s: %s\n", arg, errno == EINVAL ?
			"not a raw image (a regular file of whole 512-byte sectors)" : strerror(errno));
		return -1;
	}
	if (virtio)
		cfg->vdisk[cfg->nvdisks++] = d;
	else
		cfg->disk = d;
	return 0;
}

/* Fill cfg and o from the command line; 0, or the exit status to end with. */
/* What main() does besides the VM's configuration. */
struct run_opts {
	const char *initrd;
	int gdb_port;           /* -1: no stub */
	bool gdb_wait;
	int aspaces;            /* host processes for guest address spaces (aspaces.h) */
};

static int parse_args(int argc, char **argv, struct config *cfg, struct run_opts *o)
{
	static const struct option opts[] = {
		{ "mem", required_argument, 0, 'm' },
		{ "append", required_argument, 0, 'a' },
		{ "initrd", required_argument, 0, 'i' },
		{ "serial", required_argument, 0, 's' },
		{ "stats", no_argument, 0, 'S' },
		{ "trace", no_argument, 0, 't' },
		{ "perf-map", no_argument, 0, 'P' },
		{ "cache-size", required_argument, 0, 'c' },
		{ "aspaces", required_argument, 0, 'A' },
		{ "disk", required_argument, 0, 'd' },
		{ "net", required_argument, 0, 'n' },
		{ "rng", no_argument, 0, 'r' },
		{ "gdb", required_argument, 0, 'g' },
		{ "gdb-wait", no_argument, 0, 'W' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			if (parse_size(optarg, &cfg->mem_size) < 0) {
				fprintf(stderr, "trapeze: --mem %s: not a size (try 64M or 1G)\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'A': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || end == optarg || v < 1 || v > MMU_SLOTS) {
				fprintf(stderr, "trapeze: --aspaces %s: want 1..%d\n", optarg, MMU_SLOTS);
				return EXIT_USAGE;
			}
			o->aspaces = (int)v;
			break;
		}
		case 'c': {
			uint64_t v;
			if (parse_size(optarg, &v) < 0 || v < (16 << 10) || v > (1u << 30)) {
				fprintf(stderr, "trapeze: --cache-size %s: want 16K..6M\n", optarg);
				return EXIT_USAGE;
			}
			cfg->cache_size = (uint32_t)v;
			break;
		}
		case 'd':
			if (open_disk(optarg, cfg) < 0)
				return EXIT_USAGE;
			break;
		case 'n': {
			char err[256];
			cfg->net_virtio = strip_suffix(optarg, "model=virtio");
			if (cfg->net || !(cfg->net = netdev_open(optarg, err, sizeof(err)))) {
				fprintf(stderr, "trapeze: %s\n", cfg->net ? "one --net only" : err);
				return EXIT_USAGE;
			}
			break;
		}
		case 'a': cfg->append = optarg; break;
		case 'g': {
			char *end;
			long port = strtol(optarg, &end, 10);
			if (*end || end == optarg || port < 1 || port > 65535) {
				fprintf(stderr, "trapeze: --gdb %s: want a TCP port, 1..65535\n", optarg);
				return EXIT_USAGE;
			}
			o->gdb_port = (int)port;
			break;
		}
		case 'W': o->gdb_wait = true; break;
		case 'i': o->initrd = optarg; break;
		case 's': cfg->serial = optarg; break;
		case 'S': cfg->stats = true; break;
		case 'r': cfg->rng = true; break;
		case 't': cfg->trace = true; break;
		case 'P': cfg->perf_map = true; break;
		case 'h': usage(stdout); return EXIT_HELP;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cfg->kernel = argv[optind];
	if (o->gdb_wait && o->gdb_port < 0) {
		fprintf(stderr, "trapeze: --gdb-wait needs --gdb PORT\n");
		return EXIT_USAGE;
	}
	if (cfg->mem_size < MEM_MIN || cfg->mem_size > MEM_MAX || (cfg->mem_size & 0xfff)) {
		fprintf(stderr, "trapeze: --mem must be a multiple of 4K between %lluM and %lluM\n",
			(unsigned long long)(MEM_MIN >> 20), (unsigned long long)(MEM_MAX >> 20));
		return EXIT_USAGE;
	}
	struct stat st;
	if (stat(cfg->kernel, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "trapeze: %s: %s\n", cfg->kernel,
			errno ? strerror(errno) : "not a regular file");
		return EXIT_USAGE;
	}
	return 0;
}

/* Why the guest stopped, unless it ended as it meant to; its registers if it died. */
static void report_stop(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	if (vm->stop != STOP_DEBUG_EXIT && vm->stop != STOP_POWEROFF)
		fprintf(stderr, "trapeze: %s\n", vm->stop_msg);
	if (vm->stop == STOP_TRIPLE_FAULT || vm->stop == STOP_GUEST_DEAD || vm->stop == STOP_MONITOR_ERROR) {
		const uint32_t *g = c->sh->regs;
		fprintf(stderr,
			"trapeze: guest eax=%08x ecx=%08x edx=%08x ebx=%08x esp=%08x ebp=%08x esi=%08x edi=%08x\n"
			"trapeze:       eip=%08x eflags=%08x cs=%04x ss=%04x ds=%04x cr0=%08x\n",
			g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], c->sh->eip, cpu_eflags(c),
			c->seg[SR_CS].sel, c->seg[SR_SS].sel, c->seg[SR_DS].sel, c->cr0);
	}
}

/*
 * glibc registers a restartable-sequences area for each thread (its sched_getcpu reads
 * the CPU there), and the kernel then updates it on each return to user space after a
 * preemption, a migration or a signal: every vCPU hand-over between the VM's processes
 * and every host fault paid for it (nano ctxsw ~6,300 -> ~6,000 cycles without it, AMD
 * EPYC Zen 5). Nothing in trapeze uses it: unregistered, and marked as a failed
 * registration, on which sched_getcpu asks the vDSO (glibc's own fallback). The
 * address-space processes inherit the state (a clone without CLONE_VM).
 */
static void rseq_off(void)
{
	if (__rseq_size == 0)
		return;
	struct rseq *r = (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
	/* Registered with at least the original 32-byte area; unregistering names the
	 * same length. */
	unsigned len = __rseq_size < 32 ? 32 : __rseq_size;
	if (syscall(SYS_rseq, r, len, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) == 0)
		r->cpu_id = (uint32_t)RSEQ_CPU_ID_REGISTRATION_FAILED;
}

int main(int argc, char **argv)
{
	struct config cfg = { .serial = "stdio", .mem_size = 128ull << 20, .append = "" };
	struct run_opts o = { .gdb_port = -1, .aspaces = ASPACES_DEFAULT };
	rseq_off();
	int shared = shared_memory_init();
	if (shared < 0) {
		fprintf(stderr, "trapeze: cannot share the monitor's memory between its processes: %s\n",
			strerror(-shared));
		return 6;
	}

	if (argc < 2 || strcmp(argv[1], "run") != 0) {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			usage(stdout);
			return 0;
		}
		usage(stderr);
		return EXIT_USAGE;
	}
	int bad = parse_args(argc - 1, argv + 1, &cfg, &o);
	if (bad)
		return bad == EXIT_HELP ? 0 : bad;

	static struct vm vm;
	if (vm_create(&vm, &cfg) < 0)
		return 6;
	char err[512];
	int loaded = load_kernel(&vm, cfg.kernel, cfg.append, o.initrd, err, sizeof(err));
	if (loaded < 0) {
		fprintf(stderr, "trapeze: %s\n", err);
		vm_destroy(&vm);
		return EXIT_USAGE;
	}
	if (o.gdb_port >= 0) {
		int g = gdb_open(&vm, (uint16_t)o.gdb_port, o.gdb_wait);
		if (g < 0) {
			fprintf(stderr, "trapeze: --gdb %d: cannot listen on 127.0.0.1:%d: %s\n",
				o.gdb_port, o.gdb_port, strerror(-g));
			vm_destroy(&vm);
			return EXIT_USAGE;
		}
	}
	if (strcmp(cfg.serial, "stdio") == 0)
		console_init(&vm);
	/* The other processes return from aspaces_start when they first run the guest. */
	int r = aspaces_start(&vm, o.aspaces, cfg.net && netdev_opens_sockets(cfg.net),
			      o.gdb_port >= 0);
	if (r < 0) {
		fprintf(stderr, "trapeze: cannot install the seccomp sandbox (or start the VM's processes): %s\n",
			strerror(-r));
		vm_destroy(&vm);
		return 6;
	}
	cpu_run(&vm);
	aspaces_stop(&vm);
	gdb_close(&vm);
	report_stop(&vm);
	if (cfg.stats)
		vm_print_stats(&vm);
	fflush(stdout);
	int status = vm.exit_status;
	vm_destroy(&vm);
	return status;
}
