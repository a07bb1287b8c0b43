/*
 * defs.h - the common kernel's declarations, one section per file. The machine is
 * behind hal.h; the user programs (user.c) see none of this.
 */
#ifndef MINIK_DEFS_H
#define MINIK_DEFS_H

#include <stddef.h>
#include <stdint.h>
#include "hal.h"
#include "syscall.h"

#define PGSIZE          4096u
#define PGROUND(a)      (((a) + PGSIZE - 1) & ~(PGSIZE - 1))
#define NPROC           16
#define NOFILE          8
#define KSTACK_SIZE     8192
#define HZ              1000

/* The user part of every address space: heap upwards from USER_HEAP, a stack of at
 * most USTACK_MAX below USTACK_TOP; the user programs' code is the image's .user
 * section, mapped user-accessible read-only at its own address. */
#define USER_HEAP       0x40000000u
#define USTACK_TOP      0x80000000u
#define USTACK_MAX      (256 * PGSIZE)

/* lib.c */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void kprintf(const char *fmt, ...);
__attribute__((noreturn)) void panic(const char *fmt, ...);
uint64_t udiv64(uint64_t n, uint64_t d);

/* kalloc.c: physical pages, by their kernel address (P2V) */
void kinit(uint32_t start, uint32_t end);
void *kalloc(void);                     /* zeroed page, or 0 */
void kfree(void *page);
uint32_t kfree_count(void);

/* vm.c */
void kvm_init(uint32_t phys_top);
uint32_t vm_create(void);               /* a new page directory with the kernel mapped */
void vm_free(uint32_t pd);              /* frees the user pages, their tables and pd */
uint32_t *vm_pte(uint32_t pd, uint32_t va, int alloc);
int vm_fault(uint32_t va, int write);   /* demand paging for the current process */
int vm_protect(uint32_t va, int writable);
int vm_user_ok(uint32_t va, uint32_t len, int write);
int vm_populate(uint32_t va, uint32_t npages);

/* proc.c */
enum procstate { UNUSED, EMBRYO, SLEEPING, RUNNABLE, RUNNING, ZOMBIE };
struct context { uint32_t edi, esi, ebx, ebp, eip; };
struct pipe;
struct fd { int kind; struct pipe *pipe; };     /* kind: FD_* */
enum { FD_NONE, FD_CONSOLE, FD_PIPE_R, FD_PIPE_W };
struct proc {
	enum procstate state;
	int pid;
	struct proc *parent;
	uint32_t pd;                    /* physical page directory */
	uint32_t brk;                   /* end of the heap */
	struct trapframe *tf;
	struct context *context;
	void *chan;                     /* sleeping on */
	uint32_t wake;                  /* SYS_sleep: the tick to wake at (0: none) */
	int status;                     /* exit status */
	struct fd fd[NOFILE];
	uint8_t *kstack;
};
extern struct proc *curproc;
extern volatile uint32_t ticks;
void proc_init(void);
int proc_spawn(uint32_t eip, uint32_t eax, uint32_t ebx);
__attribute__((noreturn)) void proc_exit(int status);
int proc_wait(int *status);
void yield(void);
void preempt(void);
void sleep(void *chan);
void wakeup(void *chan);
void proc_tick(void);
int proc_sleep_ticks(uint32_t n);
uint32_t proc_idle_ticks(void);
__attribute__((noreturn)) void scheduler(void);
void swtch(struct context **old, struct context *new);

/* pipe.c */
int pipe_alloc(struct pipe **p);
void pipe_close(struct pipe *p, int writer);
void pipe_dup(struct pipe *p, int writer);
int pipe_read(struct pipe *p, uint8_t *buf, int n);
int pipe_write(struct pipe *p, const uint8_t *buf, int n);

/* syscall.c */
void syscall(struct trapframe *tf);

#endif
