/*
 * URI test tables. The first valid entries are RFC 7512 section 3.3's
 * own examples, written on one line without the RFC's folding whitespace.
 */
#include "uri_cases.h"

#include <limits.h>

/* sizeof keeps embedded NUL bytes of binary literals */
#define A(attr, lit) { (attr), (lit), sizeof(lit) - 1 }
#define V(name, lit, query) { (name), (lit), sizeof(lit) - 1, (query) }

const valid_case valid_cases[] = {
    /* RFC 7512 section 3.3 */
    { .text = "pkcs11:" },
    { .text = "pkcs11:object=my-pubkey;type=public",
      .attrs = { A(P11URI_OBJECT, "my-pubkey"), A(P11URI_TYPE, "public") },
      .klass = CKO_PUBLIC_KEY },
    { .text = "pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
      .attrs = { A(P11URI_OBJECT, "my-key"), A(P11URI_TYPE, "private"),
                 A(P11URI_PIN_SOURCE, "file:/etc/token") },
      .klass = CKO_PRIVATE_KEY },
    { .text =
          "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;"
          "manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;"
          "type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial="
          "?pin-source=file:/etc/token_pin",
      .attrs = { A(P11URI_TOKEN, "The Software PKCS#11 Softtoken"),
                 A(P11URI_MANUFACTURER, "Snake Oil, Inc."),
                 A(P11URI_MODEL, "1.0"), A(P11URI_OBJECT, "my-certificate"),
                 A(P11URI_TYPE, "cert"),
                 A(P11URI_ID, "\x69\x95\x3e\x5c\xf4\xbd\xec\x91"),
                 A(P11URI_SERIAL, ""),
                 A(P11URI_PIN_SOURCE, "file:/etc/token_pin") },
      .klass = CKO_CERTIFICATE },
    { .text = "pkcs11:object=my-sign-key;type=private?module-name=mypkcs11",
      .attrs = { A(P11URI_OBJECT, "my-sign-key"), A(P11URI_TYPE, "private"),
                 A(P11URI_MODULE_NAME, "mypkcs11") },
      .klass = CKO_PRIVATE_KEY },
    { .text =
          "pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1",
      .attrs = { A(P11URI_OBJECT, "my-sign-key"), A(P11URI_TYPE, "private"),
                 A(P11URI_MODULE_PATH, "/mnt/libmypkcs11.so.1") },
      .klass = CKO_PRIVATE_KEY },
    { .text = "pkcs11:token=Software%20PKCS%2311%20softtoken;"
              "manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin",
      .attrs = { A(P11URI_TOKEN, "Software PKCS#11 softtoken"),
                 A(P11URI_MANUFACTURER, "Snake Oil, Inc."),
                 A(P11URI_PIN_VALUE, "the-pin") } },
    { .text = "pkcs11:slot-description=Sun%20Metaslot",
      .attrs = { A(P11URI_SLOT_DESCRIPTION, "Sun Metaslot") } },
    { .text =
          "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;"
          "library-description=Soft%20Token%20Library;library-version=1.23",
      .attrs = { A(P11URI_LIBRARY_MANUFACTURER, "Snake Oil, Inc."),
                 A(P11URI_LIBRARY_DESCRIPTION, "Soft Token Library"),
                 A(P11URI_LIBRARY_VERSION, "1.23") },
      .lib_major = 1,
      .lib_minor = 23 },
    { .text =
          "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;"
          "id=%01%02%03%Ba%dd%Ca%fe%04%05%06",
      .attrs = { A(P11URI_TOKEN, "My token% created by Joe"),
                 A(P11URI_LIBRARY_VERSION, "3"),
                 A(P11URI_ID, "\x01\x02\x03\xba\xdd\xca\xfe\x04\x05\x06") },
      .lib_major = 3,
      .lib_minor = 0 },
    { .text = "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;"
              "object=my-certificate;type=cert",
      .attrs = { A(P11URI_TOKEN, "A name with a substring %;"),
                 A(P11URI_OBJECT, "my-certificate"), A(P11URI_TYPE, "cert") },
      .klass = CKO_CERTIFICATE },
    { .text =
          "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;"
          "object=my-certificate;type=cert",
      .attrs = { A(P11URI_TOKEN, "Name with a small A with acute: \xc3\xa1"),
                 A(P11URI_OBJECT, "my-certificate"), A(P11URI_TYPE, "cert") },
      .klass = CKO_CERTIFICATE },
    /* The RFC's last example with its vendor names given the "x-" prefix
     * this parser requires (the original is in invalid_cases). */
    { .text =
          "pkcs11:token=my-token;object=my-certificate;type=cert;x-vendor-aaa=value-a"
          "?pin-source=file:/etc/token_pin&x-vendor-bbb=value-b",
      .attrs = { A(P11URI_TOKEN, "my-token"),
                 A(P11URI_OBJECT, "my-certificate"), A(P11URI_TYPE, "cert"),
                 A(P11URI_PIN_SOURCE, "file:/etc/token_pin") },
      .vendor = { V("x-vendor-aaa", "value-a", false),
                  V("x-vendor-bbb", "value-b", true) },
      .klass = CKO_CERTIFICATE },

    /* Scheme is case-insensitive, names are not. */
    { .text = "PKCS11:token=a", .attrs = { A(P11URI_TOKEN, "a") } },
    { .text = "PkCs11:?module-name=m",
      .attrs = { A(P11URI_MODULE_NAME, "m") } },
    /* Empty values are values. */
    { .text = "pkcs11:object=", .attrs = { A(P11URI_OBJECT, "") } },
    { .text = "pkcs11:token=;manufacturer=;serial=;model=",
      .attrs = { A(P11URI_TOKEN, ""), A(P11URI_MANUFACTURER, ""),
                 A(P11URI_SERIAL, ""), A(P11URI_MODEL, "") } },
    { .text = "pkcs11:?pin-value=", .attrs = { A(P11URI_PIN_VALUE, "") } },
    /* Empty query, and a query with an empty path. */
    { .text = "pkcs11:?" },
    { .text = "pkcs11:token=a?", .attrs = { A(P11URI_TOKEN, "a") } },
    { .text = "pkcs11:?pin-value=1234",
      .attrs = { A(P11URI_PIN_VALUE, "1234") } },
    /* Binary and escaped bytes. */
    { .text = "pkcs11:id=%00%FF%00",
      .attrs = { A(P11URI_ID, "\x00\xff\x00") } },
    { .text = "pkcs11:id=%aB%Cd", .attrs = { A(P11URI_ID, "\xab\xcd") } },
    { .text = "pkcs11:id=", .attrs = { A(P11URI_ID, "") } },
    { .text = "pkcs11:id=abc", .attrs = { A(P11URI_ID, "abc") } },
    { .text = "pkcs11:object=%E2%82%AC%20Z%C3%BCrich",
      .attrs = { A(P11URI_OBJECT, "\xe2\x82\xac Z\xc3\xbcrich") } },
    { .text = "pkcs11:object=a%3Bb%3Fc%26d%25e%2Ff",
      .attrs = { A(P11URI_OBJECT, "a;b?c&d%e/f") } },
    { .text = "pkcs11:?pin-value=%00%01",
      .attrs = { A(P11URI_PIN_VALUE, "\x00\x01") } },
    /* Characters the grammar allows unescaped. */
    { .text = "pkcs11:model=AZaz09-._~",
      .attrs = { A(P11URI_MODEL, "AZaz09-._~") } },
    { .text = "pkcs11:object=:[]@!$'()*+,=&",
      .attrs = { A(P11URI_OBJECT, ":[]@!$'()*+,=&") } },
    { .text = "pkcs11:object=a=b", .attrs = { A(P11URI_OBJECT, "a=b") } },
    { .text = "pkcs11:?pin-source=file:/a/b?c|d=e",
      .attrs = { A(P11URI_PIN_SOURCE, "file:/a/b?c|d=e") } },
    { .text =
          "pkcs11:?module-path=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
      .attrs = { A(P11URI_MODULE_PATH,
                   "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so") } },
    /* Typed attributes. */
    { .text = "pkcs11:library-version=0",
      .attrs = { A(P11URI_LIBRARY_VERSION, "0") },
      .lib_major = 0,
      .lib_minor = 0 },
    { .text = "pkcs11:library-version=255.255",
      .attrs = { A(P11URI_LIBRARY_VERSION, "255.255") },
      .lib_major = 255,
      .lib_minor = 255 },
    { .text = "pkcs11:library-version=007.010",
      .attrs = { A(P11URI_LIBRARY_VERSION, "007.010") },
      .lib_major = 7,
      .lib_minor = 10 },
    { .text = "pkcs11:library-version=2.0",
      .attrs = { A(P11URI_LIBRARY_VERSION, "2.0") },
      .lib_major = 2,
      .lib_minor = 0 },
    { .text = "pkcs11:slot-id=0",
      .attrs = { A(P11URI_SLOT_ID, "0") },
      .slot = 0 },
    { .text = "pkcs11:slot-id=4294967295",
      .attrs = { A(P11URI_SLOT_ID, "4294967295") },
      .slot = 4294967295UL },
#if ULONG_MAX == 18446744073709551615UL
    { .text = "pkcs11:slot-id=18446744073709551615",
      .attrs = { A(P11URI_SLOT_ID, "18446744073709551615") },
      .slot = ULONG_MAX },
#endif
    { .text =
          "pkcs11:slot-manufacturer=ACME;slot-description=Reader%200;slot-id=00042",
      .attrs = { A(P11URI_SLOT_MANUFACTURER, "ACME"),
                 A(P11URI_SLOT_DESCRIPTION, "Reader 0"),
                 A(P11URI_SLOT_ID, "00042") },
      .slot = 42 },
    { .text = "pkcs11:type=secret-key",
      .attrs = { A(P11URI_TYPE, "secret-key") },
      .klass = CKO_SECRET_KEY },
    { .text = "pkcs11:type=data",
      .attrs = { A(P11URI_TYPE, "data") },
      .klass = CKO_DATA },
    /* Every attribute at once, path order shuffled. */
    { .text =
          "pkcs11:type=private;id=%01;object=key;slot-id=3;slot-description=sd;"
          "slot-manufacturer=sm;library-version=2.40;library-description=ld;"
          "library-manufacturer=lm;model=m;serial=s;manufacturer=mf;token=t"
          "?module-path=/p&module-name=n&pin-source=ps&pin-value=pv",
      .attrs = { A(P11URI_TYPE, "private"), A(P11URI_ID, "\x01"),
                 A(P11URI_OBJECT, "key"), A(P11URI_SLOT_ID, "3"),
                 A(P11URI_SLOT_DESCRIPTION, "sd"),
                 A(P11URI_SLOT_MANUFACTURER, "sm"),
                 A(P11URI_LIBRARY_VERSION, "2.40"),
                 A(P11URI_LIBRARY_DESCRIPTION, "ld"),
                 A(P11URI_LIBRARY_MANUFACTURER, "lm"), A(P11URI_MODEL, "m"),
                 A(P11URI_SERIAL, "s"), A(P11URI_MANUFACTURER, "mf"),
                 A(P11URI_TOKEN, "t"), A(P11URI_MODULE_PATH, "/p"),
                 A(P11URI_MODULE_NAME, "n"), A(P11URI_PIN_SOURCE, "ps"),
                 A(P11URI_PIN_VALUE, "pv") },
      .lib_major = 2,
      .lib_minor = 40,
      .slot = 3,
      .klass = CKO_PRIVATE_KEY },
    /* Vendor attributes in both components. */
    { .text = "pkcs11:x-a=1;token=t;x-B_9=%20?x-c=/x?y&pin-source=p&x-d=",
      .attrs = { A(P11URI_TOKEN, "t"), A(P11URI_PIN_SOURCE, "p") },
      .vendor = { V("x-a", "1", false), V("x-B_9", " ", false),
                  V("x-c", "/x?y", true), V("x-d", "", true) } },
    /* pin-value and pin-source in the path (p11-kit, libp11 and
     * pkcs11-provider accept them there): the same values as in the query. */
    { .text = "pkcs11:token=a;pin-value=1234",
      .attrs = { A(P11URI_TOKEN, "a"), A(P11URI_PIN_VALUE, "1234") } },
    { .text = "pkcs11:serial=0123abcd;pin-value=S3cret;id=%01",
      .attrs = { A(P11URI_SERIAL, "0123abcd"), A(P11URI_PIN_VALUE, "S3cret"),
                 A(P11URI_ID, "\x01") } },
    { .text = "pkcs11:pin-source=file:/etc/token_pin",
      .attrs = { A(P11URI_PIN_SOURCE, "file:/etc/token_pin") } },
    { .text = "pkcs11:object=k;pin-source=file:/a/b|c;type=private",
      .attrs = { A(P11URI_OBJECT, "k"), A(P11URI_PIN_SOURCE, "file:/a/b|c"),
                 A(P11URI_TYPE, "private") },
      .klass = CKO_PRIVATE_KEY },
    { .text = "pkcs11:pin-value=", .attrs = { A(P11URI_PIN_VALUE, "") } },
    { .text = "pkcs11:pin-value=%00%3B%3F",
      .attrs = { A(P11URI_PIN_VALUE, "\x00;?") } },
    /* "&" delimits nothing in the path */
    { .text = "pkcs11:pin-value=a&b=c",
      .attrs = { A(P11URI_PIN_VALUE, "a&b=c") } },
    /* pin-value and pin-source together, as the query allows, split or not */
    { .text = "pkcs11:pin-value=1;pin-source=file:/p",
      .attrs = { A(P11URI_PIN_VALUE, "1"),
                 A(P11URI_PIN_SOURCE, "file:/p") } },
    { .text = "pkcs11:token=t;pin-value=1?pin-source=file:/p&module-name=m",
      .attrs = { A(P11URI_TOKEN, "t"), A(P11URI_PIN_VALUE, "1"),
                 A(P11URI_PIN_SOURCE, "file:/p"),
                 A(P11URI_MODULE_NAME, "m") } },
    /* Each component's own delimiters inside the other's values. */
    { .text = "pkcs11:x-path=a&b?x-query=a/b?c",
      .vendor = { V("x-path", "a&b", false), V("x-query", "a/b?c", true) } },
};
const size_t n_valid_cases = sizeof(valid_cases) / sizeof(valid_cases[0]);

