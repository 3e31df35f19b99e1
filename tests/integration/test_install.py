"""Installing pkcs11prov beside other packages' providers.

libp11 (>= 0.4.14) installs its own provider as <modulesdir>/pkcs11prov.so,
latchset/pkcs11-provider as <modulesdir>/pkcs11.so. `cmake --install` must
never overwrite either (cmake/InstallGuard.cmake); it installs the curl
directory (pkcs11.so -> our module) for curl's provider named "pkcs11"; and
our module loaded by its full path stays ours beside a foreign
pkcs11prov.so.

Every install runs from the existing build dir into a DESTDIR under a
temporary directory, with a made-up prefix: nothing here writes to the
real system directories. A case that needs a foreign provider this system
does not have (libp11's, latchset's) is skipped with the reason.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import (BUILD_DIR, CURL_MODULES_DIR, MOCK_MODULE, PROVIDER_DIR,
                     PROVIDER_MODULE, PROVIDER_NAME, assert_ok, describe,
                     parse_providers, run, run_openssl, write_openssl_cnf,
                     write_plain_cnf)

# Only ever inside DESTDIR; absolute, so DESTDIR + PREFIX is a plain path.
PREFIX = "/opt/pkcs11prov-install-test"


def _cmake_cache():
    values = {}
    for line in (BUILD_DIR / "CMakeCache.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_]+):[A-Z]+=(.*)$", line)
        if m:
            values[m.group(1)] = m.group(2)
    return values


def _modulesdir():
    """OpenSSL's default modules directory, as the openssl binary says."""
    out = subprocess.run(["openssl", "version", "-m"], capture_output=True,
                         text=True, check=True).stdout
    m = re.search(r'MODULESDIR: "(.*)"', out)
    assert m, out
    return Path(m.group(1))


@pytest.fixture(scope="module")
def cache(provider_module):
    values = _cmake_cache()
    for name in ("PKCS11PROV_INSTALL_DIR", "PKCS11PROV_CURL_DIR",
                 "PKCS11PROV_INSTALL_MARKER"):
        assert values.get(name), f"{name} missing from {BUILD_DIR}/CMakeCache.txt"
    return values


@pytest.fixture(scope="module")
def marker(cache):
    return cache["PKCS11PROV_INSTALL_MARKER"].encode()


@pytest.fixture(scope="module")
def refusing(cache):
    """The refusal tests need the build's default: no replacing."""
    if cache.get("PKCS11PROV_REPLACE_FOREIGN", "OFF").upper() in ("ON", "1", "YES", "TRUE"):
        pytest.skip(f"{BUILD_DIR} is configured with PKCS11PROV_REPLACE_FOREIGN=ON")


def _under_prefix(directory):
    return directory if directory.startswith("/") else f"{PREFIX}/{directory}"


class Layout:
    """Where an install puts things: real paths (as on the target system)
    and the staged ones under DESTDIR."""

    def __init__(self, cache, destdir):
        self.destdir = destdir
        self.module_real = Path(_under_prefix(cache["PKCS11PROV_INSTALL_DIR"])) / "pkcs11prov.so"
        self.curl_dir_real = Path(_under_prefix(cache["PKCS11PROV_CURL_DIR"]))
        self.link_real = self.curl_dir_real / "pkcs11.so"

    def staged(self, real):
        return self.destdir / str(real).lstrip("/")

    @property
    def module(self):
        return self.staged(self.module_real)

    @property
    def link(self):
        return self.staged(self.link_real)


@pytest.fixture
def layout(cache, tmp_path):
    destdir = tmp_path / "destdir"
    destdir.mkdir()
    return Layout(cache, destdir)


def cmake_install(layout, env=None):
    destdir = str(layout.destdir)
    # The guard against ever installing into the real system: a DESTDIR
    # that is an absolute path other than "/".
    assert os.path.isabs(destdir) and destdir.rstrip("/"), destdir
    return run(["cmake", "--install", BUILD_DIR, "--prefix", PREFIX],
               {"DESTDIR": destdir, "PKCS11PROV_REPLACE_FOREIGN": None,
                **(env or {})}, preload=False, timeout=120)


def put_file(path, source):
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, path)


def has_marker(path, marker):
    return marker in Path(path).read_bytes()


def _foreign_provider_so():
    """Some OpenSSL provider that is not ours: OpenSSL's legacy provider
    (falling back to our mock PKCS#11 module, a .so without the marker)."""
    legacy = _modulesdir() / "legacy.so"
    return legacy if legacy.is_file() else MOCK_MODULE


