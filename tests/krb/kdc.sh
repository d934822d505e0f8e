#!/usr/bin/env bash
# Starts a throw-away MIT Kerberos KDC (Debian's krb5-kdc) for the tests:
#   bash tests/krb/kdc.sh DIR PORT
# DIR gets krb5.conf (realm EXAMPLE.COM, KDC on 127.0.0.1:PORT), the
# database, keytabs for zookeeper/localhost (the server), bob and alice
# (clients), zkquorum/localhost, zkquorum/127.0.0.1, learner/127.0.0.1 and
# learner/localhost (quorum SASL: the servers' service and two learners), each as
# DIR/<principal with / as _>.keytab, and kdc.pid. Prints nothing on success; stop the KDC with
# `kill $(cat DIR/kdc.pid)`. Safe to run twice on one DIR (it starts over).
set -euo pipefail
dir="$1"
port="$2"
realm=EXAMPLE.COM
for tool in krb5kdc kdb5_util kadmin.local; do
  command -v "$tool" >/dev/null || PATH="$PATH:/usr/sbin"
  command -v "$tool" >/dev/null || { echo "kdc.sh: $tool missing (krb5-kdc, krb5-admin-server; run scripts/setup.sh)" >&2; exit 1; }
done
if [[ -f "$dir/kdc.pid" ]]; then kill "$(cat "$dir/kdc.pid")" 2>/dev/null || true; fi
rm -rf "$dir"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
cat > "$dir/krb5.conf" <<CONF
[libdefaults]
    default_realm = $realm
    dns_lookup_realm = false
    dns_lookup_kdc = false
    rdns = false
    udp_preference_limit = 1
[realms]
    $realm = {
        kdc = 127.0.0.1:$port
    }
CONF
cat > "$dir/kdc.conf" <<CONF
[kdcdefaults]
    kdc_ports = $port
    kdc_tcp_ports = $port
[realms]
    $realm = {
        database_name = $dir/principal
        key_stash_file = $dir/stash
        acl_file = $dir/kadm5.acl
        max_life = 1h
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }
[logging]
    kdc = FILE:$dir/kdc.log
CONF
: > "$dir/kadm5.acl"
export KRB5_CONFIG="$dir/krb5.conf" KRB5_KDC_PROFILE="$dir/kdc.conf"
kdb5_util -r "$realm" -P masterpw create -s >/dev/null
for p in zookeeper/localhost bob alice zkquorum/localhost zkquorum/127.0.0.1 learner/127.0.0.1 learner/localhost; do
  kadmin.local -r "$realm" -q "addprinc -randkey $p@$realm" >/dev/null 2>&1
  kadmin.local -r "$realm" -q "ktadd -k $dir/${p//\//_}.keytab $p@$realm" >/dev/null
done
krb5kdc -r "$realm" -P "$dir/kdc.pid"
for _ in $(seq 50); do
  [[ -s "$dir/kdc.pid" ]] && break
  sleep 0.1
done
[[ -s "$dir/kdc.pid" ]] || { echo "kdc.sh: krb5kdc did not start; see $dir/kdc.log" >&2; exit 1; }
