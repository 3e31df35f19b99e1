/* Cryptoki calls that write to a socket whose peer is gone (p11-kit's RPC
 * client when the server restarted, network HSM clients) raise SIGPIPE in
 * the calling thread, which kills the process unless the application
 * ignores or handles it. The provider never changes the process's
 * disposition: it blocks SIGPIPE in the calling thread for the call,
 * takes a SIGPIPE the call raised, and restores the thread's mask. The
 * module then sees EPIPE and answers with an error. Sections nest per
 * thread, so a whole token operation (C_SignInit, C_Sign) is one section:
 * three system calls per operation, paid only for modules that hold a
 * socket or a pipe (p11prov_stream_fds, counted around C_Initialize):
 * local tokens (SoftHSM, a TPM device) pay nothing. */
#ifndef PKCS11PROV_SIGPIPE_H
#define PKCS11PROV_SIGPIPE_H

void p11prov_sigpipe_hold(void);
void p11prov_sigpipe_release(void);

/* The process's open sockets and pipes, -1 when they cannot be counted
 * (no /proc): a module that opens one in C_Initialize talks to another
 * process, which may go away. */
int p11prov_stream_fds(void);

#endif
