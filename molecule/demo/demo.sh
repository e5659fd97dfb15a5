#!/usr/bin/env bash
# `make demo`: converge site.yml on a local systemd container standing in for a VM (Molecule
# scenario "demo"), then print the HTTPS address on 127.0.0.1 and curl lines that work.
# Safe to re-run: it converges the same container again. `make demo-destroy` removes it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

name=fastapi-kit-demo
domain=app.kit.test
scenario=(--scenario-name demo)

molecule create "${scenario[@]}"
molecule prepare "${scenario[@]}"
molecule converge "${scenario[@]}"

port="$(docker port "$name" 443/tcp | head -n 1 | sed 's/.*://')"
mkdir -p .cache/demo
# The certificate comes from the Pebble CA running in the container; trust its current root.
docker exec "$name" curl --silent --fail --cacert /etc/pebble/https-ca.pem \
  https://localhost:15000/roots/0 >.cache/demo/pebble-root.pem
ca="$PWD/.cache/demo/pebble-root.pem"
curl_base="curl --cacert $ca --resolve $domain:$port:127.0.0.1"

echo
echo "The demo host '$name' serves https://$domain:$port/ (published on 127.0.0.1 only)."
echo "Its certificate was issued over ACME by a local Pebble CA, whose root is $ca."
echo
echo "  $curl_base https://$domain:$port/health/ready"
echo "  $curl_base https://$domain:$port/v1/items"
echo "  $curl_base -H \"Authorization: Bearer \$(make -s demo-token)\" https://$domain:$port/v1/me"
echo
if $curl_base --silent --fail "https://$domain:$port/health/ready" >/dev/null; then
  echo "Checked: /health/ready answers 200 through nginx over TLS."
else
  echo "ERROR: /health/ready did not answer through nginx; see: docker exec $name journalctl -u app" >&2
  exit 1
fi
echo "Shell on the host: docker exec -it $name bash    Remove it: make demo-destroy"
