#!/usr/bin/env python3
"""tcprecord.py LISTEN_PORT TARGET_PORT OUTFILE SECONDS

A loopback TCP relay that records every byte in both directions into
OUTFILE, so a test can prove what crosses the wire (no capture privileges
needed). Listens on 127.0.0.1 only and stops by itself after SECONDS."""
import selectors
import socket
import sys
import time

listen_port, target_port, outfile, seconds = (int(sys.argv[1]), int(sys.argv[2]),
                                              sys.argv[3], float(sys.argv[4]))
deadline = time.monotonic() + seconds
sel = selectors.DefaultSelector()
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", listen_port))
server.listen(16)
sel.register(server, selectors.EVENT_READ)
peers = {}
with open(outfile, "wb") as out:
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            sock = key.fileobj
            if sock is server:
                client, _ = server.accept()
                try:
                    upstream = socket.create_connection(("127.0.0.1", target_port))
                except OSError:
                    client.close()  # target not up yet: the peer reconnects
                    continue
                peers[client], peers[upstream] = upstream, client
                sel.register(client, selectors.EVENT_READ)
                sel.register(upstream, selectors.EVENT_READ)
                continue
            data = sock.recv(65536)
            other = peers.get(sock)
            if not data or other is None:
                for s in (sock, other):
                    if s is not None and s in peers:
                        sel.unregister(s)
                        peers.pop(s, None)
                        s.close()
                continue
            out.write(data)
            out.flush()
            other.sendall(data)
