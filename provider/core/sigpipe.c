/* SIGPIPE held off while a module runs (see sigpipe.h). */
#include "core/sigpipe.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void p11prov_sigpipe_hold(P11PROV_SIGPIPE_GUARD *guard)
{
    sigset_t pipe_only;

    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    guard->blocked_here = pthread_sigmask(SIG_BLOCK, &pipe_only,
                                          &guard->saved_mask)
                              == 0
                          && !sigismember(&guard->saved_mask, SIGPIPE);
}

void p11prov_sigpipe_release(P11PROV_SIGPIPE_GUARD *guard)
{
    static const struct timespec no_wait = { 0, 0 };
    int saved_errno = errno;
    sigset_t pipe_only;

    if (!guard->blocked_here)
        return;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    /* A write in the call to a closed socket left it pending for this
     * thread: taken here, never delivered. */
    while (sigtimedwait(&pipe_only, NULL, &no_wait) == SIGPIPE)
        ;
    (void)pthread_sigmask(SIG_SETMASK, &guard->saved_mask, NULL);
    errno = saved_errno;
}

int p11prov_stream_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *entry;
    int count = 0;

    if (dir == NULL)
        return -1;
    while ((entry = readdir(dir)) != NULL) {
        char target[32];
        ssize_t len;

        if (entry->d_name[0] == '.')
            continue;
        len = readlinkat(dirfd(dir), entry->d_name, target,
                         sizeof(target) - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (strncmp(target, "socket:", 7) == 0
            || strncmp(target, "pipe:", 5) == 0)
            count++;
    }
    closedir(dir);
    return count;
}
