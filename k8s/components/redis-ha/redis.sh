#!/bin/sh
# A Redis data node of the highly available option. It replicates whichever node the Sentinels
# name the primary, so a pod that comes back after a failover rejoins as a replica instead of
# claiming to be the primary again. At the very first start no Sentinel knows one: pod 0 is it.
# Arguments: redis-server's options (persistence, memory). REDIS_PASSWORD (from the thinkstream-redis
# Secret) reaches redis-server on its standard input, for clients and for replicating the primary.
set -eu
domain="$POD_NAMESPACE.svc.cluster.local"
me="$POD_NAME.thinkstream-redis.$domain"
primary=""
for i in 0 1 2; do
  sentinel="thinkstream-sentinel-$i.thinkstream-sentinel.$domain"
  primary=$(timeout 3 redis-cli -h "$sentinel" -p 26379 sentinel get-master-addr-by-name thinkstream 2>/dev/null | head -n 1) || true
  [ -n "$primary" ] && break
done
[ -n "$primary" ] || primary="thinkstream-redis-0.thinkstream-redis.$domain"
set -- "$@" --replica-announce-ip "$me"
if [ "$primary" != "$me" ]; then
  set -- "$@" --replicaof "$primary" 6379
fi
exec redis-server - "$@" <<CONF
requirepass $REDIS_PASSWORD
masterauth $REDIS_PASSWORD
CONF
