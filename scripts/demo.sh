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
token=$(scripts/softhsm-token.sh "$work" demo-device "$pin" 12345678)
eval "$token"
export SOFTHSM2_CONF
echo "token demo-device initialised in slot $SOFTHSM_SLOT"

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
pkcs11-module-token-pin = file:$work/pin
activate = 1
CONF
printf '%s\n' "$pin" > "$work/pin"
export OPENSSL_CONF=$work/openssl.cnf
key='pkcs11:token=demo-device;object=device-key;type=private'

step "3. a device key generated inside the token (EC P-256), by OpenSSL"
show openssl genpkey -propquery provider=pkcs11 -algorithm EC \
  -pkeyopt ec_paramgen_curve:P-256 \
  -pkeyopt "pkcs11_uri:pkcs11:token=demo-device;object=device-key" \
  -out "$work/device-key.pem"
echo "device-key.pem holds no key material, only the key's URI:"
cat "$work/device-key.pem"

step "4. OpenSSL sees the token through pkcs11prov (OPENSSL_CONF=$OPENSSL_CONF)"
show openssl list -providers
show openssl storeutl -keys "pkcs11:token=demo-device"
show openssl pkey -in "$work/device-key.pem" -text -noout

step "5. a certificate request signed by the token key, certified by a local CA"
# Extensions spelled out: OpenSSL 3.5 refuses a CA without them, and 4.0's
# x509 -req would otherwise read them from openssl.cnf's default section.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$work/ca.key" -out "$work/ca.pem" -subj "/CN=Demo CA" -days 30 \
  -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
leaf_ext() {   # extendedKeyUsage [subjectAltName]
  printf 'basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = %s\n' "$1"
  [[ -z ${2:-} ]] || printf 'subjectAltName = %s\n' "$2"
}
leaf_ext clientAuth > "$work/device.ext"
leaf_ext serverAuth DNS:localhost,IP:127.0.0.1 > "$work/server.ext"
show openssl req -new -key "$key" -subj /CN=demo-device -out "$work/device.csr"
show openssl req -verify -noout -in "$work/device.csr"
show openssl x509 -req -in "$work/device.csr" -CA "$work/ca.pem" \
  -CAkey "$work/ca.key" -days 30 -extfile "$work/device.ext" -out "$work/device.pem"
openssl x509 -in "$work/device.pem" -outform DER -out "$work/device.der"
pkcs11-tool --module "$module" --token-label demo-device --login --pin "$pin" \
  --write-object "$work/device.der" --type cert --id 01 --label device-key 2>&1 | sed -n 1p
show openssl x509 -noout -subject -issuer \
  -in 'pkcs11:token=demo-device;object=device-key;type=cert'

step "6. the token signs; anyone verifies with the certificate"
echo "firmware image 1.2.3" > "$work/firmware.bin"
show openssl dgst -sha256 -sign "$key" -out "$work/firmware.sig" "$work/firmware.bin"
openssl x509 -in "$work/device.pem" -pubkey -noout > "$work/device-pub.pem"
show env -u OPENSSL_CONF openssl dgst -sha256 -verify "$work/device-pub.pem" \
  -signature "$work/firmware.sig" "$work/firmware.bin"

step "7. mutual TLS: a local server requires the device's certificate"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$work/server.key" -out "$work/server.csr" -subj /CN=localhost 2>/dev/null
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
  -days 30 -extfile "$work/server.ext" -out "$work/server.pem" 2>/dev/null
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -u OPENSSL_CONF openssl s_server -accept "127.0.0.1:$port" -naccept 1 -rev \
  -cert "$work/server.pem" -key "$work/server.key" -CAfile "$work/ca.pem" \
  -Verify 1 -verify_return_error > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do   # until it listens (it prints ACCEPT)
  grep -q ACCEPT "$work/server.log" 2>/dev/null && break
  sleep 0.1
done
echo '$ echo "hello from the device" | openssl s_client -connect 127.0.0.1:'"$port"' -key "$key" -cert device.pem ...'
echo "hello from the device" | timeout 20 openssl s_client -connect "127.0.0.1:$port" \
  -key "$key" -cert "$work/device.pem" -CAfile "$work/ca.pem" \
  -verify_return_error -ign_eof > "$work/client.log" 2>&1 || true
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
grep -E "^(Protocol version|Peer signature type|Verification): " "$work/client.log" || true
if grep -q "ecived eht morf olleh" "$work/client.log"; then
  echo "the server verified the device certificate and answered: ecived eht morf olleh"
else
  echo "mutual TLS failed:" >&2
  cat "$work/client.log" "$work/server.log" >&2
  exit 1
fi

step "8. ECDH: the token key and a peer agree on a secret"
openssl genpkey -propquery provider=default -algorithm EC \
  -pkeyopt ec_paramgen_curve:P-256 -out "$work/peer.key" 2>/dev/null
openssl pkey -in "$work/peer.key" -pubout -out "$work/peer-pub.pem"
show openssl pkeyutl -derive -inkey "$key" -peerkey "$work/peer-pub.pem" \
  -out "$work/secret-device.bin"
show env -u OPENSSL_CONF openssl pkeyutl -derive -inkey "$work/peer.key" \
  -peerkey "$work/device-pub.pem" -out "$work/secret-peer.bin"
cmp -s "$work/secret-device.bin" "$work/secret-peer.bin" \
  && echo "same secret on both sides: $(od -An -tx1 -N8 "$work/secret-device.bin" | tr -d ' ')..."

printf "\nDone: the device key was made in the token, signed a CSR and a file,\nauthenticated a TLS connection and agreed on a secret, without ever leaving\nthe token.\n"
