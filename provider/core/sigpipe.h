/* Cryptoki calls that write to a socket whose peer is gone (p11-kit's RPC
 * client when the server restarted, network HSM clients) raise SIGPIPE in
 * the calling thread, which kills the process unless the application
 * ignores or handles it. The provider never changes the process's
 * disposition: it blocks SIGPIPE in the calling thread for the call,
 * takes a SIGPIPE the call raised, and restores the thread's mask. The
 * module then sees EPIPE and answers with an error. Three system calls per
 * call, paid only for modules that hold a socket or a pipe
 * (p11prov_stream_fds, counted around C_Initialize): local tokens
 * (SoftHSM, a TPM device) pay nothing. No thread-local state: the guard
 * lives on the caller's stack. */
#ifndef PKCS11PROV_SIGPIPE_H
#define PKCS11PROV_SIGPIPE_H

#include <signal.h>
#include <stdbool.h>

typedef struct p11prov_sigpipe_guard {
    sigset_t saved_mask;
    /* Whether this guard blocked SIGPIPE: not when the thread had it
     * blocked already (its own pending SIGPIPE stays its own). */
    bool blocked_here;
} P11PROV_SIGPIPE_GUARD;

void p11prov_sigpipe_hold(P11PROV_SIGPIPE_GUARD *guard);
void p11prov_sigpipe_release(P11PROV_SIGPIPE_GUARD *guard);

/* The process's open sockets and pipes, -1 when they cannot be counted
 * (no /proc): a module that opens one in C_Initialize talks to another
 * process, which may go away. */
int p11prov_stream_fds(void);

#endif
