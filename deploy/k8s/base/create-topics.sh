#!/usr/bin/env bash
# One script for both deployments: Compose mounts this file, Kustomize makes a ConfigMap of it.
# Creates each service's event topic and its dead-letter topic, once (--if-not-exists), with
# explicit partitions, replication and retention. The services would otherwise create missing
# topics themselves with replication factor 1, which is only right on a single broker.
#
# Settings (environment): BOOTSTRAP_SERVERS, EVENT_PARTITIONS, DLQ_PARTITIONS,
# REPLICATION_FACTOR, MIN_INSYNC_REPLICAS, EVENT_RETENTION_MS, DLQ_RETENTION_MS.
set -euo pipefail

kafka_topics=/opt/kafka/bin/kafka-topics.sh
: "${BOOTSTRAP_SERVERS:?}" "${EVENT_PARTITIONS:?}" "${DLQ_PARTITIONS:?}" "${REPLICATION_FACTOR:?}"
: "${MIN_INSYNC_REPLICAS:?}" "${EVENT_RETENTION_MS:?}" "${DLQ_RETENTION_MS:?}"

create() {  # topic partitions retention_ms cleanup_policy
  "$kafka_topics" --bootstrap-server "$BOOTSTRAP_SERVERS" --create --if-not-exists \
    --topic "$1" --partitions "$2" --replication-factor "$REPLICATION_FACTOR" \
    --config cleanup.policy="$4" --config retention.ms="$3" \
    --config min.insync.replicas="$MIN_INSYNC_REPLICAS"
}

for service in registry materials scheduling approvals; do
  create "gmphub.$service.v1" "$EVENT_PARTITIONS" "$EVENT_RETENTION_MS" delete
  # Dead letters are keyed consumer/event id: compaction keeps the latest failure of each event.
  create "gmphub.$service.v1.dlq" "$DLQ_PARTITIONS" "$DLQ_RETENTION_MS" compact,delete
done
"$kafka_topics" --bootstrap-server "$BOOTSTRAP_SERVERS" --describe --topic '^gmphub\..*'
