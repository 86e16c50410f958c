#!/usr/bin/python3
#
# test/http/lh_http_server.py: the HTTP API the HTTP-source tests and the
# HTTP benchmark talk to (127.0.0.1 only, python3 standard library only).
#
#   lh_http_server.py [--port N] [--port-file FILE] [--log FILE] [--records N]
#                     [--cache]
#
# --port 0 (the default) picks an ephemeral port; the chosen port is written
# to --port-file atomically (a temporary file renamed into place), so a
# reader never sees a partial number.  --log names the request log: every
# request line, every header and the body of every request except those to
# /_control and /_stats, as received (secrets included: it is where the
# tests look for what was sent, and where).  --cache keeps every GET answer
# once built (for the benchmark: the server's own cost stays small and the
# same for every client); any /_control call empties it.
#
# Data: records 1..N, a pure function of their number i:
#   {"id": i, "created": 1700000000 + 60 i, "updated_at": "<ISO of created>",
#    "amount": (7919 i) % 100000, "currency": "usd", "name": "customer i",
#    "nested": {"k": i % 5}}
# Stripe-style responses use the id "ch_%06d" % i (and "object": "charge").
# Every style filters with the same optional query parameters: created_gte,
# created_gt (numbers), updated_gte, updated_gt (ISO text or epoch numbers).
#
# API styles (each also mounted under /a/<realm>/..., which requires the
# authentication configured for the prefix "/a/<realm>", see /_control):
#   GET  /stripe/v1/charges?limit=&starting_after=
#            {"object": "list", "data": [...], "has_more": bool}
#   GET  /sf/query                  first page of a Salesforce-style query
#   GET  /sf/query/next-<page>      {"totalSize", "done", "records",
#                                    "nextRecordsUrl": "/sf/query/next-<p>"|absent}
#            (batch_size= on the first request, 200 by default; the filter
#             and batch size travel in the next URL's query string)
#   GET  /link/items?page=&per_page=   array; Link: <abs url>; rel="next"
#   GET  /pages/items?page=&per_page=  array (page from 1)
#   GET  /offset/items?offset=&limit=  {"items": [...], "total": n}
#   GET  /cursor/items?cursor=&limit=  {"items": [...], "next_cursor": s|null}
#   GET  /cursor/nested?cursor=&limit= {"result": {"items": [...]},
#                                       "paging": {"next": {"cursor": s|null}}}
#   GET  /all/items                    every record, one array
#   POST /post/items?page=&per_page=   like /pages/items, wrapped:
#            {"data": [...], "request_body": <the JSON body received>}
#   POST /oauth/token                  OAuth2 client credentials (form body,
#            or the client in HTTP Basic): {"access_token", "token_type",
#            "expires_in", "scope"}
# Page sizes: limit/per_page default 100 (Stripe: 10), at most 1000.
#
# Control (never logged, never counted):
#   POST /_control  with a JSON object; every key is optional:
#     "reset": true          forget faults, counters and the request list
#                            (configuration and issued tokens stay)
#     "records": N           number of records
#     "drop_id": [i...]      these records are served without "id"
#     "null_id": [i...]      these records are served with "id": null
#     "pad_bytes": n         add "pad": "xxx..." (n bytes) to every record
#     "auth": {"/a/realm": rule | null, ...}   rules:
#            {"type": "bearer", "token": T}
#            {"type": "basic", "username": U, "password": P}
#            {"type": "api_key_header", "name": H, "value": V}
#            {"type": "api_key_query", "name": Q, "value": V}
#            {"type": "oauth2"}     a token issued by /oauth/token, valid
#     "oauth": {"client_id", "client_secret", "scope" (required if set),
#               "expires_in" (announced, default 3600),
#               "valid_seconds" (honoured here; default = expires_in)}
#     "expire_tokens": true  every token issued so far is expired now
#     "faults": [fault...]   appended to the fault list; "clear_faults": true
#   GET /_control?fault=<kind>&times=&path=&page=&status=&seconds=...
#     appends one fault (numbers parsed), for shell use; GET
#     /_control?reset, ?clear_faults, ?expire_tokens do what they say.
#   Answers with the configuration (JSON).
#
#   A fault: {"kind": K, "path": prefix (default: every path but /oauth),
#             "page": k (only the k-th page of a pagination, computed from
#             the request: page=, offset/limit, starting_after, cursor),
#             "method": M, "skip": m (let m matching requests pass first),
#             "times": n (default 1; -1 for ever), ...} with K one of
#     status         answer "status" (default 500) with "body" (or, with
#                    "echo": true, a body quoting the request line; with
#                    "echo": "headers", the request line and every request
#                    header, JSON-escaped), and
#                    "retry_after" (seconds, or "date": an HTTP date
#                    "seconds" (default 1) ahead) in Retry-After
#     hang           wait "seconds" (default 60) and close without answer
#     slow           wait "seconds" (default 1), then answer normally
#     drop           close the connection without an answer
#     truncate       Content-Length of the whole body, send "bytes"
#                    (default half of it), close
#     invalid_json   200, application/json, "body" (default an HTML page)
#     empty          200, application/json, empty body
#     redirect       302 to the same URL, or to "location" (served normally
#                    the next time once the fault is used up)
#     redirect_loop  302 to the same URL, for ever (times -1 by default)
#     unauthorized   401 whatever the credentials
#     expire_tokens  every OAuth2 token issued so far expires, before this
#                    request's token is checked (a token that expires
#                    between two pages)
#
#   GET /_stats -> {"total": n, "paths": {path: {"requests": n,
#                   "status": {"200": n, ...}}}, "requests": [{"seq",
#                   "method", "path", "query", "status" (a number, or
#                   "pending", "hang", "dropped", "truncated"), "fault",
#                   "page", "time" (epoch seconds of arrival),
#                   "auth" (the verdict), "token_no" (OAuth2: which token
#                   issued, from 1), "body"}...] (the last 20000),
#                   "in_flight": n (requests not answered yet),
#                   "oauth": {"issued": n, "requests": n (since the reset),
#                             "tokens": [every token ever issued]},
#                   "faults": [the faults, with "used" counts]}
# A request is counted when it arrives (a hanging one at once).
#
# Every connection has TCP_NODELAY: headers and body are two writes, and on
# a kept-alive connection the body would otherwise wait for the client's
# delayed ACK (40 ms a request).
#
# The server stops on SIGTERM or SIGINT.
#

