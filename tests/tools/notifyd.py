#!/usr/bin/env python3
"""notifyd.py SOCKET OUTFILE SECONDS

Plays systemd's side of sd_notify(3): binds a datagram socket and writes
each message it receives, with a monotonic timestamp in ms, as one line
"<ms> <message with newlines as |>" to OUTFILE. Stops after SECONDS."""
import os
import socket
import sys
import time

path, outfile, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
if os.path.exists(path):
    os.unlink(path)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
sock.settimeout(0.2)
deadline = time.monotonic() + seconds
with open(outfile, "w") as out:
    while time.monotonic() < deadline:
        try:
            data = sock.recv(4096)
        except socket.timeout:
            continue
        ms = int(time.monotonic() * 1000)
        out.write(f"{ms} {data.decode(errors='replace').replace(chr(10), '|')}\n")
        out.flush()
