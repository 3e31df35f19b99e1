"""Key generation on the token: `openssl genpkey -propquery provider=pkcs11
-algorithm ALG ... -pkeyopt pkcs11_uri:URI -out key.pem` creates the key pair
inside the token the URI names, and key.pem is a URI key file (PEM label
`PKCS#11 PROVIDER URI`, DER SEQUENCE { VisibleString "PKCS#11 Provider URI
v1.0", UTF8String URI }, no PIN in it) that `openssl dgst -sign key.pem`
signs with on the token.

Everything is checked without the provider: the new objects and their
attributes with `pkcs11-tool -O` (CKA_TOKEN: found by a new session;
CKA_SENSITIVE, CKA_EXTRACTABLE false, CKA_LOCAL: generated on the token;
usage), the public key exported by GnuTLS p11tool, every signature verified
by openssl without the provider with that public key. EC P-256/384/521,
RSA 2048/3072 and public exponent, Ed25519 and Ed448 on SoftHSM; EC P-256
and RSA-2048 on tpm2-pkcs11 (deleted again afterwards). Errors: a label or
an id that already exists (nothing created), no matching token. A URI
without an id gets one chosen. Without -propquery, genpkey still makes a
software key. The C program token_keygen does the same through
EVP_PKEY_CTX_new_from_name(NULL, ALG, "provider=pkcs11") and params.

SoftHSM keys are made on the token p11prov-gen (fixture softhsm_gen), which
exists only while this module runs."""
import base64
import re
from dataclasses import dataclass, field

import pytest

from helpers import (TPM2_MODULE, OpensslRunner, assert_no_crash, assert_ok,
                     describe, pkcs11_tool_objects, run)
from keyops import (assert_clear_error, data_file, run_c, slow_unwind_env,
                    software)

URI_PEM_LABEL = "PKCS#11 PROVIDER URI"
URI_DESC = "PKCS#11 Provider URI v1.0"
PROPQUERY = ("-propquery", "provider=pkcs11")


def opts(flag, values):
    return [arg for value in values for arg in (flag, value)]


def id_uri(id_hex):
    return "".join(f"%{id_hex[i:i + 2]}" for i in range(0, len(id_hex), 2))


@dataclass(frozen=True)
class Alg:
    """What to generate and what the result must look like."""
    algorithm: str         # genpkey -algorithm
    pkeyopts: tuple        # genpkey -pkeyopt options
    kind: str              # "ec", "rsa" or "ed"
    pkcs11_type: str       # the key type pkcs11-tool -O shows
    public_text: tuple     # in `openssl pkey -pubin -text` of the public key
    c_args: tuple = ()     # token_keygen's key parameters

    @property
    def usage(self):
        """What the private key must be allowed to do."""
        return {"ec": {"sign", "derive"}, "rsa": {"sign", "decrypt"},
                "ed": {"sign"}}[self.kind]


ALGS = {
    "ec-p256": Alg("EC", ("ec_paramgen_curve:P-256",), "ec", "EC",
                   ("NIST CURVE: P-256",), ("--group", "P-256")),
    "ec-p384": Alg("EC", ("ec_paramgen_curve:P-384",), "ec", "EC",
                   ("NIST CURVE: P-384",)),
    "ec-p521": Alg("EC", ("ec_paramgen_curve:P-521",), "ec", "EC",
                   ("NIST CURVE: P-521",)),
    "rsa2048": Alg("RSA", ("rsa_keygen_bits:2048",
                           "rsa_keygen_pubexp:65537"), "rsa", "RSA",
                   ("Public-Key: (2048 bit)", "Exponent: 65537 (0x10001)"),
                   ("--bits", "2048")),
    "rsa3072": Alg("RSA", ("rsa_keygen_bits:3072",
                           "rsa_keygen_pubexp:65537"), "rsa", "RSA",
                   ("Public-Key: (3072 bit)", "Exponent: 65537 (0x10001)")),
    # A public exponent other than the default: the parameter reaches the
    # token.
    "rsa2048-e3": Alg("RSA", ("rsa_keygen_bits:2048", "rsa_keygen_pubexp:3"),
                      "rsa", "RSA", ("Public-Key: (2048 bit)",
                                     "Exponent: 3 (0x3)")),
    "ed25519": Alg("ED25519", (), "ed", "EC_EDWARDS",
                   ("ED25519 Public-Key:",), ()),
    "ed448": Alg("ED448", (), "ed", "EC_EDWARDS", ("ED448 Public-Key:",)),
}


