/*
 * ota_client: the HTTPS client of an over-the-air update agent, with the
 * device's private key on a PKCS#11 token (through the pkcs11prov
 * OpenSSL provider).
 *
 * The agent talks mutual TLS to its update server with libcurl. Debian 12's
 * libcurl (7.88) cannot take a provider key (curl >= 8.12 has
 * CURLOPT_SSLKEYTYPE "PROV"), so the program loads the key ONCE by pkcs11:
 * URI through OSSL_STORE and installs it, with the device certificate, into
 * every SSL_CTX libcurl makes (CURLOPT_SSL_CTX_FUNCTION). Needs libcurl
 * built with OpenSSL (libcurl4-openssl-dev).
 *
 *   ota_client --url URL --cafile FILE [--key URI --cert URI-or-FILE]
 *              [--module PATH] [--pin-file FILE | --pin-source SOURCE]
 *              [--provider NAME-or-PATH] [--out FILE]
 *
 *   --url URL          what to fetch (GET); the body goes to stdout
 *   --cafile FILE      the CA certificates that verify the server
 *   --key URI          the device key: pkcs11:token=...;object=...
 *   --cert URI|FILE    its certificate: a pkcs11: URI (read from the
 *                      token) or a PEM file. Without --key and --cert no
 *                      client certificate is sent (a server that requires
 *                      one refuses the connection)
 *   --module PATH      the PKCS#11 module (e.g. /usr/lib/softhsm/
 *                      libsofthsm2.so). Passed to the provider through the
 *                      environment variable PKCS11PROV_MODULE, set before
 *                      the provider is loaded; the provider's default is
 *                      p11-kit's proxy (every module p11-kit knows)
 *   --pin-file FILE    the user PIN: the first line of FILE, given to the
 *                      store as the passphrase when the token asks for it
 *   --pin-source SRC   the same, as an RFC 7512 pin-source: file:/path or
 *                      /path. (The PIN may also be in the URI, ?pin-value=
 *                      or ?pin-source=, or in openssl.cnf,
 *                      pkcs11-module-token-pin.)
 *   --provider NAME    the provider to load when openssl.cnf has not
 *                      activated one named "pkcs11": a module name in
 *                      OpenSSL's modules directory (default "pkcs11prov")
 *                      or the path of pkcs11prov.so
 *   --out FILE         write the body to FILE instead of stdout
 *
 * Providers: OpenSSL's configuration (OPENSSL_CONF or the system
 * openssl.cnf) is loaded first. If it activates a provider named "pkcs11"
 * (see openssl.cnf.sample), that one is used; otherwise the program loads
 * --provider itself, plus "default" (which must then be loaded explicitly).
 *
 * Example (SoftHSM, key and certificate on token "device"):
 *   ota_client --module /usr/lib/softhsm/libsofthsm2.so \
 *     --pin-file /etc/agent/pin --key 'pkcs11:token=device;object=device-key' \
 *     --cert 'pkcs11:token=device;object=device-key;type=cert' \
 *     --cafile /etc/agent/ca.pem --url https://updates.example.com/manifest
 *
 * Exit status: 0 when the body was fetched (HTTP status < 400), 1 on any
 * error (the reason on stderr), 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>
#include <openssl/store.h>
#include <openssl/ui.h>
#include <openssl/x509.h>

#define PROG "ota_client"

/* The device identity, loaded once and installed into every SSL_CTX. */
struct identity {
    EVP_PKEY *key;
    X509 *cert;
};

static void report(const char *what)
{
    fprintf(stderr, PROG ": %s\n", what);
    ERR_print_errors_fp(stderr);
}

/* ---- providers ------------------------------------------------------------- */

static OSSL_PROVIDER *prov_pkcs11, *prov_default;

static int load_providers(const char *module, const char *provider)
{
    /* The provider reads PKCS11PROV_MODULE when it is loaded. */
    if (module != NULL && setenv("PKCS11PROV_MODULE", module, 1) != 0) {
        fprintf(stderr, PROG ": cannot set PKCS11PROV_MODULE\n");
        return 0;
    }
    if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1) {
        report("cannot initialise OpenSSL (openssl.cnf)");
        return 0;
    }
    if (OSSL_PROVIDER_available(NULL, "pkcs11"))
        return 1; /* activated by openssl.cnf */
    prov_pkcs11 = OSSL_PROVIDER_load(NULL, provider);
    if (prov_pkcs11 == NULL) {
        fprintf(stderr, PROG ": cannot load the provider \"%s\"\n", provider);
        ERR_print_errors_fp(stderr);
        return 0;
    }
    prov_default = OSSL_PROVIDER_load(NULL, "default");
    if (prov_default == NULL) {
        report("cannot load the default provider");
        return 0;
    }
    return 1;
}

