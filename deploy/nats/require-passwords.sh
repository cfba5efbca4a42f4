#!/bin/sh
# Start nats-server only when every role's password is set and not empty.
# nats-server itself refuses a password variable that is not set, but takes an empty one,
# and then anyone may log in as that role with no password. Usage (what the shipped
# docker-compose.yml and deploy/k8s/nats.yaml run):
#   require-passwords.sh -c /etc/nats/single.conf [more nats-server arguments]
set -eu
missing=""
for role in SERVICES TIMING RACECONTROL GRAPHICS OPERATIONS SYSTEM; do
    eval "value=\${CHEQUERED_${role}_PASSWORD:-}"
    if [ -z "$value" ]; then
        missing="$missing CHEQUERED_${role}_PASSWORD"
    fi
done
if [ -n "$missing" ]; then
    echo "refusing to start: empty or unset password:$missing (set each to a secret)" >&2
    exit 78
fi
exec "${NATS_SERVER:-nats-server}" "$@"