# ---- where keys are made ----------------------------------------------------

@dataclass
class Target:
    """A token to generate on, and how to reach it without the provider."""
    token: str
    module: str
    slot: int
    pin: str
    env: dict                     # for the provider (PKCS11PROV_MODULE set)
    tpm: object = None            # tokens.TPM: flush and leftovers checks
    made: list = field(default_factory=list)   # labels to delete (TPM)

    def tool(self, *args):
        """pkcs11-tool on the token, logged in (no provider involved)."""
        proc = run(["pkcs11-tool", "--module", self.module, "--slot",
                    self.slot, "--login", "--pin", self.pin, *args],
                   self.env, preload=False)
        self.after_tool()
        return proc

    def after_tool(self):
        if self.tpm is not None:
            self.tpm.flush()

    def after_provider(self, proc):
        """On the TPM: the provider process left nothing loaded (checked
        before the tools run, which are flushed after)."""
        if self.tpm is not None:
            left = self.tpm.leftovers()
            self.tpm.flush()
            assert not left, f"left loaded in the TPM: {left}\n" + \
                describe(proc)

    def objects(self):
        """pkcs11-tool -O as dicts (helpers.pkcs11_tool_objects): class
        ("Private Key", "Public Key", ...), type, label, id (hex), usage
        and access (sets)."""
        proc = self.tool("-O")
        assert proc.returncode == 0, describe(proc)
        return pkcs11_tool_objects(proc.stdout)

    def export_public(self, label, out):
        """The public key object as PEM, by p11tool (GnuTLS)."""
        proc = run(["p11tool", "--provider", self.module, "--login",
                    "--export-pubkey",
                    f"pkcs11:token={self.token};object={label};type=public",
                    "--outfile", out], {**self.env, "GNUTLS_PIN": self.pin},
                   preload=False)
        self.after_tool()
        assert proc.returncode == 0, "p11tool --export-pubkey failed\n" + \
            describe(proc)
        return out

    def delete(self, label):
        for kind in ("privkey", "pubkey"):
            self.tool("--delete-object", "--type", kind, "--label", label)


@pytest.fixture
def gen(softhsm_gen):
    token = softhsm_gen
    return Target(token.label, token.module, token.slot, token.pin,
                  {**token.env, "PKCS11PROV_MODULE": token.module})


@pytest.fixture
def tpm_target(tpm_clean):
    tpm = tpm_clean
    target = Target(tpm.token, tpm.module, tpm.slot, tpm.pin,
                    {**tpm.env, "PKCS11PROV_MODULE": TPM2_MODULE}, tpm=tpm)
    yield target
    for label in target.made:  # TPM tests must not leave keys behind
        target.delete(label)


# ---- running the provider ---------------------------------------------------

def pin_options(runner, target):
    """(PIN for the generation URI's query, -passin options, provider
    configuration): the URI's pin-value and -passin from the command line,
    pkcs11-module-token-pin from openssl.cnf."""
    if runner.mode == "cli":
        pin = target.pin
        return f"?pin-value={pin}", ["-passin", f"pass:{pin}"], {}
    return "", [], {"cnf": {"pkcs11-module-token-pin": target.pin}}


def genpkey(runner, target, alg, uri_path, out):
    """`openssl genpkey -propquery provider=pkcs11 ... -pkeyopt
    pkcs11_uri:URI -out out` with the PIN as the mode gives it."""
    query, _, cnf = pin_options(runner, target)
    proc = runner("genpkey", *PROPQUERY, "-algorithm", alg.algorithm,
                  *opts("-pkeyopt", alg.pkeyopts), "-pkeyopt",
                  f"pkcs11_uri:{uri_path}{query}", "-out", out,
                  env=target.env, **cnf)
    target.after_provider(proc)
    return proc


def read_uri_file(path):
    """The URI of a URI key file; asserts its PEM label and DER layout."""
    text = path.read_text()
    m = re.fullmatch(rf"-----BEGIN {re.escape(URI_PEM_LABEL)}-----\n"
                     rf"([A-Za-z0-9+/=\n]+)"
                     rf"-----END {re.escape(URI_PEM_LABEL)}-----\n", text)
    assert m, f"not a URI key file ({URI_PEM_LABEL}):\n{text}"
    der = base64.b64decode(m.group(1))

    def tlv(data, tag):
        assert data and data[0] == tag, f"tag {data[:1].hex()}, not {tag:#x}"
        length, pos = data[1], 2
        if length & 0x80:
            count = length & 0x7F
            length, pos = int.from_bytes(data[2:2 + count], "big"), 2 + count
        return data[pos:pos + length], data[pos + length:]

    body, rest = tlv(der, 0x30)                 # SEQUENCE
    assert rest == b"", "bytes after the SEQUENCE"
    desc, body = tlv(body, 0x1A)                # VisibleString
    uri, body = tlv(body, 0x0C)                 # UTF8String
    assert body == b"", "more than desc and uri in the SEQUENCE"
    assert desc.decode() == URI_DESC, desc
    return uri.decode()


