#!/bin/sh
# A Sentinel of the highly available option. It starts from what the other Sentinels know (the
# current primary), else from pod 0 of the data nodes; Sentinels find each other through the
# primary. Two of the three must agree that the primary is down before a replica is promoted.
set -eu
domain="$POD_NAMESPACE.svc.cluster.local"
me="$POD_NAME.thinkstream-sentinel.$domain"
primary=""
for i in 0 1 2; do
  peer="thinkstream-sentinel-$i.thinkstream-sentinel.$domain"
  [ "$peer" = "$me" ] && continue
  primary=$(timeout 3 redis-cli -h "$peer" -p 26379 sentinel get-master-addr-by-name thinkstream 2>/dev/null | head -n 1) || true
  [ -n "$primary" ] && break
done
[ -n "$primary" ] || primary="thinkstream-redis-0.thinkstream-redis.$domain"
# Sentinel rewrites its configuration as it learns, so it lives on a writable volume.
cat > /data/sentinel.conf <<CONF
port 26379
dir /data
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $me
sentinel monitor thinkstream $primary 6379 2
sentinel auth-pass thinkstream $REDIS_PASSWORD
sentinel down-after-milliseconds thinkstream 5000
sentinel failover-timeout thinkstream 60000
sentinel parallel-syncs thinkstream 1
CONF
exec redis-server /data/sentinel.conf --sentinel
