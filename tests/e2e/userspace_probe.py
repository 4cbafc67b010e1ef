#!/usr/bin/env python3
"""Probes for the userspace-mode e2e tests (SOCKS5 clients, good and bad; bulk helpers).
  connect PROXY_ADDR PROXY_PORT DST_IP DST_PORT  -> prints the SOCKS reply code
  udp-dns PROXY_ADDR PROXY_PORT DNS_IP NAME       -> prints the first A record (via UDP ASSOCIATE)
  garbage PROXY_ADDR PROXY_PORT                   -> prints "closed" if the proxy hangs up
  stall PROXY_ADDR PROXY_PORT                     -> half a greeting, prints "closed" on timeout close
  serve-file ADDR PORT FILE                       -> accepts one connection, sends FILE, closes
  recv ADDR PORT OUT                              -> connects, writes everything received to OUT
  udp-echo-log ADDR PORT IDLE OUT [FIRST]         -> UDP echo; after IDLE s without datagrams (FIRST s,
                                                     default 30, before the first) writes
                                                     "datagrams N peers M" to OUT and exits (<= 120 s)
  udp-pair ADDR PORT COUNT                        -> two UDP sockets (two source ports) send COUNT
                                                     datagrams each (1..1200 bytes, random), lockstep;
                                                     every echo must match byte for byte and come back
                                                     to its own socket. Prints "ok SENT retries R"
  udp-none ADDR PORT SECS                         -> sends 3 datagrams, prints "none" or "reply"
  dns-udp ADDR PORT NAME                          -> plain DNS query (UDP), prints the first A record
  halfopen ADDR PORT N PARTIAL_EVERY SECS PID     -> N connections that send nothing (every
                                                     PARTIAL_EVERY-th sends one byte b"\x05"), held
                                                     until closed by the peer or SECS; samples PID's
                                                     VmRSS and open fds; prints one JSON summary
  socks-hold ADDR PORT DST_IP DST_PORT N SECS     -> N SOCKS5 CONNECTs to DST held idle; prints
                                                     "ready N" when all succeeded, holds until stdin
                                                     closes or SECS
"""
import socket, struct, sys, time

def socks_connect(paddr, pport, dst, dport):
    s = socket.create_connection((paddr, int(pport)), timeout=15)
    s.sendall(b"\x05\x01\x00")
    assert s.recv(2) == b"\x05\x00"
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(dst) + struct.pack("!H", int(dport)))
    rep = s.recv(10)
    print(rep[1])

def udp_dns(paddr, pport, dns, name):
    s = socket.create_connection((paddr, int(pport)), timeout=10)
    s.sendall(b"\x05\x01\x00")
    assert s.recv(2) == b"\x05\x00"
    s.sendall(b"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00")
    rep = s.recv(10)
    assert rep[1] == 0, rep
    relay = (socket.inet_ntoa(rep[4:8]), struct.unpack("!H", rep[8:10])[0])
    q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00\x00\x01\x00\x01"
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(3)
    hdr = b"\x00\x00\x00\x01" + socket.inet_aton(dns) + struct.pack("!H", 53)
    for _ in range(3):
        u.sendto(hdr + q, relay)
        try:
            data, _ = u.recvfrom(4096)
        except socket.timeout:
            continue
        msg = data[10:]
        print(socket.inet_ntoa(msg[-4:]))
        return
    print("timeout")

def wait_closed(s, secs):
    s.settimeout(secs)
    try:
        while s.recv(4096):
            pass
        print("closed")
    except (socket.timeout, TimeoutError):
        print("open")
    except ConnectionResetError:
        print("closed")

def garbage(paddr, pport):
    s = socket.create_connection((paddr, int(pport)), timeout=5)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n\x00\xff" * 10)
    wait_closed(s, 5)

def stall(paddr, pport):
    s = socket.create_connection((paddr, int(pport)), timeout=5)
    s.sendall(b"\x05\x02")
    wait_closed(s, 8)