static void unload_providers(void)
{
    if (prov_pkcs11 != NULL)
        OSSL_PROVIDER_unload(prov_pkcs11);
    if (prov_default != NULL)
        OSSL_PROVIDER_unload(prov_default);
}

/* ---- the PIN ------------------------------------------------------------------ */

/* The first line of path, or NULL. Free with OPENSSL_clear_free. */
static char *read_pin(const char *source)
{
    const char *path = strncmp(source, "file:", 5) == 0 ? source + 5 : source;
    char buf[256], *pin = NULL;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        fprintf(stderr, PROG ": cannot read the PIN file %s\n", path);
        return NULL;
    }
    if (fgets(buf, sizeof(buf), f) != NULL) {
        buf[strcspn(buf, "\r\n")] = '\0';
        pin = OPENSSL_strdup(buf);
    } else {
        fprintf(stderr, PROG ": the PIN file %s is empty\n", path);
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    fclose(f);
    return pin;
}

/* The store's passphrase prompt, answered with the PIN (if any). */
static int pin_cb(char *buf, int size, int rwflag, void *u)
{
    const char *pin = u;
    size_t len;

    (void)rwflag;
    if (pin == NULL || (len = strlen(pin)) >= (size_t)size)
        return -1;
    memcpy(buf, pin, len);
    return (int)len;
}

/* ---- the key and certificate ---------------------------------------------- */

/* The first object of type `type` (OSSL_STORE_INFO_PKEY or _CERT) at uri. */
static OSSL_STORE_INFO *store_load(const char *uri, int type, const char *pin)
{
    UI_METHOD *ui = UI_UTIL_wrap_read_pem_callback(pin_cb, 0);
    OSSL_STORE_CTX *store = NULL;
    OSSL_STORE_INFO *found = NULL;

    if (ui != NULL)
        store = OSSL_STORE_open_ex(uri, NULL, NULL, ui, (void *)pin, NULL,
                                   NULL, NULL);
    if (store != NULL && OSSL_STORE_expect(store, type) == 1) {
        while (found == NULL && !OSSL_STORE_eof(store)) {
            OSSL_STORE_INFO *info = OSSL_STORE_load(store);

            if (info == NULL && OSSL_STORE_error(store))
                break;
            if (info != NULL && OSSL_STORE_INFO_get_type(info) == type)
                found = info;
            else
                OSSL_STORE_INFO_free(info);
        }
    }
    OSSL_STORE_close(store);
    UI_destroy_method(ui);
    return found;
}

static EVP_PKEY *load_key(const char *uri, const char *pin)
{
    OSSL_STORE_INFO *info = store_load(uri, OSSL_STORE_INFO_PKEY, pin);
    EVP_PKEY *key = info ? OSSL_STORE_INFO_get1_PKEY(info) : NULL;

    OSSL_STORE_INFO_free(info);
    if (key == NULL)
        report("cannot load the private key (--key)");
    return key;
}

static X509 *load_cert(const char *where, const char *pin)
{
    X509 *cert = NULL;

    if (strncmp(where, "pkcs11:", 7) == 0) {
        OSSL_STORE_INFO *info = store_load(where, OSSL_STORE_INFO_CERT, pin);

        cert = info ? OSSL_STORE_INFO_get1_CERT(info) : NULL;
        OSSL_STORE_INFO_free(info);
    } else {
        FILE *f = fopen(where, "r");

        if (f != NULL) {
            cert = PEM_read_X509(f, NULL, NULL, NULL);
            fclose(f);
        }
    }
    if (cert == NULL)
        report("cannot load the certificate (--cert)");
    return cert;
}

/* ---- libcurl -------------------------------------------------------------------- */

