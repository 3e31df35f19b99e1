/*
 * keys/key_profile.c: what the provider answers for a token key's bits,
 * security bits, largest signature, security category and digests before
 * its public part is built must be what OpenSSL's own key managers answer
 * for the same key, or a listed key would change when its public part is
 * read. Checked against software keys of each kind and curve OpenSSL has
 * here.
 */
#include "core/context.h"
#include "keys/key.h"
#include "test_util.h"

#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

static P11PROV_CTX ctx; /* the default library context */

/* Named from OpenSSL 3.5 on. */
#define SECURITY_CATEGORY "security-category"

/* OpenSSL's security category of the key, -1 when it has none. */
static int security_category(EVP_PKEY *soft)
{
    int category = -1;
    OSSL_PARAM params[] = {
        OSSL_PARAM_int(SECURITY_CATEGORY, &category),
        OSSL_PARAM_END,
    };

    if (!EVP_PKEY_get_params(soft, params) || !OSSL_PARAM_modified(params))
        return -1;
    return category;
}

/* A digest parameter as the provider answers it (from the profile) and as
 * OpenSSL's key manager does: both the same name, or both left alone. */
static void compare_digest(const char *what, const P11PROV_KEY *key,
                           EVP_PKEY *soft, const char *param)
{
    char ours[64] = "", theirs[64] = "";
    OSSL_PARAM p_ours[] = {
        OSSL_PARAM_utf8_string(param, ours, sizeof(ours)),
        OSSL_PARAM_END,
    };
    OSSL_PARAM p_theirs[] = {
        OSSL_PARAM_utf8_string(param, theirs, sizeof(theirs)),
        OSSL_PARAM_END,
    };
    bool openssl_answers = EVP_PKEY_get_params(soft, p_theirs)
                           && OSSL_PARAM_modified(p_theirs);
    int ok = p11prov_key_profile_params(key, p_ours);
    bool answers = OSSL_PARAM_modified(p_ours);

    CHECKF(ok == 1 && answers == openssl_answers && strcmp(ours, theirs) == 0,
           "%s: %s \"%s\" (%d), OpenSSL \"%s\" (%d)", what, param, ours,
           answers, theirs, openssl_answers);
}

/* The profile the provider gives a token key of the kind and size, against
 * what OpenSSL reports of a software key of the same. */
static void compare(const char *what, P11PROV_KEY_KIND kind,
                    const char *group, int modulus_bits, EVP_PKEY *soft)
{
    P11PROV_KEY key;
    int bits = 0, security = 0, max_size = 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, &bits),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, &security),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, &max_size),
        OSSL_PARAM_END,
    };

    memset(&key, 0, sizeof(key));
    key.kind = kind;
    if (!CHECKF(p11prov_key_profile_of(&ctx, kind, group, modulus_bits,
                                       &key.profile),
                "%s: no size", what))
        return;
    CHECKF(key.profile.bits == EVP_PKEY_get_bits(soft)
               && key.profile.security_bits
                      == EVP_PKEY_get_security_bits(soft)
               && key.profile.max_size == EVP_PKEY_get_size(soft),
           "%s: %d %d %d, OpenSSL %d %d %d", what, key.profile.bits,
           key.profile.security_bits, key.profile.max_size,
           EVP_PKEY_get_bits(soft), EVP_PKEY_get_security_bits(soft),
           EVP_PKEY_get_size(soft));
    CHECKF(p11prov_key_profile_params(&key, params) == 1
               && bits == key.profile.bits
               && security == key.profile.security_bits
               && max_size == key.profile.max_size,
           "%s as parameters: %d %d %d", what, bits, security, max_size);
    int category = -2;
    OSSL_PARAM with_category[] = {
        OSSL_PARAM_int(SECURITY_CATEGORY, &category),
        OSSL_PARAM_END,
    };
    CHECKF(key.profile.security_category == security_category(soft),
           "%s: security category %d, OpenSSL %d", what,
           key.profile.security_category, security_category(soft));
    /* Answered when this OpenSSL has it, else left alone as OpenSSL
     * leaves it. */
    CHECKF(
        p11prov_key_profile_params(&key, with_category) == 1
            && OSSL_PARAM_modified(with_category)
                   == (key.profile.security_category >= 0)
            && (category == -2 || category == key.profile.security_category),
        "%s: security category as a parameter", what);
    compare_digest(what, &key, soft, OSSL_PKEY_PARAM_DEFAULT_DIGEST);
    compare_digest(what, &key, soft, OSSL_PKEY_PARAM_MANDATORY_DIGEST);
}

