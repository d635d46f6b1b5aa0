#!/usr/bin/env python3
"""A TCP relay that records what crosses it: wire_recorder.py LISTEN_PORT TARGET_PORT OUT_PREFIX.

Every connection to 127.0.0.1:LISTEN_PORT is forwarded to 127.0.0.1:TARGET_PORT; the bytes the
clients send are appended to OUT_PREFIX.to_server, the answers to OUT_PREFIX.to_client. Prints
"recording" once it listens. Stops on SIGTERM. Standard library only.
"""
import selectors
import signal
import socket
import sys
import threading

listen_port, target_port, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
logs = {"to_server": open(prefix + ".to_server", "ab"), "to_client": open(prefix + ".to_client", "ab")}


def relay(client):
    try:
        server = socket.create_connection(("127.0.0.1", target_port))
    except OSError:
        client.close()
        return
    sel = selectors.DefaultSelector()
    sel.register(client, selectors.EVENT_READ, (server, "to_server"))
    sel.register(server, selectors.EVENT_READ, (client, "to_client"))
    try:
        while True:
            for key, _ in sel.select():
                data = key.fileobj.recv(65536)
                if not data:
                    return
                peer, direction = key.data
                with lock:
                    logs[direction].write(data)
                    logs[direction].flush()
                peer.sendall(data)
    except OSError:
        pass
    finally:
        client.close()
        server.close()


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", listen_port))
    listener.listen(16)
    print("recording", flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=relay, args=(client,), daemon=True).start()


main()