def sign_with_key_file(runner, target, alg, key_file, directory):
    """Signs with the URI key file through the provider; verifies the
    signature without it, with the public key that p11tool exported."""
    _, passin, cnf = pin_options(runner, target)
    data, sig = data_file(directory), directory / "sig"
    env = {**target.env, **(slow_unwind_env() if alg.kind == "ed" or
                            (target.tpm is not None and alg.kind == "ec")
                            else {})}
    if alg.kind == "ed":
        args = ["pkeyutl", "-sign", "-rawin", "-inkey", key_file, "-in", data]
    else:
        args = ["dgst", "-sha256", "-sign", key_file]
    proc = runner(*args, *passin, "-out", sig,
                  *([] if alg.kind == "ed" else [data]), env=env, **cnf)
    target.after_provider(proc)
    assert_ok(proc)
    assert sig.is_file() and sig.stat().st_size > 0, describe(proc)
    return data, sig


def verify(directory, alg, pub, data, sig):
    if alg.kind == "ed":
        software(directory, "pkeyutl", "-verify", "-pubin", "-inkey", pub,
                 "-rawin", "-in", data, "-sigfile", sig,
                 what="verifying the signature made with the new key")
    else:
        software(directory, "dgst", "-sha256", "-verify", pub, "-signature",
                 sig, data, what="verifying the signature made with the "
                 "new key")


def b64(pem_text):
    return "".join(line for line in pem_text.splitlines()
                   if not line.startswith("-----"))


# ---- checking what was made -------------------------------------------------

def new_objects(before, after):
    old = [(o["class"], o["label"], o["id"]) for o in before]
    return [o for o in after if (o["class"], o["label"], o["id"]) not in old]


def assert_key_pair(target, before, alg, label, id_hex=None):
    """Exactly a private and a public key object were added, with label
    and the same (non-empty) id; the private key is a sensitive,
    non-extractable token object generated on the token. Returns the
    private key's object (a dict of Target.objects())."""
    after = target.objects()
    added = new_objects(before, after)
    summary = "\n".join(str(o) for o in added)
    assert sorted(o["class"] for o in added) == ["Private Key",
                                                 "Public Key"], (
        f"objects added to {target.token}:\n{summary}")
    private = next(o for o in added if o["class"] == "Private Key")
    public = next(o for o in added if o["class"] == "Public Key")
    for obj in (private, public):
        assert obj["label"] == label, summary
        assert obj["type"] == alg.pkcs11_type, summary
    assert private["id"], f"no CKA_ID:\n{summary}"
    assert private["id"] == public["id"], summary
    if id_hex is not None:
        assert private["id"].lower() == id_hex.lower(), summary
    access = private["access"]
    assert "sensitive" in access, f"CKA_SENSITIVE is false:\n{summary}"
    assert "extractable" not in access, f"CKA_EXTRACTABLE is true:\n{summary}"
    assert "local" in access, f"not generated on the token:\n{summary}"
    return private


def assert_usage(target, alg, private):
    """The private key may do what its algorithm does (sign; EC: derive;
    RSA: decrypt) and, on SoftHSM, nothing else of these: SoftHSM's
    default CKA_DECRYPT is true, the provider must say false. (tpm2-pkcs11
    sets usage itself: its EC keys always get decrypt.)"""
    missing = alg.usage - private["usage"]
    assert not missing, f"the private key may not {missing}:\n{private}"
    if target.tpm is None:
        extra = ({"sign", "derive", "decrypt"} - alg.usage) & \
            private["usage"]
        assert not extra, (f"the private key may {extra}, which "
                           f"{alg.algorithm} cannot:\n{private}")


