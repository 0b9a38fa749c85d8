"""kafka-python 2.x and 3.x side by side.

The producer and consumer APIs are the same in both; the admin client was rewritten in 3.0
(``list_groups`` instead of ``list_consumer_groups``, dicts instead of raw responses, ...). These
helpers call whichever the installed version has and return plain Python values, so one test runs
unchanged against both.
"""

import kafka
import kafka.errors as Errors
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

MAJOR = int(kafka.__version__.split(".")[0])
VERSION = kafka.__version__

__all__ = ["KafkaAdminClient", "KafkaConsumer", "KafkaProducer", "TopicPartition", "Errors"]


def admin(bootstrap, **config):
    config.setdefault("request_timeout_ms", 15000)
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="mini-kafka-tests", **config)


def producer_id(producer):
    """The producer id an idempotent producer got from InitProducerId (None when not idempotent,
    -1 before it got one). Reads a private attribute that 2.x and 3.x share."""
    manager = getattr(producer, "_transaction_manager", None)
    return None if manager is None else manager.producer_id_and_epoch.producer_id


def _raise_for(code, what):
    if code:
        raise Errors.for_code(code)(what)


def create_topic(adm, name, partitions, configs=None):
    if MAJOR >= 3:
        adm.create_topics({name: {"num_partitions": partitions, "replication_factor": 1,
                                  "configs": configs or {}}})
    else:
        from kafka.admin import NewTopic
        resp = adm.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})])
        for err in resp.topic_errors:
            _raise_for(err[1], f"create_topics {err[0]}: {err[2:] if len(err) > 2 else ''}")


def delete_topic(adm, name):
    if MAJOR >= 3:
        adm.delete_topics([name])
    else:
        resp = adm.delete_topics([name])
        for topic, code in resp.topic_error_codes:
            _raise_for(code, f"delete_topics {topic}")


def create_partitions(adm, name, total):
    if MAJOR >= 3:
        adm.create_partitions({name: total})
    else:
        from kafka.admin import NewPartitions
        resp = adm.create_partitions({name: NewPartitions(total)})
        for err in resp.topic_errors:
            _raise_for(err[1], f"create_partitions {err[0]}")


def list_topics(adm):
    return set(adm.list_topics())


def describe_configs(adm, resource_type, name):
    """{config name: value} of one resource ('topic' or 'broker'); raises on a resource error."""
    rtype = ConfigResourceType.TOPIC if resource_type == "topic" else ConfigResourceType.BROKER
    resource = ConfigResource(rtype, name)
    if MAJOR >= 3:
        out = adm.describe_configs([resource], config_filter="all")
        configs = out[resource_type][name]
        return {key: data.get("value") for key, data in configs.items()}
    responses = adm.describe_configs([resource])
    result = {}
    for resp in responses:
        for res in resp.resources:
            error_code, error_message, _rtype, rname, entries = res[:5]
            _raise_for(error_code, f"describe_configs {rname}: {error_message}")
            for entry in entries:
                result[entry[0]] = entry[1]
    return result


# --- consumer groups -----------------------------------------------------------------------


def list_groups(adm):
    """Group ids the broker knows."""
    if MAJOR >= 3:
        return {g["group_id"] for g in adm.list_groups()}
    return {g[0] for g in adm.list_consumer_groups()}


def _partitions_of(assignment):
    """TopicPartitions of a decoded member assignment, whatever shape the client gave it."""
    if assignment is None or isinstance(assignment, (bytes, bytearray)) and not assignment:
        return set()
    if hasattr(assignment, "partitions") and callable(assignment.partitions):
        return set(assignment.partitions())
    if isinstance(assignment, dict):
        pairs = assignment.get("assigned_partitions", assignment.get("assignment", []))
    else:
        pairs = getattr(assignment, "assignment", None) or getattr(assignment, "assigned_partitions", [])
    out = set()
    for item in pairs:
        if isinstance(item, dict):
            topic, parts = item.get("topic"), item.get("partitions", [])
        else:
            topic, parts = item[0], item[1]
        out |= {TopicPartition(topic, p) for p in parts}
    return out


def describe_group(adm, group):
    """{'state': str, 'protocol_type': str, 'members': {member_id: {'client_id', 'partitions'}}}."""
    if MAJOR >= 3:
        g = adm.describe_groups([group])[group]
        if g.get("error"):
            raise AssertionError(f"describe_groups {group}: {g['error']}")
        members = {}
        for m in g["members"]:
            members[m["member_id"]] = {"client_id": m.get("client_id"),
                                       "partitions": _partitions_of(m.get("member_assignment"))}
        return {"state": g.get("group_state"), "protocol_type": g.get("protocol_type"), "members": members}
    (g,) = adm.describe_consumer_groups([group])
    members = {}
    for m in g.members:
        members[m.member_id] = {"client_id": m.client_id, "partitions": _partitions_of(m.member_assignment)}
    return {"state": g.state, "protocol_type": g.protocol_type, "members": members}


def delete_group(adm, group):
    """Deletes a group; returns None on success, else Kafka's error name (e.g. NON_EMPTY_GROUP)."""
    if MAJOR >= 3:
        results = adm.delete_groups([group])  # {group_id: 'OK' or the error class's name}
        assert set(results) == {group}, results
        err = results[group]
        return None if err == "OK" else getattr(Errors, err).message
    (gid, err), = adm.delete_consumer_groups([group])  # [(group_id, error class)]
    assert gid == group
    return None if err is Errors.NoError else err.message


def list_group_offsets(adm, group):
    """{TopicPartition: committed offset} of a group."""
    if MAJOR >= 3:
        offsets = adm.list_group_offsets({group: None})[group]
    else:
        offsets = adm.list_consumer_group_offsets(group)
    return {tp: oam.offset for tp, oam in offsets.items()}
