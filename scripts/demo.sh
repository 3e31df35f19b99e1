#!/usr/bin/env bash
# The pkcs11prov demo: installs what is missing, builds, creates a SoftHSM
# token in a temporary directory, puts a device key and its certificate on
# it, then shows OpenSSL's own tools reaching them by pkcs11: URI.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "1. installing dependencies and building pkcs11prov"
scripts/install-deps.sh
build=$(scripts/build.sh normal)
echo "built $repo/$build/provider/pkcs11prov.so"

work=$(mktemp -d /tmp/pkcs11prov-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
module=/usr/lib/softhsm/libsofthsm2.so
pin=1234

step "2. a SoftHSM token of our own (SOFTHSM2_CONF=$work/softhsm2.conf)"
mkdir -p "$work/tokens"
cat > "$work/softhsm2.conf" <<CONF
directories.tokendir = $work/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
export SOFTHSM2_CONF=$work/softhsm2.conf
softhsm2-util --init-token --free --label demo-device --pin "$pin" \
  --so-pin 12345678 | tail -n 1

step "3. a device key generated inside the token (EC P-256)"
pkcs11-tool --module "$module" --token-label demo-device --login --pin "$pin" \
  --keypairgen --key-type EC:prime256v1 --label device-key --id 01 \
  --usage-sign --usage-derive 2>&1 | sed -n '1,2p'
pkcs11-tool --module "$module" --token-label demo-device --read-object \
  --type pubkey --id 01 -o "$work/device-pub.der" >/dev/null
openssl pkey -pubin -inform DER -in "$work/device-pub.der" -out "$work/device-pub.pem"

step "4. a local CA certifies the device key; the certificate goes on the token"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$work/ca.key" -out "$work/ca.pem" -subj "/CN=Demo CA" -days 30 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$work/throwaway.key" -out "$work/throwaway.csr" -subj "/CN=x" 2>/dev/null
openssl x509 -req -in "$work/throwaway.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
  -force_pubkey "$work/device-pub.pem" -subj "/CN=demo-device" -days 30 \
  -outform DER -out "$work/device.der" 2>/dev/null
pkcs11-tool --module "$module" --token-label demo-device --login --pin "$pin" \
  --write-object "$work/device.der" --type cert --id 01 --label device-key 2>&1 | sed -n 1p

step "5. OpenSSL reaches the token through pkcs11prov"
cat > "$work/openssl.cnf" <<CONF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
pkcs11 = pkcs11_sect
[default_sect]
activate = 1
[pkcs11_sect]
module = $repo/$build/provider/pkcs11prov.so
pkcs11-module-path = $module
activate = 1
CONF
export OPENSSL_CONF=$work/openssl.cnf
show openssl list -providers
show openssl storeutl -certs -noout 'pkcs11:token=demo-device'
show openssl x509 -in 'pkcs11:token=demo-device;object=device-key;type=cert' \
  -noout -subject -issuer
printf "\nDone: the key and certificate were found by URI; the key never left the token.\n"