def serve_file(addr, port, path):
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, int(port)))
    l.listen(1)
    l.settimeout(30)
    c, _ = l.accept()
    with open(path, "rb") as f:
        c.sendall(f.read())
    c.close()

def recv(addr, port, out):
    s = socket.create_connection((addr, int(port)), timeout=30)
    with open(out, "wb") as f:
        while True:
            d = s.recv(65536)
            if not d:
                break
            f.write(d)

def udp_echo_log(addr, port, idle, out, first=30):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    n, peers = 0, set()
    start = time.time()
    s.settimeout(float(first))
    while time.time() - start < 120:
        try:
            b, peer = s.recvfrom(65535)
        except socket.timeout:
            break
        n += 1
        peers.add(peer)
        s.sendto(b, peer)
        s.settimeout(float(idle))
    with open(out, "w") as f:
        f.write("datagrams %d peers %d\n" % (n, len(peers)))

def udp_pair(addr, port, count):
    import os
    dst = (addr, int(port))
    socks = []
    for _ in range(2):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        u.settimeout(1.0)
        socks.append(u)
    if socks[0].getsockname()[1] == socks[1].getsockname()[1]:
        sys.exit("same source port")
    prev = [None, None]
    retries = 0
    for i in range(int(count)):
        # sizes 1..1200; the two sockets' sizes never coincide, so a swapped reply cannot match
        sz = [1 + (i * 37) % 1200, 1200 - (i * 37) % 1200]
        msgs = [os.urandom(sz[0]), os.urandom(sz[1])]
        for k in range(2):
            socks[k].sendto(msgs[k], dst)
        for k in range(2):
            tries = 0
            while True:
                try:
                    b, src = socks[k].recvfrom(65535)
                except socket.timeout:
                    tries += 1
                    retries += 1
                    if tries > 3:
                        sys.exit("datagram %d on socket %d (%d bytes): no echo" % (i, k, sz[k]))
                    socks[k].sendto(msgs[k], dst)
                    continue
                if b == prev[k]:
                    continue   # a late duplicate of the previous round (after a retry)
                if b != msgs[k]:
                    other = msgs[1 - k]
                    why = "the other socket's datagram" if b == other else "different bytes"
                    sys.exit("datagram %d on socket %d: %d bytes back, want %d: %s" % (i, k, len(b), sz[k], why))
                break
        prev = msgs
    print("ok %d retries %d" % (2 * int(count), retries))

def udp_none(addr, port, secs):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(float(secs) / 3)
    for _ in range(3):
        u.sendto(b"hello?", (addr, int(port)))
        try:
            u.recvfrom(65535)
            print("reply")
            return
        except socket.timeout:
            pass
        except ConnectionRefusedError:
            pass
    print("none")

def dns_query(name, qid=0x4321):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00\x00\x01\x00\x01"

def dns_udp(addr, port, name):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(2)
    for _ in range(3):
        u.sendto(dns_query(name), (addr, int(port)))
        try:
            data, _ = u.recvfrom(4096)
        except socket.timeout:
            continue
        if data[:2] != b"\x43\x21" or struct.unpack("!H", data[6:8])[0] < 1:
            print("bad-answer")
            return
        print(socket.inet_ntoa(data[-4:]))
        return
    print("timeout")

def rss_kib(pid):
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return -1
    return -1

def fd_count(pid):
    import os
    try:
        return len(os.listdir("/proc/%s/fd" % pid))
    except OSError:
        return -1

