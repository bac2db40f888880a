"""One Eclipse Paho MQTT client, driven by a JSON command, printing what happens as JSON lines.

Run with Debian's interpreter (python3-paho-mqtt): /usr/bin/python3 client.py '<command>'; without an
argument the command is read from stdin. The command:

  port, host         the broker (host defaults to 127.0.0.1)
  version            4 (MQTT 3.1.1) or 5 (MQTT 5.0)
  clientId           the client identifier ("" lets the broker assign one)
  clean              3.1.1 clean session / 5.0 clean start (default true)
  sessionExpiry      5.0 Session Expiry Interval in seconds (omitted: none)
  will               {topic, payload, qos, retain}
  subscribe          [{topic, qos}]: subscribed after the CONNACK
  publish            [{topic, payload, qos, retain}]: sent once every subscription is acknowledged
  messages           how many messages to receive before leaving (default 0)
  stay               true: stay connected until killed (for a will) instead of leaving
  timeout            seconds before giving up (default 5): the process always ends on its own

Each event is one line: {"event": "connected", "reasonCode", "sessionPresent"}, {"event": "subscribed",
"granted": [codes]}, {"event": "published", "mid"} (QoS 0: written; QoS 1: PUBACK; QoS 2: PUBCOMP),
{"event": "message", "topic", "payload", "qos", "retain"}, {"event": "done"} before a clean DISCONNECT,
{"event": "lost", "reasonCode"} when the broker closes the connection, {"event": "timeout"}.
Exit codes: 0 done, 1 connection refused, 2 timeout, 3 connection lost.
"""

import json
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def emit(event, **fields):
    fields["event"] = event
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def code(value):
    """A reason code as an int: paho gives ints for 3.1.1 and ReasonCodes objects for 5.0."""
    return getattr(value, "value", value)


def main():
    command = json.loads(sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read())
    v5 = command["version"] == 5
    protocol = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
    client_id = command.get("clientId", "")
    clean = command.get("clean", True)
    subscriptions = command.get("subscribe", [])
    publications = command.get("publish", [])
    wanted = command.get("messages", 0)
    stay = command.get("stay", False)

    # paho-mqtt 2 asks which callback signatures to use; the 1.x ones are used everywhere here.
    version_args = [mqtt.CallbackAPIVersion.VERSION1] if hasattr(mqtt, "CallbackAPIVersion") else []
    if v5:
        client = mqtt.Client(*version_args, client_id=client_id, protocol=protocol)
    else:
        client = mqtt.Client(*version_args, client_id=client_id, clean_session=clean, protocol=protocol)

    state = {"exit": None, "received": 0, "unacked": set(), "published": False, "leaving": False}

    def publish_all():
        state["published"] = True
        for item in publications:
            info = client.publish(
                item["topic"], item.get("payload", "").encode(), item.get("qos", 0), item.get("retain", False)
            )
            state["unacked"].add(info.mid)

    def maybe_leave():
        if stay or state["leaving"] or not state["published"]:
            return
        if state["received"] >= wanted and not state["unacked"]:
            state["leaving"] = True
            emit("done")
            client.disconnect()
            state["exit"] = 0

    def on_connect(_client, _userdata, flags, rc, _properties=None):
        emit("connected", reasonCode=code(rc), sessionPresent=bool(flags.get("session present")))
        if code(rc) != 0:
            state["exit"] = 1
            return
        if subscriptions:
            client.subscribe([(item["topic"], item.get("qos", 0)) for item in subscriptions])
        else:
            publish_all()
            maybe_leave()

    def on_subscribe(_client, _userdata, _mid, granted, _properties=None):
        emit("subscribed", granted=[code(value) for value in granted])
        publish_all()
        maybe_leave()

    def on_publish(_client, _userdata, mid, *_rest):
        emit("published", mid=mid)
        state["unacked"].discard(mid)
        maybe_leave()

    def on_message(_client, _userdata, message):
        emit(
            "message",
            topic=message.topic,
            payload=message.payload.decode("utf-8", "replace"),
            qos=message.qos,
            retain=bool(message.retain),
        )
        state["received"] += 1
        maybe_leave()

    def on_disconnect(_client, _userdata, rc, *_rest):
        if not state["leaving"]:
            emit("lost", reasonCode=code(rc))
            state["exit"] = 3

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_publish = on_publish
    client.on_message = on_message
    client.on_disconnect = on_disconnect

    will = command.get("will")
    if will:
        payload = will.get("payload", "").encode()
        client.will_set(will["topic"], payload, will.get("qos", 0), will.get("retain", False))

    host = command.get("host", "127.0.0.1")
    if v5:
        properties = None
        if "sessionExpiry" in command:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = command["sessionExpiry"]
        client.connect(host, command["port"], 60, clean_start=clean, properties=properties)
    else:
        client.connect(host, command["port"], 60)

    deadline = time.monotonic() + command.get("timeout", 5)
    while state["exit"] is None:
        if time.monotonic() > deadline:
            emit("timeout")
            state["exit"] = 2
            break
        client.loop(0.05)
    # Let a DISCONNECT just queued reach the socket before the process ends.
    if state["leaving"]:
        client.loop_write()
    return state["exit"]


if __name__ == "__main__":
    sys.exit(main())
