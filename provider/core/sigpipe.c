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

static __thread unsigned int depth;
static __thread sigset_t saved_mask;
/* Whether this section blocked SIGPIPE: not when the application's
 * thread had it blocked already (its own pending SIGPIPE stays its). */
static __thread bool blocked_here;

void p11prov_sigpipe_hold(void)
{
    sigset_t pipe_only;

    if (depth++ > 0)
        return;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    blocked_here = pthread_sigmask(SIG_BLOCK, &pipe_only, &saved_mask) == 0
                   && !sigismember(&saved_mask, SIGPIPE);
}

void p11prov_sigpipe_release(void)
{
    static const struct timespec no_wait = { 0, 0 };
    sigset_t pipe_only;

    int saved_errno = errno;

    if (depth == 0 || --depth > 0 || !blocked_here)
        return;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    /* A write in the section to a closed socket left it pending for this
     * thread: taken here, never delivered. */
    while (sigtimedwait(&pipe_only, NULL, &no_wait) == SIGPIPE)
        ;
    (void)pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
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
