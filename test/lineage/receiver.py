#!/usr/bin/python3
"""A Marquez-like OpenLineage receiver for the lineage TAP test.

POST /api/v1/lineage   store the body (one line of --events, JSONL) and
                       answer 201, or answer 500 without storing when the
                       mode is "fail"
POST /_mode/ok|fail    switch the mode
GET  /_count           how many events are stored

The events file is appended to and flushed per event, so a restarted
receiver keeps what it received before.  Binds 127.0.0.1 only; writes its
port to --port-file once listening.  Python standard library only.
"""
import argparse
import http.server
import json
import os
import threading


class State:
    mode = 'ok'
    lock = threading.Lock()
    events = None
    attempts = 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=b''):
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == '/_count':
            with State.lock, open(State.events, 'rb') as f:
                n = sum(1 for line in f if line.strip())
            self.reply(200, json.dumps({'events': n, 'attempts': State.attempts}).encode())
        else:
            self.reply(404)

    def do_POST(self):
        length = int(self.headers.get('Content-Length', '0'))
        body = self.rfile.read(length)
        if self.path.startswith('/_mode/'):
            State.mode = self.path[len('/_mode/'):]
            self.reply(200, b'{}')
            return
        if self.path != '/api/v1/lineage':
            self.reply(404)
            return
        with State.lock:
            State.attempts += 1
        if State.mode == 'fail':
            self.reply(500, b'{"error": "receiver in fail mode"}')
            return
        try:
            event = json.loads(body)
        except ValueError:
            self.reply(400, b'{"error": "not JSON"}')
            return
        if self.headers.get('Content-Type') != 'application/json':
            self.reply(415)
            return
        with State.lock, open(State.events, 'a') as f:
            f.write(json.dumps(event, separators=(',', ':')) + '\n')
            f.flush()
            os.fsync(f.fileno())
        self.reply(201, b'')


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--port-file', required=True)
    p.add_argument('--events', required=True)
    p.add_argument('--mode', default='ok')
    a = p.parse_args()
    State.mode = a.mode
    State.events = a.events
    open(a.events, 'a').close()
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', a.port), Handler)
    with open(a.port_file + '.tmp', 'w') as f:
        f.write(str(srv.server_address[1]))
    os.rename(a.port_file + '.tmp', a.port_file)
    srv.serve_forever()


if __name__ == '__main__':
    main()