def halfopen(addr, port, n, partial_every, secs, pid):
    import selectors, json
    n, partial_every, secs = int(n), int(partial_every), float(secs)
    sel = selectors.DefaultSelector()
    t0 = time.time()
    opened = {}      # fd -> (socket, time connected or None, partial)
    closed_at = []   # (seconds from connect to close, partial)
    connect_failed = 0
    peak_rss, peak_fds = rss_kib(pid), fd_count(pid)
    def open_one(i):
        nonlocal connect_failed
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((addr, int(port)))
        except BlockingIOError:
            pass
        except OSError:
            connect_failed += 1
            s.close()
            return
        partial = partial_every > 0 and i % partial_every == 0
        opened[s.fileno()] = [s, None, partial]
        sel.register(s, selectors.EVENT_WRITE)
    # 100 connections every 50 ms (3000 in 1.5 s, well inside one handshake deadline of 2 s): the
    # kernel's accept queue (512) is never outrun, so no connection is lost to a listen overflow
    # (a silent client whose handshake ACK was dropped would wait forever, not the proxy's fault).
    next_i = 0
    while (opened or next_i < n) and time.time() - t0 < secs:
        if next_i < n and time.time() - t0 >= next_i / 100 * 0.05:
            for i in range(next_i, min(n, next_i + 100)):
                open_one(i)
            next_i = min(n, next_i + 100)
        for key, ev in sel.select(timeout=0.05):
            s = key.fileobj
            ent = opened[s.fileno()]
            if ent[1] is None:   # connect finished (or failed)
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    connect_failed += 1
                    sel.unregister(s); del opened[s.fileno()]; s.close()
                    continue
                ent[1] = time.time()
                if ent[2]:
                    try:
                        s.send(b"\x05")
                    except OSError:
                        pass
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                b = s.recv(4096)
            except (ConnectionResetError, BrokenPipeError):
                b = b""
            except BlockingIOError:
                continue
            if b:
                continue   # the proxy never answers a greeting it has not received
            closed_at.append((time.time() - ent[1], ent[2]))
            sel.unregister(s); del opened[s.fileno()]; s.close()
        peak_rss, peak_fds = max(peak_rss, rss_kib(pid)), max(peak_fds, fd_count(pid))
    quick = sum(1 for d, _ in closed_at if d < 1.0)
    timed = sum(1 for d, _ in closed_at if d >= 1.0)
    timed_partial = sum(1 for d, p in closed_at if d >= 1.0 and p)
    longest = max((d for d, _ in closed_at), default=0.0)
    print(json.dumps({"opened": next_i, "connect_failed": connect_failed, "closed": len(closed_at),
                      "closed_within_1s": quick, "closed_after_1s": timed,
                      "closed_after_1s_partial": timed_partial, "longest_s": round(longest, 2),
                      "still_open": len(opened), "peak_rss_kib": peak_rss, "peak_fds": peak_fds,
                      "elapsed_s": round(time.time() - t0, 2)}))

def socks_hold(paddr, pport, dst, dport, n, secs):
    import select
    conns = []
    for i in range(int(n)):
        s = socket.create_connection((paddr, int(pport)), timeout=15)
        s.sendall(b"\x05\x01\x00")
        if s.recv(2) != b"\x05\x00":
            sys.exit("greeting refused at %d" % i)
        s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(dst) + struct.pack("!H", int(dport)))
        rep = b""
        while len(rep) < 10:
            d = s.recv(10 - len(rep))
            if not d:
                sys.exit("closed at %d" % i)
            rep += d
        if rep[1] != 0:
            sys.exit("reply %d at %d" % (rep[1], i))
        conns.append(s)
    print("ready %d" % len(conns), flush=True)
    select.select([sys.stdin], [], [], float(secs))
    for s in conns:
        s.close()

cmds = {"connect": socks_connect, "udp-dns": udp_dns, "garbage": garbage, "stall": stall,
        "serve-file": serve_file, "recv": recv,
        "udp-echo-log": udp_echo_log, "udp-pair": udp_pair, "udp-none": udp_none, "dns-udp": dns_udp,
        "halfopen": halfopen, "socks-hold": socks_hold}
if len(sys.argv) < 2 or sys.argv[1] not in cmds: sys.exit(__doc__)
cmds[sys.argv[1]](*sys.argv[2:])