_SYSTEM_OWNERS = {
    "pkcs11prov.so": "libp11 >= 0.4.14's provider (libengine-pkcs11-openssl)",
    "pkcs11.so": "latchset/pkcs11-provider (pkcs11-provider)",
}


def _system_file(name, marker):
    """<modulesdir>/NAME when this system has one that is not ours; else
    pytest.skip with the reason."""
    path = _modulesdir() / name
    if not path.exists():
        pytest.skip(f"{path} does not exist on this system: "
                    f"{_SYSTEM_OWNERS[name]} is not installed")
    if has_marker(path, marker):
        pytest.skip(f"{path} is a pkcs11prov of this project, not a foreign one")
    return path


def dpkg_owner(path):
    proc = subprocess.run(["dpkg-query", "-S", str(path)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        return None
    m = re.match(r"^([^ :]+(?::[^ :]+)?): ", proc.stdout)
    return m.group(1) if m else None


def provider_fields(args, env):
    """{field: value} of the one provider `openssl list -providers -verbose
    ARGS` shows besides none other (None: it did not load)."""
    proc = run_openssl(["list", "-providers", "-verbose", *args], env)
    if proc.returncode != 0:
        return None, proc
    return parse_providers(proc.stdout), proc


def our_buildinfo():
    text = (PROVIDER_DIR / "buildinfo.h").read_text()
    m = re.search(r'#define P11PROV_BUILDINFO "(.*)"', text)
    assert m, text
    return m.group(1)


@pytest.fixture(scope="module")
def our_fields(provider_module, tmp_path_factory):
    """What our module reports about itself, loaded by full path with no
    other pkcs11prov.so anywhere OpenSSL could look."""
    directory = tmp_path_factory.mktemp("baseline")
    empty = directory / "no-modules"
    empty.mkdir()
    cnf = write_openssl_cnf(directory, name=PROVIDER_NAME)
    providers, proc = provider_fields(
        [], {"OPENSSL_CONF": cnf, "OPENSSL_MODULES": empty})
    assert providers is not None, describe(proc)
    fields = providers.get(PROVIDER_NAME)
    assert fields, describe(proc)
    # Our module's own strings, not whatever OpenSSL happened to load.
    assert our_buildinfo() in fields.values(), describe(proc)
    assert our_buildinfo().encode() in provider_module.read_bytes()
    return fields


# A stand-in for curl >= 8.12 with --cert-type PROV: a library context of
# its own, no configuration applied, then the provider named "pkcs11" from
# OPENSSL_MODULES. Prints the provider's name, version and buildinfo.
BARE_LIBCTX_LOAD = r'''
import ctypes, sys
lib = ctypes.CDLL(sys.argv[2])
class Param(ctypes.Structure):
    _fields_ = [("key", ctypes.c_char_p), ("data_type", ctypes.c_uint),
                ("data", ctypes.c_void_p), ("data_size", ctypes.c_size_t),
                ("return_size", ctypes.c_size_t)]
OSSL_PARAM_UTF8_PTR = 6
lib.OSSL_LIB_CTX_new.restype = ctypes.c_void_p
lib.OSSL_LIB_CTX_free.argtypes = [ctypes.c_void_p]
lib.OSSL_PROVIDER_try_load.restype = ctypes.c_void_p
lib.OSSL_PROVIDER_try_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
lib.OSSL_PROVIDER_get_params.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
lib.OSSL_PROVIDER_unload.argtypes = [ctypes.c_void_p]
libctx = lib.OSSL_LIB_CTX_new()
prov = lib.OSSL_PROVIDER_try_load(libctx, sys.argv[1].encode(), 1)
if not prov:
    sys.exit("provider not loaded")
keys = (b"name", b"version", b"buildinfo")
values = [ctypes.c_char_p() for _ in keys]
params = (Param * (len(keys) + 1))()
for i, (key, value) in enumerate(zip(keys, values)):
    params[i] = Param(key, OSSL_PARAM_UTF8_PTR,
                      ctypes.cast(ctypes.byref(value), ctypes.c_void_p), 0, 0)
if lib.OSSL_PROVIDER_get_params(prov, params) != 1:
    sys.exit("get_params failed")
for key, value in zip(keys, values):
    print(key.decode() + "=" + (value.value or b"").decode())
lib.OSSL_PROVIDER_unload(prov)
lib.OSSL_LIB_CTX_free(libctx)
'''


def _libcrypto_soname():
    """The libcrypto our module links (libcrypto.so.3, or .so.4 with
    OpenSSL 4): the stand-in must use the same one."""
    out = subprocess.run(["ldd", str(PROVIDER_MODULE)], capture_output=True,
                         text=True, check=True).stdout
    m = re.search(r"^\s*(libcrypto\.so\.\d+) =>", out, re.M)
    assert m, out
    return m.group(1)


def bare_libctx_load(modules_dir, env=None):
    proc = run([sys.executable, "-c", BARE_LIBCTX_LOAD, "pkcs11",
                _libcrypto_soname()],
               {"OPENSSL_MODULES": modules_dir, **(env or {})}, leak_check=False)
    assert_ok(proc)
    return dict(line.split("=", 1) for line in proc.stdout.splitlines())


# ---- installing --------------------------------------------------------------

def test_clean_install(layout, marker, our_fields, tmp_path):
    proc = assert_ok(cmake_install(layout))
    assert layout.module.is_file() and not layout.module.is_symlink(), describe(proc)
    assert has_marker(layout.module, marker)
    assert layout.link.is_symlink(), describe(proc)
    # Relative, so that the staged tree still works once packaged.
    assert not os.path.isabs(os.readlink(layout.link)), os.readlink(layout.link)
    assert layout.link.resolve() == layout.module.resolve()
    assert str(layout.link) in (BUILD_DIR / "install_manifest.txt").read_text()

    # OpenSSL loads the installed module by the name curl uses.
    providers, proc = provider_fields(
        ["-provider-path", layout.link.parent, "-provider", "pkcs11"],
        {"OPENSSL_CONF": write_plain_cnf(tmp_path)})
    assert providers is not None, describe(proc)
    assert providers.get("pkcs11") == our_fields, describe(proc)
    # And as curl itself does: a bare library context, OPENSSL_MODULES.
    assert bare_libctx_load(layout.link.parent)["buildinfo"] == our_buildinfo()


def test_reinstall_over_our_own(layout, marker):
    assert_ok(cmake_install(layout))
    assert_ok(cmake_install(layout))
    # An earlier, different build of ours: replaced without a question.
    older = layout.module.read_bytes() + b"\0an older build\0"
    layout.module.write_bytes(older)
    # As old as an earlier build is: CMake (>= 3.31 seen) leaves a
    # destination newer than the source "Up-to-date".
    built = PROVIDER_MODULE.stat().st_mtime
    os.utime(layout.module, (built - 3600, built - 3600))
    proc = assert_ok(cmake_install(layout))
    assert layout.module.read_bytes() == PROVIDER_MODULE.read_bytes(), describe(proc)
    assert layout.link.resolve() == layout.module.resolve()


def test_replace_foreign_only_on_request(layout, refusing):
    put_file(layout.module, _foreign_provider_so())
    proc = assert_ok(cmake_install(layout, {"PKCS11PROV_REPLACE_FOREIGN": "1"}))
    assert "PKCS11PROV_REPLACE_FOREIGN" in proc.stderr, describe(proc)
    assert layout.module.read_bytes() == PROVIDER_MODULE.read_bytes()


def _assert_refused(proc, layout, path, foreign_bytes, *remedies):
    assert proc.returncode != 0, "the install overwrote a foreign file\n" + describe(proc)
    assert path.read_bytes() == foreign_bytes, "the foreign file changed"
    message = " ".join(proc.stderr.split())  # CMake wraps long lines
    assert "will not overwrite" in message, describe(proc)
    assert str(path) in message, describe(proc)
    for remedy in remedies:
        assert remedy in message, f"no {remedy!r} in the message\n" + describe(proc)
    # Checked before anything was installed.
    others = [p for p in (layout.module, layout.link) if p != path]
    assert not any(p.exists() or p.is_symlink() for p in others), describe(proc)
    return message


@pytest.mark.parametrize("source", ["openssl-provider", "system-libp11"])
def test_foreign_module_is_not_overwritten(layout, marker, refusing, source):
    if source == "system-libp11":
        # A copy of this system's own foreign pkcs11prov.so (libp11's).
        original = _system_file("pkcs11prov.so", marker)
    else:
        original = _foreign_provider_so()
    put_file(layout.module, original)
    foreign = layout.module.read_bytes()

    message = _assert_refused(
        cmake_install(layout), layout, layout.module, foreign,
        "-DPKCS11PROV_INSTALL_DIR=", "module = ", "-provider-path",
        "-DPKCS11PROV_REPLACE_FOREIGN=ON")
    if source == "system-libp11":
        owner = dpkg_owner(original)
        if owner:
            assert owner in message, f"package {owner} not named\n{message}"


@pytest.mark.parametrize("source", ["file", "symlink", "system-latchset"])
def test_foreign_curl_link_is_not_overwritten(layout, marker, refusing, source):
    if source == "system-latchset":
        put_file(layout.link, _system_file("pkcs11.so", marker))
    elif source == "file":
        put_file(layout.link, _foreign_provider_so())
    else:
        layout.link.parent.mkdir(parents=True)
        layout.link.symlink_to(_modulesdir() / "pkcs11.so")
    before = (os.readlink(layout.link) if layout.link.is_symlink()
              else layout.link.read_bytes())

    proc = cmake_install(layout)
    assert proc.returncode != 0, "the install overwrote a foreign file\n" + describe(proc)
    after = (os.readlink(layout.link) if layout.link.is_symlink()
             else layout.link.read_bytes())
    assert after == before, "the foreign pkcs11.so changed"
    message = " ".join(proc.stderr.split())
    assert str(layout.link) in message, describe(proc)
    assert "-DPKCS11PROV_CURL_DIR=" in message, describe(proc)
    assert not layout.module.exists(), "installed the module despite refusing"


# ---- ours beside a foreign pkcs11prov.so -------------------------------------

@pytest.fixture(params=["simulated", "system-libp11"])
def foreign_modulesdir(request, marker, tmp_path):
    """Environment in which OpenSSL's default modules directory holds a
    pkcs11prov.so that is not ours: a stand-in (OPENSSL_MODULES pointing at
    a copy of another provider), or this system's own (libp11's)."""
    if request.param == "system-libp11":
        _system_file("pkcs11prov.so", marker)
        return {}
    directory = tmp_path / "modules"
    put_file(directory / "pkcs11prov.so", _foreign_provider_so())
    return {"OPENSSL_MODULES": directory}


def test_foreign_module_really_is_another_provider(foreign_modulesdir, our_fields, tmp_path):
    """Without our path, "pkcs11prov" is the foreign file: the checks below
    tell the two apart."""
    providers, proc = provider_fields(
        ["-provider", PROVIDER_NAME],
        {"OPENSSL_CONF": write_plain_cnf(tmp_path), **foreign_modulesdir})
    assert providers is None or providers.get(PROVIDER_NAME) != our_fields, describe(proc)


def test_ours_by_full_path_in_openssl_cnf(foreign_modulesdir, our_fields, tmp_path):
    # Named like the foreign file, loaded by our module's full path.
    cnf = write_openssl_cnf(tmp_path, name=PROVIDER_NAME)
    providers, proc = provider_fields([], {"OPENSSL_CONF": cnf, **foreign_modulesdir})
    assert providers is not None, describe(proc)
    assert providers.get(PROVIDER_NAME) == our_fields, describe(proc)


def test_ours_by_provider_path(foreign_modulesdir, our_fields, tmp_path):
    providers, proc = provider_fields(
        ["-provider-path", PROVIDER_DIR, "-provider", PROVIDER_NAME],
        {"OPENSSL_CONF": write_plain_cnf(tmp_path), **foreign_modulesdir})
    assert providers is not None, describe(proc)
    assert providers.get(PROVIDER_NAME) == our_fields, describe(proc)


# ---- the build tree's curl directory ----------------------------------------

def test_build_tree_curl_dir(provider_module):
    link = CURL_MODULES_DIR / "pkcs11.so"
    assert link.is_symlink() and os.readlink(link) == "../pkcs11prov.so"
    assert link.resolve() == provider_module.resolve()


def test_curl_style_load_without_configuration(provider_module):
    """curl's own library context: no openssl.cnf, loaded as "pkcs11", and
    the default Cryptoki module (the p11-kit proxy) without a word."""
    assert bare_libctx_load(CURL_MODULES_DIR)["buildinfo"] == our_buildinfo()


def test_curl_style_load_beside_latchset_configuration(provider_module, tmp_path):
    """A system openssl.cnf that configures latchset/pkcs11-provider as
    "pkcs11" (not activated) must not stop ours loading in a library
    context that never read that file."""
    cnf = tmp_path / "latchset.cnf"
    cnf.write_text("\n".join([
        "openssl_conf = openssl_init",
        "[openssl_init]",
        "providers = provider_sect",
        "[provider_sect]",
        "pkcs11 = latchset_sect",
        "[latchset_sect]",
        "module = /usr/lib/x86_64-linux-gnu/ossl-modules/pkcs11.so",
        "pkcs11-module-quirks = no-deinit",
        "activate = 0",
        "",
    ]))
    fields = bare_libctx_load(CURL_MODULES_DIR, {"OPENSSL_CONF": cnf})
    assert fields["buildinfo"] == our_buildinfo()
