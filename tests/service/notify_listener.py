#!/usr/bin/env python3
"""Plays systemd's side of the notify protocol: binds an AF_UNIX datagram socket and appends every
message it receives to a file, one KEY=VALUE per line, until it is killed."""
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
with open(out, "a", encoding="utf-8") as f:
    while True:
        data = sock.recv(65536)
        f.write(data.decode("utf-8", "replace") + "\n")
        f.flush()
