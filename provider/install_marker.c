/* A string that `cmake --install` looks for in an installed pkcs11prov.so
 * before replacing it (cmake/InstallGuard.cmake): libp11's provider has the
 * same file name, and a file without this string is not ours to overwrite.
 * The value comes from PKCS11PROV_INSTALL_MARKER in CMakeLists.txt. */
__attribute__((
    used)) static const char install_marker[] = P11PROV_INSTALL_MARKER;
