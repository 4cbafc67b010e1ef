#!/usr/bin/env python3
"""One DNS query (no EDNS, recursion desired) for the end-to-end tests, bounded in time.

  dns_probe.py udp|tcp SERVER NAME A|TXT [TIMEOUT]

Prints one line: "answer tc=0|1 rcode=N ms=T" followed by the A addresses or the total TXT
length ("txt=LEN"), or "no-answer ms=T" (timeout, refused or reset). Exit 0 on an answer
whose id and question match the query, 1 otherwise.
"""
import os, socket, struct, sys, time

TYPES = {'A': 1, 'TXT': 16}

def query(name, qtype):
    qid = struct.unpack('>H', os.urandom(2))[0]
    q = struct.pack('>HHHHHH', qid, 0x0100, 1, 0, 0, 0)
    for label in name.split('.'):
        q += bytes([len(label)]) + label.encode()
    return qid, q + b'\0' + struct.pack('>HH', TYPES[qtype], 1)

def skip_name(m, i):
    while True:
        n = m[i]
        if n == 0: return i + 1
        if n & 0xc0 == 0xc0: return i + 2
        i += 1 + n

def parse(m, qid, q):
    rid, flags, qd, an = struct.unpack('>HHHH', m[:8])
    if rid != qid or not flags & 0x8000 or m[12:len(q)] != q[12:]:
        return None
    out = ['tc=%d' % (flags >> 9 & 1), 'rcode=%d' % (flags & 15)]
    i = len(q)
    addrs, txt = [], 0
    for _ in range(an):
        i = skip_name(m, i)
        t, _c, _ttl, ln = struct.unpack('>HHIH', m[i:i + 10])
        i += 10
        if t == 1: addrs.append(socket.inet_ntoa(m[i:i + 4]))
        if t == 16:
            j = i
            while j < i + ln:
                txt += m[j]; j += 1 + m[j]
        i += ln
    return ' '.join(out + addrs + (['txt=%d' % txt] if txt else []))

def main():
    proto, server, name, qtype = sys.argv[1:5]
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 3
    fam = socket.AF_INET6 if ':' in server else socket.AF_INET
    qid, q = query(name, qtype)
    t0 = time.monotonic()
    try:
        if proto == 'udp':
            s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(timeout)
            s.connect((server, 53)); s.send(q)
            m = s.recv(65535)
        else:
            s = socket.create_connection((server, 53), timeout=timeout); s.settimeout(timeout)
            s.sendall(struct.pack('>H', len(q)) + q)
            buf = b''
            while len(buf) < 2 or len(buf) < 2 + struct.unpack('>H', buf[:2])[0]:
                b = s.recv(65535)
                if not b: raise OSError('closed')
                buf += b
            m = buf[2:2 + struct.unpack('>H', buf[:2])[0]]
    except OSError:
        print('no-answer ms=%.1f' % ((time.monotonic() - t0) * 1000)); return 1
    ms = (time.monotonic() - t0) * 1000
    r = parse(m, qid, q)
    if r is None:
        print('mismatched-answer ms=%.1f' % ms); return 1
    print('answer %s ms=%.1f' % (r, ms)); return 0

sys.exit(main())
