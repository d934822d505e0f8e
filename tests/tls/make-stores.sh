#!/usr/bin/env bash
# Makes the key and trust stores the TLS tests use, with Java's keytool
# and openssl, the way an operator makes them for ZooKeeper: a CA; two
# server and two client certificates it signs (servers: SAN IP 127.0.0.1
# and localhost, as the Java client checks the server's name; the second
# is the rotated one of the reload test); a client certificate signed by
# another CA (untrusted); an expired client certificate of the CA. For TLS between servers (the server
# certificates serve as quorum certificates too): peer-cn, with only
# CN=localhost and no SAN (ZooKeeper's own recipe); peer-wrongip, whose
# SAN names another address; peer-stranger, from the untrusted CA. Each key pair in JKS, PKCS12 and PEM (with the
# key encrypted by the store password, and without: *-nopw.pem); the
# trust store in the three formats too. Every store's password is
# "storepw".
# Usage: make-stores.sh <dir>   (re-running replaces the stores)
set -euo pipefail
out=${1:?usage: make-stores.sh <dir>}
mkdir -p "$out"
cd "$out"
rm -f ./*.jks ./*.p12 ./*.pem ./*.csr ./*.crt ./*.srl
pw=storepw
kt() { keytool -noprompt "$@" 2>/dev/null; }

# CAs (EC P-256: fast handshakes).
for ca in ca otherca; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=corral test $ca/O=corral" -keyout "$ca-key.pem" -out "$ca.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
done

# name CA DN SAN-ext days-or-"expired"
issue() {
  local name=$1 ca=$2 dn=$3 ext=$4 when=$5
  kt -genkeypair -alias "$name" -keyalg EC -groupname secp256r1 -dname "$dn" \
    -keystore "$name.p12" -storetype PKCS12 -storepass $pw -keypass $pw -validity 3650
  kt -certreq -alias "$name" -keystore "$name.p12" -storepass $pw -file "$name.csr"
  local sign=(openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca-key.pem"
    -CAcreateserial -out "$name.crt")
  local extfile
  extfile=$(mktemp)
  printf '%s\n' "$ext" > "$extfile"
  if [[ $when == expired ]]; then
    # Valid for one day, a year ago. openssl 3.0's `x509 -req` cannot
    # back-date; `openssl ca` can (-startdate/-enddate).
    local cadir
    cadir=$(mktemp -d)
    : > "$cadir/index.txt"
    printf 'policy = any\n[ca]\ndefault_ca = d\n[d]\ndatabase = %s/index.txt\nnew_certs_dir = %s\nserial = %s/serial\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n' \
      "$cadir" "$cadir" "$cadir" > "$cadir/ca.cnf"
    echo 1000 > "$cadir/serial"
    openssl ca -batch -config "$cadir/ca.cnf" -cert "$ca.crt" -keyfile "$ca-key.pem" \
      -in "$name.csr" -out "$name.crt" -notext -preserveDN -extfile "$extfile" \
      -startdate "$(date -u -d '-366 days' +%Y%m%d%H%M%SZ)" \
      -enddate "$(date -u -d '-365 days' +%Y%m%d%H%M%SZ)" 2>/dev/null
    rm -rf "$cadir"
  else
    "${sign[@]}" -extfile "$extfile" -days "$when" 2>/dev/null
  fi
  rm -f "$extfile"
  cat "$name.crt" "$ca.crt" > "$name-chain.crt"
  kt -importcert -alias ca -file "$ca.crt" -keystore "$name.p12" -storetype PKCS12 -storepass $pw
  kt -importcert -alias "$name" -file "$name-chain.crt" -keystore "$name.p12" -storetype PKCS12 -storepass $pw
  kt -importkeystore -srckeystore "$name.p12" -srcstoretype PKCS12 -srcstorepass $pw \
    -destkeystore "$name.jks" -deststoretype JKS -deststorepass $pw -destkeypass $pw
  # PEM: the chain and the PKCS#8 key in one file (ZooKeeper's PemReader),
  # the key encrypted with the store password; and plain files for clients.
  openssl pkcs12 -in "$name.p12" -passin pass:$pw -nocerts -nodes 2>/dev/null \
    | openssl pkcs8 -topk8 -nocrypt -out "$name-key.pem"
  openssl pkcs8 -topk8 -in "$name-key.pem" -v2 aes-256-cbc -passout pass:$pw -out "$name-enckey.pem"
  cat "$name-chain.crt" "$name-enckey.pem" > "$name.pem"
  cat "$name-chain.crt" "$name-key.pem" > "$name-nopw.pem"
  cp "$name-chain.crt" "$name-cert.pem"
  rm -f "$name.csr" "$name-enckey.pem"
}

issue server ca "CN=localhost,OU=server,O=corral" "subjectAltName=IP:127.0.0.1,DNS:localhost" 3650
issue server2 ca "CN=server2,OU=server,O=corral" "subjectAltName=IP:127.0.0.1,DNS:localhost" 3650
issue client ca "CN=client,OU=test,O=corral" "extendedKeyUsage=clientAuth" 3650
issue admin ca "CN=admin,OU=test,O=corral" "extendedKeyUsage=clientAuth" 3650
issue stranger otherca "CN=stranger,OU=test,O=corral" "extendedKeyUsage=clientAuth" 3650
issue expired ca "CN=expired,OU=test,O=corral" "extendedKeyUsage=clientAuth" expired
issue peer-cn ca "CN=localhost,OU=quorum,O=corral" "basicConstraints=CA:FALSE" 3650
issue peer-wrongip ca "CN=wrongip,OU=quorum,O=corral" "subjectAltName=IP:10.9.9.9,DNS:nowhere.invalid" 3650
issue peer-stranger otherca "CN=localhost,OU=quorum,O=corral" "subjectAltName=IP:127.0.0.1,DNS:localhost" 3650


# Trust stores: the CA alone.
kt -importcert -alias ca -file ca.crt -keystore truststore.p12 -storetype PKCS12 -storepass $pw
kt -importcert -alias ca -file ca.crt -keystore truststore.jks -storetype JKS -storepass $pw
cp ca.crt truststore.pem
echo "stores in $out"