def check_generated(runner, target, alg, label, id_hex, directory):
    """genpkey on target, then every check of a generated key; returns the
    URI in the key file."""
    before = target.objects()
    key_file = directory / "key.pem"
    uri = f"pkcs11:token={target.token};object={label}"
    if id_hex is not None:
        uri += f";id={id_uri(id_hex)}"
    target.made.append(label)
    proc = genpkey(runner, target, alg, uri, key_file)
    assert_no_crash(proc)
    # The key pair first: genpkey may have made it and failed afterwards.
    private = assert_key_pair(target, before, alg, label, id_hex)
    assert_ok(proc)
    # The key file: a URI to the new key, without any PIN.
    in_file = read_uri_file(key_file)
    assert in_file.startswith("pkcs11:"), in_file
    assert f"token={target.token}" in in_file, in_file
    assert f"object={label}" in in_file or (
        id_hex is not None and f"id={id_uri(id_hex)}".lower()
        in in_file.lower()), in_file
    assert "pin-" not in in_file, f"a PIN in the key file: {in_file}"
    # The public key object, exported without the provider.
    pub = target.export_public(label, directory / "pub.pem")
    text = software(directory, "pkey", "-pubin", "-in", pub, "-noout",
                    "-text").stdout
    for needle in alg.public_text:
        assert needle in text, f"{needle!r} not in:\n{text}"
    # The key file signs on the token.
    data, sig = sign_with_key_file(runner, target, alg, key_file, directory)
    verify(directory, alg, pub, data, sig)
    # And gives the same public key.
    _, passin, cnf = pin_options(runner, target)
    proc = runner("pkey", "-in", key_file, *passin, "-pubout",
                  env=target.env, **cnf)
    target.after_provider(proc)
    assert b64(assert_ok(proc).stdout) == b64(pub.read_text()), \
        describe(proc)
    assert_usage(target, alg, private)
    return in_file


# ---- SoftHSM ----------------------------------------------------------------

# Every algorithm through openssl.cnf; the common ones from the command
# line too (a provider loaded as "pkcs11prov": the property is still
# provider=pkcs11).
SOFT_CASES = [("config", name) for name in ALGS] + [
    ("cli", name) for name in ("ec-p256", "rsa2048", "ed25519")]


@pytest.mark.parametrize("mode, name", SOFT_CASES)
def test_genpkey_on_softhsm(provider_module, gen, tmp_path, mode, name):
    index = SOFT_CASES.index((mode, name)) + 1
    check_generated(OpensslRunner(mode, tmp_path), gen, ALGS[name],
                    f"gen-{name}-{mode}", f"{index:02x}a0", tmp_path)


def test_id_chosen_when_uri_has_none(provider_module, gen, tmp_path):
    """Two keys without an id in the URI: each gets a non-empty id of its
    own, shared by its private and public key objects."""
    runner = OpensslRunner("config", tmp_path)
    ids = []
    for n in (1, 2):
        directory = tmp_path / str(n)
        directory.mkdir()
        label = f"gen-noid-{n}"
        check_generated(runner, gen, ALGS["ec-p256"], label, None, directory)
        ids += [o["id"] for o in gen.objects()
                if o["label"] == label and o["class"] == "Private Key"]
    assert len(ids) == 2 and ids[0] != ids[1], f"ids: {ids}"


@pytest.fixture(scope="module")
def existing_key(softhsm_gen):
    """A key pair made with pkcs11-tool on p11prov-gen: (label, id)."""
    label, id_hex = "existing", "e1"
    proc = run(["pkcs11-tool", "--module", softhsm_gen.module, "--slot",
                softhsm_gen.slot, "--login", "--pin", softhsm_gen.pin,
                "--keypairgen", "--key-type", "EC:prime256v1", "--label",
                label, "--id", id_hex, "--usage-sign"], softhsm_gen.env,
               preload=False)
    assert proc.returncode == 0, describe(proc)
    return label, id_hex


@pytest.mark.parametrize("taken", ["label", "id", "label-only"])
def test_existing_label_or_id_refused(openssl_prov, gen, existing_key,
                                      tmp_path, taken):
    label, id_hex = existing_key
    uri = {"label": f"object={label};id=%F1",
           "id": f"object=fresh-{id_hex};id={id_uri(id_hex)}",
           "label-only": f"object={label}"}[taken]
    before = gen.objects()
    key_file = tmp_path / "key.pem"
    proc = genpkey(openssl_prov, gen, ALGS["ec-p256"],
                   f"pkcs11:token={gen.token};{uri}", key_file)
    assert_clear_error(proc, any_of=("exist", "already", "duplicate",
                                     "in use"))
    assert gen.objects() == before, "objects were created or removed"
    assert not key_file.exists() or key_file.stat().st_size == 0, \
        describe(proc)


