/*
 * The PIN is wiped before its memory is released. Linked with
 * -Wl,--wrap=malloc,--wrap=free: while a test watches, every block the
 * URI library allocates is recorded, and when it is freed its bytes are
 * searched for the PIN.
 */
#include "pkcs11_uri.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t size);
void __real_free(void *ptr);
void *__wrap_malloc(size_t size);
void __wrap_free(void *ptr);

static const char secret[] = "S3cr3t-PIN";
#define SECRET_LEN (sizeof(secret) - 1)

typedef struct block {
    void *ptr;
    size_t size;
} block;

static block blocks[256];
static size_t n_blocks;
static bool watching;
static unsigned freed_checked; /* recorded blocks freed */
static unsigned freed_leaking; /* ... still holding the secret */

void *__wrap_malloc(size_t size)
{
    void *p = __real_malloc(size);
    if (watching && p != NULL
        && n_blocks < sizeof(blocks) / sizeof(blocks[0]))
        blocks[n_blocks++] = (block){ p, size };
    return p;
}

static bool holds_secret(const unsigned char *p, size_t size)
{
    for (size_t i = 0; i + SECRET_LEN <= size; i++) {
        if (memcmp(p + i, secret, SECRET_LEN) == 0)
            return true;
    }
    return false;
}

void __wrap_free(void *ptr)
{
    for (size_t i = 0; watching && ptr != NULL && i < n_blocks; i++) {
        if (blocks[i].ptr != ptr)
            continue;
        freed_checked++;
        if (holds_secret(ptr, blocks[i].size))
            freed_leaking++;
        blocks[i].ptr = NULL;
    }
    __real_free(ptr);
}

static void start(void)
{
    n_blocks = 0;
    freed_checked = freed_leaking = 0;
    watching = true;
}

/* Everything recorded since start() was freed, none holding the PIN. */
static void expect_clean(const char *what, unsigned min_freed)
{
    watching = false;
    CHECKF(freed_checked >= min_freed, "%s: %u blocks freed", what,
           freed_checked);
    CHECKF(freed_leaking == 0, "%s: %u freed blocks still hold the PIN", what,
           freed_leaking);
}

static p11uri *parse(const char *text)
{
    p11uri *uri = NULL;
    CHECKF(p11uri_parse(text, &uri, NULL) == P11URI_OK, "%s", text);
    return uri;
}

int main(void)
{
    const char *with_pin =
        "pkcs11:token=t?pin-value=S3cr3t-PIN&module-name=m";

    /* parse then p11uri_free: token, pin, module-name */
    start();
    p11uri_free(parse(with_pin));
    expect_clean("p11uri_free", 3);

    /* a parse failing after the PIN was decoded */
    start();
    p11uri *uri = NULL;
    CHECK(p11uri_parse("pkcs11:?pin-value=S3cr3t-PIN&objet=1", &uri, NULL)
          == P11URI_ERR_UNKNOWN_ATTRIBUTE);
    expect_clean("failed parse", 1);

    /* p11uri_unset, and p11uri_set replacing the PIN */
    start();
    uri = parse(with_pin);
    p11uri_unset(uri, P11URI_PIN_VALUE);
    CHECK(uri != NULL && !uri->values[P11URI_PIN_VALUE].present);
    CHECK(p11uri_set(uri, P11URI_PIN_VALUE, secret, SECRET_LEN) == P11URI_OK);
    CHECK(p11uri_set(uri, P11URI_PIN_VALUE, "other", 5) == P11URI_OK);
    expect_clean("p11uri_unset / p11uri_set", 2);
    p11uri_free(uri);

    /* The same with the PIN in the path: free, a failure after it was
     * decoded, and a second pin-value in the query (a duplicate). */
    start();
    p11uri_free(parse("pkcs11:token=t;pin-value=S3cr3t-PIN;object=k"));
    expect_clean("path pin-value, p11uri_free", 3);
    start();
    uri = NULL;
    CHECK(p11uri_parse("pkcs11:pin-value=S3cr3t-PIN;objet=1", &uri, NULL)
          == P11URI_ERR_UNKNOWN_ATTRIBUTE);
    expect_clean("path pin-value, failed parse", 1);
    start();
    CHECK(p11uri_parse("pkcs11:pin-value=S3cr3t-PIN?pin-value=S3cr3t-PIN",
                       &uri, NULL)
          == P11URI_ERR_DUPLICATE_ATTRIBUTE);
    expect_clean("path and query pin-value", 1);

    /* Control: the same search does see an unwiped buffer, so the checks
     * above can fail (e.g. if --wrap were not in effect). */
    start();
    p11uri_free(parse("pkcs11:object=S3cr3t-PIN"));
    watching = false;
    CHECK(freed_checked >= 1 && freed_leaking == 1);

    return tu_finish("test_uri_wipe");
}
