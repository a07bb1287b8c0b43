/*
 * syscall.c - the system calls: INT 0x80 with the number in EAX and the arguments
 * in EBX, ECX, EDX (syscall.h); the result goes back in EAX. User pointers are
 * checked (and paged in) with vm_user_ok() before the kernel touches them.
 */
#include "defs.h"

static struct fd *fd_get(int fd, int kind)
{
	if (fd < 0 || fd >= NOFILE || curproc->fd[fd].kind != kind)
		return 0;
	return &curproc->fd[fd];
}

static int fd_new(void)
{
	for (int i = 0; i < NOFILE; i++)
		if (curproc->fd[i].kind == FD_NONE)
			return i;
	return -1;
}

static int sys_write(int fd, uint32_t buf, int n)
{
	if (n < 0 || !vm_user_ok(buf, n, 0))
		return -1;
	if (fd_get(fd, FD_CONSOLE)) {
		hal_console_write((const char *)buf, n);
		return n;
	}
	struct fd *f = fd_get(fd, FD_PIPE_W);
	return f ? pipe_write(f->pipe, (const uint8_t *)buf, n) : -1;
}

static int sys_read(int fd, uint32_t buf, int n)
{
	struct fd *f = fd_get(fd, FD_PIPE_R);
	if (!f || n < 0 || !vm_user_ok(buf, n, 1))
		return -1;
	return pipe_read(f->pipe, (uint8_t *)buf, n);
}

static int sys_pipe(uint32_t ufd)
{
	struct pipe *p;
	if (!vm_user_ok(ufd, 8, 1))
		return -1;
	int r = fd_new();
	if (r < 0)
		return -1;
	curproc->fd[r].kind = FD_PIPE_R;        /* reserve it for the second search */
	int w = fd_new();
	curproc->fd[r].kind = FD_NONE;
	if (w < 0 || pipe_alloc(&p) < 0)
		return -1;
	curproc->fd[r] = (struct fd){ FD_PIPE_R, p };
	curproc->fd[w] = (struct fd){ FD_PIPE_W, p };
	((int *)ufd)[0] = r;
	((int *)ufd)[1] = w;
	return 0;
}

static int sys_close(int fd)
{
	if (fd < 0 || fd >= NOFILE || curproc->fd[fd].kind == FD_NONE)
		return -1;
	struct fd *f = &curproc->fd[fd];
	if (f->kind == FD_PIPE_R || f->kind == FD_PIPE_W)
		pipe_close(f->pipe, f->kind == FD_PIPE_W);
	f->kind = FD_NONE;
	return 0;
}

static int sys_wait(uint32_t ustatus)
{
	int status;
	if (ustatus && !vm_user_ok(ustatus, 4, 1))
		return -1;
	int pid = proc_wait(&status);
	if (pid > 0 && ustatus)
		*(int *)ustatus = status;
	return pid;
}

static int sys_sbrk(int n)
{
	uint32_t old = curproc->brk;
	if (n < 0 || curproc->brk + n > USTACK_TOP - USTACK_MAX)
		return -1;
	curproc->brk += n;
	return old;
}

/* The disk's blocks go through a kernel buffer (contiguous physical pages, as the
 * HALs want), then to the user's. */
static int sys_diskread(uint32_t block, int n, uint32_t ubuf)
{
	static uint8_t bounce[HAL_DISK_BATCH][PGSIZE] __attribute__((aligned(PGSIZE)));
	if (n <= 0 || n > HAL_DISK_BATCH || !vm_user_ok(ubuf, n * PGSIZE, 1))
		return -1;
	if (hal_disk_read(block, bounce, n) < 0)
		return -1;
	memcpy((void *)ubuf, bounce, n * PGSIZE);
	return 0;
}

/* The network calls hand the user's buffer to the HAL directly: the kernel runs in
 * the process's address space, and vm_user_ok has paged the buffer in. */
static int sys_netmac(uint32_t umac)
{
	uint8_t mac[6];
	if (!hal_net_present() || !vm_user_ok(umac, 6, 1))
		return -1;
	hal_net_mac(mac);
	memcpy((void *)umac, mac, 6);
	return 0;
}

static int sys_netsend(uint32_t buf, uint32_t len)
{
	if (len > HAL_NET_FRAME || !vm_user_ok(buf, len, 0))
		return -1;
	return hal_net_send((const void *)buf, len);
}

static int sys_netrecv(uint32_t buf, uint32_t cap, uint32_t ms)
{
	if (cap > HAL_NET_FRAME || !vm_user_ok(buf, cap, 1))
		return -1;
	return hal_net_recv((void *)buf, cap, ms);
}

void syscall(struct trapframe *tf)
{
	uint32_t a = tf->ebx, b = tf->ecx, c = tf->edx;
	int r = -1;
	switch (tf->eax) {
	case SYS_exit: proc_exit(a);
	case SYS_write: r = sys_write(a, b, c); break;
	case SYS_read: r = sys_read(a, b, c); break;
	case SYS_getpid: r = curproc->pid; break;
	case SYS_yield: yield(); r = 0; break;
	case SYS_spawn: r = proc_spawn(a, b, c); break;
	case SYS_wait: r = sys_wait(a); break;
	case SYS_pipe: r = sys_pipe(a); break;
	case SYS_close: r = sys_close(a); break;
	case SYS_sbrk: r = sys_sbrk(a); break;
	case SYS_mprotect: r = vm_protect(a, b); break;
	case SYS_time: {
		uint64_t t = hal_time_ns();
		tf->edx = t >> 32;
		r = (uint32_t)t;
		break;
	}
	case SYS_ticks: r = ticks; break;
	case SYS_sleep: r = proc_sleep_ticks(a); break;
	case SYS_populate: r = vm_populate(a, b); break;
	case SYS_diskblocks: r = hal_disk_blocks(); break;
	case SYS_diskread: r = sys_diskread(a, b, c); break;
	case SYS_netmac: r = sys_netmac(a); break;
	case SYS_netsend: r = sys_netsend(a, b); break;
	case SYS_netrecv: r = sys_netrecv(a, b, c); break;
	}
	tf->eax = r;
}