import argparse
import base64
import binascii
import calendar
import email.utils
import json
import os
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BASE_EPOCH = 1700000000
STEP = 60
MAX_PAGE = 1000
MAX_REQUESTS_KEPT = 20000
# fault kinds that act before the request's credentials are checked
PRE_AUTH = ('expire_tokens',)


def iso(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


def parse_time(text):
    """An epoch number or an ISO timestamp (UTC, 'Z' or +00:00) to epoch."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    t = text.replace('Z', '').replace('+00:00', '').replace(' ', 'T')
    if '.' in t:
        t = t.split('.')[0]
    return calendar.timegm(time.strptime(t, '%Y-%m-%dT%H:%M:%S'))


class State:
    """Configuration, faults, counters and tokens, under one lock."""

    def __init__(self, records):
        self.lock = threading.Lock()
        self.records = records
        self.drop_id = set()
        self.null_id = set()
        self.pad_bytes = 0
        self.auth = {}
        self.oauth = {'client_id': 'lh-client', 'client_secret': None,
                      'scope': None, 'expires_in': 3600,
                      'valid_seconds': None}

        self.tokens = {}          # token -> [issued_at, valid_seconds, expired]
        self.token_list = []      # every token ever issued, in order
        self.reset()

    def reset(self):
        """Forget faults and counters; tokens stay valid."""
        self.faults = []
        self.seq = 0
        self.paths = {}
        self.requests = []
        self.issued = 0
        self.token_requests = 0

    def config(self):
        return {'records': self.records, 'drop_id': sorted(self.drop_id),
                'null_id': sorted(self.null_id), 'pad_bytes': self.pad_bytes,
                'auth_prefixes': sorted(self.auth),
                'faults': self.faults}

    # -- faults ---------------------------------------------------------------

    def take_fault(self, path, method, page, kinds=None):
        """The first fault that matches the request, used once (or skipped).

        kinds: only faults of these kinds (else only those not in PRE_AUTH).
        """
        with self.lock:
            for f in self.faults:
                if (f['kind'] in PRE_AUTH) != (kinds is not None):
                    continue
                if kinds is not None and f['kind'] not in kinds:
                    continue
                prefix = f.get('path')
                if prefix is None:
                    if path.startswith('/oauth') or '/oauth/' in path:
                        continue
                elif not path.startswith(prefix) and \
                        not strip_mount(path)[1].startswith(prefix):
                    continue
                if 'method' in f and f['method'].upper() != method:
                    continue
                if 'page' in f and f['page'] != page:
                    continue
                if f.get('times', 1) == 0:
                    continue
                if f.get('skip', 0) > 0:
                    f['skip'] -= 1
                    continue
                if f.get('times', 1) > 0:
                    f['times'] = f.get('times', 1) - 1
                f['used'] = f.get('used', 0) + 1
                return dict(f)
        return None

    def arrive(self, entry):
        """Count a request when it arrives (a hanging one counts at once)."""
        with self.lock:
            self.seq += 1
            entry['seq'] = self.seq
            p = self.paths.setdefault(entry['path'],
                                      {'requests': 0, 'status': {}})
            p['requests'] += 1
            self.requests.append(entry)
            if len(self.requests) > MAX_REQUESTS_KEPT:
                del self.requests[:len(self.requests) - MAX_REQUESTS_KEPT]

    def finish(self, entry):
        """Record the outcome (entry['_st']) of a request counted by arrive."""
        with self.lock:
            status = entry.pop('_st', 'none')
            entry['status'] = status
            p = self.paths.setdefault(entry['path'],
                                      {'requests': 0, 'status': {}})
            s = str(status)
            p['status'][s] = p['status'].get(s, 0) + 1

    # -- data -----------------------------------------------------------------

    def record(self, i, stripe=False):
        created = BASE_EPOCH + STEP * i
        r = {}
        if i not in self.drop_id:
            r['id'] = None if i in self.null_id else \
                ('ch_%06d' % i if stripe else i)
        if stripe:
            r['object'] = 'charge'
        r.update({'created': created, 'updated_at': iso(created),
                  'amount': (7919 * i) % 100000, 'currency': 'usd',
                  'name': 'customer %d' % i, 'nested': {'k': i % 5}})
        if self.pad_bytes:
            r['pad'] = 'x' * self.pad_bytes
        return r


def strip_mount(path):
    """('/a/realm', '/rest') for a mounted path, else ('', path)."""
    if path.startswith('/a/'):
        parts = path.split('/', 3)
        if len(parts) == 4:
            return '/a/' + parts[2], '/' + parts[3]
        return '/a/' + parts[2], '/'
    return '', path


def first_index(state, q):
    """First record number (1-based) that passes the incremental filters."""
    lo = 1
    try:
        if 'created_gte' in q:
            t = float(q['created_gte'])
            lo = max(lo, ceil_index(t))
        if 'created_gt' in q:
            t = float(q['created_gt'])
            lo = max(lo, floor_index(t) + 1)
        if 'updated_gte' in q:
            lo = max(lo, ceil_index(parse_time(q['updated_gte'])))
        if 'updated_gt' in q:
            lo = max(lo, floor_index(parse_time(q['updated_gt'])) + 1)
    except ValueError as e:
        raise BadRequest('invalid filter: %s' % e)
    return lo


def ceil_index(t):
    """Smallest i with created(i) >= t."""
    i = int(-((BASE_EPOCH - t) // STEP))  # ceil((t - BASE) / STEP)
    return max(i, 1)


def floor_index(t):
    """Largest i with created(i) <= t."""
    return int((t - BASE_EPOCH) // STEP)


class BadRequest(Exception):
    pass


def int_param(q, name, default, lo=0, hi=None):
    if name not in q or q[name] == '':
        return default
    try:
        v = int(q[name])
    except ValueError:
        raise BadRequest('%s must be an integer' % name)
    if v < lo or (hi is not None and v > hi):
        raise BadRequest('%s out of range' % name)
    return v


def encode_cursor(i):
    return base64.urlsafe_b64encode(json.dumps({'o': i}).encode()).decode().rstrip('=')


def decode_cursor(c):
    try:
        pad = '=' * (-len(c) % 4)
        return int(json.loads(base64.urlsafe_b64decode(c + pad))['o'])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BadRequest('invalid cursor')


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'lh-http-test/1.0'

    def setup(self):
        super().setup()
        # headers and body are two writes: without TCP_NODELAY the body of
        # a kept-alive connection waits for the client's delayed ACK (40 ms)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        pass

    # -- plumbing -------------------------------------------------------------

    def do_GET(self):
        self.handle_any('GET')

    def do_POST(self):
        self.handle_any('POST')

    def do_PUT(self):
        self.handle_any('PUT')

    def do_DELETE(self):
        self.handle_any('DELETE')

    def read_body(self):
        n = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(n) if n > 0 else b''

    def send(self, status, body, ctype='application/json', headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(',', ':')).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)
        self.wfile.flush()
        return len(body)

    def log_request_text(self, body):
        log = self.server.request_log
        if log is None:
            return
        text = '%s\n%s' % (self.requestline, str(self.headers))
        if body:
            text += body.decode('utf-8', 'replace') + '\n'
        text += '\n'
        with self.server.log_lock:
            log.write(text)
            log.flush()

    def handle_any(self, method):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        body = self.read_body()
        st = self.server.state

        if path == '/_control':
            return self.control(method, q, body)
        if path == '/_stats':
            with st.lock:
                out = {'total': st.seq, 'paths': st.paths,
                       'requests': st.requests,
                       'in_flight': sum(1 for r in st.requests
                                        if r['status'] == 'pending'),
                       'oauth': {'issued': st.issued,
                                 'tokens': st.token_list,
                                 'requests': st.token_requests},
                       'faults': st.faults}
                data = json.dumps(out).encode()
            return self.send(200, data)

        self.log_request_text(body)
        entry = {'method': method, 'path': path, 'query': url.query,
                 'status': 'pending', 'fault': None, 'page': None,
                 'auth': None, 'time': round(time.time(), 3),
                 'body': body.decode('utf-8', 'replace') if body else None}
        st.arrive(entry)
        try:
            self.route(method, path, q, body, entry)
        except (BrokenPipeError, ConnectionResetError):
            entry.setdefault('_st', 'disconnected')
            self.close_connection = True
        finally:
            st.finish(entry)

    # -- control --------------------------------------------------------------

    def control(self, method, q, body):
        st = self.server.state
        try:
            if method == 'POST':
                cmd = json.loads(body or b'{}')
                if not isinstance(cmd, dict):
                    raise ValueError('a JSON object is expected')
            else:
                cmd = {}
                if 'fault' in q:
                    f = {'kind': q.pop('fault')}
                    for k, v in q.items():
                        try:
                            f[k] = int(v)
                        except ValueError:
                            f[k] = v
                    cmd['faults'] = [f]
                for k in ('reset', 'clear_faults', 'expire_tokens'):
                    if k in q:
                        cmd[k] = True
            with st.lock:
                apply_control(st, cmd)
                out = json.dumps(st.config()).encode()
            if self.server.cache is not None:
                self.server.cache.clear()
        except (ValueError, TypeError, KeyError) as e:
            return self.send(400, {'error': str(e)})
        return self.send(200, out)

    # -- authentication -------------------------------------------------------

    def check_auth(self, mount, q, entry):
        """True when the request may go on; else the 401 has been sent."""
        st = self.server.state
        if not mount:
            return True
        with st.lock:
            rule = st.auth.get(mount)
        if rule is None:
            entry['auth'] = 'open'
            return True
        kind = rule.get('type')
        hdr = self.headers.get('Authorization') or ''
        verdict = 'bad'
        if kind == 'bearer':
            if not hdr:
                verdict = 'missing'
            elif hdr == 'Bearer ' + rule['token']:
                verdict = 'ok'
        elif kind == 'basic':
            if not hdr:
                verdict = 'missing'
            elif hdr.startswith('Basic '):
                try:
                    dec = base64.b64decode(hdr[6:], validate=True).decode()
                except (binascii.Error, UnicodeDecodeError):
                    dec = None
                if dec == '%s:%s' % (rule['username'], rule['password']):
                    verdict = 'ok'
        elif kind == 'api_key_header':
            v = self.headers.get(rule['name'])
            if v is None:
                verdict = 'missing'
            elif v == rule['value']:
                verdict = 'ok'
        elif kind == 'api_key_query':
            v = q.get(rule['name'])
            if v is None:
                verdict = 'missing'
            elif v == rule['value']:
                verdict = 'ok'
        elif kind == 'oauth2':
            if not hdr.startswith('Bearer '):
                verdict = 'missing'
            else:
                tok = hdr[7:]
                with st.lock:
                    t = st.tokens.get(tok)
                    if t is not None:
                        entry['token_no'] = st.token_list.index(tok) + 1
                    if t is None:
                        verdict = 'bad'
                    elif t[2] or (t[1] is not None and
                                  time.time() >= t[0] + t[1]):
                        verdict = 'expired'
                    else:
                        verdict = 'ok'
        entry['auth'] = verdict
        if verdict == 'ok':
            return True
        hdrs = []
        if kind in ('bearer', 'oauth2'):
            desc = 'The access token expired' if verdict == 'expired' \
                else 'Invalid or missing token'
            hdrs.append(('WWW-Authenticate',
                         'Bearer error="invalid_token", error_description="%s"' % desc))
        elif kind == 'basic':
            hdrs.append(('WWW-Authenticate', 'Basic realm="lh-test"'))
        entry['_st'] = 401
        self.send(401, {'error': 'unauthorized', 'reason': verdict}, headers=hdrs)
        return False

    def oauth_token(self, method, body, entry):
        st = self.server.state
        if method != 'POST':
            entry['_st'] = 405
            return self.send(405, {'error': 'method not allowed'})
        form = dict(urllib.parse.parse_qsl(body.decode('utf-8', 'replace'),
                                           keep_blank_values=True))
        cid, csec = form.get('client_id'), form.get('client_secret')
        hdr = self.headers.get('Authorization') or ''
        if hdr.startswith('Basic '):
            try:
                dec = base64.b64decode(hdr[6:]).decode()
                cid, _, csec = dec.partition(':')
                cid = urllib.parse.unquote_plus(cid)
                csec = urllib.parse.unquote_plus(csec)
            except (binascii.Error, UnicodeDecodeError):
                pass
        with st.lock:
            st.token_requests += 1
            cfg = dict(st.oauth)
        ctype = (self.headers.get('Content-Type') or '').split(';')[0].strip()
        if ctype != 'application/x-www-form-urlencoded':
            entry['_st'] = 400
            return self.send(400, {'error': 'invalid_request',
                                   'error_description': 'form body expected'})
        if form.get('grant_type') != 'client_credentials':
            entry['_st'] = 400
            return self.send(400, {'error': 'unsupported_grant_type'})
        if cid != cfg['client_id'] or csec is None or \
                csec != cfg['client_secret']:
            entry['_st'] = 401
            entry['auth'] = 'bad client'
            return self.send(401, {'error': 'invalid_client'})
        if cfg['scope'] is not None and form.get('scope') != cfg['scope']:
            entry['_st'] = 400
            return self.send(400, {'error': 'invalid_scope'})
        with st.lock:
            n = len(st.token_list) + 1
            tok = 'at%d-%s' % (n, secrets.token_hex(12))
            valid = cfg['valid_seconds']
            if valid is None:
                valid = cfg['expires_in']
            st.tokens[tok] = [time.time(), valid, False]
            st.token_list.append(tok)
            st.issued += 1
        entry['_st'] = 200
        entry['auth'] = 'issued'
        out = {'access_token': tok, 'token_type': 'Bearer',
               'expires_in': cfg['expires_in']}
        if cfg['scope'] is not None:
            out['scope'] = cfg['scope']
        return self.send(200, out, headers=[('Cache-Control', 'no-store')])

    # -- routing --------------------------------------------------------------

    def route(self, method, path, q, body, entry):
        mount, rest = strip_mount(path)
        if rest == '/oauth/token':
            fault = self.server.state.take_fault(path, method, None)
            if fault and self.apply_fault(fault, entry):
                return
            return self.oauth_token(method, body, entry)
        bad = None
        page, producer = None, None
        try:
            page, producer = self.plan(method, mount, rest, q, body)
        except BadRequest as e:
            bad = e
        entry['page'] = page
        # faults that act before the credentials are checked
        fault = self.server.state.take_fault(path, method, page, PRE_AUTH)
        if fault:
            entry['fault'] = fault['kind']
            if fault['kind'] == 'expire_tokens':
                with self.server.state.lock:
                    for t in self.server.state.tokens.values():
                        t[2] = True
        if not self.check_auth(mount, q, entry):
            return
        if bad is not None:
            entry['_st'] = 400
            return self.send(400, {'error': str(bad)})
        if producer is None:
            entry['_st'] = 404
            return self.send(404, {'error': 'not found', 'path': path})
        fault = self.server.state.take_fault(path, method, page)
        if fault and self.apply_fault(fault, entry):
            return
        cache = self.server.cache
        if cache is not None and method == 'GET':
            key = (self.path, self.headers.get('Host'))
            hit = cache.get(key)
            if hit is None:
                status, data, headers = producer()
                data = json.dumps(data, separators=(',', ':')).encode()
                hit = cache[key] = (status, data, headers)
            status, data, headers = hit
        else:
            status, data, headers = producer()
        entry['_st'] = status
        self.send(status, data, headers=headers)

    def plan(self, method, mount, rest, q, body):
        """(page number, a function that builds (status, body, headers))."""
        st = self.server.state
        with st.lock:
            n = st.records
        lo = first_index(st, q)

        def page_of(start, size):
            return (start - lo) // size + 1 if size > 0 else 1

        def rows(start, count, stripe=False):
            end = min(n, start + count - 1)
            with st.lock:
                return [st.record(i, stripe) for i in range(start, end + 1)]

        if rest == '/stripe/v1/charges' and method == 'GET':
            size = int_param(q, 'limit', 10, 1, MAX_PAGE)
            start = lo
            sa = q.get('starting_after')
            if sa:
                if not sa.startswith('ch_') or not sa[3:].isdigit():
                    raise BadRequest('No such charge: %s' % sa)
                start = max(lo, int(sa[3:]) + 1)

            def produce():
                data = rows(start, size, stripe=True)
                more = start + size - 1 < n
                return 200, {'object': 'list', 'url': '/v1/charges',
                             'data': data, 'has_more': more}, []
            return page_of(start, size), produce

        if rest == '/sf/query' or rest.startswith('/sf/query/next-'):
            if method != 'GET':
                return None, None
            size = int_param(q, 'batch_size', 200, 1, MAX_PAGE)
            if rest == '/sf/query':
                pg = 1
            else:
                try:
                    pg = int(rest[len('/sf/query/next-'):])
                except ValueError:
                    raise BadRequest('invalid query locator')
                if pg < 1:
                    raise BadRequest('invalid query locator')
            start = lo + (pg - 1) * size

            def produce():
                data = rows(start, size)
                total = max(0, n - lo + 1)
                out = {'totalSize': total, 'done': start + size - 1 >= n,
                       'records': data}
                if not out['done']:
                    keep = {k: v for k, v in q.items()
                            if k in ('created_gte', 'created_gt',
                                     'updated_gte', 'updated_gt',
                                     'batch_size')}
                    nxt = '%s/sf/query/next-%d' % (mount, pg + 1)
                    if keep:
                        nxt += '?' + urllib.parse.urlencode(sorted(keep.items()))
                    if q.get('absolute') == '1':
                        nxt = self.base_url() + nxt
                    out['nextRecordsUrl'] = nxt
                return 200, out, []
            return pg, produce

        if rest in ('/link/items', '/pages/items', '/post/items'):
            if (rest == '/post/items') != (method == 'POST'):
                return None, None
            size = int_param(q, 'per_page', 100, 1, MAX_PAGE)
            pg = int_param(q, 'page', 1, 1)
            start = lo + (pg - 1) * size

            def produce():
                data = rows(start, size)
                headers = []
                if rest == '/link/items':
                    last = max(1, -(-(n - lo + 1) // size))
                    base = self.base_url() + mount + rest

                    def link(p):
                        qq = dict(q)
                        qq['page'] = str(p)
                        qq['per_page'] = str(size)
                        return '<%s?%s>' % (base, urllib.parse.urlencode(sorted(qq.items())))
                    links = ['%s; rel="first"' % link(1)]
                    if pg > 1:
                        links.append('%s; rel="prev"' % link(pg - 1))
                    if start + size - 1 < n:
                        links.append('%s; rel="next"' % link(pg + 1))
                    links.append('%s; rel="last"' % link(last))
                    headers.append(('Link', ', '.join(links)))
                if rest == '/post/items':
                    try:
                        rb = json.loads(body) if body else None
                    except ValueError:
                        rb = body.decode('utf-8', 'replace')
                    return 200, {'data': data, 'request_body': rb}, headers
                return 200, data, headers
            return pg, produce

        if rest == '/offset/items' and method == 'GET':
            size = int_param(q, 'limit', 100, 1, MAX_PAGE)
            off = int_param(q, 'offset', 0, 0)
            start = lo + off

            def produce():
                return 200, {'items': rows(start, size),
                             'total': max(0, n - lo + 1)}, []
            return off // size + 1, produce

        if rest in ('/cursor/items', '/cursor/nested') and method == 'GET':
            size = int_param(q, 'limit', 100, 1, MAX_PAGE)
            c = q.get('cursor')
            start = decode_cursor(c) if c else lo
            start = max(start, lo)

            def produce():
                data = rows(start, size)
                nxt = encode_cursor(start + size) if start + size <= n else None
                if rest == '/cursor/nested':
                    return 200, {'result': {'items': data},
                                 'paging': {'next': {'cursor': nxt}}}, []
                return 200, {'items': data, 'next_cursor': nxt}, []
            return page_of(start, size), produce

        if rest == '/all/items' and method == 'GET':
            def produce():
                return 200, rows(lo, max(0, n - lo + 1)), []
            return 1, produce

        return None, None

    def base_url(self):
        host = self.headers.get('Host') or '127.0.0.1:%d' % self.server.server_port
        return 'http://' + host

    # -- faults ---------------------------------------------------------------

    def apply_fault(self, f, entry):
        """Act out a fault; False when the request is to be served anyway."""
        kind = f['kind']
        entry['fault'] = kind
        if kind == 'status':
            status = int(f.get('status', 500))
            headers = []
            ra = f.get('retry_after')
            if ra == 'date':
                when = time.time() + float(f.get('seconds', 1))
                headers.append(('Retry-After', email.utils.formatdate(when, usegmt=True)))
            elif ra is not None:
                headers.append(('Retry-After', str(ra)))
            entry['_st'] = status
            body = f.get('body', {'error': 'injected %d' % status})
            if f.get('echo'):
                body = {'error': 'injected %d' % status, 'request': self.path}
            if f.get('echo') == 'headers':
                # every header received, as an API that echoes the request
                # would (credentials included: the client must redact
                # them), Authorization first and the request line last, so
                # that a client's quote of the body's beginning shows both
                hdrs = sorted(self.headers.items(),
                              key=lambda kv: kv[0].lower() != 'authorization')
                body = {'error': 'injected %d' % status,
                        'headers': {k: v for k, v in hdrs},
                        'request': self.path}
            self.send(status, body, headers=headers)
            return True
        if kind in ('hang', 'slow'):
            secs = float(f.get('seconds', 60 if kind == 'hang' else 1))
            deadline = time.time() + secs
            while time.time() < deadline and not self.server.stopping:
                time.sleep(0.05)
            if kind == 'slow':
                return False
            entry['_st'] = 'hang'
            self.close_connection = True
            return True
        if kind == 'drop':
            entry['_st'] = 'dropped'
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return True
        if kind == 'truncate':
            # serve the real body, cut short
            return self.truncated(f, entry)
        if kind in ('invalid_json', 'empty'):
            body = '' if kind == 'empty' else f.get(
                'body', '<html><body><h1>502 Bad Gateway</h1>upstream sent garbage</body></html>')
            entry['_st'] = 200
            self.send(200, body)
            return True
        if kind in ('redirect', 'redirect_loop'):
            entry['_st'] = 302
            loc = f.get('location', self.path)
            self.send(302, {'moved': self.path}, headers=[('Location', loc)])
            return True
        if kind == 'unauthorized':
            entry['_st'] = 401
            self.send(401, {'error': 'unauthorized', 'reason': 'injected'},
                      headers=[('WWW-Authenticate', 'Bearer error="invalid_token"')])
            return True
        entry['fault'] = 'unknown fault %s' % kind
        return False

    def truncated(self, f, entry):
        # build the normal answer first, then send only part of it
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        mount, rest = strip_mount(url.path)
        try:
            _, producer = self.plan(self.command, mount, rest, q, b'')
        except BadRequest:
            producer = None
        if producer is None:
            body = json.dumps({'data': list(range(1000))}).encode()
        else:
            _, data, _ = producer()
            body = json.dumps(data, separators=(',', ':')).encode()
        cut = int(f.get('bytes', len(body) // 2))
        entry['_st'] = 'truncated'
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body[:cut])
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return True


def apply_control(st, cmd):
    if cmd.get('reset'):
        st.reset()
    if 'records' in cmd:
        st.records = int(cmd['records'])
    if 'drop_id' in cmd:
        st.drop_id = set(int(i) for i in cmd['drop_id'])
    if 'null_id' in cmd:
        st.null_id = set(int(i) for i in cmd['null_id'])
    if 'pad_bytes' in cmd:
        st.pad_bytes = int(cmd['pad_bytes'])
    for prefix, rule in (cmd.get('auth') or {}).items():
        if rule is None:
            st.auth.pop(prefix, None)
            continue
        if rule.get('type') not in ('bearer', 'basic', 'api_key_header',
                                    'api_key_query', 'oauth2'):
            raise ValueError('unknown auth type %r' % rule.get('type'))
        st.auth[prefix] = dict(rule)
    if 'oauth' in cmd:
        for k, v in cmd['oauth'].items():
            if k not in st.oauth:
                raise ValueError('unknown oauth key %r' % k)
            st.oauth[k] = v
    if cmd.get('expire_tokens'):
        for t in st.tokens.values():
            t[2] = True
    if cmd.get('clear_faults'):
        st.faults = []
    for f in cmd.get('faults') or []:
        if not isinstance(f, dict) or 'kind' not in f:
            raise ValueError('a fault is an object with a "kind"')
        f = dict(f)
        if f['kind'] == 'redirect_loop':
            f.setdefault('times', -1)
        st.faults.append(f)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        # a client that times out or is canceled resets its connection:
        # expected here, not worth a traceback
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description='lakehouse HTTP test server')
    ap.add_argument('port_pos', nargs='?', type=int, help='port (0: ephemeral)')
    ap.add_argument('port_file_pos', nargs='?', help='file to write the port to')
    ap.add_argument('--port', type=int, default=None)
    ap.add_argument('--port-file')
    ap.add_argument('--log', help='request log file (appended)')
    ap.add_argument('--records', type=int, default=250)
    ap.add_argument('--cache', action='store_true',
                    help='keep each GET answer (benchmarks: the server costs '
                         'little; emptied by every /_control call)')
    args = ap.parse_args()
    port = args.port if args.port is not None else (args.port_pos or 0)
    port_file = args.port_file or args.port_file_pos

    srv = Server(('127.0.0.1', port), Handler)
    srv.state = State(args.records)
    srv.stopping = False
    srv.log_lock = threading.Lock()
    srv.request_log = open(args.log, 'a', encoding='utf-8') if args.log else None
    srv.cache = {} if args.cache else None

    def stop(signum, frame):
        srv.stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    actual = srv.server_address[1]
    if port_file:
        tmp = '%s.tmp.%d' % (port_file, os.getpid())
        with open(tmp, 'w') as fh:
            fh.write('%d\n' % actual)
        os.rename(tmp, port_file)
    sys.stderr.write('lh_http_server: listening on 127.0.0.1:%d (pid %d)\n'
                     % (actual, os.getpid()))
    sys.stderr.flush()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stopping = True
        srv.server_close()
        if srv.request_log:
            srv.request_log.close()


if __name__ == '__main__':
    main()