def test_no_such_token(openssl_prov, gen, tmp_path):
    before = gen.objects()
    key_file = tmp_path / "key.pem"
    proc = genpkey(openssl_prov, gen, ALGS["ec-p256"],
                   "pkcs11:token=p11prov-nosuch;object=gen-none;id=%0B",
                   key_file)
    assert_clear_error(proc, any_of=("p11prov-nosuch", "no token",
                                     "no matching token", "token not found"))
    assert gen.objects() == before, "objects were created on p11prov-gen"
    assert not key_file.exists() or key_file.stat().st_size == 0, \
        describe(proc)


@pytest.mark.parametrize("name", ["ec-p256", "ed25519"])
def test_software_key_without_propquery(openssl_prov, gen, tmp_path, name):
    """Plain genpkey with the provider loaded (and a token it could
    reach, PIN configured): a normal software key, PKCS#8 PEM; nothing on
    the token."""
    alg = ALGS[name]
    before = gen.objects()
    key_file = tmp_path / "key.pem"
    _, _, cnf = pin_options(openssl_prov, gen)
    proc = assert_ok(openssl_prov("genpkey", "-algorithm", alg.algorithm,
                                  *opts("-pkeyopt", alg.pkeyopts), "-out",
                                  key_file, env=gen.env, **cnf))
    text = key_file.read_text()
    assert text.startswith("-----BEGIN PRIVATE KEY-----\n"), \
        f"{text}\n" + describe(proc)
    pub = tmp_path / "pub.pem"
    software(tmp_path, "pkey", "-in", key_file, "-pubout", "-out", pub,
             what="reading the key without the provider")
    shown = software(tmp_path, "pkey", "-pubin", "-in", pub, "-noout",
                     "-text").stdout
    for needle in alg.public_text:
        assert needle in shown, shown
    assert gen.objects() == before, "objects were created on p11prov-gen"


# ---- from C -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["ec-p256", "rsa2048", "ed25519"])
def test_c_token_keygen(provider_module, gen, tmp_path, name):
    """token_keygen: EVP_PKEY_CTX_new_from_name(NULL, ALG,
    "provider=pkcs11"), params, EVP_PKEY_generate; signs, verifies, finds
    the key again by its URI; checked here without the provider."""
    alg = ALGS[name]
    label, id_hex = f"gen-c-{name}", f"c{list(ALGS).index(name):x}"
    uri = f"pkcs11:token={gen.token};object={label};id={id_uri(id_hex)}"
    before = gen.objects()
    data = data_file(tmp_path)
    pub, sig, key_file = (tmp_path / n for n in ("pub.pem", "sig", "key.pem"))
    env = {**gen.env, **(slow_unwind_env() if alg.kind == "ed" else {})}
    proc = run_c("token_keygen", ["--alg", alg.algorithm, *alg.c_args,
                                  "--uri", f"{uri}?pin-value={gen.pin}",
                                  "--in", data, "--pub-out", pub, "--sig-out",
                                  sig, "--key-out", key_file], env, tmp_path)
    assert_no_crash(proc)
    assert "provider: pkcs11\n" in proc.stdout, describe(proc)
    assert "generated, signed and verified" in proc.stdout, describe(proc)
    private = assert_key_pair(gen, before, alg, label, id_hex)
    assert_ok(proc)  # every file written, the URI key file too
    exported = gen.export_public(label, tmp_path / "exported.pem")
    assert b64(pub.read_text()) == b64(exported.read_text()), \
        "the generated key is not the token's public key object"
    verify(tmp_path, alg, exported, data, sig)
    assert f"token={gen.token}" in read_uri_file(key_file)
    assert_usage(gen, alg, private)


# ---- tpm2-pkcs11 ------------------------------------------------------------

@pytest.mark.parametrize("name", ["ec-p256", "rsa2048"])
def test_genpkey_on_tpm(openssl_prov, tpm_target, tmp_path, name):
    """The key is deleted again afterwards (fixture tpm_target); nothing
    may stay loaded in the TPM after any provider process."""
    index = ["ec-p256", "rsa2048"].index(name) + 1
    check_generated(openssl_prov, tpm_target, ALGS[name],
                    f"gen-{name}-{openssl_prov.mode}",
                    f"{index:02x}{openssl_prov.mode == 'cli':02x}f0",
                    tmp_path)
