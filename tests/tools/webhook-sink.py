#!/usr/bin/env python3
"""webhook-sink.py - a CloudEvents webhook sink for tests (protocol.md 15.1).

Listens on 127.0.0.1:PORT and appends one JSON line per request to LOG
(written before it answers, so a request it is slow to answer is there
too): t (Unix time, float), method, path, headers (lower-case names),
body (base64) and answer.

OPTIONS is the abuse-protection handshake: 200 with WebHook-Allowed-Origin
set to the first line of ALLOW, read at each request ("-" leaves the
header out). Every POST takes the first
line of ANSWERS and removes it, unless it is the last one, which stays:
  200 | 201 | 202 | 204 | 500 ...   that status
  429 N          429 with Retry-After: N (seconds)
  429-date N     429 with Retry-After as an HTTP date N seconds ahead
  410            410 Gone
  slow N         waits N seconds, then 200 (the client has given up)
READY is created once the socket is bound.
"""
import argparse
import base64
import email.utils
import http.server
import json
import threading
import time

LOCK = threading.Lock()


def next_answer(path):
    with LOCK:
        with open(path) as f:
            lines = [line.strip() for line in f if line.strip()]
        if len(lines) > 1:
            with open(path, "w") as f:
                f.write("\n".join(lines[1:]) + "\n")
        return lines[0] if lines else "200"


def record(args, handler, body, answer):
    line = {"t": time.time(), "method": handler.command, "path": handler.path,
            "headers": {k.lower(): v for k, v in handler.headers.items()},
            "body": base64.b64encode(body).decode(), "answer": answer}
    with LOCK:
        with open(args.log, "a") as f:
            f.write(json.dumps(line) + "\n")
            f.flush()


def make_handler(args):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"       # keep-alive, as the partner reuses it

        def log_message(self, fmt, *a):
            pass

        def finish_empty(self, status, headers=()):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_OPTIONS(self):
            record(args, self, b"", "options")
            with open(args.allow) as f:
                origin = f.readline().strip()
            allow = [] if origin == "-" else [("WebHook-Allowed-Origin", origin)]
            self.finish_empty(200, allow)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            words = next_answer(args.answers).split()
            record(args, self, body, words[0])
            if words[0] == "slow":
                time.sleep(float(words[1]))
                try:
                    self.finish_empty(200)
                except OSError:
                    pass
            elif words[0] == "429":
                self.finish_empty(429, [("Retry-After", words[1])])
            elif words[0] == "429-date":
                when = email.utils.formatdate(time.time() + float(words[1]), usegmt=True)
                self.finish_empty(429, [("Retry-After", when)])
            else:
                self.finish_empty(int(words[0]))
    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--answers", required=True)
    parser.add_argument("--allow", required=True)
    parser.add_argument("--ready", required=True)
    args = parser.parse_args()
    http.server.ThreadingHTTPServer.allow_reuse_address = True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args))
    server.daemon_threads = True
    open(args.ready, "w").close()
    server.serve_forever()


if __name__ == "__main__":
    main()