static void test_rsa(void)
{
    static const int sizes[] = { 1024, 1025, 2047, 2048, 3072 };

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        EVP_PKEY *soft = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
                                           (size_t)sizes[i]);
        unsigned char modulus[520];
        BIGNUM *n = NULL;
        char what[32];

        if (!CHECKF(soft != NULL, "RSA keygen %d", sizes[i]))
            continue;
        snprintf(what, sizeof(what), "RSA %d", sizes[i]);
        /* The modulus as a token returns it, here with a leading zero
         * byte as some do. */
        modulus[0] = 0;
        if (CHECK(EVP_PKEY_get_bn_param(soft, OSSL_PKEY_PARAM_RSA_N, &n))) {
            int len = BN_bn2bin(n, modulus + 1);
            int bits = p11prov_modulus_bits(modulus, (CK_ULONG)len + 1);
            CHECKF(bits == sizes[i], "%s: modulus bits %d", what, bits);
            /* Twice: asked of OpenSSL, then from the cache. */
            for (int pass = 0; pass < 2; pass++)
                compare(what, P11PROV_KEY_RSA, NULL, bits, soft);
        }
        BN_free(n);
        EVP_PKEY_free(soft);
    }
}

static void test_ec(void)
{
    static const char *const curves[] = {
        "prime256v1", "secp384r1",       "secp521r1",       "secp256k1",
        "secp224r1",  "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1",
    };
    P11PROV_KEY_PROFILE size;

    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        EVP_PKEY *soft = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[i]);
        if (soft == NULL) {
            printf("# %s: not in this OpenSSL\n", curves[i]);
            continue;
        }
        for (int pass = 0; pass < 2; pass++)
            compare(curves[i], P11PROV_KEY_EC, curves[i], 0, soft);
        EVP_PKEY_free(soft);
    }
    CHECK(!p11prov_key_profile_of(&ctx, P11PROV_KEY_EC, "no-such-curve", 0,
                                  &size));
    CHECK(!p11prov_key_profile_of(&ctx, P11PROV_KEY_EC, NULL, 0, &size));
    CHECK(!p11prov_key_profile_of(&ctx, P11PROV_KEY_RSA, NULL, 0, &size));
}

static void test_edwards(void)
{
    static const struct {
        const char *name;
        P11PROV_KEY_KIND kind;
    } kinds[] = {
        { "ED25519", P11PROV_KEY_ED25519 },
        { "ED448", P11PROV_KEY_ED448 },
    };

    for (size_t i = 0; i < 2; i++) {
        EVP_PKEY *soft = EVP_PKEY_Q_keygen(NULL, NULL, kinds[i].name);
        if (CHECKF(soft != NULL, "%s keygen", kinds[i].name))
            compare(kinds[i].name, kinds[i].kind, NULL, 0, soft);
        EVP_PKEY_free(soft);
    }
}

static void test_modulus_bits(void)
{
    static const unsigned char zeros[3] = { 0, 0, 0 };
    static const unsigned char one[2] = { 0, 1 };
    static const unsigned char top[2] = { 0x80, 0 };

    CHECK(p11prov_modulus_bits(zeros, sizeof(zeros)) == 0);
    CHECK(p11prov_modulus_bits(zeros, 0) == 0);
    CHECK(p11prov_modulus_bits(one, sizeof(one)) == 1);
    CHECK(p11prov_modulus_bits(top, sizeof(top)) == 16);
}

/* Parameters the profile does not hold (with any it holds), or a key whose
 * profile is unknown (an RSA key object without its modulus), need the
 * public part: nothing is answered. */
static void test_needs_public_part(void)
{
    P11PROV_KEY key;
    char group[32];
    int bits = 0;
    OSSL_PARAM with_group[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, &bits),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group,
                               sizeof(group)),
        OSSL_PARAM_END,
    };
    OSSL_PARAM bits_only[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, &bits),
        OSSL_PARAM_END,
    };
    unsigned char small;
    OSSL_PARAM too_small[] = {
        { OSSL_PKEY_PARAM_MAX_SIZE, OSSL_PARAM_UNSIGNED_INTEGER, &small,
          sizeof(small), 0 },
        OSSL_PARAM_END,
    };

    memset(&key, 0, sizeof(key));
    key.kind = P11PROV_KEY_EC;
    CHECK(p11prov_key_profile_of(&ctx, P11PROV_KEY_EC, "prime256v1", 0,
                                 &key.profile));
    CHECK(p11prov_key_profile_params(&key, with_group) == 0);
    key.kind = P11PROV_KEY_RSA; /* 512 bytes: not in one */
    CHECK(p11prov_key_profile_of(&ctx, P11PROV_KEY_RSA, NULL, 4096,
                                 &key.profile));
    CHECK(p11prov_key_profile_params(&key, too_small) == -1);
    memset(&key.profile, 0, sizeof(key.profile));
    CHECK(p11prov_key_profile_params(&key, bits_only) == 0);
}

int main(void)
{
    test_rsa();
    test_ec();
    test_edwards();
    test_modulus_bits();
    test_needs_public_part();
    return tu_finish("test_key_profile");
}