/* Called by libcurl for each SSL_CTX it creates, before the handshake. */
static CURLcode install_identity(CURL *curl, void *ssl_ctx, void *userdata)
{
    SSL_CTX *ctx = ssl_ctx;
    const struct identity *id = userdata;

    (void)curl;
    if (SSL_CTX_use_certificate(ctx, id->cert) != 1
        || SSL_CTX_use_PrivateKey(ctx, id->key) != 1
        || SSL_CTX_check_private_key(ctx) != 1) {
        report("cannot install the client certificate and key");
        return CURLE_SSL_CERTPROBLEM;
    }
    return CURLE_OK;
}

static size_t write_body(char *data, size_t size, size_t n, void *out)
{
    return fwrite(data, size, n, out);
}

static int fetch(const char *url, const char *cafile, struct identity *id,
                 FILE *out)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *curl = curl_easy_init();
    CURLcode rc;
    long status = 0;

    if (curl == NULL) {
        fprintf(stderr, PROG ": curl_easy_init failed\n");
        return 0;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CAINFO, cafile);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    if (id->key != NULL) {
        rc = curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION,
                              install_identity);
        if (rc != CURLE_OK) {
            fprintf(stderr,
                    PROG ": libcurl cannot install a client key "
                         "(%s): it needs libcurl built with OpenSSL\n",
                    curl_easy_strerror(rc));
            curl_easy_cleanup(curl);
            return 0;
        }
        curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, id);
    }
    rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
        fprintf(stderr, PROG ": fetching %s failed: %s\n", url,
                errbuf[0] ? errbuf : curl_easy_strerror(rc));
        ERR_print_errors_fp(stderr);
        return 0;
    }
    fprintf(stderr, PROG ": %s: HTTP status %ld\n", url, status);
    return 1;
}

/* ---- main ------------------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr,
            "usage: " PROG " --url URL --cafile FILE [--key URI --cert "
            "URI|FILE]\n       [--module PATH] [--pin-file FILE | "
            "--pin-source SOURCE] [--provider NAME|PATH] [--out FILE]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *cafile = NULL, *key_uri = NULL, *cert_at = NULL;
    const char *module = NULL, *pin_source = NULL, *out_path = NULL;
    const char *provider = "pkcs11prov";
    struct identity id = { NULL, NULL };
    char *pin = NULL;
    FILE *out = stdout;
    int ok = 0;

    for (int i = 1; i < argc; i += 2) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (val == NULL)
            return usage();
        if (strcmp(opt, "--url") == 0)
            url = val;
        else if (strcmp(opt, "--cafile") == 0)
            cafile = val;
        else if (strcmp(opt, "--key") == 0)
            key_uri = val;
        else if (strcmp(opt, "--cert") == 0)
            cert_at = val;
        else if (strcmp(opt, "--module") == 0)
            module = val;
        else if (strcmp(opt, "--pin-file") == 0
                 || strcmp(opt, "--pin-source") == 0)
            pin_source = val;
        else if (strcmp(opt, "--provider") == 0)
            provider = val;
        else if (strcmp(opt, "--out") == 0)
            out_path = val;
        else
            return usage();
    }
    if (url == NULL || cafile == NULL
        || (key_uri == NULL) != (cert_at == NULL))
        return usage();

    if (!load_providers(module, provider))
        goto end;
    if (pin_source != NULL && (pin = read_pin(pin_source)) == NULL)
        goto end;
    /* Load the identity once: one login, then every connection reuses it. */
    if (key_uri != NULL) {
        if ((id.key = load_key(key_uri, pin)) == NULL
            || (id.cert = load_cert(cert_at, pin)) == NULL)
            goto end;
        if (X509_check_private_key(id.cert, id.key) != 1) {
            report("the certificate (--cert) is not that of the key (--key)");
            goto end;
        }
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, PROG ": curl_global_init failed\n");
        goto end;
    }
    if (out_path != NULL && (out = fopen(out_path, "wb")) == NULL) {
        fprintf(stderr, PROG ": cannot write %s\n", out_path);
        out = stdout;
    } else {
        ok = fetch(url, cafile, &id, out);
    }
    curl_global_cleanup();
end:
    if (out != stdout && fclose(out) != 0) {
        fprintf(stderr, PROG ": cannot write %s\n", out_path);
        ok = 0;
    }
    if (pin != NULL)
        OPENSSL_clear_free(pin, strlen(pin));
    X509_free(id.cert);
    EVP_PKEY_free(id.key);
    unload_providers();
    return ok ? 0 : 1;
}
