/*
 * rwhost.h - the code cache and the translator, wired to the VM (rwhost.c implements
 * their interfaces to it: struct cc_host, struct rw_host).
 */
#ifndef TRAPEZE_RWHOST_H
#define TRAPEZE_RWHOST_H

struct vm;

/* Create vm->cc and vm->rw for vm (its configuration, RAM, CPU and sites); either is
 * NULL when out of memory. */
void rwhost_create(struct vm *vm);

#endif
