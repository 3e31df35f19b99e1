/* p11bench: what its parts share (see main.c for what it measures). */
#ifndef P11BENCH_H
#define P11BENCH_H

#include <stddef.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#define MAX_OUT 1024      /* a signature, a shared secret or a plaintext */
#define MAX_POINT 160     /* an uncompressed point up to P-521 */
#define MAX_RSA_BYTES 512 /* a modulus up to 4096 bits */
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

typedef enum { OP_SIGN, OP_DERIVE, OP_DECRYPT } bench_op;

typedef struct bench_case {
    const char *name;
    bench_op op;
    const char *md;         /* sign: the hash (NULL: one-shot EdDSA);
                               decrypt: the OAEP and MGF1 hash */
    CK_MECHANISM_TYPE mech; /* what the raw side asks the token for */
    int pss;                /* RSA-PSS: provider padding and raw parameters */
    int digest_info;        /* raw CKM_RSA_PKCS: sign DigestInfo || hash */
    const char *what;       /* one line for --help */
} bench_case;

extern const bench_case bench_cases[];
extern const size_t bench_n_cases;
const bench_case *bench_case_named(const char *name);

/* The data every operation works on, made once before measuring. */
typedef struct bench_inputs {
    const unsigned char *message; /* signed */
    size_t message_len;
    EVP_PKEY *peer; /* ECDH: a software key on the curve */
    unsigned char peer_point[MAX_POINT]; /* its public point, 04||X||Y */
    size_t peer_point_len;
    unsigned char expected[MAX_OUT]; /* ECDH secret or OAEP plaintext */
    size_t expected_len;
    unsigned char ciphertext[MAX_RSA_BYTES]; /* OAEP, made in software */
    size_t ciphertext_len;
} bench_inputs;

/* cases.c: makes the peer key, expected secret or ciphertext from the
 * public half of the token key; checks a result against them. */
void bench_inputs_make(const bench_case *bcase, EVP_PKEY *token_key,
                       bench_inputs *in);
void bench_inputs_free(bench_inputs *in);
void bench_check_result(const bench_case *bcase, const bench_inputs *in,
                        const unsigned char *out, size_t out_len,
                        const char *side);

/* provider_side.c: pkcs11prov and OpenSSL's default provider, loaded by
 * path; keys loaded by URI through OSSL_STORE. */
void provider_load(const char *dir, const char *module);
void provider_unload(void);
EVP_PKEY *provider_load_key(const char *uri, const char *pin);
/* One operation of the case; md_ctx is the calling thread's own. */
int provider_op(const bench_case *bcase, EVP_PKEY *key,
                const bench_inputs *in, EVP_MD_CTX *md_ctx,
                unsigned char *out, size_t *out_len);

/* raw_side.c: the same module through its own function list. */
void raw_dlopen(const char *module);
/* C_Initialize, C_GetSlotList, C_GetTokenInfo, C_OpenSession, C_Login and
 * C_FindObjects for the URI's private key: the cost of a key load. */
void raw_connect(const char *uri, const char *pin);
void raw_prepare(const bench_case *bcase);
int raw_session_open(CK_SESSION_HANDLE *session);
void raw_session_close(CK_SESSION_HANDLE session);
int raw_op(const bench_case *bcase, const bench_inputs *in,
           CK_SESSION_HANDLE session, unsigned char *out, size_t *out_len);
int raw_calls_serialized(void);
void raw_disconnect(void);
/* The value of attribute name= in the path of a pkcs11: URI, %XX
 * decoded, into buf; returns its length, or -1 when absent. */
long uri_attribute(const char *uri, const char *name, char *buf, size_t size);

/* load_time.c */
typedef struct load_options {
    const char *provider_dir, *module, *uri, *pin;
    int runs;       /* fresh processes of each kind */
    int warm_loads; /* loads after the first, in each provider process */
    int header;     /* print the table's header line */
} load_options;

int load_time_child(const load_options *o, const char *kind);
void load_time_report(const load_options *o);

/* util.c */
_Noreturn void die(const char *what);
_Noreturn void die_rv(const char *what, CK_RV rv);
double now_seconds(void);
/* Sorts values; returns their median. */
double median_of(double *values, int n);

#endif
