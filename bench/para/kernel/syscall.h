/*
 * syscall.h - system call numbers, shared by the kernel (syscall.c) and the user
 * programs (user.c). INT 0x80, EAX = the number, EBX ECX EDX the arguments, the
 * result in EAX (negative: an error); time returns 64 bits in EDX:EAX.
 */
#ifndef MINIK_SYSCALL_H
#define MINIK_SYSCALL_H

#define SYS_exit        1       /* (status) */
#define SYS_write       2       /* (fd, buf, n): fd 1 is the console */
#define SYS_read        3       /* (fd, buf, n): blocks on an empty pipe, 0 at EOF */
#define SYS_getpid      4
#define SYS_yield       5
#define SYS_spawn       6       /* (eip, eax, ebx): a new process and address space */
#define SYS_wait        7       /* (int *status): a child's pid, -1 if none */
#define SYS_pipe        8       /* (int fd[2]): read end, write end */
#define SYS_close       9       /* (fd) */
#define SYS_sbrk        10      /* (n): grows the heap, returns the old end */
#define SYS_mprotect    11      /* (va, writable): one page's protection */
#define SYS_time        12      /* ns since boot */
#define SYS_ticks       13      /* timer ticks since boot */
#define SYS_populate    14      /* (va, npages): maps heap pages now, in one batch */
#define SYS_diskblocks  15      /* the disk's size in 4 KiB blocks (0: no disk) */
#define SYS_diskread    16      /* (block, n, buf): n blocks (at most 16) into buf; 0 or -1 */
#define SYS_sleep       17      /* (ticks): blocks that many timer ticks */
#define SYS_netmac      18      /* (uint8_t mac[6]): the network card's address; 0, -1 if none */
#define SYS_netsend     19      /* (frame, len): sends one Ethernet frame; 0 or -1 */
#define SYS_netrecv     20      /* (buf, cap, ms): one frame, waiting ms at most; its length, 0 on time-out */

#endif
