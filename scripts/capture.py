#!/usr/bin/env python3
"""Records the Kafka frames between clients and a broker, one hex file per frame.

    python3 scripts/capture.py LISTEN_PORT BROKER_HOST:BROKER_PORT OUT_DIR

Point a client at localhost:LISTEN_PORT instead of the broker. Every frame that crosses, in either
direction, is written to OUT_DIR as hex text in the format of `stages/` (a comment line, then the
bytes), named after its order, connection, API and correlation id:

    0007-c2-Produce-v9-corr4-request.hex
    0008-c2-Produce-v9-corr4-response.hex

`mini-kafka decode OUT_DIR/0007-*.hex OUT_DIR/0008-*.hex` then explains the exchange. A client
that asks the broker for its address (Metadata, FindCoordinator) gets the broker's own and goes
there directly afterwards, so start the broker with `advertised.listeners` set to this proxy
(`advertised.listeners=PLAINTEXT://localhost:LISTEN_PORT`) to keep every request in the capture.
Standard library only. Stop it with Ctrl-C.
"""

import os
import socket
import struct
import sys
import threading

API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
    10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
    15: "DescribeGroups", 16: "ListGroups", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
    21: "DeleteRecords", 22: "InitProducerId", 24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn",
    26: "EndTxn", 28: "TxnOffsetCommit", 33: "AlterConfigs", 44: "IncrementalAlterConfigs",
    32: "DescribeConfigs", 37: "CreatePartitions", 42: "DeleteGroups", 65: "DescribeTransactions",
    66: "ListTransactions", 75: "DescribeTopicPartitions",
}

counter = 0
lock = threading.Lock()


def read_frame(sock):
    """One size-prefixed frame, size included; None when the peer closed."""
    size = read_exactly(sock, 4)
    if size is None:
        return None
    body = read_exactly(sock, struct.unpack(">i", size)[0])
    return None if body is None else size + body


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def write(out_dir, connection, what, frame, describe):
    global counter
    with lock:
        counter += 1
        path = os.path.join(out_dir, f"{counter:04d}-c{connection}-{what}.hex")
    hex_bytes = frame.hex()
    lines = [hex_bytes[i:i + 64] for i in range(0, len(hex_bytes), 64)]
    with open(path, "w") as f:
        f.write(f"# {describe}, captured by scripts/capture.py\n")
        f.write("\n".join(" ".join(line[j:j + 2] for j in range(0, len(line), 2)) for line in lines) + "\n")


def relay(client, broker_address, out_dir, connection):
    broker = socket.create_connection(broker_address)
    asked = {}  # correlation id -> (api name, version)

    def client_to_broker():
        while (frame := read_frame(client)) is not None:
            key, version, corr = struct.unpack(">hhi", frame[4:12])
            name = API_NAMES.get(key, f"api{key}")
            asked[corr] = (name, version)
            write(out_dir, connection, f"{name}-v{version}-corr{corr}-request", frame, f"{name} v{version} request")
            broker.sendall(frame)
        broker.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=client_to_broker, daemon=True)
    thread.start()
    while (frame := read_frame(broker)) is not None:
        corr = struct.unpack(">i", frame[4:8])[0]
        name, version = asked.get(corr, ("unknown", 0))
        write(out_dir, connection, f"{name}-v{version}-corr{corr}-response", frame, f"{name} v{version} response")
        client.sendall(frame)
    client.close()


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    listen_port, (host, port), out_dir = int(sys.argv[1]), sys.argv[2].rsplit(":", 1), sys.argv[3]
    os.makedirs(out_dir, exist_ok=True)
    server = socket.create_server(("127.0.0.1", listen_port))
    print(f"capturing 127.0.0.1:{listen_port} -> {host}:{port} into {out_dir}", flush=True)
    connection = 0
    while True:
        client, _ = server.accept()
        connection += 1
        threading.Thread(target=relay, args=(client, (host, int(port)), out_dir, connection), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