const invalid_case invalid_cases[] = {
    /* scheme */
    { "", P11URI_ERR_SCHEME, "", 0 },
    { "pkcs11", P11URI_ERR_SCHEME, "", 0 },
    { "pkcs1:token=a", P11URI_ERR_SCHEME, "", 0 },
    { "pkcs11;token=a", P11URI_ERR_SCHEME, "", 0 },
    { " pkcs11:token=a", P11URI_ERR_SCHEME, "", 0 },
    { "http://example.com/", P11URI_ERR_SCHEME, "", 0 },
    /* unknown attributes, including the RFC's unprefixed vendor names */
    { "pkcs11:objet=my-key", P11URI_ERR_UNKNOWN_ATTRIBUTE, "objet", 7 },
    { "pkcs11:token=a;objet=b", P11URI_ERR_UNKNOWN_ATTRIBUTE, "objet", 15 },
    { "pkcs11:Token=a", P11URI_ERR_UNKNOWN_ATTRIBUTE, "Token", 7 },
    { "pkcs11:?pin-sourc=x", P11URI_ERR_UNKNOWN_ATTRIBUTE, "pin-sourc", 8 },
    { "pkcs11:x-=1", P11URI_ERR_UNKNOWN_ATTRIBUTE, "x-", 7 },
    { "pkcs11:X-foo=1", P11URI_ERR_UNKNOWN_ATTRIBUTE, "X-foo", 7 },
    { "pkcs11:objecttype=cert", P11URI_ERR_UNKNOWN_ATTRIBUTE, "objecttype",
      7 },
    { "pkcs11:?pinfile=/x", P11URI_ERR_UNKNOWN_ATTRIBUTE, "pinfile", 8 },
    { "pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a"
      "?pin-source=file:/etc/token_pin&vendor-bbb=value-b",
      P11URI_ERR_UNKNOWN_ATTRIBUTE, "vendor-aaa", 54 },
    /* duplicates: the second occurrence is reported */
    { "pkcs11:token=a;token=b", P11URI_ERR_DUPLICATE_ATTRIBUTE, "token", 15 },
    { "pkcs11:token=a;token=a", P11URI_ERR_DUPLICATE_ATTRIBUTE, "token", 15 },
    { "pkcs11:?pin-value=1&pin-value=2", P11URI_ERR_DUPLICATE_ATTRIBUTE,
      "pin-value", 20 },
    /* ... also when one PIN attribute is in the path and one in the query */
    { "pkcs11:pin-value=1;pin-value=2", P11URI_ERR_DUPLICATE_ATTRIBUTE,
      "pin-value", 19 },
    { "pkcs11:pin-value=1?pin-value=1", P11URI_ERR_DUPLICATE_ATTRIBUTE,
      "pin-value", 19 },
    { "pkcs11:token=a;pin-source=/x?pin-source=/y",
      P11URI_ERR_DUPLICATE_ATTRIBUTE, "pin-source", 29 },
    { "pkcs11:x-a=1?x-a=2", P11URI_ERR_DUPLICATE_ATTRIBUTE, "x-a", 13 },
    { "pkcs11:id=%01;object=a;id=%01", P11URI_ERR_DUPLICATE_ATTRIBUTE, "id",
      23 },
    /* bad escapes: position of the '%' */
    { "pkcs11:object=%zz", P11URI_ERR_BAD_ESCAPE, "object", 14 },
    { "pkcs11:object=%4", P11URI_ERR_BAD_ESCAPE, "object", 14 },
    { "pkcs11:object=abc%", P11URI_ERR_BAD_ESCAPE, "object", 17 },
    { "pkcs11:object=%4;token=a", P11URI_ERR_BAD_ESCAPE, "object", 14 },
    { "pkcs11:id=%0g", P11URI_ERR_BAD_ESCAPE, "id", 10 },
    { "pkcs11:?pin-value=12%G4", P11URI_ERR_BAD_ESCAPE, "pin-value", 20 },
    { "pkcs11:token=a;pin-value=12%G4", P11URI_ERR_BAD_ESCAPE, "pin-value",
      27 },
    { "pkcs11:pin-source=file:/x%", P11URI_ERR_BAD_ESCAPE, "pin-source", 25 },
    { "pkcs11:x-v=%%41", P11URI_ERR_BAD_ESCAPE, "x-v", 11 },
    /* characters the grammar does not allow unescaped */
    { "pkcs11:object=a b", P11URI_ERR_SYNTAX, "object", 15 },
    { "pkcs11:object=a/b", P11URI_ERR_SYNTAX, "object", 15 },
    { "pkcs11:object=a|b", P11URI_ERR_SYNTAX, "object", 15 },
    { "pkcs11:object=a#b", P11URI_ERR_SYNTAX, "object", 15 },
    { "pkcs11:object=a\"b", P11URI_ERR_SYNTAX, "object", 15 },
    { "pkcs11:object=\xc3\xa1", P11URI_ERR_SYNTAX, "object", 14 },
    { "pkcs11:?pin-source=a;b", P11URI_ERR_SYNTAX, "pin-source", 20 },
    { "pkcs11:?pin-value=se cret", P11URI_ERR_SYNTAX, "pin-value", 20 },
    { "pkcs11:pin-value=se cret", P11URI_ERR_SYNTAX, "pin-value", 19 },
    { "pkcs11:pin-source=a#b", P11URI_ERR_SYNTAX, "pin-source", 19 },
    { "pkcs11:?module-path=a#b", P11URI_ERR_SYNTAX, "module-path", 21 },
    { "pkcs11:token=a\nb", P11URI_ERR_SYNTAX, "token", 14 },
    /* structure */
    { "pkcs11:;", P11URI_ERR_SYNTAX, "", 7 },
    { "pkcs11:token=a;", P11URI_ERR_SYNTAX, "", 15 },
    { "pkcs11:token=a;;object=b", P11URI_ERR_SYNTAX, "", 15 },
    { "pkcs11:?&", P11URI_ERR_SYNTAX, "", 8 },
    { "pkcs11:?pin-value=1&", P11URI_ERR_SYNTAX, "", 20 },
    { "pkcs11:?&pin-value=1", P11URI_ERR_SYNTAX, "", 8 },
    { "pkcs11:=abc", P11URI_ERR_SYNTAX, "", 7 },
    { "pkcs11:?=abc", P11URI_ERR_SYNTAX, "", 8 },
    { "pkcs11:token", P11URI_ERR_SYNTAX, "", 7 },
    { "pkcs11:token=a;object", P11URI_ERR_SYNTAX, "", 15 },
    { "pkcs11:?pin-value", P11URI_ERR_SYNTAX, "", 8 },
    { "pkcs11:token=a;pin-value", P11URI_ERR_SYNTAX, "", 15 },
    { "pkcs11:tok en=a", P11URI_ERR_SYNTAX, "", 10 },
    { "pkcs11:to%6Ben=a", P11URI_ERR_SYNTAX, "", 9 },
    { "pkcs11:x-a.b=1", P11URI_ERR_SYNTAX, "", 10 },
    /* attributes in the wrong component */
    { "pkcs11:?token=a", P11URI_ERR_SYNTAX, "token", 8 },
    { "pkcs11:?id=%01", P11URI_ERR_SYNTAX, "id", 8 },
    { "pkcs11:module-name=m", P11URI_ERR_SYNTAX, "module-name", 7 },
    { "pkcs11:Pin-value=1234", P11URI_ERR_UNKNOWN_ATTRIBUTE, "Pin-value", 7 },
    { "pkcs11:object=a;module-path=/lib/x.so", P11URI_ERR_SYNTAX,
      "module-path", 16 },
    /* typed values: position of the value (or of a '%' in it) */
    { "pkcs11:type=secret", P11URI_ERR_BAD_VALUE, "type", 12 },
    { "pkcs11:type=", P11URI_ERR_BAD_VALUE, "type", 12 },
    { "pkcs11:type=Cert", P11URI_ERR_BAD_VALUE, "type", 12 },
    { "pkcs11:type=secretkey", P11URI_ERR_BAD_VALUE, "type", 12 },
    { "pkcs11:type=cer%74", P11URI_ERR_BAD_VALUE, "type", 15 },
    { "pkcs11:library-version=1.2.3", P11URI_ERR_BAD_VALUE, "library-version",
      23 },
    { "pkcs11:library-version=256", P11URI_ERR_BAD_VALUE, "library-version",
      23 },
    { "pkcs11:library-version=1.256", P11URI_ERR_BAD_VALUE, "library-version",
      23 },
    { "pkcs11:library-version=", P11URI_ERR_BAD_VALUE, "library-version",
      23 },
    { "pkcs11:library-version=1.", P11URI_ERR_BAD_VALUE, "library-version",
      23 },
    { "pkcs11:library-version=.1", P11URI_ERR_BAD_VALUE, "library-version",
      23 },
    { "pkcs11:library-version=a", P11URI_ERR_BAD_VALUE, "library-version",
      23 },
    { "pkcs11:library-version=-1", P11URI_ERR_BAD_VALUE, "library-version",
      23 },
    { "pkcs11:library-version=1,2", P11URI_ERR_BAD_VALUE, "library-version",
      23 },
    { "pkcs11:library-version=99999999999999999999", P11URI_ERR_BAD_VALUE,
      "library-version", 23 },
    { "pkcs11:library-version=%31", P11URI_ERR_BAD_VALUE, "library-version",
      23 },
    { "pkcs11:slot-id=", P11URI_ERR_BAD_VALUE, "slot-id", 15 },
    { "pkcs11:slot-id=abc", P11URI_ERR_BAD_VALUE, "slot-id", 15 },
    { "pkcs11:slot-id=-1", P11URI_ERR_BAD_VALUE, "slot-id", 15 },
    { "pkcs11:slot-id=+1", P11URI_ERR_BAD_VALUE, "slot-id", 15 },
    { "pkcs11:slot-id=1.0", P11URI_ERR_BAD_VALUE, "slot-id", 15 },
    { "pkcs11:slot-id=0x10", P11URI_ERR_BAD_VALUE, "slot-id", 15 },
    { "pkcs11:slot-id=99999999999999999999999", P11URI_ERR_BAD_VALUE,
      "slot-id", 15 },
    { "pkcs11:slot-id=1%30", P11URI_ERR_BAD_VALUE, "slot-id", 16 },
    /* the first error wins */
    { "pkcs11:objet=%zz;token=a;token=b", P11URI_ERR_UNKNOWN_ATTRIBUTE,
      "objet", 7 },
    { "pkcs11:token=%zz;objet=b", P11URI_ERR_BAD_ESCAPE, "token", 13 },
};
const size_t n_invalid_cases = sizeof(invalid_cases)
                               / sizeof(invalid_cases[0]);
